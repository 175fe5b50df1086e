"""PixelRNN (van den Oord et al. 2016): the recurrences against per-pixel references, causality by gradient (and
the receptive fields the docs state), exhaustive normalisation, samples against log_prob, and wrong variants
that the same checks catch."""

import itertools
import math

import pytest
import torch
from scipy.stats import chi2

from genzoo.errors import ConfigError, DataError
from genzoo.models import Batch, create
from genzoo.models.autoregressive import DiagonalBiLSTM, DiagonalLSTM, RowLSTM, skew, unskew
from genzoo.nn import pixelcnn_mask

ARCHS = ("pixelrnn", "pixelrnn-diag")


def small(name, shape, dtype=torch.float64, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = {"channels": 8 * shape[0], "blocks": 2, "out_channels": 10 * shape[0],
           "first_kernel": 3, **kw}
    return create(name, data_shape=shape, **cfg).to(dtype).eval()


def perturb(model, scale=0.5, seed=1):
    """Larger random weights, so the tiny model's distribution is far from uniform and every path carries signal."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


# ---- skew ------------------------------------------------------------------------------------------------------
def test_skew_shifts_row_r_right_by_r_and_unskew_inverts_it():
    x = torch.arange(1, 13, dtype=torch.float64).reshape(1, 1, 3, 4)
    s = skew(x)
    assert s.shape == (1, 1, 3, 6)
    expect = torch.tensor([[1, 2, 3, 4, 0, 0], [0, 5, 6, 7, 8, 0], [0, 0, 9, 10, 11, 12]], dtype=torch.float64)
    assert torch.equal(s[0, 0], expect)
    assert torch.equal(unskew(s, 4), x)
    # a column of the skewed map is an anti-diagonal r + c = j of the image
    assert s[0, 0, :, 3].tolist() == [4, 7, 10]  # (0, 3), (1, 2), (2, 1)


# ---- the recurrences against per-pixel references ---------------------------------------------------------------
def _gates(z):
    """(o, f, i, g) of a pre-activation vector laid out [o, f, i, g] (one colour group)."""
    return z.chunk(4)


def _cell(z, c_prev):
    o, f, i, g = _gates(z)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def test_row_lstm_is_equation_3_pixel_by_pixel():
    torch.manual_seed(0)
    ch, hid, k, height, width = 3, 2, 3, 4, 5
    layer = RowLSTM(ch, hid, k).double()
    x = torch.randn(2, ch, height, width, dtype=torch.float64)
    out = layer(x)
    w_is, b_is = layer.input_to_state.weight[:, :, 0], layer.input_to_state.bias  # (4h, C, k)
    w_ss, b_ss = layer.state_to_state.weight, layer.state_to_state.bias  # (4h, h, k)
    h = torch.zeros(2, hid, height + 1, width + 2, dtype=torch.float64)  # row -1 and columns -1, W are zero state
    c = torch.zeros_like(h)
    for r, col in itertools.product(range(height), range(width)):
        z = b_is + b_ss
        for t in range(k):  # input taps: only the pixel and those left of it (mask B, one colour group)
            dc = t - k // 2
            if dc <= 0 and 0 <= col + dc < width:
                z = z + x[:, :, r, col + dc] @ w_is[:, :, t].T
            z = z + h[:, :, r, col + 1 + dc] @ w_ss[:, :, t].T  # previous row (index r is row r - 1), 3 wide
        hn, cn = zip(*(_cell(z[i], c[i, :, r, col + 1]) for i in range(2)))
        h[:, :, r + 1, col + 1], c[:, :, r + 1, col + 1] = torch.stack(hn), torch.stack(cn)
    assert torch.allclose(out, h[:, :, 1:, 1:-1], atol=1e-12)


def test_diagonal_lstm_is_an_lstm_over_the_left_and_upper_neighbours():
    """The skewed column-by-column LSTM equals, in image coordinates, h(r, c) = LSTM(x(r, c); h(r - 1, c),
    h(r, c - 1)), with zero state outside the image."""
    torch.manual_seed(0)
    ch, hid, height, width = 3, 2, 4, 3
    layer = DiagonalLSTM(ch, hid).double()
    x = torch.randn(2, ch, height, width, dtype=torch.float64)
    out = layer(x)
    w_is, b_is = layer.input_to_state.weight[:, :, 0, 0], layer.input_to_state.bias
    w_ss, b_ss = layer.state_to_state.weight, layer.state_to_state.bias  # taps (row r - 1, row r) of column j - 1
    h = torch.zeros(2, hid, height + 1, width + 1, dtype=torch.float64)
    c = torch.zeros_like(h)
    for r, col in itertools.product(range(height), range(width)):
        z = b_is + b_ss + x[:, :, r, col] @ w_is.T
        z = z + h[:, :, r, col + 1] @ w_ss[:, :, 0].T + h[:, :, r + 1, col] @ w_ss[:, :, 1].T  # above, left
        hn, cn = zip(*(_cell(z[i], c[i, :, r + 1, col]) for i in range(2)))  # c of the left one
        h[:, :, r + 1, col + 1], c[:, :, r + 1, col + 1] = torch.stack(hn), torch.stack(cn)
    assert torch.allclose(out, h[:, :, 1:, 1:], atol=1e-12)


# ---- causality by gradient ----------------------------------------------------------------------------------
def jacobian(model, shape, seed=0):
    """|d out_i / d in_j| for sub-pixels i, j in raster + channel order, (D, D): out_i is a random projection of
    sub-pixel i's output parameters, in the network's input (levels on [-1, 1], here any real numbers)."""
    c, height, width = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *shape, generator=g, dtype=torch.float64, requires_grad=True)
    y = None if not model.config.num_classes else torch.eye(model.config.num_classes, dtype=torch.float64)[:1]
    params = model.network(x, y)  # (1, C, P, H, W)
    out = (params * torch.randn(params.shape[2], generator=g, dtype=torch.float64)[:, None, None]).sum(2)[0]
    rows = []
    for r, col, k in itertools.product(range(height), range(width), range(c)):
        (grad,) = torch.autograd.grad(out[k, r, col], x, retain_graph=True)
        rows.append(grad[0].permute(1, 2, 0).reshape(-1).abs())  # (H, W, C) order
    return torch.stack(rows)


def is_causal(jac):
    """No output depends on its own sub-pixel or a later one: the Jacobian is strictly lower-triangular."""
    return bool((torch.triu(jac) == 0).all())


def row_lstm_field(shape, blocks, kernel, first_kernel):
    """The Row LSTM network's receptive field, composed from each layer's (module docstring): sees[i, j] = True when
    output sub-pixel i may depend on input sub-pixel j."""
    c, height, width = shape
    w, w1 = kernel // 2, first_kernel // 2
    inside = lambda r, col: 0 <= r < height and 0 <= col < width  # noqa: E731

    def lstm(r, col):  # h(r, c) <- input (r, c - w .. c), h(r - 1, c - w .. c + w)
        field, frontier = set(), {(r, col)}
        for rr in range(r, -1, -1):
            field |= {(rr, cc + d) for rr_, cc in frontier for d in range(-w, 1) if inside(rr, cc + d)}
            frontier = {(rr - 1, cc + d) for _, cc in frontier for d in range(-w, w + 1) if inside(rr - 1, cc + d)}
        return field

    def first(r, col):  # mask A: rows above within w1, and the pixels left of it within w1
        above = {(r - d, col + e) for d in range(1, w1 + 1) for e in range(-w1, w1 + 1)}
        return {p for p in above | {(r, col - e) for e in range(1, w1 + 1)} if inside(*p)}

    n = c * height * width
    sees = torch.zeros(n, n, dtype=torch.bool)
    for r, col in itertools.product(range(height), range(width)):
        positions = {(r, col)}
        for _ in range(blocks):
            positions = set().union(*(lstm(*p) for p in positions))
        pixels = set().union(*(first(*p) for p in positions))
        for k in range(c):
            i = (r * width + col) * c + k
            for rr, cc in pixels:
                sees[i, (rr * width + cc) * c : (rr * width + cc + 1) * c] = True
            sees[i, (r * width + col) * c : (r * width + col) * c + k] = True  # earlier channels of the pixel
    return sees


def every_earlier(n):
    return torch.ones(n, n, dtype=torch.bool).tril(-1)


@pytest.mark.parametrize("shape", [(1, 6, 7), (3, 4, 4)])
def test_row_lstm_sees_exactly_its_triangle_and_nothing_later(shape):
    m = perturb(small("pixelrnn", shape, kernel=3, first_kernel=3))
    jac = jacobian(m, shape)
    field = row_lstm_field(shape, 2, 3, 3)
    assert is_causal(jac)
    assert not (field & ~every_earlier(len(field))).any()  # the documented field holds earlier pixels only
    assert (jac[field] > 0).all(), "an earlier pixel inside the receptive field has no influence"
    assert (jac[~field] == 0).all(), "a pixel outside the documented receptive field has influence"
    if shape == (1, 6, 7):  # the triangle misses context: e.g. the far right of the row above
        assert (every_earlier(len(field)) & ~field).any()


@pytest.mark.parametrize("shape", [(1, 5, 5), (3, 4, 4)])
def test_diagonal_bilstm_sees_every_earlier_sub_pixel_and_nothing_later(shape):
    m = perturb(small("pixelrnn-diag", shape))
    jac = jacobian(m, shape)
    assert is_causal(jac)
    earlier = every_earlier(len(jac))
    assert (jac[earlier] > 0).all()


def test_the_causality_checks_catch_leaks():
    shape = (3, 3, 3)
    # a Row LSTM whose input-to-state convolution sees its own pixel's later colours and the pixel to its right
    m = perturb(small("pixelrnn", shape))
    m.blocks[0].lstm.input_to_state.mask.fill_(1.0)
    assert not is_causal(jacobian(m, shape))
    # a first layer with mask B: every sub-pixel sees itself
    m = perturb(small("pixelrnn-diag", shape))
    m.first.mask.copy_(pixelcnn_mask(3, m.first.out_channels, m.first.kernel_size[0], "B", 3))
    assert not is_causal(jacobian(m, shape))


def test_the_right_to_left_map_must_be_shifted_down(monkeypatch):
    shape = (1, 4, 4)

    def unshifted(self, x, extra=None):
        return self.left_to_right(x, extra) + self.right_to_left(x.flip(3), extra).flip(3)

    m = perturb(small("pixelrnn-diag", shape))
    assert is_causal(jacobian(m, shape))
    monkeypatch.setattr(DiagonalBiLSTM, "forward", unshifted)
    assert not is_causal(jacobian(m, shape))


@pytest.mark.parametrize("name", ARCHS)
def test_the_first_rows_alone_give_the_same_parameters(name):
    m = perturb(small(name, (3, 5, 4), num_classes=2))
    levels = torch.randint(0, 2, (2, 3, 5, 4))
    y = torch.eye(2, dtype=torch.float64)
    full = m.network(m.inputs(levels), y)
    for r in range(5):
        assert torch.allclose(m.network(m.inputs(levels[:, :, : r + 1]), y), full[:, :, :, : r + 1], atol=1e-12)


def test_without_the_extra_column_the_end_of_the_row_above_is_out_of_sight():
    shape = (1, 4, 6)
    m = perturb(small("pixelrnn-diag", shape, first_kernel=3))
    m.extra_columns = 0
    jac = jacobian(m, shape)
    unseen = every_earlier(len(jac)) & (jac == 0)
    # exactly the last pixel (r - 1, W - 1) of the row above, for the pixels (r, c) with c < W - 1 - 1
    expect = torch.zeros_like(unseen)
    for r in range(1, 4):
        expect[r * 6 : r * 6 + 4, r * 6 - 1] = True
    assert torch.equal(unseen, expect)


# ---- normalisation by enumeration ---------------------------------------------------------------------------
def every_image(shape, levels):
    """Every image of `shape` over `levels` levels, as data in [0, 1]: (levels^D, *shape)."""
    d = math.prod(shape)
    grid = torch.tensor(list(itertools.product(range(levels), repeat=d)), dtype=torch.float32)
    return grid.reshape(-1, *shape) / (levels - 1)


CASES = {  # output config, shape, levels per sub-pixel
    "bernoulli-3x3": ({"output": "bernoulli", "binarize": "none"}, (1, 3, 3), 2),
    "categorical2-3x3": ({"output": "categorical", "bins": 2}, (1, 3, 3), 2),
    "categorical2-rgb": ({"output": "categorical", "bins": 2}, (3, 1, 3), 2),
    "logistic3-2x2": ({"output": "logistic", "bins": 3, "mixtures": 2}, (1, 2, 2), 3),
}


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_probabilities_of_every_image_sum_to_one(name, case):
    cfg, shape, levels = CASES[case]
    m = perturb(small(name, shape, dtype=torch.float32, **cfg))
    x = every_image(shape, levels)
    with torch.no_grad():
        total = torch.logsumexp(m.log_prob(x), 0).exp().item()
    assert abs(total - 1.0) < 1e-5, total


@pytest.mark.parametrize("name", ARCHS)
def test_a_conditional_model_normalises_for_every_label(name):
    shape = (1, 3, 3)
    m = perturb(small(name, shape, num_classes=3, output="bernoulli", binarize="none"))
    x = every_image(shape, 2).double()
    lps = []
    with torch.no_grad():
        for k in range(3):
            lp = m.log_prob(x, torch.full((len(x),), k))
            assert abs(torch.logsumexp(lp, 0).exp().item() - 1.0) < 1e-10
            lps.append(lp)
    assert not torch.allclose(lps[0], lps[2])  # the label matters


@pytest.mark.parametrize("name", ARCHS)
def test_a_first_layer_that_sees_its_own_pixel_does_not_normalise(name):
    shape = (1, 3, 3)
    m = perturb(small(name, shape, output="bernoulli", binarize="none"))
    m.first.mask.copy_(pixelcnn_mask(1, m.first.out_channels, m.first.kernel_size[0], "B", 1))
    with torch.no_grad():
        total = torch.logsumexp(m.log_prob(every_image(shape, 2).double()), 0).exp().item()
    assert abs(total - 1.0) > 1e-2, total


# ---- samples against log_prob ---------------------------------------------------------------------------------
def chi_square_p(samples, probs):
    """Pearson's chi-square p-value of sample counts over every image against the model's probabilities (bins with
    an expected count below 5 pooled into one)."""
    counts = torch.bincount(samples, minlength=len(probs)).double()
    expected = probs * len(samples)
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum()[None]])
    exp = torch.cat([expected[big], expected[~big].sum()[None]])
    keep = exp > 0
    stat = ((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum().item()
    return float(chi2.sf(stat, int(keep.sum()) - 1))


def index_of(x, shape, levels):
    """The row of `every_image` of each image."""
    lv = torch.round(x.reshape(len(x), -1) * (levels - 1)).long()
    weights = levels ** torch.arange(lv.shape[1] - 1, -1, -1)
    return (lv * weights).sum(1)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("case", ["bernoulli-2x2", "categorical2-rgb"])
def test_samples_follow_log_prob(name, case):
    cfg, shape = {"bernoulli-2x2": ({"output": "bernoulli", "binarize": "none"}, (1, 2, 2)),
                  "categorical2-rgb": ({"output": "categorical", "bins": 2}, (3, 1, 2))}[case]
    m = perturb(small(name, shape, **cfg), scale=0.8)
    with torch.no_grad():
        probs = m.log_prob(every_image(shape, 2).double()).exp()
    samples = index_of(m.sample(4000, generator=torch.Generator().manual_seed(0)), shape, 2)
    assert chi_square_p(samples, probs) > 1e-3
    # the same test rejects the samples against another model's probabilities
    other = perturb(small(name, shape, seed=7, **cfg), scale=0.8, seed=8)
    with torch.no_grad():
        other_probs = other.log_prob(every_image(shape, 2).double()).exp()
    assert chi_square_p(samples, other_probs) < 1e-6


# ---- the contract's details ---------------------------------------------------------------------------------
def test_bits_per_dim_is_the_nll_over_d_ln2_and_the_loss_is_the_mean_nll():
    m = small("pixelrnn", (1, 3, 3), output="bernoulli", binarize="none")
    x = every_image((1, 3, 3), 2)[:5].double()
    lp = m.log_prob(x)
    assert torch.allclose(m.bits_per_dim(x), -lp / (9 * math.log(2)))
    assert torch.allclose(m.loss(Batch(x))["loss"], -lp.mean())


@pytest.mark.parametrize("bad", [{"data_shape": (4,)}, {"data_shape": (3, 4, 4), "channels": 12},
                                 {"data_shape": (3, 4, 4), "out_channels": 8}, {"kernel": 2},
                                 {"first_kernel": 4}, {"output": "categorical", "bins": 1}, {"blocks": 0}])
def test_bad_configs_are_config_errors(bad):
    with pytest.raises(ConfigError):
        create("pixelrnn", **{"data_shape": (1, 4, 4), **bad})


def test_bad_input_is_a_data_error():
    m = small("pixelrnn", (1, 2, 2), num_classes=2)
    with pytest.raises(DataError):
        m.log_prob(torch.full((1, 1, 2, 2), 1.5, dtype=torch.float64), torch.zeros(1, dtype=torch.long))
    with pytest.raises(DataError):
        m.log_prob(torch.zeros(1, 1, 2, 2, dtype=torch.float64))  # labels missing


def test_the_fused_bilstm_is_the_two_directions_added_with_the_shift():
    torch.manual_seed(0)
    layer = DiagonalBiLSTM(6, 3, channel_groups=3).double()
    x = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    extra = torch.randn(2, 12, dtype=torch.float64)
    l2r = layer.left_to_right(x, extra)
    r2l = layer.right_to_left(x.flip(3), extra).flip(3)
    shifted = torch.cat([torch.zeros_like(r2l[:, :, :1]), r2l[:, :, :-1]], 2)  # row r holds row r - 1
    assert torch.allclose(layer(x, extra), l2r + shifted, atol=1e-12)

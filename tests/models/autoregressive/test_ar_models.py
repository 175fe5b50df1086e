"""made, pixelcnn, gated-pixelcnn: causality by gradients (also between colour channels), the blind spot and its
absence, exhaustive normalisation, sampling against exp(log_prob), the order ensemble, conditioning."""

import itertools
import math

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.models import create
from genzoo.models.autoregressive import receptive_field
from genzoo.nn import made_degrees

CONV = {"channels": 6, "blocks": 2, "out_channels": 6}


def build(name, shape, seed=0, perturb=0.0, **cfg):
    torch.manual_seed(seed)
    base = {"hidden": (96, 96), "act": "tanh"} if name == "made" else CONV  # tanh: no dead units, no chance zeros
    m = create(name, data_shape=shape, **{**base, **cfg})
    if perturb:
        with torch.no_grad():
            for p in m.parameters():
                p.add_(perturb * torch.randn_like(p))
    return m.eval()


def position(shape, c, i, j):
    """Raster and channel order t(c, i, j) = (i W + j) C + c."""
    return (i * shape[2] + j) * shape[0] + c


def input_gradients(model, c, i, j, n=16, seed=0):
    """|d params(c, i, j) / d inputs| (randomly weighted over the params, summed over n images): (C, H, W)."""
    shape = model.config.data_shape
    g = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, model.output.bins, (n, *shape), generator=g)
    inputs = model.inputs(levels).requires_grad_(True)
    k = model.config.num_classes
    labels = torch.arange(n) % k if k else None
    out = model.network(inputs, labels)[:, c, :, i, j]
    w = torch.randn(out.shape, generator=g)
    (grad,) = torch.autograd.grad((out * w).sum(), inputs)
    return grad.abs().sum(0)


def check_causal(model, rank):
    """rank: (C, H, W) position of every sub-pixel in the model's order. Every output has zero gradient w.r.t.
    inputs at positions >= its own and non-zero gradient w.r.t. every earlier one (the field covers the image)."""
    C, H, W = model.config.data_shape
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        grad = input_gradients(model, c, i, j)
        later = rank >= rank[c, i, j]
        assert torch.all(grad[later] == 0), f"output ({c}, {i}, {j}) sees a later input"
        assert torch.all(grad[~later] > 0), f"output ({c}, {i}, {j}) misses an earlier input"


def raster_rank(shape):
    C, H, W = shape
    return torch.tensor([[[position(shape, c, i, j) for j in range(W)] for i in range(H)] for c in range(C)])


@pytest.mark.parametrize("name", ["made", "pixelcnn", "gated-pixelcnn"])
@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 4, 4)])
def test_causal_by_gradient_including_colour_channels(name, shape):
    cfg = {"output": "categorical", "bins": 4} if shape[0] == 3 else {}
    if name != "made":
        cfg.update(channels=24, out_channels=24)  # several units per colour group, so that ReLUs do not hide a path
    check_causal(build(name, shape, **cfg), raster_rank(shape))


def test_a_wrong_mask_is_caught_by_the_causality_check():
    m = build("pixelcnn", (3, 4, 4), output="categorical", bins=4)
    with torch.no_grad():
        m.first.mask[:, :, 3, 3] = 1.0  # mask B in the first layer: a sub-pixel sees itself
    with pytest.raises(AssertionError, match="later input"):
        check_causal(m, raster_rank((3, 4, 4)))
    g = build("gated-pixelcnn", (1, 4, 4))
    with torch.no_grad():
        g.layers[0].h_conv.mask.fill_(1.0)
    with pytest.raises(AssertionError, match="later input"):
        check_causal(g, raster_rank((1, 4, 4)))


def test_made_is_causal_in_the_order_of_every_mask():
    m = build("made", (1, 3, 4), num_masks=3, ensemble=3)
    for k in range(3):
        m.use_mask(k)
        order = m.degrees(k)[0].reshape(1, 3, 4)
        check_causal(m, order)
    assert not torch.equal(m.degrees(1)[0], m.degrees(2)[0])  # different orderings
    assert torch.equal(m.degrees(0)[0], raster_rank((1, 3, 4)).reshape(-1) + 1)  # natural order first


def test_pixelcnn_has_a_blind_spot_and_gated_pixelcnn_has_none():
    shape, pixel = (1, 8, 8), (5, 2)
    earlier = raster_rank(shape)[0] < position(shape, 0, *pixel)
    plain = receptive_field(build("pixelcnn", shape, blocks=4), pixel)
    blind = earlier & (plain == 0)
    assert blind.any(), "expected earlier pixels that pixelcnn cannot see"
    assert blind[4, 6] and blind[4, 7]  # up and to the right, beyond the 7x7 first layer's reach
    assert torch.all(plain[~earlier] == 0)
    gated = receptive_field(build("gated-pixelcnn", shape, blocks=4), pixel)
    assert torch.all(gated[earlier] > 0), "gated-pixelcnn misses an earlier pixel"
    assert torch.all(gated[~earlier] == 0)


def all_images(shape, bins):
    d = math.prod(shape)
    grid = torch.tensor(list(itertools.product(range(bins), repeat=d)), dtype=torch.float32)
    return (grid / (bins - 1)).reshape(-1, *shape)


def total_probability(model, shape, bins):
    x = all_images(shape, bins)
    k = model.config.num_classes
    y = torch.full((x.shape[0],), k - 1) if k else None
    with torch.no_grad():
        return float(torch.logsumexp(model.log_prob(x, y).double(), 0).exp())


@pytest.mark.parametrize("name,shape", [("made", (1, 2, 5)), ("pixelcnn", (1, 3, 3)), ("gated-pixelcnn", (1, 3, 3))])
@pytest.mark.parametrize("output", ["bernoulli", "categorical"])
def test_exhaustive_normalisation_binary(name, shape, output):
    m = build(name, shape, perturb=0.5, output=output, bins=2)
    assert abs(total_probability(m, shape, 2) - 1) < 1e-5


@pytest.mark.parametrize("name", ["made", "pixelcnn", "gated-pixelcnn"])
@pytest.mark.parametrize("output", ["categorical", "logistic"])
def test_exhaustive_normalisation_colour_three_levels(name, output):
    shape = (3, 1, 2)  # 3^6 = 729 images: checks the channel groups
    m = build(name, shape, perturb=0.5, output=output, bins=3, mixtures=2, num_classes=2)
    assert abs(total_probability(m, shape, 3) - 1) < 1e-5


def test_a_model_that_sees_itself_is_not_normalised():
    m = build("pixelcnn", (1, 3, 3), perturb=0.5)
    with torch.no_grad():
        m.first.mask[:, :, 3, 3] = 1.0
    assert abs(total_probability(m, (1, 3, 3), 2) - 1) > 1e-2


def test_made_order_ensemble_is_normalised_and_is_the_mixture():
    shape = (1, 2, 5)
    m = build("made", shape, perturb=0.5, num_masks=4, ensemble=4)
    assert abs(total_probability(m, shape, 2) - 1) < 1e-5
    x = all_images(shape, 2)[:64]
    with torch.no_grad():
        per = torch.stack([m.log_prob_mask(m.levels(x), None, k) for k in range(4)])
        mix = m.log_prob(x)
    assert torch.allclose(mix, torch.logsumexp(per, 0) - math.log(4), atol=1e-5)
    assert (per[0] - per[1]).abs().max() > 1e-2  # the orderings are different models
    # a wrong variant: the average of the log-probabilities is not normalised
    with torch.no_grad():
        xs = all_images(shape, 2)
        wrong = torch.stack([m.log_prob_mask(m.levels(xs), None, k) for k in range(4)]).mean(0)
    assert abs(float(torch.logsumexp(wrong.double(), 0).exp()) - 1) > 1e-3


def chi_square_ok(counts, probs):
    """Pearson's statistic below mean + 5 sd of chi2(cells - 1) (cells with expected count >= 5)."""
    exp = counts.sum() * probs
    keep = exp >= 5
    stat = float(((counts[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    dof = int(keep.sum()) - 1
    return stat < dof + 5 * math.sqrt(2 * dof), stat, dof


def sample_counts(model, shape, bins, n, labels=None):
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        lv = model.sample_levels(n, labels, generator=g).reshape(n, -1)
    d = lv.shape[1]
    index = (lv * bins ** torch.arange(d - 1, -1, -1)).sum(1)
    return torch.bincount(index, minlength=bins**d).double()


@pytest.mark.parametrize("name,cfg", [("made", {}), ("made", {"num_masks": 3, "ensemble": 3}),
                                      ("pixelcnn", {}), ("gated-pixelcnn", {})])
def test_sampling_matches_exp_log_prob_on_2x2_binary(name, cfg):
    shape = (1, 2, 2)
    m = build(name, shape, perturb=0.7, **cfg)
    x = all_images(shape, 2)  # in the same lexicographic order as sample_counts' index
    with torch.no_grad():
        probs = m.log_prob(x).double().exp()
    counts = sample_counts(m, shape, 2, 20_000)
    ok, stat, dof = chi_square_ok(counts, probs)
    assert ok, (stat, dof)
    # the wrong variant: another model's probabilities are rejected
    other = build(name, shape, seed=1, perturb=0.7, **cfg)
    with torch.no_grad():
        assert not chi_square_ok(counts, other.log_prob(x).double().exp())[0]


@pytest.mark.parametrize("name", ["made", "pixelcnn", "gated-pixelcnn"])
def test_sampling_matches_exp_log_prob_over_colour_channels(name):
    shape = (3, 1, 1)  # 27 colours of one pixel: the channel order R -> G -> B
    m = build(name, shape, perturb=0.7, output="categorical", bins=3, num_classes=2)
    x = all_images(shape, 3)
    with torch.no_grad():
        probs = m.log_prob(x, torch.ones(27, dtype=torch.long)).double().exp()
    counts = sample_counts(m, shape, 3, 20_000, labels=torch.ones(20_000, dtype=torch.long))
    ok, stat, dof = chi_square_ok(counts, probs)
    assert ok, (stat, dof)
    with torch.no_grad():
        assert not chi_square_ok(counts, m.log_prob(x, torch.zeros(27, dtype=torch.long)).double().exp())[0]


@pytest.mark.parametrize("name", ["made", "pixelcnn", "gated-pixelcnn"])
def test_labels_as_integers_and_as_one_hot_agree(name):
    m = build(name, (1, 3, 3), perturb=0.3, num_classes=3)
    x = all_images((1, 3, 3), 2)[:20]
    y = torch.arange(20) % 3
    with torch.no_grad():
        a = m.log_prob(x, y)
        b = m.log_prob(x, torch.nn.functional.one_hot(y, 3).float())
        c = m.log_prob(x, (y + 1) % 3)
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, c, atol=1e-3)


def test_made_masks_are_pure_functions_of_their_index_and_training_cycles_them():
    a = build("made", (1, 3, 3), num_masks=5, ensemble=2, mask_seed=3)
    b = build("made", (1, 3, 3), seed=9, num_masks=5, ensemble=2, mask_seed=3)
    for k in range(5):
        assert all(torch.equal(u, v) for u, v in zip(a.degrees(k), b.degrees(k)))
    a.train()
    seen = []
    for step in range(7):
        seen.append(a.training_mask())
        a.on_step_end(step)
    assert seen == [0, 1, 2, 3, 4, 0, 1]


def test_made_degrees_random_and_spread():
    g = torch.Generator().manual_seed(0)
    degs = made_degrees(20, (30, 7), order=list(range(20, 0, -1)), generator=g)
    assert all(int(d.min()) >= 1 and int(d.max()) <= 19 for d in degs[1:])
    assert int(degs[2].min()) >= int(degs[1].min())
    spread = made_degrees(784, (100,), spread=True)[1]
    assert int(spread.min()) == 1 and int(spread.max()) > 770  # every part of the order is reachable
    assert int(made_degrees(784, (100,))[1].max()) == 100  # cycling (the default) stops at h


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="ensemble"):
        create("made", data_shape=(1, 4, 4), num_masks=2, ensemble=3)
    with pytest.raises(ConfigError, match="channels"):
        create("pixelcnn", data_shape=(3, 4, 4), channels=9)
    with pytest.raises(ConfigError, match="odd"):
        create("gated-pixelcnn", data_shape=(1, 4, 4), kernel=4)
    with pytest.raises(ConfigError, match="image shape"):
        create("pixelcnn", data_shape=(16,))

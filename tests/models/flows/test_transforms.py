"""Every transform, in float64 on small inputs: inverse(forward(x)) = x, the returned log-det equals log |det J|
from autograd (per example, image Jacobians flattened), and the inverse's log-det is its negative."""

import pytest
import torch
from torch.autograd.functional import jacobian

from genzoo.models.flows import (
    ActNorm,
    Compose,
    ElementwiseAffine,
    Flatten,
    Identity,
    ImageCoupling,
    InvConv1x1,
    Inverse,
    Logit,
    MaskedAutoregressive,
    MultiScale,
    RandomPermute,
    Reverse,
    Squeeze,
    Transform,
    VectorCoupling,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
)
from genzoo.models.flows.transforms import ConvNet

K = 2  # condition size


def _randomize(t: Transform, std: float = 0.3, seed: int = 1) -> Transform:
    """float64, every parameter perturbed (so zero-initialised conditioner outputs are non-zero)."""
    t = t.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in t.parameters():
            p.add_(std * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return t


def _init_actnorms(t: Transform, x, c=None) -> None:
    with torch.no_grad():
        t(x, c)  # data-dependent init of every ActNorm inside, on a random batch


class NegatedLogdet(Transform):
    """A deliberately wrong transform: the correct map with the sign of its log-det flipped (`offset` instead
    adds a constant, for volume-preserving maps whose log-det is 0 and cannot change sign)."""

    def __init__(self, t, offset: float | None = None):
        super().__init__()
        self.t, self.offset = t, offset

    def _wrong(self, ld):
        return -ld if self.offset is None else ld + self.offset

    def forward(self, x, c=None):
        y, ld = self.t(x, c)
        return y, self._wrong(ld)

    def inverse(self, y, c=None):
        x, ld = self.t.inverse(y, c)
        return x, self._wrong(ld)


def autograd_logdet(f, x, c=None):
    """log |det df/dx| per example, from the full Jacobian of the example's flattened output."""
    out = []
    for i in range(x.shape[0]):
        ci = None if c is None else c[i:i + 1]
        J = jacobian(lambda xi: f(xi.unsqueeze(0), ci)[0].reshape(-1), x[i])
        out.append(torch.linalg.slogdet(J.reshape(J.shape[0], -1))[1])
    return torch.stack(out)


def check(t, x, c=None, tol=1e-6):
    """Max errors of (round trip, forward log-det, inverse log-det, forward + inverse log-det)."""
    y, ld = t(x, c)
    x2, ld_inv = t.inverse(y, c)
    errs = {
        "roundtrip": (x2 - x).abs().max().item(),
        "fwd_logdet": (ld - autograd_logdet(t, x, c)).abs().max().item(),
        "inv_logdet": (ld_inv - autograd_logdet(t.inverse, y, c)).abs().max().item(),
        "sum": (ld + ld_inv).abs().max().item(),
    }
    assert ld.shape == (x.shape[0],) and ld_inv.shape == (x.shape[0],)
    return errs


def _vec(d=3, n=4, lo=None):
    x = torch.randn(n, d, dtype=torch.float64)
    return x if lo is None else torch.rand(n, d, dtype=torch.float64) * 0.98 + 0.01


def _img(c=2, h=4, w=4, n=3):
    return torch.randn(n, c, h, w, dtype=torch.float64)


def _ctx(n):
    return torch.randn(n, K, dtype=torch.float64)


def _multiscale(context=0):
    pre = Compose(Squeeze(), ImageCoupling(channel_mask(8, 0), 8, 8, context=context), ActNorm(8))
    inner = Compose(ImageCoupling(checkerboard_mask(2, 2, 1), 4, 8, context=context), InvConv1x1(4, lu=True),
                    Flatten((4, 2, 2)))
    return MultiScale(pre, inner, (8, 2, 2), hidden=8, context=context)


# (name, transform factory, input factory, uses a condition)
CASES = [
    ("identity", lambda: Identity(), _vec, False),
    ("elementwise-affine", lambda: ElementwiseAffine(3), _vec, False),
    ("logit", lambda: Logit(0.05), lambda: _vec(lo=True), False),
    ("reverse", lambda: Reverse(3), _vec, False),
    ("random-permute", lambda: RandomPermute(3, seed=0), _vec, False),
    ("actnorm-vec", lambda: ActNorm(3), _vec, False),
    ("invconv-vec", lambda: InvConv1x1(3), _vec, False),
    ("invconv-lu-vec", lambda: InvConv1x1(3, lu=True), _vec, False),
    ("coupling-tanh", lambda: VectorCoupling(alternating_mask(3, 0), (8,), scale="tanh"), _vec, False),
    ("coupling-sigmoid", lambda: VectorCoupling(alternating_mask(3, 1), (8,), scale="sigmoid"), _vec, False),
    ("coupling-exp-cond", lambda: VectorCoupling(alternating_mask(3, 0), (8,), K, scale="exp"), _vec, True),
    ("additive-cond", lambda: VectorCoupling(alternating_mask(3, 1), (8,), K, scale="none"), _vec, True),
    ("maf", lambda: MaskedAutoregressive(3, (8, 8)), _vec, False),
    ("maf-cond", lambda: MaskedAutoregressive(3, (8,), context=K), _vec, True),
    ("maf-order", lambda: MaskedAutoregressive(4, (8,), order=[3, 1, 4, 2]), lambda: _vec(4), False),
    ("iaf-cond", lambda: Inverse(MaskedAutoregressive(3, (8,), context=K)), _vec, True),
    ("compose-vec", lambda: Compose(ActNorm(3), InvConv1x1(3, lu=True), VectorCoupling(alternating_mask(3, 0), (8,), K),
                                    Reverse(3), MaskedAutoregressive(3, (8,), context=K)), _vec, True),
    ("squeeze-1x4x4", lambda: Squeeze(), lambda: _img(c=1), False),
    ("squeeze-2x4x4", lambda: Squeeze(), _img, False),
    ("flatten", lambda: Flatten((2, 4, 4)), _img, False),
    ("logit-img", lambda: Logit(0.05), lambda: torch.rand(3, 2, 4, 4, dtype=torch.float64), False),
    ("actnorm-img", lambda: ActNorm(2), _img, False),
    ("invconv-img", lambda: InvConv1x1(2), _img, False),
    ("invconv-lu-img", lambda: InvConv1x1(2, lu=True), _img, False),
    ("coupling-checker", lambda: ImageCoupling(checkerboard_mask(4, 4, 0), 2, 8), _img, False),
    ("coupling-checker-cond", lambda: ImageCoupling(checkerboard_mask(4, 4, 1), 2, 8, K), _img, True),
    ("coupling-channel-sigmoid", lambda: ImageCoupling(channel_mask(2, 0), 2, 8, scale="sigmoid"), _img, False),
    ("coupling-channel-additive", lambda: ImageCoupling(channel_mask(2, 1), 2, 8, scale="none"), _img, False),
    ("coupling-channel-split-cond", lambda: ImageCoupling(channel_mask(4, 1), 4, 8, K), lambda: _img(c=4), True),
    ("coupling-residual-actnorm-net", lambda: ImageCoupling(channel_mask(4, 0), 4, 8, K, layers=2, kernel=3,
                                                            residual=True, norm="actnorm"), lambda: _img(c=4), True),
    ("coupling-checker-glow-net", lambda: ImageCoupling(checkerboard_mask(4, 4, 0), 2, 8, norm="actnorm"), _img,
     False),
    ("coupling-channel-odd", lambda: ImageCoupling(channel_mask(3, 0), 3, 8), lambda: _img(c=3), False),
    ("coupling-interleaved-channels", lambda: ImageCoupling(torch.tensor([1.0, 0, 1, 0]).view(1, 4, 1, 1), 4, 8),
     lambda: _img(c=4), False),
    ("multiscale-split-prior", lambda: _multiscale(), _img, False),
    ("multiscale-split-prior-cond", lambda: _multiscale(K), _img, True),
]


@pytest.mark.parametrize("name,make,data,cond", CASES, ids=[c[0] for c in CASES])
def test_transform_inverse_and_logdet(name, make, data, cond):
    torch.manual_seed(0)
    t = _randomize(make())
    x = data()
    c = _ctx(x.shape[0]) if cond else None
    _init_actnorms(t, data(), c)
    errs = check(t, x, c)
    assert errs["roundtrip"] < 1e-6, errs
    assert errs["fwd_logdet"] < 1e-6, errs
    assert errs["inv_logdet"] < 1e-6, errs
    assert errs["sum"] < 1e-6, errs
    if cond:  # the condition changes the map
        y0, _ = t(x, c)
        y1, _ = t(x, c + 1.0)
        assert (y0 - y1).abs().max() > 1e-3


@pytest.mark.parametrize("name,make,data,cond", CASES, ids=[c[0] for c in CASES])
def test_checker_catches_a_wrong_logdet(name, make, data, cond):
    """Two-sided: the same check fails every transform with its log-det sign flipped (a known bug class), or,
    for volume-preserving maps (log-det 0), shifted by a constant; the map itself is unchanged."""
    torch.manual_seed(0)
    t = _randomize(make())
    x = data()
    c = _ctx(x.shape[0]) if cond else None
    _init_actnorms(t, data(), c)
    ld = t(x, c)[1]
    wrong = NegatedLogdet(t) if ld.abs().min() > 1e-3 else NegatedLogdet(t, offset=0.1)
    bad = check(wrong, x, c)
    assert bad["roundtrip"] < 1e-6
    assert bad["fwd_logdet"] > 1e-2 and bad["inv_logdet"] > 1e-2, bad


class CouplingSummingEveryPosition(ImageCoupling):
    """Known bug: an image coupling whose log-det sums the raw log-scale over every position, the kept half
    (whose y = x) included."""

    def forward(self, x, c=None):
        y, _ = super().forward(x, c)
        m = self.mask.to(x.dtype)
        log_s, _ = self._raw(self.net(x * m, c))
        return y, log_s.flatten(1).sum(1)


class ActNormWithoutPositions(ActNorm):
    """Known bug: ActNorm's log-det without the H * W factor (per-channel scales counted once, not per pixel)."""

    def forward(self, x, c=None):
        y, ld = super().forward(x, c)
        return y, ld / (x.shape[2] * x.shape[3])


class InvConvWithoutPositions(InvConv1x1):
    """Known bug: the 1x1 convolution's log-det as log |det W| instead of H * W log |det W|."""

    def forward(self, x, c=None):
        y, ld = super().forward(x, c)
        return y, ld / (x.shape[2] * x.shape[3])


@pytest.mark.parametrize("make", [lambda: CouplingSummingEveryPosition(checkerboard_mask(4, 4, 0), 2, 8,
                                                                       scale="sigmoid"),
                                  lambda: ActNormWithoutPositions(2), lambda: InvConvWithoutPositions(2)],
                         ids=["coupling-sums-kept-half", "actnorm-no-hw", "invconv-no-hw"])
def test_checker_catches_known_image_logdet_bugs(make):
    """Two-sided: plausible wrong image log-dets (each with the correct map, so round trips still pass) fail the
    autograd check on a 2x4x4 tensor."""
    t = _randomize(make())
    x = _img()
    _init_actnorms(t, _img())
    bad = check(t, x)
    assert bad["roundtrip"] < 1e-6
    assert bad["fwd_logdet"] > 1e-2, bad


def test_coupling_is_identity_at_init_and_nontrivial_after_randomize():
    t = VectorCoupling(alternating_mask(4, 0), (8,)).double()
    x = _vec(4)
    y, ld = t(x)
    assert torch.equal(y, x) and torch.all(ld == 0)
    y, ld = _randomize(t)(x)
    assert (y - x).abs().max() > 1e-2 and ld.abs().max() > 1e-3


def test_actnorm_init_zero_mean_unit_variance():
    for shape, dims in [((64, 3), (0,)), ((16, 2, 4, 4), (0, 2, 3))]:
        x = torch.randn(*shape, dtype=torch.float64) * torch.tensor([3.0, 0.5, 2.0][: shape[1]]).view(
            1, -1, *([1] * (len(shape) - 2))).double() + 5.0
        a = ActNorm(shape[1]).double()
        assert int(a.initialized) == 0
        y, _ = a(x)
        assert int(a.initialized) == 1
        torch.testing.assert_close(y.mean(dims), torch.zeros(shape[1], dtype=torch.float64), atol=1e-6, rtol=0)
        torch.testing.assert_close(y.var(dims, unbiased=False), torch.ones(shape[1], dtype=torch.float64),
                                   atol=1e-5, rtol=0)
        before = a.loc.detach().clone()
        a(x * 10)  # a second batch does not re-initialise
        assert torch.equal(a.loc.detach(), before)
        assert "initialized" in a.state_dict()


def test_lu_determinant_equals_plain():
    t = _randomize(InvConv1x1(5, lu=True, seed=3))
    w = t.weight_matrix()
    torch.testing.assert_close(t.logabsdet(), torch.linalg.slogdet(w)[1], atol=1e-10, rtol=0)
    plain = InvConv1x1(5).double()
    with torch.no_grad():
        plain.weight.copy_(w)
    x = _img(c=5)
    (y1, ld1), (y2, ld2) = t(x), plain(x)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(ld1, ld2)
    torch.testing.assert_close(ld1, 16 * torch.linalg.slogdet(w)[1].expand(3))


def test_squeeze_layout():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y, _ = Squeeze()(x)
    assert y.shape == (1, 4, 2, 2)
    torch.testing.assert_close(y[0, :, 0, 0], torch.tensor([0.0, 1.0, 4.0, 5.0]))  # one 2x2 block -> channels


def test_masks():
    m = checkerboard_mask(3, 3, 0)[0, 0]
    assert m.sum() == 5 and m[0, 0] == 1 and m[0, 1] == 0
    assert channel_mask(4, 0).flatten().tolist() == [1, 1, 0, 0]
    assert alternating_mask(3, 1).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        VectorCoupling(torch.ones(3, dtype=torch.bool))


def test_convnet_condition_channels():
    net = _randomize(ConvNet(2, 4, 4, context=K))
    x = _img()
    assert net(x, _ctx(3)).shape == (3, 4, 4, 4)


@pytest.mark.parametrize("mask,split", [(channel_mask(4, 0), True), (channel_mask(4, 1), True),
                                        (torch.tensor([1.0, 0, 1, 0]).view(1, 4, 1, 1), False),
                                        (checkerboard_mask(4, 4, 1), False)],
                         ids=["channel-first", "channel-second", "interleaved", "checkerboard"])
def test_image_coupling_keeps_the_masked_half(mask, split):
    """y = x where the mask is 1 (exactly), changed where it is 0; contiguous channel masks are split, and the
    conditioner then sees only the kept channels."""
    t = _randomize(ImageCoupling(mask, 4, 8))
    assert (t.split is not None) == split
    x = _img(c=4)
    y, _ = t(x)
    keep = mask.bool().expand_as(x)
    assert torch.equal(y[keep], x[keep])
    assert (y[~keep] - x[~keep]).abs().min() > 0
    if split:
        assert t.net.inp[0].in_channels == 2 and t.net.out.out_channels == 4

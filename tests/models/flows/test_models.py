"""The registered flow models: contract, image preprocessing and bits/dim, conditioning, save/load (ActNorm keeps
its initialisation), MADE's autoregressive structure."""

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from genzoo.errors import ConfigError, DataError
from genzoo.models import Batch, available, create, load
from genzoo.models.flows import ActNorm, Logit
from genzoo.nn.masked import MADE
from genzoo.nn.norm import ActNormLayer

NORM_LAYERS = (ActNorm, ActNormLayer)  # flow steps and the conditioners' ActNorm (genzoo.nn)

SMALL_IMG = {
    "realnvp": dict(data_shape=(1, 8, 8), levels=1, steps=2, final_steps=2, hidden_channels=8),
    "glow": dict(data_shape=(1, 8, 8), levels=2, steps=2, hidden_channels=8),
    "maf": dict(data_shape=(1, 8, 8), n_blocks=2, hidden=(32,)),
    "nice": dict(data_shape=(1, 8, 8), n_blocks=2, hidden=(32,)),
}


def _images(n=6, shape=(1, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float() / 255.0


def _randomize(model, std=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))


def test_registered():
    assert {"realnvp", "glow", "maf", "nice"} <= set(available("flow"))
    for name in ["realnvp", "glow", "maf", "nice"]:
        m = create(name)
        assert m.likelihood == "exact" and m.family == "flow"


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_mnist_shape_bits_per_dim_finite(name):
    m = create(name, data_shape=(1, 28, 28), hidden_channels=16).eval()
    x = _images(2, (1, 28, 28))
    bpd = m.bits_per_dim(x)
    assert bpd.shape == (2,) and torch.isfinite(bpd).all()
    s = m.sample(2)
    assert s.shape == (2, 1, 28, 28) and s.min() >= 0 and s.max() <= 1


@pytest.mark.parametrize("name", list(SMALL_IMG))
def test_image_bits_per_dim_by_hand(name):
    m = create(name, **SMALL_IMG[name])
    x = _images()
    m.log_prob(x)  # ActNorm init
    _randomize(m)
    m.eval()
    lp = m.log_prob(x)
    assert torch.isfinite(lp).all()
    d = 64
    torch.testing.assert_close(m.bits_per_dim(x), (-lp / d + math.log(256)) / math.log(2))
    # log_prob = base log-density + body log-det + logit log-det, on the (seeded) dequantized input
    xd = m.preprocess(x)
    assert ((xd * 256).floor() == torch.round(x * 255)).all()  # dequantized within its own bin
    y, ld_logit = Logit(m.config.logit_alpha)(xd)
    body = m.flow.transform[1]
    z, ld_body = body(y)
    by_hand = -0.5 * (z.pow(2).sum(1) + z.shape[1] * math.log(2 * math.pi)) + ld_body + ld_logit
    torch.testing.assert_close(lp, by_hand, atol=1e-4, rtol=1e-5)
    assert (ld_logit.abs() > 1).all()  # the logit log-det is a large, included term
    s = m.sample(5)
    assert s.shape == (5, 1, 8, 8) and s.min() >= 0 and s.max() <= 1


def test_dequantization_modes():
    m = create("realnvp", **SMALL_IMG["realnvp"])
    x = _images()
    m.train()
    a, b = m.log_prob(x), m.log_prob(x)
    assert not torch.equal(a, b)  # fresh noise in training
    m.eval()
    torch.testing.assert_close(m.log_prob(x), m.log_prob(x), atol=0, rtol=0)  # seeded in eval
    mid = create("realnvp", **SMALL_IMG["realnvp"], eval_noise="mid").eval()
    torch.testing.assert_close(mid.preprocess(x), (torch.round(x * 255) + 0.5) / 256)


def test_training_reduces_image_bpd():
    m = create("glow", **SMALL_IMG["glow"])
    g = torch.Generator().manual_seed(0)  # structured images: a random level per image +- 2 levels of noise
    k = torch.randint(40, 200, (64, 1, 1, 1), generator=g) + torch.randint(-2, 3, (64, 1, 8, 8), generator=g)
    x = k.float() / 255.0
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    first = None
    for _ in range(30):
        out = m.loss(Batch(x))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["bpd"].item()
    assert out["bpd"].item() < first - 0.1
    assert set(out) >= {"loss", "nll", "bpd"}


@pytest.mark.parametrize("name", ["realnvp", "glow", "maf", "nice"])
@pytest.mark.parametrize("image", [False, True])
def test_conditional_flow_responds_to_labels(name, image):
    kw = dict(SMALL_IMG[name]) if image else {}
    m = create(name, num_classes=3, **kw)
    x = _images(4) if image else torch.randn(4, 2)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    m.log_prob(x, y0)
    _randomize(m, std=0.1)
    m.eval()
    assert (m.log_prob(x, y0) - m.log_prob(x, y1)).abs().max() > 1e-3
    torch.manual_seed(5)
    s0 = m.sample(4, y0)
    torch.manual_seed(5)
    s1 = m.sample(4, 1)
    assert (s0 - s1).abs().max() > 1e-4
    with pytest.raises(DataError, match="needs labels"):
        m.log_prob(x)
    with pytest.raises(DataError, match="labels must lie"):
        m.log_prob(x, torch.full((4,), 3))


def test_input_checks():
    m = create("realnvp", **SMALL_IMG["realnvp"])
    with pytest.raises(DataError, match="shape"):
        m.log_prob(torch.rand(2, 1, 4, 4))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        m.log_prob(torch.rand(2, 1, 8, 8) + 1)
    with pytest.raises(DataError, match="unconditional"):
        m.sample(2, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ConfigError, match="divisible"):
        create("glow", data_shape=(1, 6, 6), levels=2)
    with pytest.raises(ConfigError, match="data_shape"):
        create("realnvp", data_shape=(2, 2))


@pytest.mark.parametrize("name,kw", [("realnvp", SMALL_IMG["realnvp"]), ("glow", SMALL_IMG["glow"]),
                                     ("glow", {**SMALL_IMG["glow"], "conv_norm": "actnorm", "conv_residual": True}),
                                     ("glow", {}), ("maf", {"actnorm": True})])
def test_save_load_keeps_actnorm_initialised(tmp_path, name, kw):
    """Regression: ActNorm's "initialised" state is a buffer in the safetensors file, so a loaded model does
    not re-initialise on its first batch (which would silently change log_prob)."""
    m = create(name, **kw)
    img = "data_shape" in kw
    x = _images(8) if img else torch.randn(64, 2) * 3 + 1
    m.train()
    m.log_prob(x)  # data-dependent init on this batch
    _randomize(m)
    m.eval()
    norms = [mod for mod in m.modules() if isinstance(mod, NORM_LAYERS)]
    assert norms and all(int(a.initialized) == 1 for a in norms)
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m").eval()
    assert all(int(a.initialized) == 1 for a in m2.modules() if isinstance(a, NORM_LAYERS))
    other = _images(8, seed=9) if img else torch.randn(64, 2) * 0.1 - 4  # a batch with different statistics
    torch.testing.assert_close(m2.log_prob(other), m.log_prob(other), atol=0, rtol=0)
    torch.testing.assert_close(m2.log_prob(x), m.log_prob(x), atol=0, rtol=0)
    # two-sided: a copy that forgot its initialisation (the bug) re-initialises on `other` and is caught
    m3 = load(tmp_path / "m").eval()
    for a in m3.modules():
        if isinstance(a, NORM_LAYERS):
            a.initialized.zero_()
    assert (m3.log_prob(other) - m.log_prob(other)).abs().max() > 1e-3


def test_made_is_autoregressive():
    made = MADE(5, (16, 16), params=2, context=3, order=[3, 1, 5, 2, 4], act="tanh").double()
    with torch.no_grad():
        for p in made.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x, c = torch.randn(5, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    J = jacobian(lambda v: made(v.unsqueeze(0), c)[0], x)  # (2, 5, 5): d out[p, j] / d x[i]
    order = made.order
    allowed = order[None, :] < order[:, None]  # out j may depend on x i iff order[i] < order[j]
    assert (J.abs()[:, ~allowed] == 0).all()
    assert (J.abs()[:, allowed] > 0).all()  # and it does (degree-1 output is constant)
    assert made(x.unsqueeze(0), c + 1).sub(made(x.unsqueeze(0), c)).abs().max() > 0  # context reaches all


def test_iaf_samples_in_one_pass_and_agrees_with_maf_direction():
    iaf = create("maf", iaf=True, n_blocks=2)
    maf = create("maf", n_blocks=2)
    _randomize(iaf, 0.2)
    _randomize(maf, 0.2)
    for m in (iaf, maf):
        x, lp = m.flow.rsample_and_log_prob(32)
        torch.testing.assert_close(lp, m.log_prob(x.detach()), atol=1e-4, rtol=1e-4)


def test_maf_density_and_iaf_sampling_are_one_pass():
    """MAF evaluates log_prob with one MADE pass per block and samples with D; IAF the other way round."""
    d = 5
    for iaf, density_passes, sample_passes in [(False, 1, d), (True, d, 1)]:
        m = create("maf", data_shape=(d,), n_blocks=2, iaf=iaf)
        made = [mod for mod in m.modules() if isinstance(mod, MADE)]
        calls = [0]
        for mod in made:
            mod.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        m.log_prob(torch.randn(3, d))
        assert calls[0] == density_passes * len(made)
        calls[0] = 0
        m.sample(3)
        assert calls[0] == sample_passes * len(made)

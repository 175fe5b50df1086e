"""Each GAN loss and option against an independent numpy formula (and a wrong variant rejected); n critic steps and
PGGAN's schedule through the one Trainer; the projection discriminator; spectral norm on every discriminator."""

import numpy as np
import pytest
import torch
from torch import nn

from genzoo.models import Batch, create
from genzoo.models.gan.losses import discriminator_loss, feature_matching_loss, generator_loss

SMALL = {"g_hidden": (16,), "d_hidden": (16,), "latent_dim": 4}
RNG = np.random.default_rng(0)
REAL = RNG.normal(1.0, 2.0, 64)
FAKE = RNG.normal(-1.0, 2.0, 64)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


# the textbook formulas in probabilities / critic values, written independently of genzoo's logit forms
NUMPY_D = {
    "minimax": lambda r, f: -np.mean(np.log(_sig(r))) - np.mean(np.log(1 - _sig(f))),
    "ns": lambda r, f: -np.mean(np.log(_sig(r))) - np.mean(np.log(1 - _sig(f))),
    "wgan": lambda r, f: np.mean(f) - np.mean(r),
    "wgan-gp": lambda r, f: np.mean(f) - np.mean(r),
    "hinge": lambda r, f: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)),
}
NUMPY_G = {
    "minimax": lambda f: np.mean(np.log(1 - _sig(f))),
    "ns": lambda f: -np.mean(np.log(_sig(f))),
    "wgan": lambda f: -np.mean(f),
    "wgan-gp": lambda f: -np.mean(f),
    "hinge": lambda f: -np.mean(f),
}
WRONG_D = {  # plausible bugs: a sign flip, the real/fake roles swapped, a missing relu
    "minimax": lambda r, f: -np.mean(np.log(_sig(f))) - np.mean(np.log(1 - _sig(r))),
    "ns": lambda r, f: np.mean(np.log(_sig(r))) + np.mean(np.log(1 - _sig(f))),
    "wgan": lambda r, f: np.mean(r) - np.mean(f),
    "wgan-gp": lambda r, f: np.mean(r) - np.mean(f),
    "hinge": lambda r, f: np.mean(1 - r) + np.mean(1 + f),
}


@pytest.mark.parametrize("kind", list(NUMPY_D))
def test_losses_equal_the_textbook_formulas(kind):
    r, f = torch.tensor(REAL), torch.tensor(FAKE)
    d = float(discriminator_loss(kind, r, f))
    g = float(generator_loss(kind, f))
    assert d == pytest.approx(NUMPY_D[kind](REAL, FAKE), rel=1e-10)
    assert g == pytest.approx(NUMPY_G[kind](FAKE), rel=1e-10)
    assert abs(d - WRONG_D[kind](REAL, FAKE)) > 0.1  # the wrong variant is told apart
    with pytest.raises(ValueError):
        discriminator_loss("lsgan", r, f)


def test_bce_losses_are_stable_for_large_logits():
    big = torch.tensor([80.0, -80.0], dtype=torch.float32)
    assert torch.isfinite(discriminator_loss("ns", big, -big)) and torch.isfinite(generator_loss("minimax", big))
    assert float(discriminator_loss("ns", big[:1], -big[:1])) == pytest.approx(0.0, abs=1e-30)


class _LinearD(nn.Module):
    """D(x) = <w, x> + b; per-sample input gradient w; features x."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x, y=None):
        f = x.flatten(1)
        return f @ self.w + self.b, f


def test_r1_option_adds_gamma_over_two_times_the_squared_gradient_norm():
    m = create("ns-gan", **SMALL, r1_gamma=4.0)
    m.discriminator = _LinearD([3.0, 4.0])  # ||grad D|| = 5 at every real point
    x = torch.randn(16, 2)
    torch.manual_seed(1)
    out = m.loss(Batch(x), "discriminator")
    assert float(out["r1"]) == pytest.approx(25.0, rel=1e-6)
    base = create("ns-gan", **SMALL, r1_gamma=0.0)
    base.generator.load_state_dict(m.generator.state_dict())
    base.discriminator = m.discriminator
    torch.manual_seed(1)
    plain = base.loss(Batch(x), "discriminator")
    assert "r1" not in plain
    gap = float((out["loss"] - plain["loss"]).detach())
    assert gap == pytest.approx(0.5 * 4.0 * 25.0, rel=1e-5)  # gamma / 2, not gamma


def test_wgan_gp_loss_is_wasserstein_plus_lambda_gp():
    m = create("wgan-gp", **SMALL, gp_weight=7.0)
    m.discriminator = _LinearD([0.0, 2.0])  # GP = (2 - 1)^2 = 1 per sample
    out = m.loss(Batch(torch.randn(32, 2)), "discriminator")
    assert float(out["gp"]) == pytest.approx(1.0, abs=1e-6)
    assert float(out["loss"].detach()) == pytest.approx(float(-out["wasserstein"]) + 7.0, abs=1e-5)


def test_feature_matching_equals_the_squared_distance_of_mean_features():
    a, b = torch.randn(50, 6, dtype=torch.float64), torch.randn(40, 6, dtype=torch.float64) + 0.3
    ref = np.sum((a.numpy().mean(0) - b.numpy().mean(0)) ** 2)
    assert float(feature_matching_loss(a, b)) == pytest.approx(ref, rel=1e-12)
    wrong = np.mean(np.sum((a.numpy()[:40] - b.numpy()) ** 2, 1))  # per-sample matching is a different loss
    assert abs(float(feature_matching_loss(a, b)) - wrong) > 1.0
    assert float(feature_matching_loss(a, a.clone())) == 0.0
    # through the model: the generator loss is || E f(x) - E f(G(z)) ||^2 of D's features (here f(x) = x)
    m = create("ns-gan", **SMALL, feature_matching=True, reuse_fake=False)
    m.discriminator = _LinearD([1.0, -1.0])
    x = torch.randn(64, 2) + 5.0
    torch.manual_seed(3)
    out = m.loss(Batch(x), "generator")
    torch.manual_seed(3)
    with torch.no_grad():
        fake = m.fake(64)
    assert float(out["loss"].detach()) == pytest.approx(float(((x.mean(0) - fake.mean(0)) ** 2).sum()), rel=1e-5)


def test_projection_discriminator_adds_the_label_embedding_inner_product():
    torch.manual_seed(0)
    m = create("cgan", data_shape=(2,), cond="projection", num_classes=3, **SMALL)
    d = m.discriminator
    x = torch.randn(5, 2)
    with torch.no_grad():
        out = {k: d(x, torch.full((5,), k))[0] for k in range(3)}
        _, phi = d(x, torch.zeros(5, dtype=torch.long))
        emb = d.head.proj.weight
        for k in (1, 2):  # D(x, k) - D(x, 0) = (e_k - e_0)^T phi(x): psi(phi(x)) cancels
            torch.testing.assert_close(out[k] - out[0], phi @ (emb[k] - emb[0]), rtol=1e-5, atol=1e-5)
        assert (out[1] - out[0]).abs().max() > 1e-3
    concat = create("cgan", data_shape=(2,), cond="concat", num_classes=3, **SMALL)
    assert concat.discriminator.head.proj is None
    assert concat.discriminator.body[0].in_features == 2 + 3  # one-hot label concatenated


def _sigma(w):
    return float(torch.linalg.svdvals(w.detach().reshape(w.shape[0], -1))[0])


@pytest.mark.parametrize("name,kw", [
    ("cgan", {"data_shape": (2,), "cond": "projection", "num_classes": 3, "spectral_norm": True, **SMALL}),
    ("cgan", {"data_shape": (1, 28, 28), "cond": "projection", "num_classes": 3, "spectral_norm": True,
              "width": 8, "latent_dim": 8}),
    ("pggan", {"data_shape": (1, 28, 28), "channels": 8, "latent_dim": 8, "spectral_norm": True}),
])
def test_spectral_norm_on_every_discriminator(name, kw):
    torch.manual_seed(0)
    m = create(name, **kw)
    m.train()
    b = Batch(torch.rand(8, *m.config.data_shape),
              torch.randint(0, 3, (8,)) if m.config.num_classes else None)
    for _ in range(80):  # one power iteration per discriminator forward
        m.loss(b, "discriminator")
    layers = [mod for mod in m.discriminator.modules() if hasattr(mod, "parametrizations")]
    assert len(layers) >= 3
    stage_layers = 0
    for mod in layers:
        if name == "pggan" and mod.weight.shape[1] == 1 and mod.weight.dim() == 4:
            continue  # fromRGB of stages not used at stage 0 (no forward, no power iteration)
        w = mod.weight * getattr(mod, "scale", 1.0)  # the effective weight
        if name == "pggan" and any(mod is blk for s in m.discriminator.blocks[1:] for blk in s.modules()):
            continue  # blocks of later stages are not run at stage 0
        stage_layers += 1
        assert _sigma(w) == pytest.approx(1.0, abs=5e-3)
        orig = mod.parametrizations.weight.original
        assert _sigma(orig) != pytest.approx(1.0, abs=5e-3)
    assert stage_layers >= 3


def test_n_critic_discriminator_steps_per_generator_step_through_the_trainer():
    from genzoo.train import TrainConfig, Trainer

    m = create("wgan-gp", **SMALL, n_critic=3)
    calls = []
    orig = m.loss
    m.loss = lambda batch, player="generator": (calls.append(player), orig(batch, player))[1]
    Trainer(m, torch.randn(256, 2), TrainConfig(steps=2, batch_size=32, progress=False, device="cpu"),
            out_dir=None).fit()
    assert calls == (["discriminator"] * 3 + ["generator"]) * 2


def test_pggan_grows_through_the_trainer():
    from genzoo.train import TrainConfig, Trainer

    m = create("pggan", data_shape=(1, 28, 28), channels=8, latent_dim=8, fade_steps=2, stable_steps=2)
    seen = []
    orig = m.loss
    m.loss = lambda batch, player="generator": (seen.append((m.resolution, m.alpha)), orig(batch, player))[1]
    Trainer(m, torch.rand(64, 1, 28, 28), TrainConfig(steps=10, batch_size=8, progress=False, device="cpu"),
            out_dir=None).fit()
    per_step = seen[::2]  # discriminator, generator
    assert [r for r, _ in per_step] == [7, 7, 14, 14, 14, 14, 28, 28, 28, 28]
    assert [a for _, a in per_step] == [1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0]
    assert m.sample(2).shape == (2, 1, 28, 28)

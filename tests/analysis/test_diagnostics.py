"""Diagnostics against closed forms: the per-dimension KL and unit activity, the generator's gradient under the
saturating and non-saturating losses, per-layer gradient norms, AUROC, mode coverage; monitors leave training
bit-identical."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from genzoo.analysis.diagnostics import (
    GradientMonitor,
    PosteriorCollapseMonitor,
    gaussian_kl_per_dim,
    generator_gradients,
    gradient_norms,
    likelihood_ood,
    mode_coverage,
    posterior_stats,
    read_history,
    roc_auc,
)
from genzoo.errors import ConfigError
from genzoo.math import gaussian_kl
from genzoo.models import Batch, create
from genzoo.train import Trainer


class LinearEncoder(nn.Module):
    """q(z | x) = N(x W, diag e^logvar): a stub with the "encode" and "latent" capabilities."""

    capabilities = frozenset({"encode", "latent"})
    name = "stub-encoder"
    conditional = False

    def __init__(self, w: torch.Tensor, logvar: torch.Tensor):
        super().__init__()
        self.w, self.logvar = w, logvar
        self.device = torch.device("cpu")

    def encode(self, x, condition=None):
        mu = x @ self.w
        return mu, self.logvar.expand_as(mu)


def test_kl_per_dim_closed_form_and_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(4, 3, generator=g, dtype=torch.float64) * 0.5
    kl = gaussian_kl_per_dim(mu, logvar)
    torch.testing.assert_close(kl.sum(1), gaussian_kl(mu, logvar))
    # Monte Carlo: E_q[log q(z) - log p(z)] per dimension, within 4 standard errors
    n = 200_000
    z = mu + (0.5 * logvar).exp() * torch.randn(n, 4, 3, generator=g, dtype=torch.float64)
    log_q = -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi))
    d = log_q - log_p
    est, se = d.mean(0), d.std(0) / math.sqrt(n)
    assert ((est - kl).abs() < 4 * se).all()
    wrong = 0.5 * (mu**2 + logvar.exp() - logvar)  # without the -1
    assert ((est - wrong).abs() > 4 * se).any()


def test_posterior_stats_linear_encoder():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(500, 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, 4, generator=g, dtype=torch.float64)
    w[:, 2] = 0.0  # a collapsed unit: mu = 0 and logvar = 0, so q(z_2 | x) = p(z_2)
    w[:, 3] *= 0.01  # a weak unit: activity ~ 1e-4 * |w|^2, below the threshold
    logvar = torch.tensor([-1.0, -2.0, 0.0, -0.5], dtype=torch.float64)
    st = posterior_stats(LinearEncoder(w, logvar), x, batch_size=128)
    mu = (x @ w).numpy()
    np.testing.assert_allclose(st["activity"], mu.var(0, ddof=1), rtol=1e-10)
    expected_kl = (0.5 * (mu**2 + np.exp(logvar.numpy()) - logvar.numpy() - 1)).mean(0)
    np.testing.assert_allclose(st["kl_per_dim"], expected_kl, rtol=1e-10)
    assert st["kl_per_dim"][2] == pytest.approx(0.0, abs=1e-12)
    assert st["activity"][2] == pytest.approx(0.0, abs=1e-12)
    assert st["active_units"] == 2 and st["activity"][3] < 0.01 < st["activity"][0]
    assert st["kl"] == pytest.approx(expected_kl.sum(), rel=1e-10)


class LinearGAN(nn.Module):
    """G(z) = z A, D = sigmoid(x w + b): the generator's gradients have a closed form."""

    capabilities = frozenset({"decode", "latent", "discriminate"})
    name = "stub-gan"

    def __init__(self, latent_dim=3, dim=4, bias=0.0):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.A = nn.Parameter(torch.randn(latent_dim, dim, generator=g, dtype=torch.float64))
        self.w = nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor(bias, dtype=torch.float64))
        self.config = type("C", (), {"latent_dim": latent_dim})()
        self.device = torch.device("cpu")

    def decode(self, z, condition=None):
        return z.double() @ self.A

    def discriminate(self, x, condition=None):
        return x @ self.w + self.b


@pytest.mark.parametrize("bias", [0.0, -12.0])
def test_generator_gradients_closed_form(bias):
    model = LinearGAN(bias=bias)
    torch.manual_seed(3)
    got = generator_gradients(model, n=64)
    torch.manual_seed(3)
    z = torch.randn(64, 3).double()
    with torch.no_grad():
        d = torch.sigmoid(z @ model.A @ model.w + model.b)
        # d/dA of -mean softplus(l) is -mean_i D_i z_i w^T; of mean softplus(-l) it is -mean_i (1 - D_i) z_i w^T
        sat = -(d[:, None] * z).mean(0)[:, None] * model.w[None, :]
        nonsat = -((1 - d)[:, None] * z).mean(0)[:, None] * model.w[None, :]
    assert got["saturating"] == pytest.approx(float(sat.norm()), rel=1e-9)
    assert got["non_saturating"] == pytest.approx(float(nonsat.norm()), rel=1e-9)
    assert got["d_fake"] == pytest.approx(float(d.mean()), rel=1e-9)
    if bias < 0:  # D rejects the fakes: the saturating loss's gradient vanishes, the non-saturating one does not
        assert got["saturating"] < 0.1 * got["non_saturating"]


def test_generator_gradients_needs_the_capabilities():
    with pytest.raises(ConfigError, match="discriminate"):
        generator_gradients(create("vae", data_shape=(2,), latent_dim=2, hidden=(8,)))


def test_gradient_norms_per_layer_match_backward_and_leave_grad_alone():
    torch.manual_seed(0)
    model = create("vae", data_shape=(4,), latent_dim=2, hidden=(8,), decoder="gaussian")
    x = torch.randn(16, 4)
    torch.manual_seed(5)
    norms = gradient_norms(model, Batch(x))
    assert all(p.grad is None for p in model.parameters())
    torch.manual_seed(5)
    model.loss(Batch(x))["loss"].backward()
    by_layer: dict[str, float] = {}
    for n, p in model.named_parameters():
        if p.grad is not None:
            by_layer[n.rsplit(".", 1)[0]] = by_layer.get(n.rsplit(".", 1)[0], 0.0) + float(p.grad.double().pow(2).sum())
    assert set(norms["model"]) == set(by_layer) | {"total"}
    for k, v in by_layer.items():
        assert norms["model"][k] == pytest.approx(math.sqrt(v), rel=1e-5)
    assert norms["model"]["total"] == pytest.approx(math.sqrt(sum(by_layer.values())), rel=1e-5)
    with pytest.raises(ConfigError, match="no player"):
        gradient_norms(model, Batch(x), players=["generator"])


def test_roc_auc_is_the_probability_of_correct_order():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, generator=g) + 1, torch.randn(30, generator=g)
    pairs = (a[:, None] > b[None, :]).double().mean() + 0.5 * (a[:, None] == b[None, :]).double().mean()
    assert roc_auc(a, b) == pytest.approx(float(pairs), abs=1e-12)
    assert roc_auc(b, a) == pytest.approx(1 - float(pairs), abs=1e-12)


class MeanBPD(nn.Module):
    """bits_per_dim(x) = mean pixel: a stub likelihood that prefers dark images."""

    likelihood = "exact"
    name = "stub-bpd"
    device = torch.device("cpu")

    def bits_per_dim(self, x, condition=None):
        return x.flatten(1).mean(1)


def test_likelihood_ood_bookkeeping():
    x = torch.rand(50, 1, 4, 4) * 0.2  # dark images: low "bits/dim"
    res = likelihood_ood(MeanBPD(), x)
    torch.testing.assert_close(res["in"], x.flatten(1).mean(1).double())
    assert res["auroc"]["inverted"] == 1.0  # inverted images are bright: never more likely
    assert res["auroc"]["flipped"] == pytest.approx(0.5, abs=0.01)  # same pixels: the same scores up to rounding
    assert 0.99 < res["auroc"]["noise"] <= 1.0


class FixedSampler(nn.Module):
    def __init__(self, points):
        super().__init__()
        self.points = points

    def sample(self, n, condition=None):
        return self.points[torch.arange(n) % len(self.points)]


def test_mode_coverage_on_exact_modes_and_on_one_mode():
    from genzoo.eval.modes import toy_modes

    means, std = toy_modes("ring8")
    full = mode_coverage(FixedSampler(means), "ring8", n=400)
    assert full["modes_covered"] == 8 and full["high_quality_pct"] == 100.0
    assert full["reverse_kl"] == pytest.approx(0.0, abs=1e-9)
    one = mode_coverage(FixedSampler(means[:1]), "ring8", n=800)
    assert one["modes_covered"] == 1 and one["reverse_kl"] == pytest.approx(math.log(8), rel=1e-6)
    with pytest.raises(ConfigError, match="no modes"):
        mode_coverage(FixedSampler(means), "moons", n=10)


def _train(tmp_path, callbacks):
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    model = create("vae", data_shape=(4,), latent_dim=2, hidden=(16,), decoder="gaussian")
    Trainer(model, x, dict(steps=30, batch_size=32, log_every=5, progress=False, seed=0), out_dir=tmp_path,
            callbacks=callbacks).fit()
    return model


def test_monitors_leave_training_bit_identical_and_record_history(tmp_path):
    plain = _train(tmp_path / "plain", [])
    x = torch.randn(100, 4)
    mons = [PosteriorCollapseMonitor(x, every=10), GradientMonitor(x[:16], every=5)]
    watched = _train(tmp_path / "watched", mons)
    for (n, a), (_, b) in zip(plain.state_dict().items(), watched.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    hist = read_history(tmp_path / "watched", "posterior")
    assert [h["step"] for h in hist] == [5, 15, 25]  # the first log step, then every 10 steps
    assert hist == mons[0].history
    assert len(read_history(tmp_path / "watched", "gradients")) == len(mons[1].history) >= 6
    # a resumed run's repeated steps are kept once (the last record)
    path = tmp_path / "watched" / "diagnostics" / "posterior.jsonl"
    path.write_text(path.read_text() + path.read_text().splitlines()[-1] + "\n{cut")
    assert len(read_history(tmp_path / "watched", "posterior")) == len(hist)

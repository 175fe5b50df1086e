"""The energy-based model's math: SGLD targets exp(-E) (a quadratic energy, mean and covariance within Monte Carlo
error; the wrong noise scalings fail), the 2-D grid normalisation (closed-form log Z of a Gaussian energy, the
density integrates to 1 on a finer grid, a wrong log Z fails, no stale cache), the replay buffer (reinitialised
fraction, save -> load and checkpoint -> resume bit-exactly, untouched by evaluation) and a short training run."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.data import toy2d
from genzoo.errors import ConfigError
from genzoo.math import sgld
from genzoo.models import Batch, create, load
from genzoo.train import TrainConfig, Trainer

CHI2_999 = {2: 13.816, 3: 16.266}  # 0.999 quantiles of chi-square with 2 and 3 degrees of freedom
M = torch.tensor([1.0, -0.5], dtype=torch.float64)
P = torch.tensor([[1.5, 0.5], [0.5, 1.5]], dtype=torch.float64)  # eigenvalues 1 and 2
COV = torch.linalg.inv(P)


def quadratic(x):
    d = x - M
    return 0.5 * ((d @ P) * d).sum(-1)


def gaussian_tests(x: torch.Tensor) -> tuple[float, float]:
    """Chi-square statistics of n independent draws against N(M, COV): the mean, n (xbar - m)^T COV^-1 (xbar - m)
    ~ chi2(2), and the likelihood-ratio statistic of the covariance, n [tr(COV^-1 S) - log det(COV^-1 S) - d]
    ~ chi2(3) asymptotically (S the maximum-likelihood covariance about the sample mean)."""
    n, d = x.shape
    xbar = x.mean(0)
    t_mean = float(n * (xbar - M) @ P @ (xbar - M))
    s = (x - xbar).T @ (x - xbar) / n
    a = P @ s
    t_cov = float(n * (torch.trace(a) - torch.logdet(a) - d))
    return t_mean, t_cov


def run_chains(noise: float | None, step: float = 0.02, n: int = 4000, steps: int = 1200):
    g = torch.Generator().manual_seed(0)
    x0 = M + torch.randn(n, 2, dtype=torch.float64, generator=g)
    return sgld(quadratic, x0, steps, step, noise=noise, generator=g)


def test_sgld_samples_exp_minus_energy_of_a_quadratic():
    # stationary covariance of the discretised chain is COV (I - h P / 4)^-1: 1 % off at h = 0.02, far below the
    # Monte Carlo error of 4,000 chains (relative 2 %)
    t_mean, t_cov = gaussian_tests(run_chains(None))
    assert t_mean < CHI2_999[2] and t_cov < CHI2_999[3], (t_mean, t_cov)


@pytest.mark.parametrize("wrong", ["noise = step", "noise = sqrt(2 step)", "noise = sqrt(step) / 2"])
def test_sgld_with_a_wrong_noise_scale_fails_the_same_check(wrong):
    h = 0.02
    noise = {"noise = step": h, "noise = sqrt(2 step)": math.sqrt(2 * h), "noise = sqrt(step) / 2": math.sqrt(h) / 2}
    _, t_cov = gaussian_tests(run_chains(noise[wrong], h))
    assert t_cov > 10 * CHI2_999[3], t_cov


def test_sgld_clips_detaches_and_leaves_parameter_gradients_alone():
    w = nn.Parameter(torch.tensor(3.0))
    x0 = torch.randn(256, 1, 3, 3, requires_grad=True)
    x = sgld(lambda x: w * x.pow(2).flatten(1).sum(1), x0, 5, 1.0, noise=0.5, clip=(0.0, 1.0),
             generator=torch.Generator().manual_seed(1))
    assert x.min() >= 0 and x.max() <= 1 and not x.requires_grad and x.shape == x0.shape
    assert w.grad is None and x0.grad is None


# ---- the 2-D normalisation ------------------------------------------------------------------------------------
class GaussianEnergy(nn.Module):
    """E(x) = |x - c|^2 / (2 s^2): Z = 2 pi s^2 (times the box's share of the Gaussian)."""

    def __init__(self, s: float, c=(0.5, -0.25)):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))
        self.register_buffer("c", torch.tensor(c))

    def forward(self, x):
        return (x - self.c).pow(2).sum(-1) / (2 * self.s**2)


def test_log_partition_of_a_gaussian_energy_is_closed_form():
    m = create("ebm", resolution=200)
    s = 0.6
    m.net = GaussianEnergy(s)
    lo, hi = m.config.bounds
    box = 1.0
    for c in (0.5, -0.25):
        box *= 0.5 * (math.erf((hi - c) / (s * math.sqrt(2))) - math.erf((lo - c) / (s * math.sqrt(2))))
    exact = math.log(2 * math.pi * s * s * box)
    assert abs(float(m.log_partition()) - exact) < 1e-5
    # the log area of one axis only (a plausible slip) is far off
    cells, area = m.grid()
    with torch.no_grad():
        slip = torch.logsumexp(-m.energy(cells).double(), 0) + 0.5 * math.log(area)
    assert abs(float(slip) - exact) > 1.0


def _perturbed(seed=0, **kw):
    torch.manual_seed(seed)
    m = create("ebm", hidden=(32, 32), **kw)
    with torch.no_grad():
        m.net.net[-1].weight.mul_(8.0)  # energies spread over several nats: a peaked, uneven density
    return m.eval()


def fine_mass(m, log_z_shift=0.0, r=1024) -> float:
    cells, area = m.grid(r)
    with torch.no_grad():
        lp = torch.cat([m.log_prob(c) for c in cells.split(2**16)]).double() - log_z_shift
    return float(lp.exp().sum() * area)


def test_normalised_density_integrates_to_one_on_a_finer_grid():
    m = _perturbed()
    spread = float(m.energy(m.grid(64)[0]).detach().std())
    assert spread > 1.0  # not a flat density
    assert abs(fine_mass(m) - 1.0) < 1e-3
    assert abs(fine_mass(m, log_z_shift=-0.01) - 1.0) > 5e-3  # a log Z wrong by 0.01 nats fails the check


def test_log_z_is_recomputed_after_a_step_and_a_load(tmp_path):
    m = _perturbed(resolution=64)
    m.train()
    z0 = m.log_partition()
    assert m.log_partition() is z0  # cached while the weights stand still
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    m.loss(Batch(toy2d("8gaussians", 64, seed=0)))["loss"].backward()
    opt.step()
    z1 = m.log_partition()
    assert not torch.equal(z1, z0)
    assert torch.equal(z1, m.log_partition(resolution=64))  # equals a fresh computation
    other = _perturbed(seed=1, resolution=64)
    m.load_state_dict(other.state_dict())
    assert torch.equal(m.log_partition(), other.log_partition())
    x = toy2d("8gaussians", 8, seed=2)
    assert torch.allclose(m.log_prob(x), -other.energy(x) - other.log_partition())


def test_likelihood_follows_the_grid_option():
    assert create("ebm").likelihood == "exact"
    assert create("ebm", grid_normalise=False).likelihood == "none"
    img = create("ebm", data_shape=(1, 8, 8), hidden=(4,))
    assert img.likelihood == "none" and img.config.arch == "conv"
    assert (img.config.sgld_step, img.config.sgld_noise) == (1.0, 0.01)  # IGEBM / JEM for images
    pts = create("ebm", sgld_step=0.04)
    assert pts.config.sgld_noise == pytest.approx(0.2)  # Langevin: noise = sqrt(step) for points
    with pytest.raises(ConfigError):
        create("ebm", data_shape=(3,), grid_normalise=True)
    with pytest.raises(ConfigError):
        create("ebm", bounds=(1.0, -1.0))
    with pytest.raises(ConfigError):
        create("ebm", reinit_prob=1.5)


# ---- the replay buffer ----------------------------------------------------------------------------------------
def test_reinitialised_fraction_is_reinit_prob():
    m = create("ebm", hidden=(8,), buffer_size=64, reinit_prob=0.3, sgld_steps=1, sgld_step=1e-6, sgld_noise=0.0)
    with torch.no_grad():
        m.replay.fill_(3.99)  # a corner of the box, where fresh uniform noise almost never lands
    n = 4000
    x = m.negatives(n)
    fresh = (x - 3.99).abs().amax(1) > 1e-3
    se = math.sqrt(0.3 * 0.7 / n)
    assert abs(float(fresh.float().mean()) - 0.3) < 4 * se
    assert int(m.draws) == 1


def test_evaluation_draws_negatives_without_touching_the_buffer():
    m = create("ebm", hidden=(8,), buffer_size=32, sgld_steps=2)
    m.eval()
    before = m.replay.clone()
    b = Batch(toy2d("moons", 16, seed=0))
    a = m.loss(b)["loss"]
    assert torch.equal(m.replay, before) and int(m.draws) == 0
    assert torch.equal(a, m.loss(b)["loss"])  # a fixed generator: evaluation is deterministic
    m.train()
    m.loss(b)
    assert not torch.equal(m.replay, before) and int(m.draws) == 1


def test_buffer_survives_save_load_and_resume(tmp_path):
    x = toy2d("8gaussians", 64, seed=0)
    cfg = dict(steps=6, batch_size=16, ckpt_every=0, log_every=2, progress=False, device="cpu", n_samples=4)
    model_cfg = dict(hidden=(8,), buffer_size=40, sgld_steps=3, resolution=16, sample_steps=2)

    def trainer(out):
        torch.manual_seed(0)
        return Trainer(create("ebm", **model_cfg), (x, None), TrainConfig(**cfg), out_dir=out)

    straight = trainer(tmp_path / "a")
    initial = straight.model.replay.clone()
    straight.fit()
    first = trainer(tmp_path / "b")
    first.fit(stop_at=3)
    resumed = Trainer.resume(tmp_path / "b", (x, None))
    resumed.fit()
    assert not torch.equal(straight.model.replay, initial)
    assert torch.equal(straight.model.replay, resumed.model.replay)
    assert int(straight.model.draws) == int(resumed.model.draws) == 6
    loaded = load(tmp_path / "a" / "model")
    assert torch.equal(loaded.replay, straight.model.replay) and int(loaded.draws) == 6
    # the next negatives continue identically: the generator state is part of the saved state
    assert torch.equal(loaded.negatives(8), straight.model.negatives(8))


def test_training_lowers_heldout_nll():
    torch.manual_seed(0)
    m = create("ebm", hidden=(64, 64), buffer_size=1000, sgld_step=0.03, resolution=128)
    train, test = toy2d("8gaussians", 20000, seed=0), toy2d("8gaussians", 2000, seed=1)
    with torch.no_grad():
        nll0 = float(-m.log_prob(test).mean())
    opt = torch.optim.Adam(m.parameters(), 1e-3, betas=(0.0, 0.999))
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        loss = m.loss(Batch(train[torch.randint(len(train), (128,), generator=g)]))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        nll = float(-m.log_prob(test).mean())
    assert abs(nll0 - math.log(64)) < 0.05  # an untrained energy is nearly flat on the 8 x 8 box
    assert nll < nll0 - 0.5, (nll0, nll)

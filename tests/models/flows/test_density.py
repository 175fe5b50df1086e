"""2-D flows are normalised densities: they integrate to 1 on a grid (random and briefly trained), and a trained
flow's samples have the data's moments within Monte Carlo error."""

import math

import pytest
import torch

from genzoo.data import toy2d
from genzoo.math import gaussian_log_prob
from genzoo.models import create
from genzoo.models.flows import Compose, ElementwiseAffine, Flow, Identity, StandardNormal, Transform

MODELS = [("realnvp", {}), ("maf", {}), ("maf", {"iaf": True}), ("nice", {}), ("glow", {"steps": 4})]
IDS = ["realnvp", "maf", "iaf", "nice", "glow"]


def grid_mass(model, lim=8.0, n=300) -> float:
    """Midpoint rule of exp(log_prob) on [-lim, lim]^2 with n x n cells (float64)."""
    g = torch.linspace(-lim, lim, n + 1, dtype=torch.float64)
    c = (g[1:] + g[:-1]) / 2
    xx, yy = torch.meshgrid(c, c, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    model = model.double().eval()
    with torch.no_grad():
        lp = model.log_prob(pts)
    model.float()
    return (lp.exp().sum() * (g[1] - g[0]) ** 2).item()


def _randomize(model, std=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn(p.shape, generator=g))


def _train(model, x, steps, lr=3e-3, batch=256, cosine=False):
    opt = torch.optim.Adam(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        b = x[torch.randint(len(x), (batch,), generator=g)]
        loss = -model.log_prob(b).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
    return model.eval()


@pytest.fixture(scope="module")
def moons():
    return torch.as_tensor(toy2d("moons", 20000, seed=0)).float()


@pytest.mark.parametrize("name,kw", MODELS, ids=IDS)
def test_random_flow_integrates_to_one(name, kw, moons):
    torch.manual_seed(0)
    model = create(name, **kw)
    with torch.no_grad():
        model.log_prob(moons[:512])  # ActNorm init
    _randomize(model)
    base = gaussian_log_prob(moons[:64], torch.zeros(()), 0.0)
    assert (model.log_prob(moons[:64]) - base).abs().max() > 0.05  # non-trivial
    assert abs(grid_mass(model) - 1.0) < 0.01


@pytest.mark.parametrize("name,kw", MODELS, ids=IDS)
def test_trained_flow_integrates_to_one(name, kw, moons):
    torch.manual_seed(0)
    model = _train(create(name, **kw), moons, steps=150)
    nll = -model.log_prob(moons[:4000]).mean().item()
    assert nll < 2.9  # it learned something (N(0, I) on moons scores ~ 3.9)
    assert abs(grid_mass(model) - 1.0) < 0.01


class _Negated(Transform):
    """The correct map with its log-det negated (the sign bug)."""

    def __init__(self, t):
        super().__init__()
        self.t = t

    def forward(self, x, c=None):
        y, ld = self.t(x, c)
        return y, -ld

    def inverse(self, y, c=None):
        x, ld = self.t.inverse(y, c)
        return x, -ld


def test_grid_check_rejects_a_wrong_logdet(moons):
    """Two-sided: the same flow with its log-det sign flipped is no longer normalised."""
    torch.manual_seed(0)
    model = _train(create("realnvp"), moons, steps=150)
    model.flow.transform = _Negated(model.flow.transform)
    assert abs(grid_mass(model) - 1.0) > 0.1


def moment_z_scores(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """|difference| / standard error of the two sample means of x, y, (x - mean)^2, (y - mean)^2 and
    (x - mean)(y - mean), the standard errors estimated from the two samples."""
    def stats(a):
        c = a - a.mean(0)
        return torch.cat([a, torch.stack([c[:, 0] ** 2, c[:, 1] ** 2, c[:, 0] * c[:, 1]], 1)], 1)

    ms, md = stats(s.double()), stats(d.double())
    se = torch.sqrt(ms.var(0) / len(ms) + md.var(0) / len(md))
    return (ms.mean(0) - md.mean(0)).abs() / se


def test_trained_samples_match_data_moments(moons):
    """Mean and covariance of 20,000 model samples versus 20,000 fresh data points: within 4 standard errors of
    the difference (estimated from the two samples). Two-sided: the same check rejects the untrained flow and a
    Gaussian with the data's mean and a covariance 20% too wide."""
    torch.manual_seed(0)
    model = create("realnvp", n_blocks=6)
    d = torch.as_tensor(toy2d("moons", 20000, seed=1)).double()
    torch.manual_seed(1)
    assert moment_z_scores(model.sample(20000), d).max() > 20  # untrained: N(0, I)
    model = _train(model, moons, steps=800, batch=512, cosine=True)
    torch.manual_seed(1)
    z = moment_z_scores(model.sample(20000), d)
    assert (z < 4).all(), z
    g = torch.Generator().manual_seed(2)
    gauss = d.mean(0) + torch.randn(20000, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(
        1.2 * torch.cov(d.T)).T
    assert moment_z_scores(gauss, d).max() > 4


def test_identity_flow_is_the_base():
    flow = Flow(Compose(Identity()), StandardNormal(3))
    x = torch.randn(10, 3)
    ref = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(3), torch.ones(3)), 1)
    torch.testing.assert_close(flow.log_prob(x), ref.log_prob(x))


def test_affine_flow_matches_transformed_distribution():
    loc, log_scale = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, -0.7, 1.1])
    flow = Flow(ElementwiseAffine(3, loc, log_scale), StandardNormal(3))
    base = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(3), torch.ones(3)), 1)
    ref = torch.distributions.TransformedDistribution(
        base, torch.distributions.AffineTransform(loc, log_scale.exp(), event_dim=1))
    x = ref.sample((50,))
    torch.testing.assert_close(flow.log_prob(x), ref.log_prob(x))
    # the flow's samples have the transformed distribution's moments
    s = flow.sample(40000)
    assert ((s.mean(0) - loc).abs() < 5 * log_scale.exp() / math.sqrt(40000)).all()


def test_rsample_is_differentiable_and_sample_is_not():
    model = create("realnvp")
    x, lp = model.flow.rsample_and_log_prob(16)
    (x.sum() + lp.sum()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    torch.testing.assert_close(lp, model.flow.log_prob(x), atol=1e-5, rtol=1e-5)
    assert not model.flow.sample(4).requires_grad

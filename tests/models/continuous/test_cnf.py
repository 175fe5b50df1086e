"""The continuous family against closed forms: a linear field dz/dt = A z maps z to expm(tA) z and changes the
log-density by -t tr(A) (and its RNODE integrals match quadrature); Hutchinson's trace makes an unbiased log_prob;
the adjoint gradient equals backprop through the solver; a 2-D CNF density integrates to 1 on a grid; x -> z -> x
returns x within the solver's tolerance; NFE counts the field's evaluations."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.linalg import expm
from scipy.stats import multivariate_normal
from torch import nn

from genzoo.math import gaussian_log_prob
from genzoo.math.trace import exact_trace, hutchinson_noise, hutchinson_trace
from genzoo.models import Batch, create
from genzoo.models.continuous import CNFDynamics, ODEBlock

A = torch.tensor([[-0.3, 1.2], [-0.4, 0.5]], dtype=torch.float64)  # not symmetric, tr A = 0.2
TIGHT = {"method": "dopri5", "rtol": 1e-9, "atol": 1e-9}


@pytest.fixture(autouse=True)
def _f64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


class Linear(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, t, z):
        return z @ self.a.T


def test_linear_field_map_and_log_density_change():
    z0 = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    block = ODEBlock(CNFDynamics(Linear(A), "exact"), **TIGHT)
    for t in (0.5, 1.3):
        z, dl = block((z0, torch.zeros(6)), 0.0, t)
        assert torch.allclose(z, z0 @ torch.from_numpy(expm(t * A.numpy())).T, atol=1e-7)
        assert torch.allclose(dl, torch.full((6,), -t * 0.2), atol=1e-7)
        # both sides: the transpose's exponential and the opposite sign are rejected
        assert not torch.allclose(z, z0 @ torch.from_numpy(expm(t * A.numpy().T)).T, atol=1e-3)
        assert not torch.allclose(dl, torch.full((6,), t * 0.2), atol=1e-3)


def _linear_cnf(T=1.0, **kw):
    m = create("cnf", hidden=(4,), T=T, **{**TIGHT, **kw})
    m.dynamics.field = Linear(A)
    return m.double().eval()


def test_linear_cnf_log_prob_is_the_gaussian_of_the_map():
    """z(0) ~ N(0, I), x = M z(0) with M = expm(T A): x ~ N(0, M M^T)."""
    T = 0.8
    m = _linear_cnf(T)
    M = expm(T * A.numpy())
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1)) * 1.5
    want = multivariate_normal(np.zeros(2), M @ M.T).logpdf(x.numpy())
    with torch.no_grad():
        got = m.log_prob(x).numpy()
    assert np.abs(got - want).max() < 1e-6
    wrong = multivariate_normal(np.zeros(2), np.linalg.inv(M @ M.T)).logpdf(x.numpy())  # the map reversed
    assert np.abs(got - wrong).max() > 0.1


def test_rnode_integrals_against_quadrature():
    """From x at T back to 0, z(t) = expm((t - T) A) x: kinetic = int_0^T ||A z(t)||^2 dt; the Jacobian term with a
    fixed probe v is T ||A^T v||^2."""
    T = 0.7
    m = _linear_cnf(T)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        terms = m.density_terms(x, regularise=True)
    a = A.numpy()
    for i in range(3):
        ke = quad(lambda t: float(np.sum((a @ expm((t - T) * a) @ x[i].numpy()) ** 2)), 0, T, epsabs=1e-11)[0]
        assert abs(terms["kinetic"][i].item() - ke) < 1e-6
    v = m.dynamics.probe
    assert torch.allclose(terms["jacobian"], T * (v @ A).pow(2).sum(1), atol=1e-7)
    assert not torch.allclose(terms["jacobian"], T * (v @ A.T).pow(2).sum(1), atol=1e-3)


def _field_model(**kw):
    torch.manual_seed(0)
    m = create("cnf", hidden=(16, 16), act="tanh", **kw).double().eval()
    with torch.no_grad():  # a field strong enough to bend N(0, I) far from itself
        for p in m.parameters():
            p.mul_(2.0)
    return m


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_log_prob_is_unbiased(noise):
    fixed = {"method": "rk4", "steps": 6}
    exact = _field_model(trace="exact", **fixed)
    hutch = _field_model(trace="hutchinson", noise=noise, **fixed)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(3))
    reps = 1500
    with torch.no_grad():
        want = exact.log_prob(x)
        est = hutch.log_prob(x.repeat(reps, 1), generator=torch.Generator().manual_seed(4)).reshape(reps, 3)
    se = est.std(0) / math.sqrt(reps)
    assert (se > 0).all() and ((est.mean(0) - want).abs() < 4 * se).all()
    # a probe with E[v v^T] = 2 I is biased and the same check rejects it (on the trace itself)
    f = exact.dynamics.field
    xs = x.repeat(reps, 1).requires_grad_(True)
    y = f(torch.tensor(0.5), xs)
    tr = exact_trace(y, xs).reshape(reps, 3)[0]
    for scale, unbiased in ((1.0, True), (2**0.5, False)):
        v = scale * hutchinson_noise(xs.shape, "gaussian", torch.Generator().manual_seed(5), xs.dtype)
        h = hutchinson_trace(y, xs, v).detach().reshape(reps, 3)
        ok = ((h.mean(0) - tr).abs() < 4 * h.std(0) / math.sqrt(reps)).all()
        assert bool(ok) == unbiased


@pytest.mark.parametrize("regularise", [False, True])
def test_adjoint_gradient_equals_backprop(regularise):
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(6))
    kw = {"rtol": 1e-8, "atol": 1e-8, "kinetic": 0.1 * regularise, "jacobian": 0.1 * regularise}
    grads = {}
    for adjoint in (False, True):
        m = _field_model(adjoint=adjoint, **kw).train()
        torch.manual_seed(7)  # the same probe for the Jacobian term
        m.loss(Batch(x))["loss"].backward()
        grads[adjoint] = torch.cat([p.grad.flatten() for p in m.parameters()])
    g, ga = grads[False], grads[True]
    assert g.norm() > 1e-3
    assert (g - ga).norm() < 1e-5 * g.norm()


def test_density_integrates_to_one_on_a_grid():
    m = _field_model(trace="exact", method="rk4", steps=16)
    h = 0.08
    u = torch.arange(-7.0, 7.0, h) + h / 2
    grid = torch.cartesian_prod(u, u)
    with torch.no_grad():
        lp = m.log_prob(grid)
        mass = lp.exp().sum().item() * h * h
        z = m.to_base(grid)
    assert abs(mass - 1.0) < 0.01
    base_only = gaussian_log_prob(z, 0.0, 0.0)  # without the trace term (or with its sign flipped) it is not 1
    flipped = 2 * base_only - lp
    assert abs(base_only.exp().sum().item() * h * h - 1.0) > 0.05
    assert abs(flipped.exp().sum().item() * h * h - 1.0) > 0.05


def test_round_trip_within_tolerance():
    m = _field_model(rtol=1e-8, atol=1e-8)
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        z = m.to_base(x)
        back = m.to_data(z)
    assert (z - x).abs().max() > 0.1  # the map is not the identity
    assert (back - x).abs().max() < 1e-6
    coarse = _field_model(method="euler", steps=4)
    with torch.no_grad():
        assert (coarse.to_data(coarse.to_base(x)) - x).abs().max() > 1e-3  # a coarse solver does not invert


def test_nfe_counts_the_field_evaluations():
    x = torch.randn(4, 2)
    for method, steps, want in (("rk4", 3, 12), ("euler", 5, 5)):
        m = _field_model(method=method, steps=steps)
        with torch.no_grad():
            m.log_prob(x)
        assert m.nfe == want
    loose, tight = _field_model(rtol=1e-3, atol=1e-3), _field_model(rtol=1e-8, atol=1e-8)
    with torch.no_grad():
        loose.log_prob(x), tight.log_prob(x)
    assert 0 < loose.nfe < tight.nfe

"""neural-ode (Chen et al. 2018's planar CNF): the closed-form trace equals autograd's exact trace in any dimension,
its density integrates to 1 on a 2-D grid, and its log_prob equals the same field's log_prob with autograd's trace."""

import pytest
import torch

from genzoo.math.trace import exact_trace
from genzoo.models import create
from genzoo.models.continuous import PlanarField


@pytest.fixture(autouse=True)
def _f64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_closed_form_trace_is_the_jacobian_trace():
    torch.manual_seed(0)
    field = PlanarField(dim=7, width=12, hyper_hidden=(8,))
    z = torch.randn(9, 7, requires_grad=True)
    t = torch.tensor(0.3)
    dz, tr = field.with_trace(t, z)
    assert torch.allclose(dz, field(t, z))
    want = exact_trace(dz, z)
    assert torch.allclose(tr, want, atol=1e-10)
    u, w, b, gate = field.params(t, z)
    no_derivative = gate @ (u * w).sum(1)  # without tanh' = 1 - tanh^2: wrong
    assert not torch.allclose(no_derivative.expand_as(want), want, atol=1e-3)


def _model(**kw):
    torch.manual_seed(1)
    m = create("neural-ode", width=16, hyper_hidden=(16,), **kw).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)
    return m


def test_log_prob_equals_autograd_trace_and_integrates_to_one():
    m = _model(method="rk4", steps=16)
    h = 0.08
    u = torch.arange(-7.0, 7.0, h) + h / 2
    grid = torch.cartesian_prod(u, u)
    with torch.no_grad():
        lp = m.log_prob(grid)
        m.dynamics.trace = "exact"  # the same field, its trace by autograd
        lp_autograd = m.log_prob(grid[:500])
    assert torch.allclose(lp[:500], lp_autograd, atol=1e-9)
    assert abs(lp.exp().sum().item() * h * h - 1.0) < 0.01
    with torch.no_grad():
        z = m.to_base(grid)
    assert (z - grid).abs().max() > 0.1  # a field that moves points

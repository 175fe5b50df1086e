"""The ELBO: exact at the true posterior, and gradient ascent on it recovers a conjugate Gaussian posterior.

The worked example of docs/math.md is run from the docs page itself (`docs_vi_example`).
Model: x_1..x_N ~ N(theta, sigma^2 I_2) with sigma known and prior
theta ~ N(m0, s0^2 I_2). The posterior is Gaussian with precision 1/s0^2 + N/sigma^2 and mean
(m0/s0^2 + sum_i x_i / sigma^2) / precision (Bishop 2006, eq. 2.141-2.142).
"""

import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from genzoo.math import elbo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "math.md"
D = torch.float64
SIGMA, S0, N = 1.0, 0.5, 20
M0 = torch.zeros(2, dtype=D)


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([1.5, -0.5], dtype=D) + SIGMA * torch.randn(N, 2, dtype=D, generator=g)
    prec = 1 / S0**2 + N / SIGMA**2
    post_mean, post_var = (M0 / S0**2 + x.sum(0) / SIGMA**2) / prec, torch.full((2,), 1 / prec, dtype=D)

    def log_joint(z):  # (n, 2) -> (n,)
        return Normal(M0, S0).log_prob(z).sum(-1) + Normal(z[:, None, :], SIGMA).log_prob(x).sum((-2, -1))

    # log evidence: per coordinate, x[:, j] ~ N(m0_j 1, sigma^2 I + s0^2 1 1^T)
    cov = SIGMA**2 * torch.eye(N, dtype=D) + S0**2 * torch.ones(N, N, dtype=D)
    log_ev = sum(MultivariateNormal(M0[j].expand(N), cov).log_prob(x[:, j]) for j in range(2))
    return x, log_joint, post_mean, post_var, log_ev


def test_elbo_equals_log_evidence_at_the_posterior_and_is_below_elsewhere():
    _, log_joint, post_mean, post_var, log_ev = problem()
    at_post = elbo(log_joint, Independent(Normal(post_mean, post_var.sqrt()), 1), n=16)
    assert abs(at_post.item() - log_ev.item()) < 1e-9  # log p(x, z) - log q(z) = log p(x) for every z
    off = elbo(log_joint, Independent(Normal(post_mean + 0.1, post_var.sqrt()), 1), n=4000)
    # the other side: KL(q || posterior) = 2 * 0.1^2 / (2 post_var) for a shifted mean
    gap = 2 * 0.1**2 / (2 * post_var[0].item())
    # integrand std is 0.1 * sqrt(2 / post_var) = 0.69, so the estimate's standard error is 0.011
    assert abs(off.item() - (log_ev.item() - gap)) < 0.05
    assert off.item() < log_ev.item() - 0.5 * gap


def test_elbo_is_differentiable_and_sums_event_dims_of_plain_normal():
    _, log_joint, post_mean, post_var, log_ev = problem()
    e = elbo(log_joint, Normal(post_mean, post_var.sqrt()), n=8)  # batch-shaped Normal used as a diagonal Gaussian
    assert e.dim() == 0 and abs(e.item() - log_ev.item()) < 1e-9
    # ELBO(loc) = log p(x) - |loc - post_mean|^2 / (2 post_var), so its gradient at post_mean + 0.1 is -0.1 / post_var
    loc = (post_mean + 0.1).requires_grad_(True)
    elbo(log_joint, Normal(loc, post_var.sqrt()), n=4000).backward()
    exact = -0.1 / post_var
    assert (loc.grad - exact).abs().max().item() < 0.35  # per-sample score noise: stderr sqrt(1/(post_var n)) = 0.08
    assert (loc.grad + exact).abs().max().item() > 1.0  # the other side: the sign is ascent on the ELBO


def docs_vi_example() -> dict:
    """Run the worked example's code block from docs/math.md verbatim and return its variables."""
    text = DOCS.read_text(encoding="utf-8")
    marker = "<!-- vi-example: the test runs the next code block -->"
    assert marker in text, "docs/math.md lost its worked VI example"
    code = text.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    ns: dict = {"__name__": "docs_vi_example"}
    exec(compile(code, f"{DOCS}:vi-example", "exec"), ns)  # noqa: S102 - our own documentation
    return ns


def test_vi_recovers_conjugate_gaussian_posterior():
    """The docs' worked example, run from the docs: the ELBO fit is the exact posterior."""
    ns = docs_vi_example()
    x, post_mean, post_var = ns["x"], ns["post_mean"], ns["post_var"]
    mean, var = ns["fit_mean"], ns["fit_var"]
    # the docs' exact answers agree with this file's independent derivation
    x_ref, _, post_mean_ref, post_var_ref, log_ev_ref = problem()
    assert torch.allclose(x, x_ref) and torch.allclose(post_mean, post_mean_ref)
    assert torch.allclose(post_var, post_var_ref)
    assert abs(ns["log_evidence"].item() - log_ev_ref.item()) < 1e-9
    assert (mean - post_mean).abs().max().item() < 0.03  # posterior std is 0.20
    assert ((var - post_var) / post_var).abs().max().item() < 0.08
    # ELBO(q) = log p(x) - KL(q || posterior): the Monte Carlo ELBO (stderr ~4e-5) matches the closed-form gap
    assert abs(ns["elbo_fit"].item() - (ns["log_evidence"] - ns["kl_to_posterior"]).item()) < 3e-4
    assert 0 < ns["kl_to_posterior"].item() < 1e-3
    # the numbers printed in the docs' table
    assert mean.tolist() == pytest.approx([0.98605, -0.37008], abs=1e-4)
    assert var.tolist() == pytest.approx([0.041401, 0.041164], abs=1e-5)
    # the other side: the fit is the posterior, not the maximum-likelihood answer that ignores the prior
    mle_mean, mle_var = x.mean(0), torch.full((2,), SIGMA**2 / N, dtype=D)
    assert (mean - mle_mean).abs().max().item() > 0.1
    assert ((var - mle_var) / mle_var).abs().max().item() > 0.1
    assert math.isclose(post_var[0].item(), 1 / 24)

"""MCMC samplers reproduce known moments within Monte Carlo error across independent chains (two-sided).

Tolerances come from the spread across chains: each of the ~1000 seeded chains gives a per-chain average of x and
x x^T after burn-in; the chains are independent, so the standard error of their mean is std / sqrt(chains).
"""

import math

import pytest
import torch

from genzoo.math import hmc, langevin, metropolis_hastings, uniform_categorical_proposal

D = torch.float64
CHAINS = 1000

# correlated 2-D Gaussian
MU = torch.tensor([1.0, -1.0], dtype=D)
COV = torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=D)
PREC = torch.linalg.inv(COV)


def lp_gauss(x):
    d = x - MU
    return -0.5 * (d @ PREC * d).sum(-1)


# two-component mixture 0.3 N((-1, 0), 0.6^2 I) + 0.7 N((1, 0.5), 0.6^2 I)
W = torch.tensor([0.3, 0.7], dtype=D)
MUS = torch.tensor([[-1.0, 0.0], [1.0, 0.5]], dtype=D)
S = 0.6


def lp_mix(x):
    comp = -0.5 * ((x[:, None, :] - MUS) / S).pow(2).sum(-1) + torch.log(W)
    return torch.logsumexp(comp, -1)


MIX_MEAN = (W[:, None] * MUS).sum(0)
MIX_M2 = (W[:, None, None] * (S**2 * torch.eye(2, dtype=D) + MUS[:, :, None] * MUS[:, None, :])).sum(0)
GAUSS_M2 = COV + MU[:, None] * MU[None, :]


def z_scores(samples, mean, m2):
    """Largest |z| of the mean and of the second moment E[x x^T], standard errors across chains."""
    chain_mean = samples.mean(0)
    chain_m2 = (samples[..., :, None] * samples[..., None, :]).mean(0)
    c = samples.shape[1]
    zm = (chain_mean.mean(0) - mean) / (chain_mean.std(0) / math.sqrt(c))
    z2 = (chain_m2.mean(0) - m2) / (chain_m2.std(0) / math.sqrt(c))
    return max(zm.abs().max().item(), z2.abs().max().item())


SAMPLERS = {
    "mh": lambda lp, x0, g: metropolis_hastings(lp, x0, 200, step_size=0.8, burn_in=200, generator=g),
    "mala": lambda lp, x0, g: langevin(lp, x0, 200, step_size=0.2, burn_in=200, metropolis=True, generator=g),
    "hmc": lambda lp, x0, g: hmc(lp, x0, 200, step_size=0.2, n_leapfrog=5, burn_in=100, generator=g),
}
TARGETS = {"gauss": (lp_gauss, MU, GAUSS_M2), "mixture": (lp_mix, MIX_MEAN, MIX_M2)}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_samplers_reproduce_mean_and_covariance(sampler, target):
    lp, mean, m2 = TARGETS[target]
    g = torch.Generator().manual_seed(0)
    x0 = 2 * torch.randn(CHAINS, 2, dtype=D, generator=g)
    res = SAMPLERS[sampler](lp, x0, g)
    assert res.samples.shape == (200, CHAINS, 2)
    assert res.acceptance_rate.shape == (CHAINS,)
    assert 0.2 < res.acceptance_rate.mean().item() < 1.0
    assert z_scores(res.samples, mean, m2) < 4.5
    # the other side: a slightly wrong covariance (E[x1 x2] off by 0.1) or mean (off by 0.1) is rejected
    wrong_m2 = m2 + 0.1 * torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=D)
    assert z_scores(res.samples, mean, wrong_m2) > 4.5
    assert z_scores(res.samples, mean + 0.1, m2) > 4.5


def test_seeded_runs_are_reproducible():
    x0 = torch.zeros(8, 2, dtype=D)
    a = hmc(lp_gauss, x0, 20, 0.2, generator=torch.Generator().manual_seed(5)).samples
    b = hmc(lp_gauss, x0, 20, 0.2, generator=torch.Generator().manual_seed(5)).samples
    c = hmc(lp_gauss, x0, 20, 0.2, generator=torch.Generator().manual_seed(6)).samples
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_burn_in_and_thinning_shapes():
    res = metropolis_hastings(lp_gauss, torch.zeros(3, 2, dtype=D), 30, burn_in=10, thin=4)
    assert res.samples.shape == (7, 3, 2)
    with pytest.raises(ValueError, match="chains, dim"):
        metropolis_hastings(lp_gauss, torch.zeros(2, dtype=D), 10)


PI = torch.tensor([0.2, 0.5, 0.3], dtype=D)


def lp_discrete(x):
    return torch.log(PI)[x[:, 0]]


def frequencies(samples):
    """Per-chain state frequencies (chains, 3) -> mean and standard error across chains."""
    onehot = torch.nn.functional.one_hot(samples[..., 0], 3).to(D).mean(0)
    return onehot.mean(0), onehot.std(0) / math.sqrt(onehot.shape[0])


def test_mh_discrete_target_reaches_stationary_distribution():
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(CHAINS, 1, dtype=torch.long)
    res = metropolis_hastings(lp_discrete, x0, 100, burn_in=20, proposal=uniform_categorical_proposal(3), generator=g)
    assert res.samples.dtype == torch.long
    freq, se = frequencies(res.samples)
    assert bool(((freq - PI).abs() < 4.5 * se).all())
    assert not bool(((freq - torch.full((3,), 1 / 3, dtype=D)).abs() < 4.5 * se).all())


def _biased_cycle(report_ratio):
    """Move +1 (mod 3) with probability 0.8, -1 with 0.2: asymmetric, so the Hastings ratio matters."""

    def propose(x, generator):
        up = torch.rand(x.shape[0], 1, dtype=D, generator=generator) < 0.8
        x_new = torch.where(up, (x + 1) % 3, (x - 1) % 3)
        log_ratio = torch.where(up[:, 0], math.log(0.2 / 0.8), math.log(0.8 / 0.2)).to(D)
        return x_new, log_ratio if report_ratio else torch.zeros_like(log_ratio)

    return propose


def test_mh_uses_the_hastings_ratio_of_an_asymmetric_proposal():
    x0 = torch.zeros(CHAINS, 1, dtype=torch.long)
    res = metropolis_hastings(lp_discrete, x0, 100, burn_in=20, proposal=_biased_cycle(True),
                              generator=torch.Generator().manual_seed(0))
    freq, se = frequencies(res.samples)
    assert bool(((freq - PI).abs() < 4.5 * se).all())
    # the other side: ignoring the proposal's asymmetry samples the wrong distribution
    bad = metropolis_hastings(lp_discrete, x0, 100, burn_in=20, proposal=_biased_cycle(False),
                              generator=torch.Generator().manual_seed(0))
    freq_bad, se_bad = frequencies(bad.samples)
    assert not bool(((freq_bad - PI).abs() < 4.5 * se_bad).all())


def test_ula_bias_matches_closed_form_and_shrinks_with_step_size():
    # For pi = N(0, 1) ULA is the AR(1) chain x' = (1 - h) x + sqrt(2h) xi with stationary variance 1 / (1 - h/2):
    # biased, the bias shrinking with h; MALA at the same large step has no bias.
    lp = lambda x: -0.5 * x.pow(2).sum(-1)
    x0 = torch.zeros(CHAINS, 1, dtype=D)
    errs = []
    for h in (0.5, 0.2):
        res = langevin(lp, x0, 200, step_size=h, burn_in=50, generator=torch.Generator().manual_seed(1))
        assert bool((res.acceptance_rate == 1).all())
        per_chain = res.samples[..., 0].pow(2).mean(0)
        var, se = per_chain.mean().item(), per_chain.std().item() / math.sqrt(CHAINS)
        assert abs(var - 1 / (1 - h / 2)) < 4.5 * se
        assert abs(var - 1.0) > 4.5 * se  # the other side: ULA is not exact at these steps
        errs.append(abs(var - 1.0))
    assert errs[1] < errs[0] / 2
    mala = langevin(lp, x0, 200, step_size=0.5, burn_in=50, metropolis=True, generator=torch.Generator().manual_seed(1))
    per_chain = mala.samples[..., 0].pow(2).mean(0)
    assert abs(per_chain.mean().item() - 1.0) < 4.5 * per_chain.std().item() / math.sqrt(CHAINS)


def test_acceptance_rate_is_an_exact_count_in_the_chain_dtype():
    # a target that rejects every proposal except those that land at x >= 0 from x = -1: count by hand
    lp = lambda x: torch.where(x[:, 0] >= 0, 0.0, -math.inf).to(x.dtype)
    g = torch.Generator().manual_seed(0)
    x0 = torch.zeros(500, 1, dtype=torch.float32)
    res = metropolis_hastings(lp, x0, 8, step_size=1.0, generator=g)
    assert res.acceptance_rate.dtype == torch.float32
    moved = (res.samples[1:] != res.samples[:-1]).any(-1).sum(0) + (res.samples[0] != x0).any(-1)
    assert torch.equal(res.acceptance_rate, moved.float() / 8)  # an accepted continuous proposal always moves
    # from x = 0 exactly half of the proposals land in x >= 0: one step, 2000 chains, stderr 0.011
    one = metropolis_hastings(lp, torch.zeros(2000, 1, dtype=torch.float32), 1, step_size=1.0, generator=g)
    assert abs(one.acceptance_rate.mean().item() - 0.5) < 4.5 * math.sqrt(0.25 / 2000)
    assert abs(one.acceptance_rate.mean().item() - 0.6) > 4.5 * math.sqrt(0.25 / 2000)  # the other side
    ints = metropolis_hastings(lp_discrete, torch.zeros(4, 1, dtype=torch.long), 5,
                               proposal=uniform_categorical_proposal(3), generator=g)
    assert ints.acceptance_rate.dtype == torch.get_default_dtype()

"""Output distributions of the autoregressive family: normalisation, agreement with torch.distributions,
sampling against the pmf, and a deliberately wrong variant that the checks catch."""

import math

import pytest
import torch

from genzoo.errors import ConfigError, DataError
from genzoo.models.autoregressive import make_output, split_channels
from genzoo.models.autoregressive.outputs import DiscretizedLogisticMixture, log1mexp


def _bin_log_probs(out, params):
    """log P(k) for every level k: params (n, c, P) -> (bins, n, c)."""
    n, c = params.shape[:2]
    rep = params.unsqueeze(0).expand(out.bins, *params.shape).reshape(out.bins * n, c, -1, 1)
    lv = torch.arange(out.bins)[:, None, None].expand(out.bins, n, c).reshape(out.bins * n, c, 1)
    return out.log_prob_each(rep, lv).reshape(out.bins, n, c)


def _random_logistic_params(k, n=64, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, 1, k, generator=g, dtype=dtype)
    mu = 1.5 * torch.randn(n, 1, k, generator=g, dtype=dtype)  # some means outside [-1, 1]
    log_s = torch.empty(n, 1, k, dtype=dtype).uniform_(-12.0, 12.0, generator=g)  # beyond both clamps
    return torch.cat([logits, mu, log_s], 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logistic_mixture_256_bins_sum_to_one(dtype):
    out = make_output("logistic", bins=256, mixtures=5)
    params = _random_logistic_params(5, dtype=dtype)
    lp = _bin_log_probs(out, params)
    assert torch.isfinite(lp).all()
    total = torch.logsumexp(lp, 0).exp()
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.allclose(total, torch.ones_like(total), atol=tol), (total.min(), total.max())


def test_logistic_extreme_scales_and_far_means_stay_finite_with_gradients():
    out = make_output("logistic", bins=256, mixtures=2)
    # a very sharp component far from the target, a very flat one, a mean far outside [-1, 1]
    params = torch.tensor([0.0, 5.0, 30.0, -0.9, -30.0, 30.0]).reshape(1, 1, 6, 1).repeat(3, 1, 1, 1)
    params.requires_grad_(True)
    lv = torch.tensor([0, 128, 255]).reshape(3, 1, 1)
    lp = out.log_prob_each(params, lv)
    lp.sum().backward()
    assert torch.isfinite(lp).all() and torch.isfinite(params.grad).all()


def test_logistic_matches_a_direct_difference_of_sigmoids_in_float64():
    """Where sigma(a) - sigma(b) does not cancel (moderate scales, bins near the mean), the stable form equals it."""
    out = DiscretizedLogisticMixture(bins=16, mixtures=3)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 2, 3, generator=g, dtype=torch.float64)
    mu = 0.5 * torch.randn(8, 2, 3, generator=g, dtype=torch.float64)
    log_s = -1.0 + 0.5 * torch.randn(8, 2, 3, generator=g, dtype=torch.float64)
    params = torch.cat([logits, mu, log_s], 2)
    lp = _bin_log_probs(out, params)  # (16, 8, 2)
    k = torch.arange(16, dtype=torch.float64)[:, None, None, None]
    x, h = 2 * k / 15 - 1, 1.0 / 15
    s = log_s.exp()
    upper = torch.where(k == 15, torch.ones(()), torch.sigmoid((x + h - mu) / s))
    lower = torch.where(k == 0, torch.zeros(()), torch.sigmoid((x - h - mu) / s))
    ref = ((upper - lower) * torch.softmax(logits, -1)).sum(-1)
    assert torch.allclose(lp.exp(), ref, atol=1e-12)
    # a wrong variant: no tails in the edge bins does not sum to one, and differs from the pmf
    wrong = ((torch.sigmoid((x + h - mu) / s) - torch.sigmoid((x - h - mu) / s)) * torch.softmax(logits, -1)).sum(-1)
    assert (wrong.sum(0) - 1).abs().max() > 1e-3
    assert not torch.allclose(lp.exp(), wrong, atol=1e-6)


def test_log1mexp_against_float64_direct_formula():
    d = torch.logspace(-6, 1.5, 200, dtype=torch.float64)
    ref = torch.log(1 - torch.exp(-d))
    assert torch.allclose(log1mexp(d), ref, rtol=1e-12)
    d32 = torch.tensor([1e-7, 1e-3, 0.5, 1.0, 20.0])
    assert torch.allclose(log1mexp(d32).double(), torch.log(-torch.expm1(-d32.double())), rtol=1e-5)


@pytest.mark.parametrize("bins", [2, 7, 256])
def test_categorical_matches_torch_distributions(bins):
    out = make_output("categorical", bins=bins)
    g = torch.Generator().manual_seed(bins)
    params = torch.randn(5, 3, bins, 4, 4, generator=g)
    lv = torch.randint(0, bins, (5, 3, 4, 4), generator=g)
    ref = torch.distributions.Categorical(logits=params.movedim(2, -1)).log_prob(lv)
    assert torch.allclose(out.log_prob_each(params, lv), ref, atol=1e-6)
    assert torch.allclose(out.log_prob(params, lv), ref.flatten(1).sum(1), atol=1e-5)
    # a wrong variant (softmax over the wrong axis) disagrees
    wrong = torch.log_softmax(params, 1).gather(2, lv.unsqueeze(2)).squeeze(2)
    assert not torch.allclose(wrong, ref, atol=1e-3)


def test_bernoulli_matches_torch_distributions():
    out = make_output("bernoulli")
    assert (out.bins, out.params) == (2, 1)
    g = torch.Generator().manual_seed(0)
    params = 4 * torch.randn(6, 1, 1, 5, 5, generator=g)
    lv = torch.randint(0, 2, (6, 1, 5, 5), generator=g)
    ref = torch.distributions.Bernoulli(logits=params[:, :, 0]).log_prob(lv.float())
    assert torch.allclose(out.log_prob_each(params, lv), ref, atol=1e-6)
    wrong = torch.distributions.Bernoulli(logits=-params[:, :, 0]).log_prob(lv.float())  # sign flipped
    assert not torch.allclose(wrong, ref, atol=1e-3)


def _chi_square(counts: torch.Tensor, probs: torch.Tensor) -> tuple[float, int]:
    """Pearson's statistic over cells with expected count >= 5 (the rest pooled) and its degrees of freedom."""
    n = counts.sum()
    exp = n * probs
    big = exp >= 5
    c = torch.cat([counts[big], counts[~big].sum().reshape(1)])
    e = torch.cat([exp[big], exp[~big].sum().reshape(1)])
    keep = e > 0
    stat = ((c[keep] - e[keep]) ** 2 / e[keep]).sum()
    return float(stat), int(keep.sum()) - 1


def _chi_square_ok(stat: float, dof: int) -> bool:
    """stat below the mean + 5 standard deviations of chi2(dof): a failure rate far below 1e-4."""
    return stat < dof + 5 * math.sqrt(2 * dof)


@pytest.mark.parametrize("kind", ["bernoulli", "categorical", "logistic"])
def test_sampling_matches_the_pmf(kind):
    out = make_output(kind, bins=8, mixtures=3)
    g = torch.Generator().manual_seed(3)
    params = torch.randn(1, 1, out.params, generator=g)
    if kind == "logistic":
        params[:, :, 3:6] *= 0.5  # means near the middle
        params[:, :, 6:] = params[:, :, 6:] * 0.3 - 1.0
    n = 40_000
    lv = out.sample(params.expand(n, 1, out.params).unsqueeze(-1), generator=g).reshape(-1)
    counts = torch.bincount(lv, minlength=out.bins).double()
    probs = _bin_log_probs(out, params.double()).exp().reshape(-1)
    stat, dof = _chi_square(counts, probs)
    assert _chi_square_ok(stat, dof), (stat, dof, counts, probs * n)
    # the wrong variant: counts of a shifted pmf are rejected
    stat_w, dof_w = _chi_square(counts, probs.roll(1))
    assert not _chi_square_ok(stat_w, dof_w)


def test_targets_and_to_data_round_trip():
    x = torch.randint(0, 256, (4, 3, 5, 5)).float() / 255
    cat = make_output("categorical", bins=256)
    lv = cat.targets(x, "none")
    assert lv.dtype == torch.int64 and torch.equal(cat.to_data(lv), x)
    b = make_output("bernoulli")
    assert torch.equal(b.targets(x, "threshold"), (x > 0.5).long())
    binary = (x > 0.5).float()
    assert torch.equal(b.targets(binary, "dynamic"), binary.long())  # already binary: unchanged
    two = make_output("categorical", bins=2)
    assert torch.equal(two.targets(binary, "none"), binary.long())


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ConfigError):
        make_output("gaussian")
    with pytest.raises(ConfigError):
        make_output("categorical", bins=1)
    with pytest.raises(ConfigError):
        make_output("logistic", mixtures=0)
    with pytest.raises(ConfigError):
        make_output("bernoulli").targets(torch.rand(2, 1, 2, 2), "static")
    out = make_output("categorical", bins=4)
    with pytest.raises(DataError):
        out.log_prob_each(torch.zeros(2, 1, 4, 3, 3), torch.full((2, 1, 3, 3), 4))
    with pytest.raises(DataError):
        out.log_prob_each(torch.zeros(2, 1, 3, 3, 3), torch.zeros(2, 1, 3, 3, dtype=torch.long))


def test_split_channels_layout():
    out = torch.arange(2 * 6 * 1 * 1).reshape(2, 6, 1, 1)
    p = split_channels(out, 3)
    assert p.shape == (2, 3, 2, 1, 1) and p[0, 1, 0, 0, 0] == 2 and p[0, 2, 1, 0, 0] == 5

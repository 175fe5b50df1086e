"""HMM math: the forward likelihood and the posteriors equal enumeration over every hidden path, Viterbi equals the
brute-force argmax, the backward pass equals autograd of log p(x), Baum-Welch never lowers the likelihood, and
hmmlearn's CategoricalHMM agrees on the log-likelihood and on one Baum-Welch step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from genzoo.models import create
from genzoo.models.classical import GaussianHMM
from genzoo.models.classical.hmm import forward

S, V, T = 3, 4, 5


def model(smoothing=0.0, seed=0, context=T):
    m = create("hmm", states=S, vocab_size=V, context=context, smoothing=smoothing, seed=seed).double()
    g = torch.Generator().manual_seed(seed + 10)
    with torch.no_grad():  # a non-uniform start so the check sees pi
        m.start.copy_(torch.rand(S, generator=g, dtype=torch.float64) + 0.1)
    return m


def windows(n=6, seed=1, context=T):
    return torch.randint(0, V, (n, context), generator=torch.Generator().manual_seed(seed))


def enumerate_paths(m, x):
    """(log p(x, z) for every path z (N, S^T), the paths (S^T, T))."""
    pi, A, B = m.log_pi.exp(), m.log_A.exp(), m.log_B.exp()
    paths = torch.tensor(list(itertools.product(range(S), repeat=x.shape[1])))
    joint = pi[paths[:, 0]][None] * B[paths[:, 0]][:, x[:, 0]].T
    for t in range(1, x.shape[1]):
        joint = joint * A[paths[:, t - 1], paths[:, t]][None] * B[paths[:, t]][:, x[:, t]].T
    return joint.log(), paths


def test_forward_equals_enumeration_over_all_paths():
    m, x = model(), windows()
    joint, _ = enumerate_paths(m, x)
    torch.testing.assert_close(m.log_prob(x), joint.logsumexp(1), rtol=0, atol=1e-12)
    # it can fail: the same sum without the start distribution is another number
    wrong = forward(torch.full((S,), -np.log(S), dtype=torch.float64), m.log_A, m.emission_log_prob(x))[1]
    assert (wrong - m.log_prob(x)).abs().max() > 1e-3


def test_windows_sum_to_one():
    m = model(context=3)
    x = torch.tensor(list(itertools.product(range(V), repeat=3)))
    assert float(m.log_prob(x).detach().logsumexp(0)) == pytest.approx(0.0, abs=1e-12)


def test_posteriors_equal_enumeration_and_sum_to_one():
    m, x = model(), windows()
    joint, paths = enumerate_paths(m, x)
    post = (joint - joint.logsumexp(1, keepdim=True)).exp()  # p(z | x) (N, S^T)
    gamma = m.posteriors(x)
    ref = torch.stack([post @ torch.nn.functional.one_hot(paths[:, t], S).double() for t in range(T)], 1)
    torch.testing.assert_close(gamma, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gamma.sum(-1), torch.ones(6, T, dtype=torch.float64), rtol=0, atol=1e-12)
    # expected transition counts sum_t xi_t(i, j) against enumeration
    targets, _ = m.e_step(x)
    ref_xi = torch.zeros(S, S, dtype=torch.float64)
    for t in range(T - 1):
        pair = torch.nn.functional.one_hot(paths[:, t] * S + paths[:, t + 1], S * S).double()
        ref_xi += (post @ pair).sum(0).view(S, S)
    torch.testing.assert_close(targets["trans"], ref_xi / 6, rtol=0, atol=1e-12)


def test_backward_equals_autograd_of_the_forward():
    """d log p(x) / d log e_t(j) = gamma_t(j) (Eisner 2016): the backward pass against autograd of the forward."""
    m, x = model(), windows()
    log_e = m.emission_log_prob(x).detach().requires_grad_(True)
    _, log_z = forward(m.log_pi.detach(), m.log_A.detach(), log_e)
    (grad,) = torch.autograd.grad(log_z.sum(), log_e)
    torch.testing.assert_close(m.posteriors(x).detach(), grad, rtol=0, atol=1e-12)


def test_viterbi_equals_brute_force_argmax():
    m, x = model(seed=2), windows(20, seed=3)
    joint, paths = enumerate_paths(m, x)
    path, score = m.viterbi(x)
    best = joint.max(1)
    torch.testing.assert_close(score, best.values, rtol=0, atol=1e-12)
    # the path's own joint equals the maximum (ties, if any, may pick another argmax)
    idx = (path[:, None, :] == paths[None]).all(-1).double().argmax(1)
    torch.testing.assert_close(joint.gather(1, idx[:, None]).squeeze(1), best.values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 1e-2])
def test_baum_welch_never_lowers_the_likelihood(smoothing):
    m = create("hmm", states=4, vocab_size=6, context=20, smoothing=smoothing, seed=4).double()
    x = torch.randint(0, 6, (30, 20), generator=torch.Generator().manual_seed(5))
    trace = m.fit(x, 25)
    if smoothing == 0:  # maximum likelihood: monotone (with smoothing, EM is monotone for the posterior instead)
        assert all(b >= a - 1e-10 for a, b in zip(trace, trace[1:])), trace
    assert trace[-1] > trace[0] + 0.1


def test_sample_is_a_draw_of_log_prob():
    """Empirical frequencies of all V^3 windows against exp(log_prob), with binomial errors."""
    m = model(context=3)
    n = 40000
    s = m.sample(n, generator=torch.Generator().manual_seed(0))
    code = (s * torch.tensor([V * V, V, 1])).sum(1)
    freq = torch.bincount(code, minlength=V**3).double() / n
    x = torch.tensor(list(itertools.product(range(V), repeat=3)))
    p = m.log_prob(x).exp()
    assert torch.all((freq - p).abs() <= 4.5 * torch.sqrt(p * (1 - p) / n) + 1e-4)


def test_generate_uses_the_filtered_next_token_distribution():
    m = model(context=3)
    prompt = torch.tensor([[1, 2]])
    x = torch.cat([prompt.expand(V, 2), torch.arange(V)[:, None]], 1)
    p_next = (m.log_prob(x) - m.log_prob(x).logsumexp(0)).exp()  # p(x_3 | x_1, x_2)
    n = 20000
    out = m.generate(prompt.expand(n, 2), 1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, :2], prompt.expand(n, 2))
    freq = torch.bincount(out[:, 2], minlength=V).double() / n
    assert torch.all((freq - p_next).abs() <= 4.5 * torch.sqrt(p_next * (1 - p_next) / n))
    greedy = m.generate(prompt, 1, temperature=0)
    assert int(greedy[0, 2]) == int(p_next.argmax())


def test_hmmlearn_log_likelihood_and_one_baum_welch_step():
    hmmlearn = pytest.importorskip("hmmlearn.hmm")
    m = model(seed=6, context=12)
    x = torch.randint(0, V, (8, 12), generator=torch.Generator().manual_seed(7))
    ref = hmmlearn.CategoricalHMM(n_components=S, n_features=V, n_iter=1, init_params="", params="ste", tol=-np.inf,
                                  implementation="log")
    ref.startprob_ = m.log_pi.exp().detach().numpy()
    ref.transmat_ = m.log_A.exp().detach().numpy()
    ref.emissionprob_ = m.log_B.exp().detach().numpy()
    flat, lengths = x.reshape(-1, 1).numpy(), [12] * 8
    assert float(m.log_prob(x).sum()) == pytest.approx(ref.score(flat, lengths), abs=1e-9)
    ref.fit(flat, lengths)
    m.fit(x, 1)
    np.testing.assert_allclose(m.log_pi.exp().detach().numpy(), ref.startprob_, atol=1e-10)
    np.testing.assert_allclose(m.log_A.exp().detach().numpy(), ref.transmat_, atol=1e-10)
    np.testing.assert_allclose(m.log_B.exp().detach().numpy(), ref.emissionprob_, atol=1e-10)


def test_gaussian_hmm_against_enumeration_and_hmmlearn():
    m = GaussianHMM(states=3, dim=2, length=4, seed=1).double()
    x = torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pi, A = m.log_pi.exp(), m.log_A.exp()
    e = m.emission_log_prob(x).exp()
    paths = torch.tensor(list(itertools.product(range(3), repeat=4)))
    joint = pi[paths[:, 0]][None] * e[:, 0][:, paths[:, 0]]
    for t in range(1, 4):
        joint = joint * A[paths[:, t - 1], paths[:, t]][None] * e[:, t][:, paths[:, t]]
    torch.testing.assert_close(m.log_prob(x), joint.sum(1).log(), rtol=0, atol=1e-12)
    trace = m.fit(x, 15)
    assert all(b >= a - 1e-10 for a, b in zip(trace, trace[1:])), trace
    hmmlearn = pytest.importorskip("hmmlearn.hmm")
    ref = hmmlearn.GaussianHMM(n_components=3, covariance_type="diag", init_params="", params="")
    ref.startprob_ = m.log_pi.exp().detach().numpy()
    ref.transmat_ = m.log_A.exp().detach().numpy()
    ref.means_ = m.means.detach().numpy()
    ref.covars_ = m.variances.detach().numpy()
    assert float(m.log_prob(x).sum()) == pytest.approx(ref.score(x.reshape(-1, 2).numpy(), [4] * 5), abs=1e-9)
    s, z = m.sample(3, 7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 7, 2) and z.shape == (3, 7)

"""genzoo.math.sparse against independent references: scikit-learn's Lasso, brute-force 1-D minimisation, Monte
Carlo, the proven convergence rates and known vectors; each check also fails for a deliberately wrong answer."""

import math

import pytest
import torch

import genzoo.math as gm

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def problem(d=20, k=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(d, k, generator=g, dtype=torch.float64)
    D = D / D.norm(dim=0)
    z_true = torch.randn(k, generator=g, dtype=torch.float64) * (torch.rand(k, generator=g) < 0.2)
    x = D @ z_true + 0.05 * torch.randn(d, generator=g, dtype=torch.float64)
    return x, D


def sklearn_lasso(x, D, lam):
    """argmin 0.5 ||x - D z||^2 + lam ||z||_1 via sklearn, which minimises (1/(2n)) ||y - Xw||^2 + alpha ||w||_1
    with n = d rows: alpha = lam / d."""
    m = sklearn_linear.Lasso(alpha=lam / D.shape[0], fit_intercept=False, tol=1e-14, max_iter=1_000_000)
    m.fit(D.numpy(), x.numpy())
    return torch.from_numpy(m.coef_)


@pytest.mark.parametrize("solver", [gm.ista, gm.fista])
@pytest.mark.parametrize("lam", [0.05, 0.3])
def test_ista_fista_minimisers_match_sklearn_lasso(solver, lam):
    x, D = problem()
    ref = sklearn_lasso(x, D, lam)
    res = solver(x, D, lam, n_iter=20000, tol=1e-13)
    assert (res.z - ref).abs().max() < 1e-4
    assert (res.z == 0).sum() > 0  # the solution is sparse (exact zeros from the soft threshold)
    # the other side: a wrong alpha scaling (forgetting the 1/n of sklearn) gives another minimiser
    wrong = sklearn_linear.Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=1_000_000)
    assert (res.z - torch.from_numpy(wrong.fit(D.numpy(), x.numpy()).coef_)).abs().max() > 1e-2


def test_batched_codes_equal_one_at_a_time():
    x, D = problem()
    X = torch.stack([x, 2 * x, -x])
    batch = gm.fista(X, D, 0.1, n_iter=300).z
    for i in range(3):
        torch.testing.assert_close(batch[i], gm.fista(X[i], D, 0.1, n_iter=300).z)


def test_fista_reaches_the_gap_in_fewer_iterations_and_both_keep_their_rates():
    x, D = problem(d=30, k=60, seed=1)
    lam = 0.02
    z_star = sklearn_lasso(x, D, lam)
    f_star = float(gm.lasso_objective(x, D, z_star, lam))
    n = 3000
    hi = gm.ista(x, D, lam, n_iter=n, trace=True).history - f_star
    hf = gm.fista(x, D, lam, n_iter=n, trace=True).history - f_star
    gap = 1e-4  # measured: FISTA 146 iterations, ISTA 2851
    first = lambda h: int(torch.nonzero(h < gap)[0]) if (h < gap).any() else n + 1
    assert first(hi) <= n and first(hf) < first(hi) / 5, (first(hf), first(hi))
    # Beck & Teboulle's bounds with z_0 = 0: L ||z*||^2 / (2k) for ISTA, 2 L ||z*||^2 / (k+1)^2 for FISTA
    L, r2 = float(gm.lipschitz(D)), float(z_star.pow(2).sum())
    k = torch.arange(1, n + 1, dtype=torch.float64)
    assert (hi[1:] <= L * r2 / (2 * k) + 1e-12).all()
    assert (hf[1:] <= 2 * L * r2 / (k + 1) ** 2 + 1e-12).all()
    assert (hi[1:] >= -1e-10).all() and (hf[1:] >= -1e-10).all()
    # the other side: ISTA does not keep FISTA's 1/k^2 bound on this problem
    assert not (hi[1:] <= 2 * L * r2 / (k + 1) ** 2 + 1e-12).all()


def test_lipschitz_is_the_top_eigenvalue_of_the_gram_matrix():
    _, D = problem()
    torch.testing.assert_close(gm.lipschitz(D), torch.linalg.eigvalsh(D.T @ D).max())


def test_soft_threshold_equals_brute_force_minimisation():
    grid = torch.linspace(-5, 5, 200001, dtype=torch.float64)  # spacing 5e-5
    for v, t in [(2.3, 0.7), (-1.1, 0.4), (0.3, 0.5), (-0.2, 0.2), (1.7, 0.0)]:
        brute = grid[torch.argmin(0.5 * (grid - v) ** 2 + t * grid.abs())]
        got = gm.soft_threshold(torch.tensor(v, dtype=torch.float64), t)
        assert abs(float(got) - float(brute)) < 1e-4, (v, t)
        hard = v if abs(v) > t else 0.0  # the other side: hard thresholding is not this prox
        assert t == 0 or abs(hard - float(brute)) > 1e-2 or abs(v) <= t
    with pytest.raises(ValueError):
        gm.soft_threshold(torch.ones(2), -1.0)


def test_lasso_objective_by_hand():
    D = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    x = torch.tensor([1.0, 1.0], dtype=torch.float64)
    z = torch.tensor([0.5, -1.0], dtype=torch.float64)
    # residual (0.5, 3): 0.5 * 9.25 + 0.1 * 1.5
    assert float(gm.lasso_objective(x, D, z, 0.1)) == pytest.approx(0.5 * 9.25 + 0.15, abs=1e-12)


def test_folded_normal_mean_and_laplace_kl_against_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.0, 0.7, -1.5, 3.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, -1.0, 0.5, -0.3], dtype=torch.float64)
    b = 0.8
    n = 400_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 4, generator=g, dtype=torch.float64)
    abs_mc, abs_se = z.abs().mean(0), z.abs().std(0) / math.sqrt(n)
    fn = gm.folded_normal_mean(mu, torch.exp(0.5 * logvar))
    assert ((fn - abs_mc).abs() < 4 * abs_se).all()
    # KL per dimension: log q(z) - log p(z) averaged over z ~ q
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp())
    log_p = -math.log(2 * b) - z.abs() / b
    terms = log_q - log_p
    kl_mc, kl_se = terms.mean(0), terms.std(0) / math.sqrt(n)
    kl = torch.stack([gm.laplace_kl(mu[i : i + 1], logvar[i : i + 1], b) for i in range(4)])
    assert ((kl - kl_mc).abs() < 4 * kl_se).all(), (kl, kl_mc, kl_se)
    torch.testing.assert_close(gm.laplace_kl(mu, logvar, b), kl.sum())
    # the other side: E|z| replaced by |mu| (ignoring the spread) is rejected
    wrong = math.log(2 * b) - 0.5 * (math.log(2 * math.pi * math.e) + logvar) + mu.abs() / b
    assert ((wrong - kl_mc).abs() > 4 * kl_se).any()
    # and the log-density is the Laplace one
    from torch.distributions import Laplace

    torch.testing.assert_close(gm.laplace_log_prob(z[:5], b), Laplace(0.0, b).log_prob(z[:5]).sum(-1))


def test_hoyer_and_near_zero_fraction_on_known_vectors():
    one_hot = torch.tensor([0.0, 0.0, 3.0, 0.0])
    const = torch.full((4,), -2.0)
    assert float(gm.hoyer_sparsity(one_hot)) == pytest.approx(1.0)
    assert float(gm.hoyer_sparsity(const)) == pytest.approx(0.0, abs=1e-7)
    half = torch.tensor([1.0, 1.0, 0.0, 0.0])  # ||.||_1 / ||.||_2 = sqrt 2: (2 - sqrt 2) / (2 - 1)
    assert float(gm.hoyer_sparsity(half)) == pytest.approx(2 - math.sqrt(2))
    assert float(gm.hoyer_sparsity(torch.zeros(4))) == 1.0
    assert torch.equal(gm.hoyer_sparsity(torch.stack([one_hot, const])).round(decimals=6), torch.tensor([1.0, 0.0]))
    v = torch.tensor([0.0, 0.05, -0.2, 1.0, -0.01])
    assert float(gm.near_zero_fraction(v)) == pytest.approx(0.2)
    assert float(gm.near_zero_fraction(v, 0.1)) == pytest.approx(0.6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept(dtype):
    x, D = problem()
    x, D = x.to(dtype), D.to(dtype)
    outs = [gm.ista(x, D, 0.1, n_iter=5).z, gm.fista(x, D, 0.1, n_iter=5, trace=True).history,
            gm.soft_threshold(x, 0.1), gm.lasso_objective(x, D, torch.zeros(30, dtype=dtype), 0.1),
            gm.laplace_kl(x, x, 0.5), gm.laplace_log_prob(x), gm.hoyer_sparsity(x), gm.near_zero_fraction(x, 0.1),
            gm.folded_normal_mean(x, x.abs() + 1), gm.lipschitz(D)]
    assert all(o.dtype == dtype for o in outs)

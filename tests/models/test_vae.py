"""The VAE family: closed-form checks on probabilistic PCA, bound orderings, schedules, conditioning, I/O."""

import math

import pytest
import torch

from genzoo.errors import ConfigError, DataError
from genzoo.math import gaussian_kl, gaussian_log_prob
from genzoo.models import Batch, available, create, families, load

# ---- probabilistic PCA: a linear-Gaussian VAE with a closed-form marginal likelihood -----------------------------
D, L, SIGMA = 6, 2, 0.5


def _ppca(seed=0):
    """A linear-Gaussian VAE in float64 with decoder x = W z + b + sigma eps and an arbitrary (deliberately not
    optimal) linear-Gaussian encoder; returns the model, W, b and 8 data points drawn from the model."""
    g = torch.Generator().manual_seed(seed)
    m = create("vae", arch="linear", data_shape=(D,), latent_dim=L, decoder="gaussian", decoder_var="fixed",
               decoder_std=SIGMA, dequantize=False).double()
    W = torch.randn(D, L, generator=g, dtype=torch.float64)
    b = torch.randn(D, generator=g, dtype=torch.float64)
    M = W.T @ W + SIGMA**2 * torch.eye(L, dtype=torch.float64)
    Minv = torch.linalg.inv(M)
    post_var = torch.diagonal(SIGMA**2 * Minv)
    with torch.no_grad():
        dec = m.decoder.net[0]
        dec.weight.copy_(W)
        dec.bias.copy_(b)
        enc = m.encoder.net[0]  # rows 0..L-1: mean, rows L..2L-1: log-variance
        A = Minv @ W.T
        enc.weight[:L] = A + 0.03 * torch.randn(L, D, generator=g, dtype=torch.float64)
        enc.bias[:L] = -A @ b + 0.1 * torch.randn(L, generator=g, dtype=torch.float64)
        enc.weight[L:] = 0.02 * torch.randn(L, D, generator=g, dtype=torch.float64)
        enc.bias[L:] = post_var.log() + 0.5  # wider than the true posterior: a safe proposal
    z = torch.randn(8, L, generator=g, dtype=torch.float64)
    x = z @ W.T + b + SIGMA * torch.randn(8, D, generator=g, dtype=torch.float64)
    return m, W, b, x


def _exact_log_px(x, W, b):
    cov = W @ W.T + SIGMA**2 * torch.eye(D, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def _kl_to_posterior(mu_q, logvar_q, x, W, b):
    """KL(q(z|x) || p(z|x)) in closed form: p(z|x) = N(M^-1 W^T (x - b), sigma^2 M^-1), M = W^T W + sigma^2 I."""
    M = W.T @ W + SIGMA**2 * torch.eye(L, dtype=torch.float64)
    Minv = torch.linalg.inv(M)
    S = SIGMA**2 * Minv
    Sinv = M / SIGMA**2
    m = (x - b) @ (Minv @ W.T).T
    var_q = logvar_q.exp()
    d = m - mu_q
    trace = (torch.diagonal(Sinv) * var_q).sum(-1)
    maha = ((d @ Sinv) * d).sum(-1)
    return 0.5 * (trace + maha - L + torch.logdet(S) - logvar_q.sum(-1))


def _exact_elbo(mu_q, logvar_q, x, W, b):
    """E_q[log N(x; W z + b, sigma^2 I)] - KL(q || N(0, I)) in closed form."""
    var_q = logvar_q.exp()
    resid = x - mu_q @ W.T - b
    tr = (var_q[:, None, :] * W[None] ** 2).sum((-1, -2))  # tr(W diag(var_q) W^T)
    rec = -0.5 * D * math.log(2 * math.pi * SIGMA**2) - (resid.pow(2).sum(-1) + tr) / (2 * SIGMA**2)
    return rec - gaussian_kl(mu_q, logvar_q), rec


def test_ppca_importance_sampled_log_prob_matches_exact_marginal():
    m, W, b, x = _ppca()
    exact = _exact_log_px(x, W, b)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        est = m.log_prob(x, k=5000, generator=g, chunk=4096)  # small chunks: exercises the chunked logsumexp
        one = m.log_prob(x, k=1, generator=g)  # a single-sample "estimate" = a noisy ELBO
    assert est.dtype == torch.float64
    assert (est - exact).abs().max() < 0.1
    # Discriminative: the ELBO (k = 1) and the marginal of a perturbed W miss by more than the tolerance.
    assert (one - exact).abs().max() > 0.1
    wrong = _exact_log_px(x, W + 0.1, b)
    assert (est - wrong).abs().max() > 0.1


def test_ppca_elbo_gap_equals_kl_to_exact_posterior():
    m, W, b, x = _ppca()
    exact = _exact_log_px(x, W, b)
    with torch.no_grad():
        mu_q, logvar_q = m.encode(x)
    kl_post = _kl_to_posterior(mu_q, logvar_q, x, W, b)
    elbo_cf, rec_cf = _exact_elbo(mu_q, logvar_q, x, W, b)
    # The identity log p(x) = ELBO + KL(q || p(z|x)), exactly in closed form.
    torch.testing.assert_close(exact - elbo_cf, kl_post, rtol=0, atol=1e-9)
    assert (kl_post > 0.05).all()  # the encoder is not optimal: the gap is visible
    # The model's Monte Carlo ELBO: S single-sample estimates per example.
    S = 4000
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        out = m.elbo(x.repeat(S, 1), k=1, generator=g)
    elbo = out["elbo"].view(S, -1)
    mean, se = elbo.mean(0), elbo.std(0) / math.sqrt(S)
    torch.testing.assert_close(out["kl"].view(S, -1)[0], gaussian_kl(mu_q, logvar_q))
    gap = exact - mean
    assert ((gap - kl_post).abs() < 4 * se + 1e-9).all(), (gap, kl_post, se)
    assert ((-out["recon"].view(S, -1).mean(0) - rec_cf).abs() < 4 * se + 1e-9).all()
    # A wrong posterior (perturbed W) gives a KL that the measured gap rejects.
    wrong = _kl_to_posterior(mu_q, logvar_q, x, W * 1.2, b)
    assert ((gap - wrong).abs() > 4 * se).any()


# ---- bounds on a briefly trained model ------------------------------------------------------------------------
def _binary_data(n=512, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, d, generator=g) < 0.5).float()
    idx = torch.randint(0, 4, (n,), generator=g)
    flip = (torch.rand(n, d, generator=g) < 0.1).float()
    return (protos[idx] - flip).abs(), idx


def _train(model, x, y=None, steps=300, lr=1e-2, bs=64):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(steps):
        i = torch.randint(0, x.shape[0], (bs,), generator=g)
        out = model.loss(Batch(x[i], None if y is None else y[i]))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        model.on_step_end(step)
        losses.append(float(out["loss"].detach()))
    return losses


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    x, _ = _binary_data()
    m = create("vae", data_shape=(20,), hidden=(32,), latent_dim=4, binarize="none")
    losses = _train(m, x)
    return m, x, losses


def test_elbo_le_iwae5_le_iwae50(trained):
    m, x, losses = trained
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 2  # it learned something
    xs = x[:32].repeat(40, 1)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        e = m.elbo(xs, k=1, generator=g)["elbo"]
        i5 = m.log_prob(xs, k=5, generator=g)
        i50 = m.log_prob(xs, k=50, generator=g)

    def diff(a, b):  # mean of b - a over (example, repeat) pairs, and its standard error
        d = b - a
        return float(d.mean()), float(d.std() / math.sqrt(d.numel()))

    d1, s1 = diff(e, i5)
    d2, s2 = diff(i5, i50)
    d3, s3 = diff(e, i50)
    assert d1 > -2 * s1 and d2 > -2 * s2
    assert d3 > 3 * s3  # the k = 50 bound is measurably tighter than the ELBO


def test_analytic_kl_equals_monte_carlo_kl(trained):
    m, x, _ = trained
    xb = x[:6]
    torch.manual_seed(5)
    out = m.loss(Batch(xb))
    with torch.no_grad():
        mu, logvar = m.encode(xb)
        kl = gaussian_kl(mu, logvar)
        assert torch.allclose(out["kl"], kl.mean())
        S = 20000
        z = mu + (0.5 * logvar).exp() * torch.randn(S, *mu.shape)
        mc = gaussian_log_prob(z, mu, logvar) - gaussian_log_prob(z, 0.0, 0.0)
    se = mc.std(0) / math.sqrt(S)
    assert ((mc.mean(0) - kl).abs() < 4 * se).all()
    assert ((mc.mean(0) - (kl + 0.05)).abs() > 4 * se).any()  # and an offset KL would fail


def test_iwae_k1_equals_negative_elbo_with_same_noise():
    x, _ = _binary_data(64)
    kw = dict(data_shape=(20,), hidden=(16,), latent_dim=3, binarize="dynamic")
    vae = create("vae", kl="mc", **kw)
    iwae = create("iwae", k=1, **kw)
    iwae.load_state_dict(vae.state_dict())
    torch.manual_seed(7)
    a = vae.loss(Batch(x))
    torch.manual_seed(7)
    b = iwae.loss(Batch(x))
    torch.testing.assert_close(a["loss"], b["loss"])
    torch.testing.assert_close(b["iwae"], a["elbo"])
    # With k = 5 the IWAE objective is a different (tighter) estimate; its gradient flows.
    iwae5 = create("iwae", **kw)
    iwae5.load_state_dict(vae.state_dict())
    out = iwae5.loss(Batch(x))
    out["loss"].backward()
    assert all(p.grad is not None for p in iwae5.parameters())


def test_kl_warmup_schedule_and_extra_state(tmp_path):
    m = create("vae", data_shape=(20,), hidden=(8,), latent_dim=2, binarize="none", kl_warmup_steps=10)
    assert m.kl_weight() == 0.0
    x, _ = _binary_data(16)
    for step, w in [(None, 0.0), (4, 0.5), (8, 0.9), (9, 1.0), (50, 1.0)]:
        if step is not None:
            m.on_step_end(step)
        assert m.kl_weight() == pytest.approx(w)
        torch.manual_seed(1)
        out = m.loss(Batch(x))
        assert float(out["beta"]) == pytest.approx(w)
        torch.testing.assert_close(out["loss"], out["recon"] + w * out["kl"])
    m.on_step_end(4)
    assert m.extra_state() == {"step": 5}
    m2 = load(m.save(tmp_path / "m"))
    assert m2.kl_weight() == pytest.approx(0.5)
    b = create("beta-vae", data_shape=(20,), hidden=(8,), latent_dim=2, kl_warmup_steps=4)
    b.on_step_end(1)
    assert b.kl_weight() == pytest.approx(4.0 * 0.5)  # beta-VAE default beta = 4, ramped


def test_capacity_annealing():
    m = create("beta-vae", data_shape=(20,), hidden=(8,), latent_dim=2, binarize="none", beta=4.0,
               capacity_max=25.0, capacity_steps=100)
    x, _ = _binary_data(16)
    for step, cap in [(None, 0.0), (49, 12.5), (99, 25.0), (500, 25.0)]:
        if step is not None:
            m.on_step_end(step)
        assert m.capacity() == pytest.approx(cap)
        out = m.loss(Batch(x))
        assert float(out["capacity"]) == pytest.approx(cap)
        torch.testing.assert_close(out["loss"], out["recon"] + 4.0 * (out["kl"] - cap).abs())
    assert m.capacity(step=20) == pytest.approx(5.0)


def test_conditional_vae_uses_the_label():
    x, y = _binary_data(256)
    m = create("cvae", data_shape=(20,), hidden=(32,), latent_dim=2, binarize="none", num_classes=4)
    _train(m, x, y, steps=150)
    z = torch.zeros(4, 2)
    with torch.no_grad():
        out = m.decode(z, torch.arange(4))
        assert (out[0] - out[1]).abs().max() > 0.1
        # one-hot float conditions are the same as labels
        torch.testing.assert_close(m.decode(z, torch.eye(4)), out)
        assert m.sample(6).shape == (6, 20)
        assert m.sample(3, torch.tensor([1, 1, 1])).shape == (3, 20)
        lp = m.log_prob(x[:8], y[:8], k=10)
        lp_wrong = m.log_prob(x[:8], (y[:8] + 1) % 4, k=10)
    assert lp.mean() > lp_wrong.mean()  # the right label explains the data better
    with pytest.raises(DataError, match="needs labels"):
        m.log_prob(x[:2])
    with pytest.raises(DataError, match=r"labels must lie in \[0, 4\)"):
        m.loss(Batch(x[:2], torch.tensor([0, 7])))
    with pytest.raises(ConfigError, match="num_classes"):
        create("cvae", num_classes=0)


# ---- decoders and architectures ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [
        dict(arch="mlp", decoder="bernoulli", binarize="threshold"),
        dict(arch="conv", decoder="bernoulli"),
        dict(arch="conv", decoder="gaussian", decoder_var="fixed", data_shape=(3, 9, 7)),
        dict(arch="mlp", decoder="gaussian"),
        dict(arch="conv", decoder="categorical", data_shape=(2, 8, 8)),
        dict(arch="mlp", decoder="categorical", num_classes=3),
    ],
)
def test_architectures_and_decoders(kw):
    kw = {"data_shape": (1, 12, 12), "latent_dim": 3, "hidden": (8, 8), **kw}
    m = create("vae", **kw)
    shape = m.config.data_shape
    x = torch.rand(5, *shape)
    y = torch.tensor([0, 1, 2, 0, 1]) if m.config.num_classes else None
    out = m.loss(Batch(x, y))
    assert set(out) >= {"loss", "recon", "kl", "elbo", "beta"}
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    with torch.no_grad():
        s = m.sample(4)
        assert s.shape == (4, *shape) and s.min() >= 0 and s.max() <= 1
        assert m.reconstruct(x, y).shape == x.shape
        assert m.log_prob(x, y, k=3).shape == (5,)
        assert m.decoder_params(torch.zeros(2, 3), None if y is None else y[:2])
    assert m.bpd_bins == (256 if kw["decoder"] == "gaussian" else 1)
    if kw["decoder"] == "gaussian":
        assert m.dec_logvar.requires_grad == (m.config.decoder_var == "learned")


@pytest.mark.parametrize("decoder", ["bernoulli", "categorical"])
def test_pmf_decoders_normalise(decoder):
    """sum_x p(x) = 1: exp(log_prob) is an unbiased importance estimate of p(x) for every value x."""
    if decoder == "bernoulli":
        m = create("vae", data_shape=(3,), hidden=(8,), latent_dim=1, binarize="none")
        xs = torch.tensor([[(i >> j) & 1 for j in range(3)] for i in range(8)], dtype=torch.float32)
    else:
        m = create("vae", data_shape=(1,), hidden=(8,), latent_dim=1, decoder="categorical")
        xs = (torch.arange(256, dtype=torch.float32) / 255).unsqueeze(1)
    m = m.double()
    with torch.no_grad():
        p = m.log_prob(xs.double(), k=2000, generator=torch.Generator().manual_seed(0)).exp()
    assert float(p.sum()) == pytest.approx(1.0, abs=0.02)


def test_registry_and_config_validation():
    assert {"vae", "beta-vae", "cvae", "iwae"} <= set(available("vae"))
    assert "vae" in families()
    assert create("iwae").config.k == 5 and create("beta-vae").config.beta == 4.0
    with pytest.raises(ConfigError, match="latent_dim"):
        create("vae", latent_dim=0)
    with pytest.raises(ConfigError, match="conv"):
        create("vae", arch="conv", data_shape=(4,))
    with pytest.raises(ConfigError, match="decoder"):
        create("vae", decoder="poisson")
    with pytest.raises(ConfigError, match='unknown key "latnt_dim"'):
        create("vae", latnt_dim=4)


# ---- save / load and input checks ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,kw",
    [
        ("vae", dict(arch="conv", hidden=(4, 8), decoder="gaussian")),
        ("cvae", dict(hidden=(16,))),
        ("iwae", dict(hidden=(16,), decoder="categorical")),
    ],
)
def test_save_load_identical(tmp_path, name, kw):
    m = create(name, data_shape=(1, 8, 8), latent_dim=3, **kw)
    m.on_step_end(11)
    x = torch.rand(4, 1, 8, 8)
    y = torch.tensor([0, 3, 5, 9]) if name == "cvae" else None
    m2 = load(m.save(tmp_path / name))
    assert m2.name == name and m2.extra_state() == {"step": 12}
    with torch.no_grad():
        a = m.log_prob(x, y, k=20, generator=torch.Generator().manual_seed(4))
        b = m2.log_prob(x, y, k=20, generator=torch.Generator().manual_seed(4))
        assert torch.equal(a, b)
        z = torch.randn(4, 3)
        assert torch.equal(m.decode(z, y), m2.decode(z, y))


def test_bad_input_raises_data_error():
    m = create("vae", data_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    with pytest.raises(DataError, match="shape"):
        m.log_prob(torch.rand(2, 1, 8, 9))
    with pytest.raises(DataError, match="NaN"):
        m.loss(Batch(torch.full((2, 1, 8, 8), float("nan"))))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        m.elbo(torch.rand(2, 1, 8, 8) * 3)
    with pytest.raises(DataError, match="unconditional"):
        m.reconstruct(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))

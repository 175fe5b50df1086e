"""sparse-vae: the Laplace prior reaches every term (KL, importance weights, samples), checked against the closed
form, exact quadrature of a linear-Gaussian model's marginal and Monte Carlo; the L1 term and sparsity parts."""

import math

import pytest
import torch

import genzoo.math as gm
from genzoo.models import Batch, create


def linear_model(prior="laplace", b=0.6):
    """x = w z + c + N(0, sigma^2 I) with z ~ Laplace(0, b), 1-D z, 2-D x; the encoder set to a Gaussian
    approximation of the posterior (precision |w|^2 / sigma^2 + 1 / (2 b^2)), an affine map of x."""
    m = create("sparse-vae", data_shape=(2,), arch="linear", latent_dim=1, decoder="gaussian", decoder_var="fixed",
               decoder_std=0.5, prior=prior, prior_scale=b).double()
    w, c, s2 = torch.tensor([1.2, -0.7], dtype=torch.float64), torch.tensor([0.1, 0.3], dtype=torch.float64), 0.25
    prec = float(w @ w) / s2 + 1 / (2 * b * b)
    with torch.no_grad():
        dec, enc = m.decoder.net[0], m.encoder.net[0]
        dec.weight.copy_(w[:, None])
        dec.bias.copy_(c)
        enc.weight.copy_(torch.stack([w / s2 / prec, torch.zeros(2, dtype=torch.float64)]))
        enc.bias.copy_(torch.tensor([-float(w @ c) / s2 / prec, -math.log(prec)], dtype=torch.float64))
    return m, w, c, s2


def exact_log_px(x, w, c, s2, log_prior):
    t = torch.linspace(-30, 30, 600001, dtype=torch.float64)
    mean = t[:, None] * w + c
    out = []
    for xi in x:
        lj = -0.5 * ((xi - mean).pow(2).sum(-1) / s2 + 2 * math.log(2 * math.pi * s2)) + log_prior(t)
        out.append(torch.logsumexp(lj, 0) + math.log(float(t[1] - t[0])))
    return torch.stack(out)


def test_log_prob_meets_the_exact_marginal_under_the_laplace_prior():
    m, w, c, s2 = linear_model()
    x = torch.tensor([[0.5, 0.0], [2.0, -1.0], [-1.0, 1.2]], dtype=torch.float64)
    laplace = exact_log_px(x, w, c, s2, lambda t: -math.log(2 * 0.6) - t.abs() / 0.6)
    gauss = exact_log_px(x, w, c, s2, lambda t: -0.5 * (math.log(2 * math.pi) + t * t))
    est = m.log_prob(x, k=20000, generator=torch.Generator().manual_seed(0))
    assert (est - laplace).abs().max() < 0.02, (est, laplace)
    assert (est - gauss).abs().max() > 0.1  # the other side: the Gaussian-prior marginal is not this model's
    # the ELBO in closed form (E_q log N(x; w z + c, s2 I) for q = N(mu, v)) is below log p(x), the MC ELBO meets it
    with torch.no_grad():
        mu, logvar = m.encode(x)
        v = logvar.exp()
        recon = -0.5 * (((x - mu * w - c).pow(2).sum(-1, keepdim=True) + float(w @ w) * v) / s2
                        + 2 * math.log(2 * math.pi * s2)).squeeze(-1)
        elbo = recon - gm.laplace_kl(mu, logvar, 0.6)
        e = m.elbo(x, k=20000, generator=torch.Generator().manual_seed(1))
    assert (elbo < laplace).all()
    assert (e["elbo"] - elbo).abs().max() < 0.02
    torch.testing.assert_close(e["kl"], gm.laplace_kl(mu, logvar, 0.6))
    # the same weights under the Gaussian prior meet the Gaussian marginal
    g, *_ = linear_model(prior="gaussian")
    g.load_state_dict(m.state_dict())
    est_g = g.log_prob(x, k=20000, generator=torch.Generator().manual_seed(0))
    assert (est_g - gauss).abs().max() < 0.02


def test_loss_kl_is_the_laplace_kl_and_its_monte_carlo_estimate_agrees():
    torch.manual_seed(0)
    m = create("sparse-vae", data_shape=(3,), hidden=(8,), latent_dim=4, decoder="gaussian", prior_scale=0.5)
    x = torch.randn(256, 3)
    out = m.loss(Batch(x))
    with torch.no_grad():
        mu, logvar = m.encode(x)
    torch.testing.assert_close(out["kl"], gm.laplace_kl(mu, logvar, 0.5).mean())
    assert float(out["kl"]) != pytest.approx(float(gm.gaussian_kl(mu, logvar).mean()), rel=1e-2)
    mc = create("sparse-vae", data_shape=(3,), hidden=(8,), latent_dim=4, decoder="gaussian", prior_scale=0.5,
                kl="mc", k=200)
    mc.load_state_dict(m.state_dict())
    torch.manual_seed(1)
    out_mc = mc.loss(Batch(x))
    # per-example MC means over 200 draws each, averaged over 256 examples: SE well below 0.05 nats here
    assert float(out_mc["kl"]) == pytest.approx(float(out["kl"]), abs=0.05)


def test_samples_decode_laplace_codes():
    torch.manual_seed(0)
    m = create("sparse-vae", data_shape=(2,), latent_dim=3, hidden=(8,), prior_scale=0.4)
    z = m.prior_sample(100_000)
    se = float(z.abs().std()) / math.sqrt(z.numel())
    assert float(z.abs().mean()) == pytest.approx(0.4, abs=4 * se)
    assert float(z.var()) == pytest.approx(2 * 0.4**2, rel=0.03)
    torch.manual_seed(3)
    s = m.sample(5)
    torch.manual_seed(3)
    torch.testing.assert_close(s, m.decode(m.prior_sample(5)))


def test_l1_term_and_sparsity_parts():
    torch.manual_seed(0)
    m = create("sparse-vae", data_shape=(3,), hidden=(8,), latent_dim=4, decoder="gaussian", l1=0.0,
               sparsity_threshold=0.05)
    m1 = create("sparse-vae", data_shape=(3,), hidden=(8,), latent_dim=4, decoder="gaussian", l1=0.5,
                sparsity_threshold=0.05)
    m1.load_state_dict(m.state_dict())
    x = torch.randn(32, 3)
    torch.manual_seed(1)
    a = m.loss(Batch(x))
    torch.manual_seed(1)
    b = m1.loss(Batch(x))
    mu, _ = m.encode(x)
    torch.testing.assert_close(a["l1"], mu.abs().sum(-1).mean().detach())
    torch.testing.assert_close(b["loss"] - a["loss"], 0.5 * a["l1"])
    torch.testing.assert_close(a["zero_fraction"], (mu.abs() <= 0.05).float().mean())
    torch.testing.assert_close(a["hoyer"], gm.hoyer_sparsity(mu).mean().detach())

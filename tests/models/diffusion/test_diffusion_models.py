"""The registered diffusion models on the contract: configs, losses, samplers, guidance, likelihood wiring, errors."""

import math

import pytest
import torch

from genzoo.errors import ConfigError, DataError
from genzoo.models import Batch, available, create, get_class

SMALL = dict(data_shape=(1, 12, 12), channels=(8, 16), sample_batch=4)


def test_registered():
    assert {"ddpm", "ddim", "ncsn", "score-sde"} <= set(available(family="diffusion"))
    assert get_class("ddpm").likelihood == "bound" and get_class("score-sde").likelihood == "exact"
    assert get_class("ncsn").likelihood == "none"
    assert create("ddim", data_shape=(2,)).config.sampler == "ddim"
    m = create("ddpm", data_shape=(2,), likelihood_method="exact")
    assert m.likelihood == "exact" and get_class("ddpm").likelihood == "bound"


@pytest.mark.parametrize("kw", [
    dict(pred="eps"), dict(pred="x0", schedule="cosine"), dict(pred="v", schedule="sigmoid"),
    dict(loss="vlb"), dict(loss="hybrid", learned_var=True), dict(num_classes=3, p_uncond=0.5),
])
def test_ddpm_losses_and_samplers(kw):
    m = create("ddpm", timesteps=20, **SMALL, **kw)
    x = torch.rand(4, 1, 12, 12)
    y = torch.randint(0, 3, (4,)) if kw.get("num_classes") else None
    out = m.loss(Batch(x, y))
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    if "vlb" in kw.get("loss", ""):
        assert "vlb" in out
    for sampler in ("ddpm", "ddim"):
        m.config.sampler, m.config.sample_steps = sampler, 5
        s = m.sample(5)
        assert s.shape == (5, 1, 12, 12) and s.min() >= 0 and s.max() <= 1


def test_continuous_samplers_and_likelihoods_2d():
    m = create("ddpm", data_shape=(2,), timesteps=50, hidden=(16, 16))
    for sampler in ("pf-ode", "sde", "pc"):
        m.config.sampler, m.config.sample_steps = sampler, 10
        assert torch.isfinite(m.sample(6)).all()
    x = torch.randn(5, 2)
    torch.manual_seed(1)
    lp = m.log_prob(x)  # the VLB draws x_k ~ q(x_k | x_0): seed both calls alike
    assert lp.shape == (5,) and torch.isfinite(lp).all()
    torch.manual_seed(1)
    assert torch.allclose(m.bits_per_dim(x), -lp / (2 * math.log(2)), atol=1e-5)  # bpd_bins = 1
    m.config.likelihood_method = "exact"
    assert torch.isfinite(m.log_prob(x)).all()
    s = create("score-sde", data_shape=(2,), hidden=(16, 16), sample_steps=10, sde="ve")
    assert torch.isfinite(s.loss(Batch(x))["loss"]) and torch.isfinite(s.log_prob(x)).all()
    for sampler in ("pc", "sde", "pf-ode"):
        s.config.sampler = sampler
        assert s.sample(3).shape == (3, 2)
    n = create("ncsn", data_shape=(2,), hidden=(16, 16), steps_per_level=3)
    assert torch.isfinite(n.loss(Batch(x))["loss"]) and n.sample(4).shape == (4, 2)


def test_image_likelihood_units():
    m = create("ddpm", timesteps=10, vlb_steps=3, **SMALL)
    x = torch.randint(0, 256, (2, 1, 12, 12)).float() / 255
    assert m.bpd_bins == 1  # discretised decoder: a pmf over the 256 levels
    bpd = m.bits_per_dim(x)
    assert torch.isfinite(bpd).all() and (bpd > 0).all()
    s = create("score-sde", **SMALL, exact_trace=False, ode_tol=1e-3)
    assert s.bpd_bins == 256 and torch.isfinite(s.bits_per_dim(x)).all()


def test_guidance_combines_outputs():
    m = create("ddpm", data_shape=(2,), timesteps=10, num_classes=2, guidance_scale=3.0, hidden=(8,))
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x, t, y = torch.randn(4, 2), torch.full((4,), 3.0), torch.tensor([0, 1, 0, 1])
    c, u = m.net(x, t, y), m.net(x, t, torch.full_like(y, 2))
    assert torch.allclose(m.guided_net(x, t, y), u + 3.0 * (c - u), atol=1e-5)
    assert m.sample(3, torch.tensor([1, 1, 0])).shape == (3, 2)


def test_errors():
    with pytest.raises(ConfigError, match="learned_var"):
        create("ddpm", learned_var=True)
    with pytest.raises(ConfigError):
        create("ddpm", timesteps=1)
    m = create("ddpm", timesteps=10, **SMALL)
    with pytest.raises(DataError, match="shape"):
        m.log_prob(torch.rand(2, 1, 10, 10))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        m.log_prob(torch.rand(2, 1, 12, 12) * 3)
    with pytest.raises(DataError, match="unconditional"):
        m.sample(2, torch.tensor([0, 1]))


def test_ddpm_learns_a_gaussian():
    """End to end: 600 Adam steps of an MLP DDPM on 2-D Gaussian data; DDIM samples match the mean and scale."""
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -0.5])
    L = torch.tensor([[0.7, 0.0], [0.3, 0.5]])
    m = create("ddim", data_shape=(2,), timesteps=100, hidden=(64, 64), sample_steps=20)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(600):
        x = mu + torch.randn(256, 2) @ L.T
        loss = m.loss(Batch(x))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    s = m.sample(2000)
    assert (s.mean(0) - mu).abs().max() < 0.1
    assert torch.allclose(torch.cov(s.T), L @ L.T, atol=0.1)


def test_ema_weights_by_default():
    """The Trainer keeps an EMA (0.999) of every diffusion model's weights unless told otherwise."""
    from genzoo.train import TrainConfig, Trainer

    for name in ("ddpm", "ddim", "ncsn", "score-sde"):
        m = create(name, data_shape=(2,), hidden=(8,), timesteps=10) if name in ("ddpm", "ddim") else create(
            name, data_shape=(2,), hidden=(8,))
        tr = Trainer(m, torch.randn(64, 2), TrainConfig(steps=2, batch_size=16, progress=False), out_dir=None)
        assert tr.ema is not None and tr.ema.decay == 0.999, name
    off = Trainer(create("ddpm", data_shape=(2,), hidden=(8,)), torch.randn(64, 2),
                  TrainConfig(steps=2, batch_size=16, progress=False, ema_decay=None), out_dir=None)
    assert off.ema is None


@pytest.mark.parametrize("pred", ["eps", "x0", "v"])
def test_continuous_score_matches_the_discrete_prediction(pred):
    """At grid times t = (k + 1) / T the continuous-time score the PF-ODE/SDE samplers use equals the discrete
    prediction's -eps_hat / sqrt(1 - abar_k), for every parameterisation (one conversion, two callers)."""
    torch.manual_seed(0)
    m = create("ddpm", data_shape=(3,), timesteps=50, hidden=(16,), pred=pred)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x, k = torch.randn(6, 3), torch.tensor([0, 3, 10, 25, 40, 49])
    eps = m.denoise(x, k, clip=False).eps
    ref = m.schedule.eps_to_score(x, k, eps)
    got = m.score(x, (k + 1).float() / 50)
    assert torch.allclose(got, ref, atol=1e-5)
    wrong = m.score(x, k.float() / 50)  # the time grid shifted by one step is a different function
    assert (wrong - ref).abs().max() > 1e-3


def test_learned_variance_interpolates_between_beta_tilde_and_beta():
    """Nichol & Dhariwal eq. 15: v = -1 gives log beta_tilde_k (clipped at k = 0), v = 1 log beta_k, v = 0 halfway."""
    m = create("ddpm", data_shape=(2,), timesteps=20, hidden=(8,), loss="hybrid", learned_var=True)
    s = m.schedule
    k = torch.arange(20)
    x = torch.zeros(20, 2)
    lo = m.model_logvar(-torch.ones(20, 2), k, x)[:, 0]
    hi = m.model_logvar(torch.ones(20, 2), k, x)[:, 0]
    mid = m.model_logvar(torch.zeros(20, 2), k, x)[:, 0]
    assert torch.allclose(lo.double(), s.posterior_log_variance_clipped, atol=1e-6)
    assert torch.allclose(hi.double(), torch.log(s.betas), atol=1e-6)
    assert torch.allclose(mid, (lo + hi) / 2, atol=1e-6)
    assert lo[0] == lo[1] and (hi[1:] > lo[1:]).all()  # beta_tilde_k < beta_k for k >= 1


class _Oracle(torch.nn.Module):
    """The exact optimal network for Gaussian data, read off the model's own time input (for the loss tests)."""

    def __init__(self, data, noise_of_t, to_output, scale=1.0):
        super().__init__()
        self.data, self.noise_of_t, self.to_output, self.scale = data, noise_of_t, to_output, scale

    def forward(self, x, t, y=None):
        m, s = self.noise_of_t(t.double())
        m = torch.as_tensor(m, dtype=torch.float64).expand(x.shape[0])
        s = torch.as_tensor(s, dtype=torch.float64).expand(x.shape[0])
        score = self.scale * self.data.score(x.double(), m, s).double()
        return self.to_output(x.double(), m[:, None], s[:, None], score).to(x.dtype)


def _oracle_for(name, model, pred="eps"):
    if name == "ddpm":
        sch = model.schedule

        def noise(t):
            k = (t - 1).round().long()
            return sch.sqrt_alphas_cumprod[k], sch.sqrt_one_minus_alphas_cumprod[k]

        def out(x, m, s, score):
            eps, x0 = -s * score, (x + s**2 * score) / m
            return {"eps": eps, "x0": x0, "v": m * eps - s * x0}[pred]

        return noise, out
    if name == "ncsn":
        sig = model.sigmas.double()
        return (lambda t: (torch.ones_like(t), sig[(t * model.config.num_levels / 1000).round().long()]),
                lambda x, m, s, score: -s * score)
    return (lambda t: model.sde.marginal(t / 1000)), (lambda x, m, s, score: -s * score)


@pytest.mark.parametrize("name,kw", [("ddpm", dict(pred="eps")), ("ddpm", dict(pred="x0")), ("ddpm", dict(pred="v")),
                                     ("ncsn", {}), ("score-sde", dict(sde="vp")), ("score-sde", dict(sde="ve"))])
def test_losses_are_minimised_by_the_true_score(name, kw):
    """Each training loss, with the exact optimal network of Gaussian data wired in, is lower than with the score
    scaled by 0.8 or 1.2 on the same draws (so the loss's target, noise pairing and time convention agree with the
    samplers'); for eps-prediction its value is the closed-form minimum E_k mean_d m_k^2 S_d / (m_k^2 S_d + s_k^2)."""
    from closed_form import gaussian

    data = gaussian()
    torch.set_default_dtype(torch.float64)
    try:
        extra = dict(timesteps=100) if name == "ddpm" else {}
        m = create(name, data_shape=(2,), hidden=(8,), **extra, **kw)
        noise, out = _oracle_for(name, m, kw.get("pred", "eps"))
        x = data.sample(20000, torch.Generator().manual_seed(0))
        losses = {}
        for scale in (0.8, 1.0, 1.2):
            m.net = _Oracle(data, noise, out, scale)
            torch.manual_seed(1)
            losses[scale] = m.loss(Batch(x))["loss"].item()
        assert losses[1.0] < losses[0.8] and losses[1.0] < losses[1.2], losses
        if name == "ddpm" and kw["pred"] == "eps":
            S = torch.diagonal(data.cov)
            mk, sk = m.schedule.sqrt_alphas_cumprod[:, None], m.schedule.sqrt_one_minus_alphas_cumprod[:, None]
            expected = (mk**2 * S / (mk**2 * S + sk**2)).mean().item()
            assert abs(losses[1.0] - expected) < 0.02 * expected, (losses[1.0], expected)
    finally:
        torch.set_default_dtype(torch.float32)

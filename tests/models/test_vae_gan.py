"""vae-gan (Larsen et al. 2016): each loss term against a hand computation that replays the model's random draws,
the gradient masks of the three players, the exact role of gamma, and the config rules."""

import math

import pytest
import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError, LikelihoodError
from genzoo.math import gaussian_kl
from genzoo.models import Batch, create
from genzoo.models.hybrid import PLAYERS, feature_nll

N, LATENT = 6, 2


def _points_model(**kw):
    torch.manual_seed(0)
    m = create("vae-gan", data_shape=(2,), hidden=(8,), latent_dim=LATENT, d_hidden=(5,), **kw).double()
    with torch.no_grad():  # move every weight off its initial value (zero biases would hide a missing term)
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m


def _x(seed=1):
    return torch.randn(N, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _replay(m, x, seed):
    """The loss's random draws, replayed by hand: z = mu + e^(logvar/2) eps, then z_p ~ N(0, I)."""
    torch.manual_seed(seed)
    mu, logvar = m.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, dtype=mu.dtype)
    zp = torch.randn(N, LATENT, dtype=mu.dtype)
    return mu, logvar, m.decode(z), m.decode(zp)


def _hand_dis(m, x):
    """The tiny MLP discriminator by hand: h = LeakyReLU_0.2(W x + b), logit = w . h + c."""
    lin, out = m.discriminator.body[0], m.discriminator.head.out
    a = x @ lin.weight.T + lin.bias
    h = torch.where(a > 0, a, 0.2 * a)
    return (h @ out.weight.T + out.bias).squeeze(1), h


def _loss(m, x, player, seed=3):
    torch.manual_seed(seed)
    return m.loss(Batch(x), player)


@pytest.mark.parametrize("gan_loss", ["ns", "minimax"])
def test_every_term_equals_the_hand_computation(gan_loss):
    m = _points_model(gan_loss=gan_loss, gamma=0.7, decoder_std=0.5)
    x = _x()
    with torch.no_grad():
        mu, logvar, x_rec, x_p = _replay(m, x, seed=3)
        (l_x, f_x), (l_rec, f_rec), (l_p, _) = _hand_dis(m, x), _hand_dis(m, x_rec), _hand_dis(m, x_p)
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
        llike = (0.5 * ((f_x - f_rec) ** 2).sum(1)).mean()
        log_d, log_1md = (lambda t: torch.log(torch.sigmoid(t))), (lambda t: torch.log(1 - torch.sigmoid(t)))
        value = log_d(l_x).mean() + log_1md(l_rec).mean() + log_1md(l_p).mean()
        if gan_loss == "ns":
            g_term = -log_d(l_rec).mean() - log_d(l_p).mean()
        else:
            g_term = log_1md(l_rec).mean() + log_1md(l_p).mean()
        pixel = (0.5 * (math.log(2 * math.pi * 0.25) + (x - x_rec) ** 2 / 0.25).sum(1)).mean()
    outs = {p: _loss(m, x, p) for p in PLAYERS}
    for out in outs.values():
        for key, want in (("kl", kl), ("llike", llike), ("gan", value), ("pixel_recon", pixel),
                          ("elbo", -(pixel + kl))):
            torch.testing.assert_close(out[key], want, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(outs["encoder"]["loss"], kl + llike, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(outs["decoder"]["loss"], 0.7 * llike + g_term, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(outs["discriminator"]["loss"], -value, rtol=1e-7, atol=1e-9)
    # deliberately wrong variants do not pass: pixel-space reconstruction, a two-term L_GAN without prior samples
    assert not torch.isclose(outs["encoder"]["llike"], (0.5 * ((x - x_rec) ** 2).sum(1)).mean())
    assert not torch.isclose(outs["discriminator"]["loss"], -(log_d(l_x).mean() + log_1md(l_rec).mean()))


def test_feature_space_term_on_a_tiny_net_and_zero_at_the_data():
    m = _points_model()
    with torch.no_grad():
        m.discriminator.body[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -2.0], [1.0, 1.0], [0.5, -0.5],
                                                           [0.0, 0.0]]))
        m.discriminator.body[0].bias.copy_(torch.tensor([0.0, 0.5, -1.0, 0.0, 2.0]))
        x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
        x_rec = torch.tensor([[0.0, -1.0]], dtype=torch.float64)
        # features: x -> (1, -3.5 -> -0.7, 2, -0.5 -> -0.1, 2); x_rec -> (0, 2.5, -2 -> -0.4, 0.5, 2)
        want = 0.5 * (1.0**2 + 3.2**2 + 2.4**2 + 0.6**2 + 0.0**2)
        got = m.feature_nll(x, x_rec)
        assert got.shape == (1,)
        torch.testing.assert_close(got, torch.tensor([want], dtype=torch.float64))
        assert not torch.isclose(got, torch.tensor([2 * want], dtype=torch.float64)).item()  # the 1/2 matters
        assert m.feature_nll(x, x).item() == 0.0
        xs = _x()
        assert torch.equal(m.feature_nll(xs, xs), torch.zeros(N, dtype=torch.float64))
    # the pure function is -log N(f | f_rec, I) without its constant d/2 log 2 pi
    f, g = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    gauss = -torch.distributions.Normal(g, 1.0).log_prob(f).sum(1) - 1.5 * math.log(2 * math.pi)
    torch.testing.assert_close(feature_nll(f, g), gauss)


def test_kl_part_is_gaussian_kl_and_takes_the_warmup_weight():
    m = _points_model(beta=2.0, kl_warmup_steps=4)
    x = _x()
    with torch.no_grad():
        mu, logvar = m.encode(x)
    m.on_step_end(0)  # one step done: weight 2 * 1/4
    out = _loss(m, x, "encoder")
    torch.testing.assert_close(out["kl"], gaussian_kl(mu, logvar).mean())
    assert out["kl"] > 0.01
    torch.testing.assert_close(out["loss"], 0.5 * out["kl"] + out["llike"])
    assert out["beta"].item() == 0.5


def test_gamma_scales_exactly_the_decoders_llike_term():
    x = _x()
    outs = {}
    for gamma in (0.0, 1.0, 2.5):
        m = _points_model(gamma=gamma)
        outs[gamma] = {p: _loss(m, x, p) for p in PLAYERS}
    base = outs[0.0]
    for gamma in (1.0, 2.5):
        o = outs[gamma]
        torch.testing.assert_close(o["decoder"]["loss"] - base["decoder"]["loss"], gamma * o["decoder"]["llike"],
                                   rtol=1e-7, atol=1e-9)
        assert torch.equal(o["encoder"]["loss"], base["encoder"]["loss"])  # gamma touches the decoder only
        assert torch.equal(o["discriminator"]["loss"], base["discriminator"]["loss"])
    assert outs[1.0]["decoder"]["llike"] > 0


def test_each_players_loss_reaches_only_its_own_parameters():
    m = _points_model()
    x = _x()
    groups = m.players()
    assert set(groups) == set(PLAYERS) == set(m.update_order(0))
    assert sum(len(g) for g in groups.values()) == len(list(m.parameters()))  # every parameter has one owner
    for player in PLAYERS:
        m.zero_grad(set_to_none=True)
        _loss(m, x, player)["loss"].backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in groups[player] if p.dim() > 1), player
        for other in set(PLAYERS) - {player}:
            assert all(p.grad is None for p in groups[other]), f"{player} leaked into {other}"
        assert all(p.requires_grad for p in m.parameters())  # the freezing is undone


def test_encoder_gradient_flows_through_the_frozen_decoder_and_discriminator():
    """The encoder's gradient equals autograd of the hand-replayed KL + feature loss (chained through the frozen
    decoder and discriminator), and the feature term contributes to it."""
    m = _points_model()
    x = _x()
    m.zero_grad(set_to_none=True)
    _loss(m, x, "encoder", seed=5)["loss"].backward()
    got = [p.grad.clone() for p in m.encoder.parameters()]
    m.zero_grad(set_to_none=True)
    mu, logvar, x_rec, _ = _replay(m, x, seed=5)
    kl = gaussian_kl(mu, logvar).mean()
    kl.backward(retain_graph=True)
    kl_only = [p.grad.clone() for p in m.encoder.parameters()]
    (0.5 * ((_hand_dis(m, x)[1] - _hand_dis(m, x_rec)[1]) ** 2).sum(1)).mean().backward()
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(got, kl_only))
    for g, p in zip(got, m.encoder.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_image_defaults_discriminate_and_no_likelihood():
    torch.manual_seed(0)
    m = create("vae-gan", data_shape=(1, 8, 8), hidden=(8,), latent_dim=2, d_hidden=(8,))
    assert m.config.decoder == "bernoulli" and m.config.binarize == "none"
    assert create("vae-gan", data_shape=(3,)).config.decoder == "gaussian"
    x = torch.rand(4, 1, 8, 8)
    logit = m.discriminate(x)
    torch.testing.assert_close(logit, m.discriminator(x)[0])
    s = m.sample(5)
    assert s.shape == (5, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    with torch.no_grad():  # the diagnostic is the Bernoulli cross-entropy of the pixels at the loss's z
        torch.manual_seed(3)
        mu, logvar = m.encode(x)
        probs = m.decode(mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape))
        bce = F.binary_cross_entropy(probs, x, reduction="none").sum((1, 2, 3)).mean()
    torch.manual_seed(3)
    out = m.loss(Batch(x), "decoder")
    torch.testing.assert_close(out["pixel_recon"], bce, rtol=1e-5, atol=1e-5)
    with pytest.raises(LikelihoodError):
        m.log_prob(x)
    with pytest.raises(ConfigError):
        m.loss(Batch(x), "model")


@pytest.mark.parametrize("bad", [{"decoder": "categorical"}, {"decoder_var": "learned"}, {"objective": "iwae"},
                                 {"k": 2}, {"num_classes": 3}, {"gamma": -1.0}, {"d_arch": "dcgan"},
                                 {"d_hidden": ()}, {"gan_loss": "wgan"}])
def test_config_rules(bad):
    with pytest.raises(ConfigError):
        create("vae-gan", data_shape=(2,), **bad)

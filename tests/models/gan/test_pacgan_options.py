"""The GAN options the PacGAN protocol needs: maxout discriminator units, N(0, std) initialisation, several
generator updates per step, a uniform latent prior. Defaults keep the earlier models (same state_dict keys)."""

import math

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.models import create
from genzoo.models.gan.nets import Maxout


def test_maxout_takes_the_max_over_each_units_consecutive_pieces():
    x = torch.randn(7, 12, generator=torch.Generator().manual_seed(0))
    got = Maxout(3)(x).numpy()
    want = x.numpy().reshape(7, 4, 3).max(axis=2)  # unit j: pieces 3j, 3j+1, 3j+2 (blocks' LinearMaxout layout)
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    strided = x.numpy().reshape(7, 3, 4).max(axis=1)  # the other grouping must not pass
    assert np.abs(got - strided).max() > 0.1


def test_maxout_discriminator_matches_a_numpy_forward():
    torch.manual_seed(0)
    m = create("gan", data_shape=(2,), d_hidden=(6, 5), d_act="maxout", maxout_pieces=3, pack=2)
    lin = [mod for mod in m.discriminator.modules() if isinstance(mod, torch.nn.Linear)]
    assert [tuple(li.weight.shape) for li in lin] == [(18, 4), (15, 6), (1, 5)]
    x = torch.randn(10, 2)
    h = m.critic(x)[0].detach().numpy()
    a = x.numpy().reshape(5, 4)  # packs of 2 points
    for li in lin[:-1]:
        z = a @ li.weight.detach().numpy().T + li.bias.detach().numpy()
        a = z.reshape(len(z), -1, 3).max(axis=2)
    out = (a @ lin[-1].weight.detach().numpy().T + lin[-1].bias.detach().numpy())[:, 0]
    np.testing.assert_allclose(h, out, rtol=1e-5, atol=1e-6)
    relu_like = np.maximum(z, 0.2 * z)  # a LeakyReLU network of the same weights gives something else
    assert relu_like.shape != a.shape or not np.allclose(relu_like, a)


def test_pacgan_code_parameter_counts():
    """The PacGAN toy discriminator (blocks LinearMaxout 2m -> 200 x 5 pieces, 200 -> 200 x 5 twice, Linear 1) has
    exactly these parameters; the generator has the code's Linear/BN layers plus one redundant bias per hidden
    Linear (a bias before batch norm has no effect on the output)."""
    for m_pack in (1, 2, 4):
        m = create("gan", data_shape=(2,), latent_dim=2, g_hidden=(400,) * 4, g_batch_norm=True,
                   d_hidden=(200,) * 3, d_act="maxout", maxout_pieces=5, pack=m_pack)
        d = sum(p.numel() for p in m.discriminator.parameters())
        assert d == (2 * m_pack * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201
        g = sum(p.numel() for p in m.generator.parameters())
        ref = 2 * 400 + 3 * 400 * 400 + 400 * 2 + 2 + 4 * 2 * 400  # no hidden biases, BN scale + shift
        assert g == ref + 4 * 400


def test_init_std_draws_weights_from_n0_std_with_zero_biases():
    torch.manual_seed(1)
    m = create("gan", data_shape=(2,), g_hidden=(400, 400), d_hidden=(200, 200), d_act="maxout", init_std=0.02)
    w = torch.cat([mod.weight.flatten() for mod in m.modules() if isinstance(mod, torch.nn.Linear)])
    n = w.numel()
    # sample std of n normals: sd(s) ~= sigma / sqrt(2 n); 5 of them
    assert abs(w.std().item() - 0.02) < 5 * 0.02 / math.sqrt(2 * n)
    assert abs(w.mean().item()) < 5 * 0.02 / math.sqrt(n)
    assert all(mod.bias.abs().max() == 0 for mod in m.modules() if isinstance(mod, torch.nn.Linear))
    default = create("gan", data_shape=(2,), g_hidden=(400, 400), d_hidden=(200, 200))
    w0 = torch.cat([mod.weight.flatten() for mod in default.modules() if isinstance(mod, torch.nn.Linear)])
    assert abs(w0.std().item() - 0.02) > 0.005  # PyTorch's default init is something else
    with pytest.raises(ConfigError):
        create("gan", data_shape=(2,), init_std=-1.0)


def test_defaults_keep_the_state_dict_keys():
    a = create("gan", data_shape=(2,), d_hidden=(8, 8), g_hidden=(8,))
    b = create("gan", data_shape=(2,), d_hidden=(8, 8), g_hidden=(8,), d_act="maxout", init_std=0.02, n_gen=2)
    assert list(a.state_dict()) == list(b.state_dict())
    assert "discriminator.body.0.weight" in a.state_dict()


def test_n_gen_generator_updates_per_step_through_the_trainer():
    from genzoo.train import TrainConfig, Trainer

    m = create("gan", data_shape=(2,), g_hidden=(8,), d_hidden=(8,), n_gen=2)
    calls = []
    orig = m.loss
    m.loss = lambda batch, player="generator": (calls.append(player), orig(batch, player))[1]
    Trainer(m, torch.randn(256, 2), TrainConfig(steps=2, batch_size=32, progress=False, device="cpu"),
            out_dir=None).fit()
    assert calls == ["discriminator", "generator", "generator"] * 2
    with pytest.raises(ConfigError, match="n_gen"):  # a count far beyond any run fails at once, in one line
        create("gan", data_shape=(2,), n_gen=10**12)


def test_uniform_latent_is_u_minus_one_one():
    torch.manual_seed(0)
    m = create("gan", data_shape=(2,), latent_dim=50, latent="uniform")
    z = m.noise(4000)
    assert z.min() >= -1 and z.max() <= 1
    n = z.numel()
    assert abs(z.mean().item()) < 5 * math.sqrt(1 / 3 / n)
    # Var U[-1, 1] = 1/3; sd of the sample variance of a uniform = sqrt((mu4 - sigma^4) / n), mu4 = 1/5
    assert abs(z.var().item() - 1 / 3) < 5 * math.sqrt((1 / 5 - 1 / 9) / n)
    assert abs(create("gan", data_shape=(2,), latent_dim=50).noise(4000).var().item() - 1 / 3) > 0.3

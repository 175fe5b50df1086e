"""The UNet: output shapes (28x28 and 32x32, conditional, odd sizes), the time-embedding formula, attention, and a
save/load round trip through a registered model that gives identical outputs."""

import math

import torch

from genzoo.models import create, load
from genzoo.nn.unet import UNet, timestep_embedding


def test_timestep_embedding_formula():
    t = torch.tensor([0.0, 1.0, 17.0, 999.0])
    dim = 10
    e = timestep_embedding(t, dim)
    half = dim // 2
    for n, tv in enumerate(t.tolist()):
        for i in range(half):
            w = 10000 ** (-i / half)
            assert math.isclose(e[n, i].item(), math.sin(tv * w), abs_tol=1e-4)
            assert math.isclose(e[n, half + i].item(), math.cos(tv * w), abs_tol=1e-4)
    assert timestep_embedding(t, 7).shape == (4, 7)


def test_unet_shapes():
    for size, ch in ((28, 1), (32, 3)):
        net = UNet(ch, 2 * ch, channels=(16, 32, 32), num_res_blocks=1)
        x = torch.randn(2, ch, size, size)
        assert net(x, torch.tensor([1.0, 500.0])).shape == (2, 2 * ch, size, size)
    net = UNet(1, channels=(16, 32), attention=(True, True), heads=2, num_classes=10)
    x = torch.randn(3, 1, 15, 15)  # odd size: 15 -> 8 -> back to 15
    out = net(x, torch.tensor(5.0), torch.tensor([0, 3, 10]))
    assert out.shape == x.shape
    # zero-initialised output layer: a fresh network predicts 0; gradients reach every parameter after a step
    assert out.abs().max() == 0


def test_unet_depends_on_time_and_label():
    torch.manual_seed(0)
    net = UNet(1, channels=(8, 16), num_classes=3)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(2, 1, 8, 8)
    a = net(x, torch.tensor([1.0, 1.0]), torch.tensor([0, 0]))
    assert (a - net(x, torch.tensor([2.0, 2.0]), torch.tensor([0, 0]))).abs().max() > 1e-3
    assert (a - net(x, torch.tensor([1.0, 1.0]), torch.tensor([1, 1]))).abs().max() > 1e-3
    assert torch.allclose(a[1:], net(x[1:], torch.tensor([1.0]), torch.tensor([0])), atol=1e-5)  # no batch mixing


def test_save_load_round_trip(tmp_path):
    m = create("ddpm", data_shape=(1, 16, 16), channels=(8, 16), timesteps=20, num_classes=2)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    m.eval()
    x = torch.randn(3, 1, 16, 16)
    t = torch.tensor([1.0, 5.0, 20.0])
    y = torch.tensor([0, 1, 2])
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m").eval()
    assert type(m2) is type(m) and m2.config == m.config
    assert torch.equal(m.net(x, t, y), m2.net(x, t, y))

"""The Trainer's fast paths (TrainConfig fused / foreach / channels_last / cudnn_benchmark) against the default path.

Each switch changes how the same arithmetic is laid out, not what is computed: runs with it must end at the weights
of the default run, bit for bit where torch uses the same kernels (foreach on CPU, cudnn_benchmark off CUDA) and
within float32 round-off otherwise (fused optimizers, channels-last convolutions: |diff| <= 1e-6 after a few SGD
steps, far below the 1e-3 a 1 % change of the learning rate moves them, which the tolerance must reject).
torch.compile has its own file (test_compile_path.py): its first compilation takes seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer, make_train_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
import test_every_model as conformance  # noqa: E402

IMG = (1, 8, 8)
RGB = (3, 8, 8)  # 3 channels: NHWC and NCHW differ in memory (with 1 channel they are the same layout)
UNET = {"channels": (4, 8), "num_res_blocks": 1, "attention": (False, True), "heads": 2, "norm_groups": 2,
        "timesteps": 10}


def images(n: int = 48, seed: int = 1, shape=IMG) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float() / 255


def train(name: str, cfg: dict, steps: int = 4, shape=IMG, **kw) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    model = create(name, data_shape=shape, **cfg)
    base = dict(steps=steps, batch_size=16, seed=3, device="cpu", progress=False, log_every=1, lr=0.05,
                optimizer="sgd")
    t = Trainer(model, images(shape=shape), TrainConfig(**{**base, **kw}))
    t.fit()
    return t, flat(model)


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_switches_are_validated_with_one_line_errors():
    with pytest.raises(ConfigError, match="exclusive"):
        TrainConfig(fused=True, foreach=True)
    with pytest.raises(ConfigError, match="deterministic"):
        TrainConfig(cudnn_benchmark=True, deterministic=True)
    with pytest.raises(ConfigError, match="bool"):
        make_train_config({"compile": "yes"})
    with pytest.raises(ConfigError, match="channels_last"):
        make_train_config({"channels_lats": True})  # the nearest name is suggested
    cfg = make_train_config({"fused": True, "channels_last": True, "compile": False})
    assert cfg.to_dict()["fused"] is True and cfg.to_dict()["channels_last"] is True


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "adagrad"])
def test_fused_and_foreach_optimizers_end_at_the_default_weights(optimizer):
    kw = dict(optimizer=optimizer, lr=0.01, weight_decay=0.01)
    vae = {"hidden": (8,), "latent_dim": 2}
    ref, w0 = train("vae", vae, **kw)
    fused, w1 = train("vae", vae, fused=True, **kw)
    each, w2 = train("vae", vae, foreach=True, **kw)
    assert fused.optimizers["model"].defaults["fused"] is True
    assert each.optimizers["model"].defaults["foreach"] is True
    assert not ref.optimizers["model"].defaults.get("fused")
    assert torch.equal(w2, w0)  # the same per-element arithmetic, batched
    assert (w1 - w0).abs().max() <= 1e-6
    _, wrong = train("vae", vae, **{**kw, "lr": 0.0101})  # a 1 % different learning rate is caught
    assert (wrong - w0).abs().max() > 1e-5


def test_an_optimizer_without_a_fused_kernel_falls_back_with_one_note(capsys):
    gan = {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2}  # two players: still one note
    _, w0 = train("gan", gan, optimizer="rmsprop", lr=1e-3)
    capsys.readouterr()
    t, w1 = train("gan", gan, optimizer="rmsprop", lr=1e-3, fused=True)
    err = capsys.readouterr().err
    assert err.count("no fused rmsprop") == 1
    assert not any(o.defaults.get("fused") for o in t.optimizers.values())
    assert torch.equal(w1, w0)


def test_channels_last_unet_matches_and_keeps_its_state_dict(tmp_path):
    ref, w0 = train("ddpm", UNET, shape=RGB)
    t, w1 = train("ddpm", UNET, shape=RGB, channels_last=True)
    convs = [m for m in t.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x = t.batch(0).x  # batches keep their layout (random draws shaped like them stay the same numbers) ...
    assert x.stride(1) == 64
    assert t.model.net.conv_in(x).stride(1) == 1  # ... and the first convolution turns them NHWC
    assert list(t.model.state_dict()) == list(ref.model.state_dict())
    assert (w1 - w0).abs().max() <= 1e-6
    _, wrong = train("ddpm", UNET, shape=RGB, lr=0.0505)
    assert (wrong - w0).abs().max() > 1e-5
    t.model.save(tmp_path / "m")  # saved in the standard layout, loads into a default model
    from genzoo.models import load

    assert torch.equal(flat(load(tmp_path / "m")), w1)


def test_channels_last_resumes_bit_exactly(tmp_path):
    kw = dict(optimizer="adam", lr=1e-3, channels_last=True, fused=True)
    _, straight = train("ddpm", UNET, steps=4, shape=RGB, **kw)
    torch.manual_seed(0)
    model = create("ddpm", data_shape=RGB, **UNET)
    cfg = TrainConfig(steps=4, batch_size=16, seed=3, device="cpu", progress=False, ckpt_every=2, **kw)
    Trainer(model, images(shape=RGB), cfg, out_dir=tmp_path / "run").fit(stop_at=2)
    resumed = Trainer.resume(tmp_path / "run", images(shape=RGB))
    assert resumed.optimizers["model"].defaults["fused"] is True
    resumed.fit()
    assert torch.equal(flat(resumed.model), straight)
    other = Trainer.resume(tmp_path / "run", images(shape=RGB), fused=False)  # the run's kernel, not the checkpoint's
    assert not any(g.get("fused") for g in other.optimizers["model"].param_groups)


def test_cudnn_benchmark_is_a_noted_no_op_off_cuda(capsys):
    _, w0 = train("vae", {"hidden": (8,), "latent_dim": 2})
    before = torch.backends.cudnn.benchmark
    capsys.readouterr()
    _, w1 = train("vae", {"hidden": (8,), "latent_dim": 2}, cudnn_benchmark=True)
    assert "CUDA only" in capsys.readouterr().err
    assert torch.backends.cudnn.benchmark == before
    assert torch.equal(w1, w0)


@pytest.mark.parametrize("case", sorted(c for c, (_, _, shape) in conformance.CASES.items() if len(shape) == 3))
def test_every_image_model_trains_in_channels_last(case):
    """Views of channels-last activations would fail; the first step's loss (same weights) agrees to round-off."""
    losses = []
    for cl in (False, True):
        model = conformance.make(case)
        b = conformance.data(model, 16)
        t = Trainer(model, b.x if b.y is None else (b.x, b.y),
                    TrainConfig(steps=2, batch_size=8, seed=1, device="cpu", progress=False, log_every=1,
                                channels_last=cl))
        h = t.fit()
        assert all(torch.isfinite(p).all() for p in model.parameters())
        losses.append(next(v for k, v in h[0].items() if k.endswith("/loss")))
    assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5)

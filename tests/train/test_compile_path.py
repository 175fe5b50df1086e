"""TrainConfig.compile: torch.compile of the model's loss, against the eager path, and its fallback.

The compiled loss draws its random numbers from torch's eager generator (inductor's `fallback_random`), so a
compiled run sees the same noise as an eager one and only the fused arithmetic differs: the weights after a few
steps agree to float32 round-off (1e-6), while a 1 % different learning rate moves them by > 1e-5. A compilation
that fails prints one note and the run continues eagerly, equal to the eager run bit for bit. The real compiler
runs here whenever this platform has one (dynamo support and a C++ compiler for inductor on CPU); the first
compilation of the tiny VAE takes seconds (inductor caches it afterwards).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from genzoo.models import create
from genzoo.train import TrainConfig, Trainer

CFG = {"hidden": (8,), "latent_dim": 2}


def run(**kw) -> tuple[Trainer, torch.Tensor]:
    torch.manual_seed(0)
    model = create("vae", data_shape=(1, 4, 4), **CFG)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (32, 1, 4, 4), generator=g).float() / 255
    base = dict(steps=3, batch_size=16, seed=2, device="cpu", progress=False, log_every=1, optimizer="sgd", lr=0.05)
    t = Trainer(model, x, TrainConfig(**{**base, **kw}))
    t.fit()
    return t, torch.cat([p.detach().flatten() for p in model.parameters()])


def compiler_available() -> bool:
    import torch._dynamo

    return torch._dynamo.is_dynamo_supported() and (shutil.which("c++") or shutil.which("g++")) is not None


def test_a_failing_compilation_falls_back_to_eager_with_one_note(monkeypatch, capsys):
    _, eager = run()
    calls = []

    def broken(fn, **kw):
        def compiled(*a, **k):
            calls.append(1)
            raise RuntimeError("backend exploded\nlong traceback")
        return compiled

    monkeypatch.setattr(torch, "compile", broken)
    capsys.readouterr()
    t, w = run(compile=True)
    err = capsys.readouterr().err
    assert err.count("torch.compile failed") == 1 and "backend exploded" in err and "long traceback" not in err
    assert len(calls) == 1 and t._compiled is None  # tried once, then eager for the rest of the run
    assert torch.equal(w, eager)


def test_a_platform_without_dynamo_trains_eagerly(monkeypatch, capsys):
    import torch._dynamo

    _, eager = run()
    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    capsys.readouterr()
    t, w = run(compile=True)
    assert "torch.compile unavailable" in capsys.readouterr().err
    assert t._compiled is None and torch.equal(w, eager)


@pytest.mark.slow
@pytest.mark.skipif(not compiler_available(), reason="torch.compile needs dynamo support and a C++ compiler here")
def test_compiled_loss_matches_the_eager_run():
    torch._dynamo.reset()
    _, eager = run()
    t, w = run(compile=True)
    assert t._compiled is not None  # compiled, no fallback
    assert (w - eager).abs().max() <= 1e-6
    _, wrong = run(lr=0.0505)
    assert (wrong - eager).abs().max() > 1e-5

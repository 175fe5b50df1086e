"""Jobs of tests/train/test_distributed.py: tiny runs that each process of a gloo group (or one process) performs.

`spawn_world(world, out)` starts `world` CPU processes with torch.multiprocessing on a free localhost port; each
sets torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so the Trainer joins the group
by itself, as under `torchrun`. Rank 0 writes what the test compares (final weights, EMA, loss history).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import torch

from genzoo.data.lazy import NpyArray
from genzoo.errors import ConfigError
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer

IMG = (1, 8, 8)
PTS = (2,)
_GAN = {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2}
# name -> (model, config, data shape): a VAE (one player, reparameterisation noise, dynamic binarisation), a GAN
# (two players), WGAN-GP (critic updates with a gradient penalty: a double backward), VAE-GAN (three players)
MODELS = {
    "vae": ("vae", {"hidden": (8,), "latent_dim": 2}, IMG),
    "gan": ("gan", _GAN, PTS),
    "wgan-gp": ("wgan-gp", {**_GAN, "n_critic": 2}, PTS),
    "vae-gan": ("vae-gan", {"hidden": (8,), "latent_dim": 2, "d_hidden": (8,)}, IMG),
}
B, STEPS = 16, 6


def model(case: str):
    name, cfg, shape = MODELS[case]
    torch.manual_seed(0)
    return create(name, data_shape=shape, **cfg)


def data(case: str, n: int = 40) -> torch.Tensor:
    shape = MODELS[case][2]
    g = torch.Generator().manual_seed(1)
    if len(shape) == 3:
        return torch.randint(0, 256, (n, *shape), generator=g).float() / 255
    return torch.randn(n, *shape, generator=g) * 0.5 + 1.0


def config(**kw) -> TrainConfig:
    base = dict(steps=STEPS, batch_size=B, lr=3e-3, seed=5, device="cpu", progress=False, log_every=1,
                ema_decay=0.9)
    return TrainConfig(**{**base, **kw})


def result(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Weights and EMA weights (floating point) of a finished run."""
    out = {f"model/{k}": v.detach().clone() for k, v in trainer.model.state_dict().items()}
    if trainer.ema is not None:
        out.update({f"ema/{k}": v.clone() for k, v in trainer.ema.state_dict().items()})
    return out


def losses(trainer: Trainer) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k.endswith("/loss")} for h in trainer.history if "eval/nll" not in h]


def save(out: Path, name: str, trainer: Trainer) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in result(trainer).items()}, str(out / f"{name}.safetensors"))
    (out / f"{name}.json").write_text(json.dumps(losses(trainer)))


def job(rank: int, world: int, port: int, out: str) -> None:
    """Every case in `world` processes; then the checkpoint scenario: a run stopped at step 3 (checkpoint),
    continued to STEPS; and the same checkpoint resumed by every rank, continued to STEPS."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    out = Path(out)
    try:
        Trainer(model("gan"), data("gan"), config(batch_size=15))
    except ConfigError as e:
        if rank == 0:
            (out / "error.txt").write_text(str(e))
    for case in MODELS:
        t = Trainer(model(case), data(case), config())
        assert t.dist.world == world and t.dist.rank == rank
        t.fit()
        if t.is_main:
            save(out, case, t)
    # lazy data: the VAE's data memory-mapped, batches read ahead by a DataLoader worker in each process
    if rank == 0:
        np.save(out / "vae.npy", data("vae").numpy())
    torch.distributed.barrier()
    t = Trainer(model("vae"), NpyArray(out / "vae.npy"), config(num_workers=1))
    t.fit()
    if t.is_main:
        save(out, "vae-lazy", t)
    run = out / "run"
    t = Trainer(model("gan"), data("gan"), config(), out_dir=run)
    t.fit(stop_at=3)
    if t.is_main:
        shutil.copytree(run, out / "run-at-3")
    t.fit()
    if t.is_main:
        save(out, "straight", t)
    torch.distributed.barrier()
    r = Trainer.resume(run, data("gan"), model=model("gan"), checkpoint=run / "checkpoints" / "step_00000003")
    assert r.step == 3
    r.fit()
    if r.is_main:
        save(out, "resumed", r)
    torch.distributed.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_world(world: int, out: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(job, args=(world, free_port(), str(out)), nprocs=world, join=True)

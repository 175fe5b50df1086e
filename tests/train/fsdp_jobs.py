"""Jobs of tests/train/test_fsdp.py: a tiny GPT trained by 2 gloo processes with train.fsdp (and without).

Rank 0 writes what the test compares: the final weights and EMA weights (full tensors, gathered), the logged
losses and gradient norms. The processes are started as ddp_jobs starts them (torchrun's variables, a free port).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from genzoo.models import create
from genzoo.train import TrainConfig, Trainer, fsdp

V, L, B, STEPS = 7, 8, 8, 4


def model():
    torch.manual_seed(0)
    return create("gpt", vocab_size=V, context=L, n_layer=2, n_head=2, n_embd=8, chars="abcdefg")


def data(n: int = 24) -> torch.Tensor:
    return torch.randint(0, V, (n, L), generator=torch.Generator().manual_seed(1))


def config(**kw) -> TrainConfig:
    # clip_norm small enough that every step clips: the clipped update depends on the full gradient's norm
    base = dict(steps=STEPS, batch_size=B, lr=1e-2, seed=5, device="cpu", progress=False, log_every=1,
                ema_decay=0.9, clip_norm=0.05, warmup_steps=0, schedule="constant", ckpt_every=2, n_samples=2)
    return TrainConfig(**{**base, **kw})


def result(t: Trainer) -> dict[str, torch.Tensor]:
    """Full weights and EMA weights of a finished run (gathered when sharded: every rank calls it)."""
    sharded = t._plain is not None
    m = fsdp.full_model_state(t.model) if sharded else t.model.state_dict()
    e = fsdp.full_tensors(t.ema.state_dict()) if sharded else t.ema.state_dict()
    out = {f"model/{k}": v.detach().clone() for k, v in m.items()}
    out.update({f"ema/{k}": v.detach().clone() for k, v in e.items()})
    return out


def logged(t: Trainer) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k.endswith("/loss") or k.startswith("grad_norm/")}
            for h in t.history if "step" in h and "eval/nll" not in h and "event" not in h]


def save(out: Path, name: str, t: Trainer) -> None:
    from safetensors.torch import save_file

    r = result(t)
    if t.is_main:
        save_file({k: v.contiguous() for k, v in r.items()}, str(out / f"{name}.safetensors"))
        (out / f"{name}.json").write_text(json.dumps(logged(t)))


def job(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    out = Path(out)
    # FSDP, with a run folder: checkpoint at step 2, samples and the model folder at the end
    run = out / "run"
    t = Trainer(model(), data(), config(fsdp=True), out_dir=run)
    assert t._plain is not None and fsdp.is_sharded(t.model.wte.weight)
    assert t.model.wte.weight.to_local().shape[0] == (V + 1) // world  # the embedding's rows are split
    t.fit()
    save(out, "fsdp", t)
    if t.is_main:
        shutil.copytree(run, out / "run-copy")
    # the plain data-parallel path
    t = Trainer(model(), data(), config())
    t.fit()
    save(out, "ddp", t)
    # a one-process checkpoint (written by the test before the spawn) continued with FSDP in 2 processes
    one = out / "one"
    r = Trainer.resume(one, data(), model=model(), checkpoint=one / "checkpoints" / "step_00000002", fsdp=True)
    assert r.step == 2 and r.config.grad_accum == 1 and r._plain is not None
    r.fit()
    save(out, "one-then-fsdp", r)
    torch.distributed.destroy_process_group()


def spawn_world(world: int, out: Path) -> None:
    import torch.multiprocessing as mp
    from ddp_jobs import free_port

    mp.spawn(job, args=(world, free_port(), str(out)), nprocs=world, join=True)

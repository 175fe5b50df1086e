"""Data-parallel training over `torch.distributed`: the process group, the shard of a batch, the collectives.

Launched by torchrun (`torchrun --nproc_per_node N -m genzoo train ...`), each of the N processes (ranks) holds a
full copy of the model and takes a contiguous slice of every global batch (the same seeded order as one process,
`genzoo.train.data.BatchOrder`). For every player update the Trainer averages the gradients over the ranks:

    g = (1/N) sum_r g_r,   g_r = grad of mean_{i in shard r} loss_i   =>   g = grad of mean_{i in batch} loss_i

for equal shards (B / N examples each), so N ranks x B/N take the step of one process with batch B (Goyal et al.
2017, "Accurate, Large Minibatch SGD"; Li et al. 2020, "PyTorch Distributed", VLDB). The averaging is one
`all_reduce` of a flat buffer per player update (gradients plus one "has a gradient" flag per parameter, so a
parameter that no rank reached keeps `grad = None`, as in one process), not torch's DistributedDataParallel
module: the model contract calls `loss(batch, player)` several times per step with players that share parameters,
gradient penalties differentiate twice, and the Trainer's divergence check may stop between forward and backward;
the explicit reduction is exact for all of these, at the price of not overlapping communication with the backward
pass (docs/training.md, "Distributed").

The process group comes from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
NCCL when the Trainer's device is CUDA (one GPU per rank, cuda:LOCAL_RANK), gloo on CPU.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from genzoo.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: `rank` of `world` processes (`local_rank` on its machine)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, metrics, samples, checkpoints and the progress bar."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ConfigError(f"environment variable {name}={v!r} is not an integer (set by torchrun)") from None


def env_world() -> int:
    """WORLD_SIZE of the environment (1 when not launched by torchrun) or of the initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def is_main_process() -> bool:
    """Rank 0 of the process group (or of torchrun's RANK before the group exists); True in a lone process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return _env_int("RANK", 0) == 0


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0)


def backend_for(device: torch.device) -> str:
    """NCCL for CUDA tensors, gloo otherwise (CPU)."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device: torch.device) -> Dist:
    """The process group of this run: the one already initialised (by the caller), or a new one from torchrun's
    environment when WORLD_SIZE > 1 (backend by `backend_for(device)`), or none (one process)."""
    if not dist.is_available():
        if env_world() > 1:
            raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
        return Dist()
    if not dist.is_initialized():
        if _env_int("WORLD_SIZE", 1) <= 1:
            return Dist()
        for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
            if name not in os.environ:
                raise ConfigError(f"WORLD_SIZE = {os.environ['WORLD_SIZE']} but {name} is not set; launch with "
                                  f"torchrun --nproc_per_node N -m genzoo train ...")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend_for(device), init_method="env://")
        atexit.register(shutdown)
    world = dist.get_world_size()
    if world > 1:
        gb = dist.get_backend()
        if device.type == "cuda" and gb != "nccl" and "nccl" not in str(gb):
            raise ConfigError(f"the process group uses {gb}, but the device is {device}: CUDA tensors need nccl")
        if device.type != "cuda" and gb == "nccl":
            raise ConfigError(f"the process group uses nccl, which needs CUDA tensors, but the device is {device}; "
                              f"use gloo on CPU")
    return Dist(dist.get_rank(), world, local_rank())


def shutdown() -> None:
    """Destroy the process group if one is initialised (called at exit when `setup` made it)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: Tensor, d: Dist) -> Tensor:
    """Rank `d.rank`'s contiguous slice of a global batch: rows [r B/N, (r+1) B/N). The union over the ranks, in
    rank order, is the batch itself."""
    if not d.enabled:
        return indices
    per = len(indices) // d.world
    return indices[d.rank * per:(d.rank + 1) * per]


def mean_values(values: Tensor, d: Dist) -> Tensor:
    """The mean over the ranks of a 1-D float tensor (loss parts: the mean of equal shards' means is the mean over
    the global batch). Every rank gets the same numbers, so decisions taken on them (divergence) agree."""
    if not d.enabled:
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / d.world


def average_gradients(params: list[torch.nn.Parameter], d: Dist) -> None:
    """Replace every `p.grad` by its mean over the ranks, in one all_reduce of a flat buffer.

    A rank where p has no gradient contributes zeros; p keeps `grad = None` on every rank only when no rank
    reached it (then an optimizer skips p, as in one process). Parameters sharded by FSDP (DTensors) are left
    out: FSDP reduce-scatters their gradients itself (genzoo.train.fsdp)."""
    params = [p for p in params if not _sharded(p)]
    if not d.enabled or not params:
        return
    ref = params[0]
    flags = torch.tensor([p.grad is not None for p in params], dtype=ref.dtype, device=ref.device)
    parts = [p.grad.reshape(-1).to(ref.dtype) if p.grad is not None else torch.zeros(p.numel(), dtype=ref.dtype,
                                                                                        device=ref.device)
             for p in params]
    flat = torch.cat([*parts, flags])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= d.world
    reached = flat[-len(params):] > 0
    offset = 0
    for p, got in zip(params, reached.tolist()):
        n = p.numel()
        if got:
            g = flat[offset:offset + n].view_as(p).to(p.dtype)
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)
        offset += n


def broadcast_tensors(tensors: list[Tensor], d: Dist, src: int = 0) -> None:
    """Copy rank `src`'s values into `tensors` on every rank (in place), one broadcast per dtype."""
    if not d.enabled or not tensors:
        return
    by_dtype: dict[tuple[torch.dtype, torch.device], list[Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault((t.dtype, t.device), []).append(t)
    for (dtype, device), ts in by_dtype.items():
        wire = dtype
        if dtype == torch.bool:  # gloo broadcasts no bool
            wire = torch.uint8
        flat = torch.cat([t.detach().reshape(-1).to(wire) for t in ts])
        dist.broadcast(flat, src)
        offset = 0
        with torch.no_grad():
            for t in ts:
                n = t.numel()
                t.copy_(flat[offset:offset + n].view(t.shape).to(dtype))
                offset += n


def broadcast_module(module: torch.nn.Module, d: Dist, buffers_only: bool = False) -> None:
    """Rank 0's parameters (unless `buffers_only`; not those sharded by FSDP: each rank holds its own shard) and
    buffers on every rank."""
    if not d.enabled:
        return
    ts = [b for b in module.buffers() if not _sharded(b)]
    if not buffers_only:
        ts = [p.data for p in module.parameters() if not _sharded(p)] + ts
    broadcast_tensors(ts, d)


def _sharded(t: Tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(t, DTensor)


def agree_max(value: int, d: Dist, device: torch.device) -> int:
    """The maximum of an integer over the ranks (e.g. a signal number, 0 for none): every rank stops together."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()

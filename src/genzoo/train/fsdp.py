"""Fully sharded data parallel (`train.fsdp`): parameters, gradients and optimizer state split over the ranks.

PyTorch's FSDP2 (`torch.distributed.fsdp.fully_shard`; Zhao et al. 2023, "PyTorch FSDP: Experiences on Scaling
Fully Sharded Data Parallel", VLDB) wraps every submodule of a class the model names in `fsdp_units` (GPT: its
transformer `Block`), then the model itself (the root: embeddings, final norm). Each parameter becomes a DTensor
sharded on dim 0 over the N ranks; a unit's forward all-gathers its full parameters and frees them after, its
backward reduce-scatters the gradients, so each rank ends with the shard of

    g = (1/N) sum_r g_r          (the data-parallel mean of genzoo.train.distributed, in the sharded layout)

and the optimizer updates only its shard (element-wise optimizers such as Adam(W) give the update of the full
parameter). The rest of the Trainer stays as under data-parallel training: the batch slices, micro-seeds, loss-part
averages; what changes is done here:

- `genzoo.train.distributed.average_gradients` / `broadcast_module` leave sharded parameters to FSDP;
- the gradient norm is the norm of the full gradient, sqrt(sum over ranks of the shards' squared norms) (a DTensor
  reduction), so clipping by norm equals clipping the unsharded gradient;
- checkpoints and the saved model hold FULL tensors (gathered with torch.distributed.checkpoint.state_dict, rank 0
  writes) in the one-process layout: a checkpoint written under FSDP resumes in one process and vice versa;
- evaluation, samples and the saved model need every rank (a sharded forward is collective), see `Trainer`.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.train.distributed import Dist


def _dtensor():
    from torch.distributed.tensor import DTensor

    return DTensor


def is_sharded(t: Tensor) -> bool:
    """True for a DTensor (a parameter, gradient or state tensor that FSDP shards over the ranks)."""
    return isinstance(t, _dtensor())


def units(model: nn.Module) -> tuple[type, ...]:
    """The submodule classes the model asks to shard one by one (`fsdp_units`, a class attribute); () for none."""
    return tuple(getattr(type(model), "fsdp_units", ()) or ())


def setup(model: nn.Module, enabled: bool, d: Dist) -> type | None:
    """Shard `model` in place when `enabled` and launched in several processes: fully_shard every submodule of a
    class in `model.fsdp_units`, then the root. Returns the model's class before sharding (to rebuild a plain copy
    for the saved model), or None when nothing was sharded. ConfigError for a model that declares no units; a
    note (and no sharding) in one process."""
    if not enabled:
        return None
    name = getattr(model, "name", "") or type(model).__name__
    kinds = units(model)
    if not kinds:
        raise ConfigError(f"train.fsdp: {name} declares no fsdp_units (the submodules to shard); FSDP is offered "
                          f"for models that do, e.g. gpt")
    if not d.enabled:
        print("genzoo: train.fsdp has no effect in one process (launch with torchrun --nproc_per_node N)",
              file=sys.stderr)
        return None
    from torch.distributed.fsdp import fully_shard

    # FSDP2 warns for every wrapped module that returns a view (GPT's key/value caches); genzoo does no in-place op
    # on module outputs, which is what the warning is about
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    plain = type(model)
    for m in model.modules():
        if m is not model and isinstance(m, kinds):
            fully_shard(m)
    fully_shard(model)
    return plain


def grad_norm(grads: list[Tensor]) -> float:
    """||g||_2 over all the gradients: of the full gradients when they are sharded (the DTensor norm is reduced
    over the ranks, the same number on every rank)."""
    if not grads:
        return 0.0
    n = torch.nn.utils.get_total_norm(grads)
    if is_sharded(n):
        n = n.full_tensor()
    return float(n)


def _options(**kw: Any):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def full_model_state(model: nn.Module) -> dict[str, Tensor]:
    """The unsharded state dict (the one-process keys and shapes), on the CPU of rank 0; {} on the other ranks.
    Collective: every rank calls it."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_options(cpu_offload=True))


def full_tensors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every DTensor of `state` gathered to its full value (on the CPU; every rank gets it). Collective."""
    return {k: (v.full_tensor().cpu() if is_sharded(v) else v) for k, v in state.items()}


def shard_like(full: dict[str, Tensor], like: dict[str, Tensor]) -> dict[str, Tensor]:
    """Full tensors cut into this rank's shards of the DTensors of `like` (every rank holds `full`, e.g. read from
    one checkpoint: no communication)."""
    from torch.distributed.tensor import distribute_tensor

    out = {}
    for k, v in full.items():
        ref = like.get(k)
        if ref is not None and is_sharded(ref):
            v = distribute_tensor(v.to(ref.device, ref.dtype), ref.device_mesh, ref.placements, src_data_rank=None)
        out[k] = v
    return out


def _fqns(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[list[str]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in g["params"]] for g in optimizer.param_groups]


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state dict with full tensors in the one-process layout of `optimizer.state_dict()` (state
    keyed by the parameter's index over the groups), on the CPU of rank 0; the other ranks get the groups and no
    state. Collective."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    osd = get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True))
    local = optimizer.state_dict()  # the index layout: param_groups with integer "params"
    gathered = osd.get("state", {}) if osd else {}
    state: dict[int, Any] = {}
    i = 0
    for names in _fqns(model, optimizer):
        for n in names:
            if n in gathered:
                state[i] = dict(gathered[n])
            i += 1
    return {"state": state, "param_groups": local["param_groups"]}


def load_model_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load full tensors (every rank holds them) into the sharded model; strict."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    missing, unexpected = set_model_state_dict(model, state, options=_options(strict=True))
    if missing or unexpected:
        raise KeyError(f"missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]}")


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load an optimizer state dict in the one-process layout (full tensors, integer keys) into the optimizer of
    the sharded model."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    fqns = _fqns(model, optimizer)
    flat = [n for names in fqns for n in names]
    groups = [{**g, "params": names} for g, names in zip(state["param_groups"], fqns)]
    if len(state["param_groups"]) != len(fqns):
        raise ValueError(f"{len(state['param_groups'])} parameter groups, the optimizer has {len(fqns)}")
    osd = {"state": {flat[int(i)]: s for i, s in state["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, osd, options=_options())


def save_plain(plain: type, model: nn.Module, state: dict[str, Tensor], path, is_main: bool):
    """Rank 0 writes the model folder of `plain(model.config)` holding `state` (full tensors): the normal model
    (models.base `save`), loadable in one process. Every rank calls it after gathering `state`."""
    if not is_main:
        return None
    with torch.random.fork_rng(devices=[]):  # the copy's initialisation draws nothing from the run's stream
        copy = plain(model.config)
    copy.load_state_dict({k: v.cpu() for k, v in state.items()}, strict=True)
    copy.load_extra_state(model.extra_state())
    return copy.save(path)

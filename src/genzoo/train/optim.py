"""Optimizers by name, learning-rate schedules with JSON state, and EMA of weights."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.train.config import OPTIMIZERS, SCHEDULES, check_name

NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase, nn.RMSNorm)


def decay_exempt_params(model: nn.Module) -> set[int]:
    """ids of the parameters weight decay should leave alone (the GPT-2 / nanoGPT grouping): every parameter of
    fewer than 2 dimensions (biases, gains, scales), the parameters of normalisation layers, and embedding tables
    (nn.Embedding, including a token embedding tied to an output head). Decay then shrinks only the weight
    matrices and kernels of linear and convolutional maps."""
    out = {id(p) for p in model.parameters() if p.dim() < 2}
    for m in model.modules():
        if isinstance(m, (nn.Embedding, *NORMS)):
            out.update(id(p) for p in m.parameters(recurse=False))
    return out


FUSED = ("adam", "adamw", "sgd", "adagrad")  # optimizers with a fused kernel in torch (rmsprop has none)


def build_optimizer(params: Iterable[nn.Parameter], settings: dict[str, Any],
                    exempt: set[int] | None = None, kernel: str | None = None) -> torch.optim.Optimizer:
    """An optimizer by name from the (effective, per-player) settings of a TrainConfig.

    sgd (momentum, default 0.9; nesterov), rmsprop (momentum, default 0; eps), adam and adamw (betas, eps),
    adagrad (eps).
    weight_decay is decoupled for adamw and an L2 term in the gradient for the others (torch semantics). With
    `exempt` (ids from `decay_exempt_params`), those parameters form a second group with weight_decay 0.
    `kernel`: None (torch's choice), "foreach" (multi-tensor) or "fused" (one fused kernel; adam, adamw, sgd,
    adagrad); torch raises RuntimeError / ValueError / TypeError where the device or optimizer lacks it.
    """
    name = settings["optimizer"]
    check_name("optimizer", name, OPTIMIZERS)
    params = list(params)
    lr, wd, eps = settings["lr"], settings["weight_decay"], settings["eps"]
    if kernel == "fused" and name not in FUSED:
        raise TypeError(f"torch's {name} has no fused kernel")
    k = {kernel: True} if kernel else {}
    if exempt:
        decayed = [p for p in params if id(p) not in exempt]
        kept = [p for p in params if id(p) in exempt]
        params = [g for g in ({"params": decayed}, {"params": kept, "weight_decay": 0.0}) if g["params"]]
    if name == "sgd":
        mom = 0.9 if settings["momentum"] is None else settings["momentum"]
        return torch.optim.SGD(params, lr=lr, momentum=mom, nesterov=bool(settings["nesterov"]) and mom > 0,
                               weight_decay=wd, **k)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(settings["betas"]), eps=eps, weight_decay=wd, **k)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(settings["betas"]), eps=eps, weight_decay=wd, **k)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=settings["momentum"] or 0.0, eps=eps, weight_decay=wd,
                                   **k)
    return torch.optim.Adagrad(params, lr=lr, eps=eps, weight_decay=wd, **k)


def lr_factor(step: int, total: int, schedule: str = "constant", warmup_steps: int = 0,
              min_lr_factor: float = 0.0) -> float:
    """The multiplier of the base learning rate used for update number `step` (0-based).

    warm-up (step < W):  (step + 1) / W
    constant:            1
    cosine:              m + (1 - m) * (1 + cos(pi * t / T)) / 2,   t = step - W, T = max(1, total - W)
    linear:              m + (1 - m) * (1 - t / T)
    with m = min_lr_factor; t is clamped to [0, T].
    """
    check_name("schedule", schedule, SCHEDULES)
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    T = max(1, total - warmup_steps)
    t = min(max(step - warmup_steps, 0), T)
    m = min_lr_factor
    if schedule == "cosine":
        return m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * t / T))
    return m + (1.0 - m) * (1.0 - t / T)


class Scheduler:
    """Sets each param group's lr to base_lr * scale * lr_factor(step). Its state is JSON (no lambdas pickled).

    `scale` is lowered by a divergence rollback; `step()` advances after every optimizer step.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total: int, schedule: str = "constant",
                 warmup_steps: int = 0, min_lr_factor: float = 0.0):
        check_name("schedule", schedule, SCHEDULES)
        self.optimizer = optimizer
        self.total, self.schedule, self.warmup_steps, self.min_lr_factor = total, schedule, warmup_steps, min_lr_factor
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.scale = 1.0
        self.last_step = 0
        self._apply()

    def factor(self) -> float:
        return lr_factor(self.last_step, self.total, self.schedule, self.warmup_steps, self.min_lr_factor)

    def _apply(self) -> None:
        f = self.factor() * self.scale
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "scale": self.scale, "base_lrs": list(self.base_lrs),
                "total": self.total, "schedule": self.schedule}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self.scale = float(state["scale"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self._apply()


class EMA:
    """Exponential moving average of a module's floating-point parameters; buffers are copied.

        ema <- decay * ema + (1 - decay) * theta      after every training step
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.shadow: dict[str, Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._params = {n for n, p in model.named_parameters() if p.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if k in self._params:
                s.mul_(self.decay).add_(v.detach().to(s.dtype), alpha=1.0 - self.decay)
            else:
                s.copy_(v.detach())

    def state_dict(self) -> dict[str, Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for k, s in self.shadow.items():
            s.copy_(state[k])

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily load the EMA weights into `model` (restored on exit)."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield model
        finally:
            model.load_state_dict(backup)

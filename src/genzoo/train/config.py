"""`TrainConfig`: every knob of the training loop, validated through `genzoo.config.build_config`.

A model's `train_defaults` apply under the user's settings: a field the user set explicitly (by keyword, in a
mapping, in YAML or with `--set`) wins; every other field takes the model's default, then the config's own value.
Which fields the user set is part of the config (`user_set`, a field that is not compared, shown or saved), so it
survives `dataclasses.replace`: `replace(cfg, steps=5)` keeps the user's fields and adds every field whose new value
differs from the dataclass default.
Per-player settings live in `optim: {player: {key: value}}` and override the global ones for that player.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from genzoo.config import build_config, config_to_dict
from genzoo.errors import ConfigError, suggest

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "cosine", "linear")


@dataclass
class PlayerOptim:
    """Per-player overrides of the optimisation settings (None = use the global value)."""

    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None
    weight_decay: float | None = None
    l1: float | None = None
    clip_norm: float | None = None
    clip_value: float | None = None


PLAYER_KEYS = tuple(f.name for f in dataclasses.fields(PlayerOptim))


@dataclass(init=False)
class TrainConfig:
    """Training settings (see docs/training.md for the table). Keyword arguments only."""

    steps: int = 1000
    batch_size: int = 64
    # optimisation
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float | None = None  # sgd (None: 0.9), rmsprop (None: 0)
    nesterov: bool = False  # sgd
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    eps: float = 1e-8
    weight_decay: float = 0.0
    decay_exempt: bool = False  # weight_decay skips biases, norm parameters and embeddings (GPT-2 / nanoGPT groups)
    l1: float = 0.0  # coefficient of genzoo.math.l1_penalty(player parameters), added to the player's loss
    optim: dict[str, Any] = field(default_factory=dict)  # {player: {optimizer/lr/betas/...}}
    # schedule
    schedule: str = "constant"  # constant | cosine | linear
    warmup_steps: int = 0  # linear warm-up from lr/warmup_steps to lr, before any schedule
    min_lr_factor: float = 0.0  # cosine / linear decay end at lr * min_lr_factor
    # gradients
    clip_norm: float | None = None
    clip_value: float | None = None
    grad_accum: int = 1  # each process's share of batch_size is split into grad_accum micro-batches
    # weights
    ema_decay: float | None = None
    # numerics / reproducibility
    precision: Literal["fp32", "bf16"] = "fp32"
    # fast paths (docs/training.md "Fast paths"): each off by default, each a no-op with a note where unsupported
    compile: bool = False  # torch.compile of the model's loss (training steps); eager with one message on failure
    channels_last: bool = False  # the model's 4-D weights and the image batches in channels-last memory format
    fused: bool = False  # the optimizer's fused kernel (adam, adamw, sgd, adagrad on CPU / CUDA)
    foreach: bool = False  # the optimizer's multi-tensor (foreach) kernel; exclusive with fused
    cudnn_benchmark: bool = False  # torch.backends.cudnn.benchmark during fit, on CUDA only
    seed: int = 0
    deterministic: bool = False
    micro_seeds: bool = False  # seed the RNGs per micro-batch from (seed, step, update, micro-batch); on under DDP
    fsdp: bool = False  # under torchrun: shard parameters, gradients, optimizer state (models with fsdp_units)
    num_workers: int = 0  # DataLoader worker processes that read lazy data (memory-mapped .npy, image files)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # logging and side outputs
    progress: bool = True
    log_every: int = 10
    sample_every: int = 0  # 0: only at the end
    n_samples: int = 64
    eval_every: int = 0  # 0: only at the end (when eval data is given)
    eval_batches: int = 20
    eval_nll_examples: int = 1024  # held-out examples of the NLL / bits-per-dim part of an evaluation; 0: all
    eval_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to log_prob (e.g. {"k": 500})
    # checkpoints
    ckpt_every: int = 0  # 0: only at the end
    keep_last: int = 3
    # divergence
    on_nan: Literal["raise", "rollback"] = "raise"
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3
    # the names of the fields the user set (None: every keyword given to the constructor); not a setting
    user_set: frozenset[str] | None = field(default=None, compare=False, repr=False, metadata={"internal": True})

    def __init__(self, **kwargs: Any):
        given = kwargs.pop("user_set", None)
        names = {f.name: f for f in dataclasses.fields(TrainConfig) if f.name != "user_set"}
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise TypeError(f"TrainConfig got an unexpected keyword argument {unknown[0]!r}")
        for name, f in names.items():
            if name in kwargs:
                value = kwargs[name]
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                value = f.default
            setattr(self, name, value)
        if given is None:  # a direct construction: the keywords are what the user set
            self.user_set = frozenset(kwargs)
        else:  # dataclasses.replace or a copy: the old user fields, plus the fields changed from the default
            changed = {k for k, v in kwargs.items() if v != _default(names[k])}
            self.user_set = frozenset(given) | frozenset(changed)
        self.__post_init__()

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            for item in (v if isinstance(v, tuple) else (v,)):
                if isinstance(item, float) and not math.isfinite(item):
                    raise ConfigError(f"TrainConfig.{f.name} must be a finite number, got {v}")
        for name in ("steps", "batch_size", "grad_accum", "log_every", "n_samples", "eval_batches", "keep_last"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sample_every", "eval_every", "ckpt_every", "warmup_steps", "max_rollbacks",
                     "eval_nll_examples", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.seed < 2**32:  # numpy's range; the batch order seeds torch with seed * 1_000_003 + epoch
            raise ConfigError(f"TrainConfig.seed must lie in [0, 2**32), got {self.seed}")
        if self.n_samples > 10_000:  # the run's sample pictures: a grid of more is not viewable (nor fits memory)
            raise ConfigError(f"TrainConfig.n_samples must be <= 10000, got {self.n_samples}")
        if self.batch_size % self.grad_accum:
            raise ConfigError(
                f"TrainConfig.batch_size ({self.batch_size}) must be a multiple of grad_accum ({self.grad_accum})"
            )
        for name in ("lr", "weight_decay", "l1", "min_lr_factor"):
            if getattr(self, name) < 0:
                raise ConfigError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.momentum is not None and not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"TrainConfig.momentum must lie in [0, 1), got {self.momentum}")
        if self.eps <= 0:
            raise ConfigError(f"TrainConfig.eps must be > 0, got {self.eps}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"TrainConfig.betas must lie in [0, 1), got {self.betas}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"TrainConfig.ema_decay must lie in [0, 1), got {self.ema_decay}")
        if not 0.0 < self.rollback_lr_factor <= 1.0:
            raise ConfigError(f"TrainConfig.rollback_lr_factor must lie in (0, 1], got {self.rollback_lr_factor}")
        for name in ("clip_norm", "clip_value"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"TrainConfig.{name} must be > 0, got {v}")
        if self.fused and self.foreach:
            raise ConfigError("TrainConfig.fused and TrainConfig.foreach are exclusive; set at most one")
        if self.cudnn_benchmark and self.deterministic:
            raise ConfigError("TrainConfig.cudnn_benchmark picks kernels by timing, which deterministic = true "
                              "forbids; set at most one")
        check_name("optimizer", self.optimizer, OPTIMIZERS)
        check_name("schedule", self.schedule, SCHEDULES)
        self.optim = {
            str(p): build_config(PlayerOptim, o, where=f"TrainConfig.optim.{p}") if isinstance(o, Mapping) else o
            for p, o in self.optim.items()
        }
        for p, o in self.optim.items():
            for k, v in (dataclasses.asdict(o).items() if isinstance(o, PlayerOptim) else ()):
                for item in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(item, float) and not (math.isfinite(item) and item >= 0):
                        raise ConfigError(f"TrainConfig.optim.{p}.{k} must be a finite number >= 0, got {v}")
        for p, o in self.optim.items():
            if not isinstance(o, PlayerOptim):
                raise ConfigError(f"TrainConfig.optim.{p}: expected a mapping of {', '.join(PLAYER_KEYS)}")
            if o.optimizer is not None:
                check_name("optimizer", o.optimizer, OPTIMIZERS)

    def player(self, name: str) -> dict[str, Any]:
        """The effective optimisation settings of player `name` (global values overridden by optim[name])."""
        out = {k: getattr(self, k) for k in PLAYER_KEYS}
        o = self.optim.get(name)
        if o is not None:
            out.update({k: v for k, v in dataclasses.asdict(o).items() if v is not None})
        return out

    def to_dict(self) -> dict[str, Any]:
        d = config_to_dict(self)
        d.pop("user_set", None)
        d["optim"] = {p: {k: v for k, v in o.items() if v is not None} for p, o in d["optim"].items()}
        return d


def check_name(kind: str, name: str, options) -> None:
    from genzoo.errors import unknown_name

    if name not in options:
        raise unknown_name(kind, name, options)


# ---- which fields did the user set? -----------------------------------------------------------------
_FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if not f.metadata.get("internal")]


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def explicit_fields(config: TrainConfig) -> frozenset[str]:
    """Names of the fields the user set (by keyword or in a mapping); the others may take model defaults."""
    return config.user_set if config.user_set is not None else frozenset(_FIELDS)


def make_train_config(config: TrainConfig | Mapping[str, Any] | None = None, **kw) -> TrainConfig:
    """A TrainConfig from a TrainConfig, a mapping (YAML/JSON) and/or keywords, validated by build_config."""
    if isinstance(config, TrainConfig):
        if not kw:
            return config
        base = _plain_optim({k: getattr(config, k) for k in _FIELDS})
        out = build_config(TrainConfig, base, where="train config", **kw)
        out.user_set = explicit_fields(config) | frozenset(kw)
        return out
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(f"train config: expected a TrainConfig or a mapping, got {type(config).__name__}")
    return build_config(TrainConfig, dict(config or {}), where="train config", **kw)


def _plain_optim(d: dict[str, Any]) -> dict[str, Any]:
    if "optim" in d:
        d = dict(d)
        d["optim"] = {
            p: ({k: v for k, v in dataclasses.asdict(o).items() if v is not None} if isinstance(o, PlayerOptim) else o)
            for p, o in d["optim"].items()
        }
    return d


def apply_defaults(config: TrainConfig, defaults: Mapping[str, Any] | None, where: str = "model") -> TrainConfig:
    """`config` with the model's `train_defaults` filled in under every field the user did not set.

    `optim` merges per player and per key: a user's `optim.discriminator.lr` beats the model's, while the
    model's `optim.discriminator.betas` still applies.
    """
    if not defaults:
        return config
    defaults = dict(defaults)
    unknown = [k for k in defaults if k not in _FIELDS]
    if unknown:
        raise ConfigError(
            f'{where}.train_defaults: unknown key "{unknown[0]}".{suggest(unknown[0], _FIELDS)} '
            f"Valid keys: {', '.join(sorted(_FIELDS))}"
        )
    explicit = explicit_fields(config)
    current = _plain_optim({k: getattr(config, k) for k in _FIELDS})
    user = {k: current[k] for k in explicit}
    merged: dict[str, Any] = {k: v for k, v in current.items() if k not in defaults and k != "optim"}
    merged.update({k: v for k, v in defaults.items() if k != "optim"})
    merged.update({k: v for k, v in user.items() if k != "optim"})
    optim: dict[str, dict[str, Any]] = {}
    for p, o in dict(defaults.get("optim") or {}).items():
        optim[p] = dict(o)
    for p, o in dict(user.get("optim") or {}).items():
        optim.setdefault(p, {}).update(o)
    if optim:
        merged["optim"] = optim
    out = build_config(TrainConfig, merged, where="train config")
    out.user_set = explicit
    return out

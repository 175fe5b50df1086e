"""The model contract every family implements (see docs/architecture.md).

A model is an `nn.Module` with
- `loss(batch, player="model") -> dict`: a scalar `"loss"` for `player` plus named parts ("recon", "kl", ...);
- `players()` and `update_order(step)`: which parameter groups are optimised, in which order, each step
  (a VAE has one player, "model"; a WGAN has "discriminator" x n_critic then "generator");
- `on_step_end(step)`: per-step hooks (KL warm-up, PGGAN fade-in, EBM replay buffer);
- `sample(n, condition=None)`, and `log_prob(x, condition=None)` in nats per example where
  `likelihood` is "exact" or "bound" ("none" raises LikelihoodError).
The Trainer knows only this contract: no family-specific branches.

Data convention: images arrive as float32 in [0, 1] (= uint8 / 255, shape (N, C, H, W)), points as
float32 (N, D), text as int64 token ids in windows (N, L) of a token stream (a text model's data_shape is (L,),
its config has `vocab_size`); labels as int64. A model's config says how it preprocesses
(dynamic binarization, dequantization, logit, scaling to [-1, 1]) inside `loss` and `log_prob`, and
`sample` returns data in the same space the data set yields.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.errors import CheckpointError, ConfigError, DataError, LikelihoodError
from genzoo.io import atomic_save_tensors, atomic_write_bytes, load_tensors  # noqa: F401  (re-exported)

LIKELIHOODS = ("exact", "bound", "none")


@dataclass
class Batch:
    """One minibatch: data `x` and an optional condition `y` (class labels, int64)."""

    x: Tensor
    y: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.x.to(device), None if self.y is None else self.y.to(device))

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class ModelConfig:
    """Fields every model config has. Family configs subclass this dataclass.

    data_shape: shape of one example, e.g. (1, 28, 28) or (2,). num_classes: 0 for unconditional models,
    else the number of labels a conditional model takes.

    Validation is one rule for every family: `__post_init__` turns every list-valued field into a tuple and
    checks that every number is finite, that every integer (and integer tuple) not named in `signed` is >= 0,
    that the fields named in `positive` are > 0, and then runs `checks()`, the family's own rules as
    (ok, message) pairs. The first failing rule raises ConfigError "<Config>: <message>". A family overrides
    `checks` (and extends `positive`), not `__post_init__`; a field computed from others comes from `derived()`.
    """

    data_shape: tuple[int, ...] = (2,)
    num_classes: int = 0
    # fields (or tuple fields, item by item) that must be > 0; extended by each family config
    positive: ClassVar[tuple[str, ...]] = ()
    # integer fields that may be negative (e.g. -1 meaning "off"); every other integer must be >= 0
    signed: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                setattr(self, f.name, tuple(v))
        for name, value in self.derived().items():
            setattr(self, name, value)
        self.check(self._generic_checks())
        self.check(self.checks())

    def derived(self) -> dict[str, Any]:
        """Fields computed from others, set before validation (a sequence model: data_shape = (context,))."""
        return {}

    def checks(self) -> list[tuple[bool, str]]:
        """The family's own rules: (condition that must hold, message when it does not)."""
        return []

    def check(self, rules) -> None:
        """Raise ConfigError for the first rule (ok, message) whose `ok` is false."""
        for ok, msg in rules:
            if not ok:
                raise ConfigError(f"{type(self).__name__}: {msg}")

    def _generic_checks(self) -> list[tuple[bool, str]]:
        rules: list[tuple[bool, str]] = [
            (len(self.data_shape) >= 1 and all(isinstance(s, int) and s > 0 for s in self.data_shape),
             f"data_shape must be positive sizes, got {self.data_shape}"),
        ]
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            items = v if isinstance(v, tuple) else (v,)
            for item in items:
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    continue
                if isinstance(item, float) and not math.isfinite(item):
                    rules.append((False, f"{f.name} must be a finite number, got {v}"))
                elif isinstance(item, int) and item < 0 and f.name not in self.signed:
                    rules.append((False, f"{f.name} must be >= 0, got {v}"))
                elif f.name in self.positive and item <= 0:
                    rules.append((False, f"{f.name} must be > 0, got {v}"))
        return rules


# What a model can do beyond the contract. A class declares the ones it has in `capabilities`; the demo,
# `genzoo evaluate` and the analysis tools read the declaration (nothing is discovered with hasattr), and the
# conformance suite (tests/models/test_every_model.py) checks each declared one.
CAPABILITIES = {
    "encode": "encode(x, condition=None) -> (mu, logvar) of q(z | x), each (N, latent_dim)",
    "decode": "decode(z, condition=None) -> the mean of p(x | z) in data space, differentiable in z (inversion and "
              "the generator-gradient diagnostics backpropagate through it)",
    "reconstruct": "reconstruct(x, condition=None) -> decode(mean of q(z | x))",
    "latent": "a latent space z ~ N(0, I) of size `latent_dim` (interpolation, manifold analysis)",
    "invert": "to_latent(x, condition=None) -> z (N, D), D = prod(data_shape), a deterministic bijection of the data "
              "onto the model's N(0, I) latent (flows: the transform; ddpm / ddim: the eta = 0 DDIM path to x_T), and "
              "from_latent(z, condition=None) -> x its inverse in data space",
    "discriminate": "discriminate(x, condition=None) -> the discriminator's raw output per example (differentiable)",
    "score": "score(x, t, y=None) -> grad_x log p_t(x) at continuous times t in (0, 1], shape of x",
    "generate": "generate(prompt, max_new_tokens, temperature=1.0, top_k=None, top_p=None) -> token ids (N, T0 + new)"
                " continuing int64 prompts (N, T0) (T0 may be 0)",
    "tokenizer": "tokenizer: the model's saved tokeniser (genzoo.data.tokenizers), .encode(text) -> int64 ids (T,) "
                 "and .decode(ids) -> text",
}
DATA_KINDS = ("image", "points", "text")


class GenerativeModel(nn.Module):
    """Base class of every genzoo model. Subclasses set `Config`, `likelihood`, and implement the contract.

    Declarations (class attributes, read by the trainer, the CLI and the analysis tools):
    - `likelihood`: "exact" | "bound" | "none"; an instance may differ only through `likelihood_for(config)`.
    - `conditional`: True when the model takes labels by default (the CLI fills num_classes from the data).
    - `data_kinds`: the kinds of data set the model accepts ("image", "points", "text").
    - `capabilities`: the names of CAPABILITIES it implements.
    - `sample_options` / `log_prob_options`: the extra keyword arguments of `sample` and `log_prob`
      (e.g. ("k", "generator", "chunk")); callers pass only declared ones.
    - `loss_units`: the unit of the "loss" part, named in reports and end-of-run lines.
    - `eval_needs_grad`: evaluation losses run under torch.no_grad() unless this is True (e.g. a model whose
      loss samples with gradients of the input).
    """

    name: ClassVar[str] = ""  # registry name, set by @register
    family: ClassVar[str] = ""  # "vae", "flow", "gan", "diffusion", ...
    likelihood: ClassVar[str] = "none"  # "exact" | "bound" | "none"
    Config: ClassVar[type] = ModelConfig
    conditional: ClassVar[bool] = False
    data_kinds: ClassVar[tuple[str, ...]] = ("image", "points")
    capabilities: ClassVar[frozenset[str]] = frozenset()
    sample_options: ClassVar[tuple[str, ...]] = ()
    log_prob_options: ClassVar[tuple[str, ...]] = ()
    eval_needs_grad: ClassVar[bool] = False
    # unit of the "loss" part for reports, e.g. "nats/example" or "nats/dim" ("" when it has none, as a GAN's)
    loss_units: ClassVar[str] = ""
    # Training defaults the Trainer applies under the user's settings, e.g. {"lr": 2e-4, "betas": (0.5, 0.999)}
    # or per player {"optim": {"discriminator": {"lr": 4e-4}}}. Keys are TrainConfig fields.
    train_defaults: ClassVar[dict[str, Any]] = {}
    # Submodule classes that `train.fsdp` shards one by one before the root (genzoo.train.fsdp), e.g. GPT's
    # transformer Block; () offers no FSDP
    fsdp_units: ClassVar[tuple[type, ...]] = ()

    def __init__(self, config: ModelConfig):
        super().__init__()
        lik = type(self).likelihood_for(config)
        if lik not in LIKELIHOODS:
            raise TypeError(f"{type(self).__name__}.likelihood must be one of {LIKELIHOODS}, got {lik!r}")
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise TypeError(f"{type(self).__name__}.capabilities: unknown {sorted(unknown)}; known: "
                            f"{', '.join(CAPABILITIES)}")
        if lik != type(self).likelihood:
            self.likelihood = lik  # declared through likelihood_for, e.g. DDPM's PF-ODE likelihood
        self.config = config

    @classmethod
    def likelihood_for(cls, config: ModelConfig) -> str:
        """The likelihood type of a model built from `config` (default: the class's `likelihood`)."""
        return cls.likelihood

    # ---- the training contract -------------------------------------------------------------------
    def players(self) -> dict[str, list[nn.Parameter]]:
        """Parameter groups, one optimizer each. Default: one player, "model", owning every parameter."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def update_order(self, step: int) -> Sequence[str]:
        """The players updated at `step`, in order (a player may appear several times)."""
        return ("model",)

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """{"loss": scalar to minimise for `player`, **named parts (detached or not)}."""
        raise NotImplementedError

    def on_step_end(self, step: int) -> None:
        """Called by the Trainer after every optimisation step (all players)."""

    def extra_state(self) -> dict[str, Any]:
        """JSON-ready non-tensor state the Trainer must checkpoint (e.g. a warm-up counter)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of `extra_state`."""

    # ---- the generative contract -----------------------------------------------------------------
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        """n samples in data space (the space the data set yields)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """log p(x) in nats, one value per example (a lower bound/estimate where likelihood = "bound")."""
        raise LikelihoodError(
            f'model "{self.name}" is implicit (likelihood = "none"): it defines no log_prob. '
            "Evaluate it with sample-quality metrics instead."
        )

    @property
    def bpd_bins(self) -> int:
        """Bins per dimension that log_prob's continuous space was scaled by (256 for dequantized 8-bit
        data on [0, 1); 1 for a probability mass function over the data's own values)."""
        return 256

    def bits_per_dim(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """Per-example bits/dim through `genzoo.math.bits_per_dim`, the one audited conversion."""
        from genzoo.math import bits_per_dim

        nll = -self.log_prob(x, condition)
        return bits_per_dim(nll, math.prod(x.shape[1:]), n_bins=self.bpd_bins)

    # ---- helpers ---------------------------------------------------------------------------------
    def sample_labels(self, n: int, condition: Tensor | int | None = None) -> Tensor | None:
        """The labels `sample(n, condition)` uses, one rule for every family: None for an unconditional model (a
        condition is then a DataError); for a conditional model, `condition` as int64 labels (N,) on the model's
        device (one label, an int or a 0-d tensor, is repeated n times), and without a condition the labels cycle
        0, 1, ..., K-1, 0, 1, ... (balanced and deterministic). Labels outside [0, K) are a DataError."""
        k = self.config.num_classes
        if k == 0:
            if condition is not None:
                raise DataError(f"{self.name}: this model is unconditional (num_classes = 0); got a condition")
            return None
        if condition is None:
            return torch.arange(n, device=self.device) % k
        c = torch.as_tensor(condition, device=self.device)
        if c.is_floating_point():
            if c.dim() == 2 and c.shape == (n, k):
                return c  # already one-hot (or soft) label vectors
            raise DataError(f"{self.name}: labels must be integers, got a float tensor of shape {tuple(c.shape)}")
        c = c.long().reshape(-1)
        if c.numel() == 1 and n != 1:
            c = c.expand(n)
        if c.numel() != n:
            raise DataError(f"{self.name}: {c.numel()} labels for {n} samples")
        if c.numel() and (c.min() < 0 or c.max() >= k):
            raise DataError(f"{self.name}: labels must lie in [0, {k}), got {int(c.min())}..{int(c.max())}")
        return c

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        """Raise DataError for data of the wrong shape, NaN/inf values, or a missing/bad condition."""
        shape = tuple(self.config.data_shape)
        if not isinstance(x, Tensor):
            raise DataError(f"{self.name}: expected a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape[1:]) != shape:
            raise DataError(
                f"{self.name}: expected data of shape (N, {', '.join(map(str, shape))}), "
                f"got {tuple(x.shape)}"
            )
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise DataError(f"{self.name}: input contains NaN or inf")
        if self.data_kinds == ("text",):  # token ids of the model's vocabulary
            v = int(self.config.vocab_size)
            if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise DataError(f"{self.name}: expected int64 token ids, got {x.dtype}")
            if x.numel() and (x.min() < 0 or x.max() >= v):
                raise DataError(f"{self.name}: token ids must lie in [0, {v}), got {int(x.min())}..{int(x.max())}")
        k = self.config.num_classes
        if condition is not None:
            if k == 0:
                raise DataError(f"{self.name}: this model is unconditional (num_classes = 0); got a condition")
            if condition.shape[0] != x.shape[0]:
                raise DataError(
                    f"{self.name}: {condition.shape[0]} conditions for {x.shape[0]} examples"
                )
            if condition.dtype == torch.long and (condition.min() < 0 or condition.max() >= k):
                raise DataError(f"{self.name}: labels must lie in [0, {k}), got {condition.min()}..{condition.max()}")

    def config_dict(self) -> dict[str, Any]:
        from genzoo.config import config_to_dict

        return config_to_dict(self.config)

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a folder: `model.safetensors` (weights and buffers) + `config.json`. Never pickle."""
        import genzoo

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_save_tensors(self.state_dict(), path / "model.safetensors")
        meta = {
            "genzoo_version": genzoo.__version__,
            "model": self.name,
            "family": self.family,
            "likelihood": self.likelihood,
            "config": self.config_dict(),
            "extra_state": self.extra_state(),
        }
        atomic_write_bytes(path / "config.json", json.dumps(meta, indent=2).encode())
        return path

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"{type(self).__name__}(name={self.name!r}, likelihood={self.likelihood!r}, params={n:,})"


def read_model_meta(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    cfg = path / "config.json"
    if not path.exists():
        raise CheckpointError(f"{path}: no such folder (expected a saved model: config.json + model.safetensors)")
    if not cfg.is_file():
        raise CheckpointError(f"{path}: no config.json (expected a saved model folder)")
    try:
        meta = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg}: corrupt JSON ({e})") from None
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise CheckpointError(f"{cfg}: not a genzoo model config (keys 'model' and 'config' missing)")
    if not isinstance(meta["config"], dict) or not isinstance(meta.get("extra_state", {}), dict):
        raise CheckpointError(f"{cfg}: corrupt model config ('config' and 'extra_state' must be mappings)")
    return meta


def config_fields(config) -> list[str]:
    return [f.name for f in dataclasses.fields(config)]

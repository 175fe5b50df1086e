"""Models by name: `register` (a class decorator), `create`, `available`, `load`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from genzoo.config import build_config
from genzoo.errors import CheckpointError, ConfigError, unknown_name
from genzoo.io import load_tensors
from genzoo.models.base import GenerativeModel, read_model_meta

_REGISTRY: dict[str, type[GenerativeModel]] = {}

# The family modules, imported on first use of the registry. A new family adds its module here (one line).
FAMILY_MODULES = (
    "genzoo.models.vae",
    "genzoo.models.flows",
    "genzoo.models.gan",
    "genzoo.models.diffusion",
    "genzoo.models.transformer",
    "genzoo.models.autoregressive",
    "genzoo.models.energy",
    "genzoo.models.sparse",
    "genzoo.models.classical",
    "genzoo.models.continuous",
    "genzoo.models.hybrid",
)
_loaded = False


def load_families() -> None:
    """Import every module of FAMILY_MODULES once (each registers its models)."""
    global _loaded
    if _loaded:
        return
    import importlib

    for mod in FAMILY_MODULES:
        importlib.import_module(mod)
    _loaded = True


def register(name: str, family: str):
    """Class decorator: `@register("vae", family="vae")`. Names are lower-case with hyphens."""

    def deco(cls: type[GenerativeModel]) -> type[GenerativeModel]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        cls.name = name
        cls.family = family
        _REGISTRY[name] = cls
        return cls

    return deco


def available(family: str | None = None) -> list[str]:
    """Registered model names (optionally of one family), sorted."""
    load_families()
    return sorted(n for n, c in _REGISTRY.items() if family is None or c.family == family)


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in available():
        out.setdefault(_REGISTRY[n].family, []).append(n)
    return out


def get_class(name: str) -> type[GenerativeModel]:
    """The model class registered as `name` (UnknownNameError with the nearest name otherwise)."""
    if name not in _REGISTRY:
        load_families()
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name]


def make_config(name: str, config: dict[str, Any] | None = None, **kw):
    """The validated config dataclass of model `name` (unknown keys and wrong types raise ConfigError)."""
    cls = get_class(name)
    return build_config(cls.Config, config, where=f"{name} config", **kw)


def create(name: str, **config: Any) -> GenerativeModel:
    """Create a model by registry name: `create("vae", latent_dim=16, data_shape=(1, 28, 28))`."""
    cls = get_class(name)
    return cls(make_config(name, config))


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> GenerativeModel:
    """Load a model saved by `model.save(path)`: JSON config + safetensors weights, never pickle."""
    path = Path(path)
    meta = read_model_meta(path)
    try:
        model = create(meta["model"], **meta["config"])
    except ConfigError as e:  # a config of another model, or an edited one: say which file, no nearest-key hint
        raise CheckpointError(f'{path / "config.json"}: its config does not fit model "{meta["model"]}" '
                              f"({str(e).split('. Did you mean')[0].split(' Valid keys')[0]})") from None
    state = load_tensors(path / "model.safetensors")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]  # torch: a header, then one per key
        raise CheckpointError(f"{path}: weights do not match the config ({lines[min(1, len(lines) - 1)]})") from None
    model.load_extra_state(meta.get("extra_state", {}))
    return model.to(map_location)

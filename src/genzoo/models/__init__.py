"""Models by name. `create(name, **config)`, `available()`, `load(path)`; the contract is `GenerativeModel`.

Families register themselves (`@register`) when their module is imported. The registry imports the modules listed
in `genzoo.models.registry.FAMILY_MODULES` on first use (the first `available`, `get_class`, `create` or `load`),
so importing `genzoo.models` (or a layer above it) loads no family until one is asked for.
"""

from genzoo.models.base import CAPABILITIES, DATA_KINDS, Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import available, create, families, get_class, load, make_config, register

__all__ = [
    "CAPABILITIES",
    "DATA_KINDS",
    "Batch",
    "GenerativeModel",
    "ModelConfig",
    "available",
    "create",
    "families",
    "get_class",
    "load",
    "make_config",
    "register",
]

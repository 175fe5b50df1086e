"""Models by name. `create(name, **config)`, `available()`, `load(path)`; the contract is `GenerativeModel`.

Importing this package registers every family (each module decorates its classes with `@register`).
"""

from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import available, create, families, get_class, load, make_config, register

# Families register themselves on import.
from genzoo.models import vae  # noqa: E402,F401  isort: skip
from genzoo.models import flows  # noqa: E402,F401  isort: skip
from genzoo.models import gan  # noqa: E402,F401  isort: skip
from genzoo.models import diffusion  # noqa: E402,F401  isort: skip

__all__ = [
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

"""genzoo: every family of deep generative model under one API, with the mathematics verified.

Layers (imports point down only): cli -> analysis -> eval -> train -> models -> nn -> math; data stands beside.
See docs/architecture.md.
"""

__version__ = "0.1.0"

from genzoo.errors import GenzooError  # noqa: E402

__all__ = ["__version__", "GenzooError"]

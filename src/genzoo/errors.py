"""Exceptions that genzoo raises on bad input. The CLI prints them as one line and exits with code 2.

Every error names what was wrong and what was expected, so a user never has to read a traceback from
deep inside torch.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GenzooError(Exception):
    """Base class of every error genzoo raises on purpose."""


class ConfigError(GenzooError, ValueError):
    """A malformed configuration: unknown key, wrong type, value out of range."""


class UnknownNameError(GenzooError, KeyError):
    """An unknown model, data set, optimizer, schedule... name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class DataError(GenzooError, ValueError):
    """A missing, corrupt or malformed data file, or data of the wrong shape or with NaN/inf."""


class CheckpointError(GenzooError, OSError):
    """A missing, corrupt or incompatible checkpoint or saved model."""


class OutputError(GenzooError, OSError):
    """An output path that cannot be written (a read-only place, a file where a folder should be, ...)."""


class DivergenceError(GenzooError, FloatingPointError):
    """Training produced a NaN/inf loss or gradient."""


class TrainingInterrupted(GenzooError):
    """`Trainer.fit` stopped on SIGINT / SIGTERM after finishing its step; `checkpoint` is where the run was saved
    (None without a run folder). The CLI exits with 128 + `signum` (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signum: int, step: int, checkpoint=None):
        super().__init__(message)
        self.signum, self.step, self.checkpoint = signum, step, checkpoint


class LikelihoodError(GenzooError, NotImplementedError):
    """`log_prob` was asked of a model that has no tractable likelihood (likelihood = "none")."""


def suggest(name: str, options: Iterable[str]) -> str:
    """' Did you mean "x"?' for the nearest option, or '' when none is close."""
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


def _quoted(name) -> str:
    """A name in double quotes with control characters escaped, so the message stays one line."""
    import json

    return json.dumps(str(name), ensure_ascii=False)


def unknown_name(kind: str, name: str, options: Iterable[str]) -> UnknownNameError:
    """The error for an unknown name, with the nearest valid one suggested and all valid ones listed."""
    options = sorted(options)
    return UnknownNameError(
        f'unknown {kind} {_quoted(name)}.{suggest(name, options)} Valid {kind}s: {", ".join(options)}'
    )

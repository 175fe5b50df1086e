"""Help texts and argument types of the sub-commands: whole sentences, positive integers, one-line errors."""

from __future__ import annotations


def description(doc: str | None) -> str:
    """The first paragraph of a docstring as one line (whole sentences, never cut mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a count, a batch size), else a one-line error."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _float(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (a temperature), else a one-line error."""
    import argparse

    v = _float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v:g}")
    return v


def probability(text: str) -> float:
    """An argparse type: a number in (0, 1] (nucleus mass), else a one-line error."""
    import argparse

    v = _float(text)
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {v:g}")
    return v


def one_line_parser_class():
    """argparse.ArgumentParser whose errors are one line on stderr (exit code 2), naming the --help to read."""
    import argparse
    import sys

    class OneLineParser(argparse.ArgumentParser):
        def error(self, message: str):
            print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
            sys.exit(2)

    return OneLineParser

"""Shared helpers of the benchmark scripts: where and how a figure was measured.

Every result a benchmark writes carries `provenance(argv)`: the command that produced it, the date, the machine
(CPU model, cores, torch version and threads, load average at the start) and the git commit of the tree.
`CPUBudget` measures a time budget in CPU seconds of this process, so a run on a shared machine reports what a
dedicated core does in that time (wall-clock time is recorded beside it).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from genzoo.provenance import machine  # noqa: F401  (re-exported for the scripts)

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line(script: str, argv: list[str] | None = None) -> str:
    rel = os.path.relpath(script, ROOT)
    return "python " + " ".join([rel] + list(sys.argv[1:] if argv is None else argv))


def provenance(script: str, argv: list[str] | None = None) -> dict[str, str]:
    return {
        "command": command_line(script, argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": git_commit(),
    }


def mean_se(v: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error of the mean of a 1-D tensor (float64)."""
    v = v.double()
    return float(v.mean()), float(v.std() / v.numel() ** 0.5)


def binarized_mnist(eval_n: int = 2000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The binarized-MNIST-10k protocol shared by the VAE, autoregressive and RBM benchmarks: the 8,000 training
    images as intensities (binarized dynamically by the models), the first `eval_n` held-out images binarized once
    (`genzoo.data.binarize`, static, seed 123), and 500 training images (seed-7 permutation) binarized once (seed 124)
    for the training curve."""
    from genzoo.data import binarize, get

    x_train = get("mnist", split="train").x
    x_test_bin = binarize(get("mnist", split="test").x[:eval_n], "static", seed=123)
    perm = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(7))
    return x_train, x_test_bin, binarize(x_train[perm[:500]], "static", seed=124)


class CPUBudget:
    """A budget of `minutes` of CPU time of this process (all its threads), with the wall clock beside it."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.cpu0 = time.process_time()
        self.wall0 = time.perf_counter()
        self.paused = 0.0  # CPU seconds spent in side work (evaluation) that the budget excludes
        self._pause_start: float | None = None

    def used(self) -> float:
        return time.process_time() - self.cpu0 - self.paused

    def left(self) -> float:
        return self.seconds - self.used()

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def pause(self) -> None:
        self._pause_start = time.process_time()

    def resume(self) -> None:
        if self._pause_start is not None:
            self.paused += time.process_time() - self._pause_start
            self._pause_start = None

"""Where a figure was measured: the machine in one line (CPU model, cores, GPU, torch version and threads, load).

Used by the leaderboard and the benchmark scripts, so every written result names the machine the same way.
"""

from __future__ import annotations

import os
import platform

import torch


def machine() -> str:
    """One line: CPU model, logical CPUs (and GPU), torch version and threads, load average now."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = tuple(round(v, 2) for v in os.getloadavg()) if hasattr(os, "getloadavg") else None
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu} | {os.cpu_count()} logical CPUs{gpu} | torch {torch.__version__}, {torch.get_num_threads()} "
            f"thread(s) | load average at start {load}")

"""Start-up time of the CLI: `genzoo --version`, `--help`, `list` (and `info` on a run), median of R runs each.

    python benchmarks/startup.py [--rounds 7] [--before REF] [--out docs/results/cli_startup.md]

Each command runs in a fresh interpreter (`python -m genzoo ...`, wall clock measured around the subprocess). With
--before REF the same commands run from a checkout of REF (a git worktree in a temp folder, PYTHONPATH=its src),
interleaved with the current tree round by round, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--version"], ["--help"], ["list"])


def timed(args: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genzoo", *args], env=env, capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--before", default=None, help="git ref to compare with (e.g. the commit before the change)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "cli_startup.md"))
    a = ap.parse_args()
    trees = {"now": ROOT / "src"}
    tmp = None
    if a.before:
        tmp = tempfile.mkdtemp()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", f"{tmp}/wt", a.before], check=True,
                       capture_output=True)
        trees = {f"before ({a.before})": Path(tmp) / "wt" / "src", **trees}
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(a.rounds):
            for cmd in COMMANDS:
                for label, src in trees.items():
                    times.setdefault((label, " ".join(cmd)), []).append(timed(cmd, src))
    finally:
        if tmp:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", f"{tmp}/wt"], capture_output=True)
    lines = ["# CLI start-up time", "",
             f"Command: `python benchmarks/startup.py --rounds {a.rounds}" + (f" --before {a.before}`" if a.before
                                                                               else "`"),
             f"Machine: {machine()}; commit {git_commit()}; {datetime.date.today().isoformat()}.",
             f"Median wall-clock seconds of {a.rounds} fresh `python -m genzoo ...` runs each, interleaved. "
             "Goal: under 0.5 s for --version, --help and list.", "",
             "| command | " + " | ".join(trees) + " |", "|---|" + "---|" * len(trees)]
    for cmd in COMMANDS:
        c = " ".join(cmd)
        lines.append(f"| genzoo {c} | " + " | ".join(f"{statistics.median(times[(t, c)]):.3f}" for t in trees) + " |")
    text = "\n".join(lines) + "\n"
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

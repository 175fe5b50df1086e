"""`genzoo leaderboard --data mnist|toy2d`: every family on the same data, at one CPU budget, scored by one protocol.

    genzoo leaderboard --data mnist  [--families vae,flow,gan,...] [--budget 1.5] [--seeds 0,1,2] [--out docs]
    genzoo leaderboard --data toy2d  [--sets ring8,checkerboard] [--budget 0.25] ...

The argument parser of genzoo.lab.leaderboard (the entries, the protocol and the files live there). Each run trains
for --budget CPU-minutes in its own process, or is reused when runs/leaderboard holds a finished run with the same
settings; a family that fails is a row with its error and the others go on. Writes --out/leaderboard.md,
--out/leaderboard.json and the pictures under --out/leaderboard/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from genzoo.cli.text import description
from genzoo.errors import ConfigError

# The boards and their default budgets as genzoo.lab.leaderboard defines them (named here so that `genzoo --help`
# does not import torch; tests/lab/test_leaderboard.py checks that the two agree).
BOARDS = ("mnist", "toy2d")
DEFAULT_BUDGET = {"mnist": 1.5, "toy2d": 0.25}


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="train and score every family on one board (mnist or toy2d)",
                       description=description(__doc__))
    p.add_argument("--data", required=True, choices=list(BOARDS), help="the board: mnist or toy2d (every toy set)")
    p.add_argument("--families", default="", help="comma-separated families or model names (default: all entries)")
    p.add_argument("--budget", type=float, default=None,
                   help="training CPU-minutes per run (default " +
                        ", ".join(f"{k} {v:g}" for k, v in DEFAULT_BUDGET.items()) + ")")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--sets", default="", help="toy2d: comma-separated toy sets (default all)")
    p.add_argument("--out", default="docs", help="folder of leaderboard.md / .json (default docs)")
    p.add_argument("--runs", default="runs/leaderboard", help="run folders, reused when the settings match")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def run(args) -> int:
    from genzoo.lab.leaderboard import leaderboard

    try:
        seeds = [int(s) for s in _names(args.seeds)]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    cmd = "genzoo " + " ".join(sys.argv[sys.argv.index("leaderboard"):]) if "leaderboard" in sys.argv else ""
    leaderboard(args.data, families=_names(args.families) or None, budget=args.budget, seeds=seeds,
                sets=_names(args.sets) or None, out=args.out, runs=args.runs, command=cmd,
                progress=not args.no_progress and sys.stderr.isatty(), log=lambda line: print(line, flush=True))
    print(f"wrote {Path(args.out) / 'leaderboard.md'}, {Path(args.out) / 'leaderboard.json'}")
    return 0

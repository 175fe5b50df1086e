"""Walk-through: the leaderboard, every family under one protocol, here on a small scale.

`genzoo.lab.leaderboard` trains each entry of a board for the same CPU budget, then scores it the same way: the
held-out NLL in the column of what it measures (exact, bound or estimate), mode coverage and high-quality samples on
the Gaussian mixtures, MMD and KID to held-out points. It writes `leaderboard.md` (the tables), `leaderboard.json`
(one record per run, with the machine and the command) and the pictures. This example runs the 2-D board on one
data set for three families (one in the smoke run); `genzoo leaderboard --data toy2d` runs it whole
(docs/leaderboard.md is its output).

    python examples/leaderboard.py --out runs/examples   # about a minute on 2 cores
    python examples/leaderboard.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from genzoo.lab.leaderboard import leaderboard


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny budget (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the board")
    args = parser.parse_args(argv)
    budget = 0.005 if args.smoke else 0.1                      # CPU-minutes of training per entry
    families = ["gmm"] if args.smoke else ["gmm", "realnvp", "pacgan"]
    out = Path(args.out)

    records = leaderboard("toy2d", families=families, sets=["ring8"], budget=budget,
                          out=out / "board", runs=out / "board" / "runs", isolate=False, progress=False,
                          command=f"python examples/leaderboard.py{' --smoke' if args.smoke else ''}")
    for r in records:                                         # one record per run; the table has them all
        nll = r.get("nll") or {}
        print(f"{r['entry']:<8} {r['steps']:>5} steps  held-out NLL {nll.get('value', float('nan')):+.3f} nats "
              f"({nll.get('kind', 'none')}, floor {nll.get('floor', float('nan')):+.3f})")
    table = (out / "board" / "leaderboard.md").read_text()
    print(table[table.index("### ring8"):table.index("- Command")].strip())
    picture = out / "leaderboard.png"
    shutil.copyfile(out / "board" / "leaderboard" / "toy2d_samples.png", picture)
    print(f"picture: {picture}")
    return {"records": records, "picture": str(picture)}


if __name__ == "__main__":
    main()

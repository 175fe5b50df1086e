"""CNF on checkerboard: held-out NLL against the floor ln 32 after a CPU-minutes budget, with a density plot.

Checkerboard has density 1/32 on its support, so no model scores a held-out NLL below ln 32 = 3.466 nats. The cnf
is trained with the flows benchmark's loop (Adam, cosine schedule over the steps the budget allows) and evaluated
on 20,000 fresh points (seed 12345) with the standard error; the NFE of one forward solve is reported. Writes
{out}/toy_results.json, {out}/toy_results.md and {out}/toy_cnf_{set}.png.

    python benchmarks/continuous_toy.py --minutes 4 --method rk4 --steps 8 --kinetic 0.01
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402
from flows_toy import plot, train  # noqa: E402

from genzoo.data import toy2d, toy2d_entropy  # noqa: E402
from genzoo.models import create  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--set", default="checkerboard")
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64, 64])
    ap.add_argument("--method", default="rk4")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--kinetic", type=float, default=0.01)
    ap.add_argument("--jacobian", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/continuous")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = dict(hidden=tuple(args.hidden), act="tanh", method=args.method, steps=args.steps, rtol=args.tol,
               atol=args.tol, kinetic=args.kinetic, jacobian=args.jacobian)
    model = create("cnf", data_shape=(2,), **cfg)
    steps, secs = train(model, args.set, args.minutes, args.batch, args.lr, args.seed)
    model.eval()
    test = torch.as_tensor(toy2d(args.set, 20_000, seed=12345)).float()
    with torch.no_grad():
        nll = torch.cat([-model.log_prob(t) for t in test.split(5000)]).double()
    nfe = model.nfe
    floor = float(toy2d_entropy(args.set))
    mass = plot(model, args.set, out / f"toy_cnf_{args.set}.png", f"cnf on {args.set}: held-out NLL {nll.mean():.3f}")
    r = {"model": "cnf", "set": args.set, "config": cfg, "steps": steps, "train_seconds": round(secs, 1),
         "heldout_nll": float(nll.mean()), "heldout_nll_se": float(nll.std() / math.sqrt(len(nll))),
         "entropy_floor": floor, "gap_to_floor": float(nll.mean()) - floor, "grid_mass": mass, "nfe": nfe,
         "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
         "command": "python " + " ".join(sys.argv)}
    print(json.dumps(r), flush=True)
    path = out / "toy_results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[f"cnf/{args.set}/{args.method}"] = r
    path.write_text(json.dumps(results, indent=2))
    lines = ["# CNF on toy 2-D sets (benchmarks/continuous_toy.py)", "",
             "| set | solver | steps | train s | NFE | held-out NLL (nats) | floor | gap | grid mass | date |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        c = r["config"]
        solver = f"{c['method']} x{c['steps']}" if c["method"] != "dopri5" else f"dopri5 tol {c['rtol']:g}"
        lines.append(f"| {r['set']} | {solver} | {r['steps']} | {r['train_seconds']} | {r['nfe']} | "
                     f"{r['heldout_nll']:.3f} +- {r['heldout_nll_se']:.3f} | {r['entropy_floor']:.3f} | "
                     f"{r['gap_to_floor']:+.3f} | {r['grid_mass']:.3f} | {r['date']} |")
    lines += ["", f"Machine: {r['machine']}", f"Command: `{r['command']}`", ""]
    (out / "toy_results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()

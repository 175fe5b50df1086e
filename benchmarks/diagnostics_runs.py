"""The diagnostics of genzoo.analysis on real (short) runs, the figures of docs/analysis.md:

- posterior collapse: `vae` and `beta-vae` (beta = 8) with 32 latent dimensions on MNIST-10k, active units and
  per-dimension KL over training;
- mode collapse and vanishing gradients: `gan` (minimax) and `ns-gan` on ring8, modes, % HQ, D(x) / D(G(z)) and
  the generator's gradient under both losses over training;
- likelihood on shifted data: `realnvp` on MNIST-10k, bits/dim of held-out, inverted, flipped and noise images.

    python benchmarks/diagnostics_runs.py [--steps-scale 1.0] [--out docs/results/analysis/diagnostics]

Each run goes through the CLI (`genzoo train --diagnostics ...`, then `genzoo analyze`), one thread; the figures
and numbers are copied to --out with the command, machine and date.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance  # noqa: E402

RUNS = [  # name, train arguments, steps
    ("vae", ["vae", "--data", "mnist", "--set", "model.latent_dim=32", "--diagnostics", "posterior,gradients"], 1500),
    ("beta-vae", ["beta-vae", "--data", "mnist", "--set", "model.latent_dim=32", "--set", "model.beta=8",
                  "--diagnostics", "posterior"], 1500),
    ("gan", ["gan", "--data", "ring8", "--diagnostics", "gan,modes,gradients"], 3000),
    ("ns-gan", ["ns-gan", "--data", "ring8", "--diagnostics", "gan,modes"], 3000),
    ("realnvp", ["realnvp", "--data", "mnist"], 600),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/results/analysis/diagnostics")
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--only", default=None, help="comma-separated run names")
    args = ap.parse_args()
    from genzoo.cli import main as cli

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"provenance": provenance(__file__), "runs": {}}
    tmp = Path(tempfile.mkdtemp(prefix="genzoo-diag-"))
    for name, argv, steps in RUNS:
        if args.only and name not in args.only.split(","):
            continue
        run = tmp / name
        steps = max(20, int(steps * args.steps_scale))
        t0 = time.process_time()
        assert cli(["train", *argv, "--out", str(run), "--steps", str(steps), "--no-progress",
                    "--diagnostics-every", str(max(10, steps // 15 // 10 * 10))] if "--diagnostics" in argv else
                   ["train", *argv, "--out", str(run), "--steps", str(steps), "--no-progress"]) == 0
        train_cpu = time.process_time() - t0
        assert cli(["analyze", str(run)]) == 0
        res = json.loads((run / "analysis" / "analysis.json").read_text())
        for png in (run / "analysis").glob("*.png"):
            shutil.copy(png, out / f"{name}_{png.name}")
        summary["runs"][name] = {"command": "genzoo train " + " ".join(argv) + f" --steps {steps}",
                                 "train_cpu_seconds": round(train_cpu, 1), "analyses": _short(res["analyses"])}
        print(name, json.dumps(summary["runs"][name]["analyses"])[:400])
    path = out / "diagnostics.json"
    old = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    old["runs"].update(summary["runs"])
    old["provenance"] = summary["provenance"]
    path.write_text(json.dumps(old, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


def _short(analyses: dict) -> dict:
    """The headline numbers of each analysis (the histories stay in the run folder)."""
    out = {}
    for k, v in analyses.items():
        if k == "posterior":
            out[k] = {"active_units": v["active_units"], "latent_dim": v["latent_dim"], "kl": v.get("kl"),
                      "active_over_training": [h["active_units"] for h in v["history"]]}
        elif k == "modes":
            out[k] = {**v["final"], "covered_over_training": [h["modes_covered"] for h in v["history"]]}
        elif k == "gan":
            out[k] = {key: v[key] for key in ("saturating", "non_saturating", "d_real", "d_fake",
                                                "confident_real", "confident_fake") if key in v}
        elif k == "ood":
            out[k] = v
        elif k == "gradients":
            out[k] = {p: n["total"] for p, n in v["final"].items()}
    return out


if __name__ == "__main__":
    main()

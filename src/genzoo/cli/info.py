"""`genzoo info RUN`: what a run folder holds: model, data, steps done and planned, the last metrics, the checkpoints,
whether the final model is written, and the command that resumes it.

It reads config.yaml, metrics.jsonl and the checkpoint folders only (JSON and YAML, no torch), so it answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from genzoo.cli.text import description
from genzoo.errors import CheckpointError

# units of the logged parts that have them (the rest are unitless or per-model)
UNITS = {"nll": "nats/example", "bpd": "bits/dim", "elbo": "nats/example", "recon": "nats/example",
         "kl": "nats/example", "time": "s"}


def register(sub) -> None:
    p = sub.add_parser("info", help="show what a run folder holds and how to resume it",
                       description=description(__doc__))
    p.add_argument("run", help="run folder written by `genzoo train`")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def unit(key: str, loss_units: str = "") -> str:
    """The unit of a logged key: from UNITS, or the model's declared `loss_units` for its "loss" parts."""
    part = key.rsplit("/", 1)[-1]
    return loss_units if part == "loss" else UNITS.get(part, "")


def run_info(run_dir: str | Path) -> dict:
    """The summary of a run folder as a dict (CheckpointError, one line, for a folder that is not a run)."""
    import yaml

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir}: not a genzoo run folder (no config.yaml)")
    try:
        doc = yaml.safe_load(cfg_path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{cfg_path}: unreadable ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("run"), dict):
        raise CheckpointError(f"{cfg_path}: no run section (not written by genzoo train?)")
    ckpts = []
    for d in sorted((run_dir / "checkpoints").glob("step_*")):
        if d.is_dir() and (d / "state.json").is_file():
            size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
            ckpts.append({"step": int(d.name.split("_")[1]), "path": str(d), "bytes": size})
    train_recs, eval_recs = [], []
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            (eval_recs if any(k.startswith("eval/") for k in rec) else train_recs).append(rec)
    planned = int((doc.get("train") or {}).get("steps", 0) or 0)
    done = max([c["step"] for c in ckpts] + [0])
    return {
        "run": str(run_dir), "model": doc["run"].get("model"), "data": doc["run"].get("data"),
        "steps_done": done, "steps_planned": planned, "last_train": train_recs[-1] if train_recs else None,
        "last_eval": eval_recs[-1] if eval_recs else None, "checkpoints": ckpts,
        "final_model": (run_dir / "model" / "config.json").is_file(),
        "resume": None if not ckpts else f"genzoo train --resume --out {run_dir}"
                  + ("" if done < planned else f" --steps {max(planned, done) * 2}"),
    }


def run(args) -> int:
    info = run_info(args.run)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"run        {info['run']}")
    from genzoo.catalog import MODELS

    lu = next((m.get("loss_units", "") for m in MODELS if m["name"] == info["model"]), "")
    print(f"model      {info['model']} on {info['data']}")
    print(f"steps      {info['steps_done']} of {info['steps_planned']} done (last checkpoint)")
    for what in ("last_train", "last_eval"):
        rec = info[what]
        if rec:
            parts = [f"{k}={v:.4g}" + (f" {unit(k, lu)}" if unit(k, lu) else "") for k, v in rec.items()
                     if isinstance(v, (int, float)) and k not in ("step", "epoch") and not k.startswith("lr/")]
            print(f"{what.replace('_', ' '):<10} step {rec.get('step')}: " + "  ".join(parts))
    if info["checkpoints"]:
        for c in info["checkpoints"]:
            print(f"checkpoint step {c['step']:>8}  {c['bytes'] / 1e6:.2f} MB  {c['path']}")
    else:
        print("checkpoint none (the run cannot be resumed)")
    print(f"model/     {'written (final model)' if info['final_model'] else 'not written yet'}")
    if info["resume"]:
        print(f"resume     {info['resume']}")
    return 0

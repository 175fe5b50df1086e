"""`genzoo train MODEL --data NAME [--config file.yaml] [--set key=value ...] --out runs/NAME [--steps N] [--resume]`.

Writes the run folder: config.yaml, metrics.jsonl, checkpoints/, samples/, loss.png, model/ (see docs/cli.md).
Data-parallel: `torchrun --nproc_per_node N -m genzoo train ...` (docs/training.md, "Distributed").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from genzoo.cli.text import description, positive_int
from genzoo.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model on a data set", description=description(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="registered model name (see `genzoo list`); read from the run with "
                                            "--resume")
    p.add_argument("--data", help="data set name or path (or data.name in the config)")
    p.add_argument("--config", help="YAML file with sections model:, train:, data:")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, e.g. --set model.latent_dim=8 --set train.lr=1e-3 (repeatable)")
    p.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    p.add_argument("--steps", type=positive_int, help="number of training steps (overrides train.steps)")
    p.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
    p.add_argument("--device", help="cpu | cuda | auto (overrides train.device)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--diagnostics", metavar="NAMES",
                   help="record diagnostics over training into RUN/diagnostics/ (comma-separated: posterior, modes, "
                        "gradients, gan); `genzoo analyze RUN` draws them. A resumed run keeps its recorded ones")
    p.add_argument("--diagnostics-every", type=positive_int, metavar="N",
                   help="steps between diagnostics (default: a 20th of the run, rounded to the log interval)")
    p.set_defaults(func=run)


def _overrides(args) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if args.steps is not None:
        o["steps"] = args.steps
    if args.seed is not None:
        o["seed"] = args.seed
    if args.device is not None:
        o["device"] = args.device
    if args.no_progress:
        o["progress"] = False
    return o


def run(args) -> int:
    if args.resume:
        return _resume(args)
    from genzoo.train.run import apply_sets, read_yaml, start_run

    doc = read_yaml(args.config) if args.config else {}
    doc = apply_sets(doc, args.set)
    run_sec = doc.get("run", {})
    model_name = args.model or run_sec.get("model")
    if not model_name:
        raise ConfigError("no model given: genzoo train MODEL --data NAME (see `genzoo list`)")
    data_name = args.data or doc.get("data", {}).get("name") or run_sec.get("data")
    if not data_name:
        raise ConfigError("no data set given: use --data NAME (see `genzoo list`)")
    out = Path(args.out or f"runs/{model_name}-{Path(str(data_name)).stem}")
    if args.diagnostics:  # before the run folder is written
        from genzoo.analysis.diagnostics import check_monitors
        from genzoo.models import get_class

        check_monitors(get_class(model_name), _names(args.diagnostics), str(data_name))
    trainer = start_run(model_name, str(data_name), doc, out, _overrides(args))
    _add_diagnostics(trainer, args, str(data_name))
    n_params = sum(p.numel() for p in trainer.model.parameters())
    world = f" in {trainer.dist.world} processes" if trainer.dist.enabled else ""
    if trainer.is_main:
        print(f"genzoo train: {model_name} ({n_params:,} parameters) on {data_name} ({len(trainer.data)} examples), "
              f"{trainer.config.steps} steps{world} -> {out}", file=sys.stderr)
    trainer.fit()
    _summary(trainer, out)
    return 0


def _resume(args) -> int:
    from genzoo.train import Trainer
    from genzoo.train.run import get_data, load_eval_data, read_run_config

    if not args.out:
        raise ConfigError("--resume needs --out RUN_FOLDER")
    out = Path(args.out)
    doc = read_run_config(out)
    run_sec = doc["run"]
    if args.model and args.model != run_sec["model"]:
        raise ConfigError(f'{out} holds a run of "{run_sec["model"]}", not "{args.model}"')
    if args.set or args.config:
        raise ConfigError("--resume continues a run with its own config.yaml; --set/--config are not allowed "
                          "(only --steps, --device, --no-progress)")
    data_name = str(run_sec["data"])
    if args.data and not _same_data(args.data, data_name):
        raise ConfigError(f"--data {args.data}: {out} was trained on {data_name}, and --resume continues on the "
                          f"run's own data; drop --data, or start a new run with another --out")
    data_name = args.data or data_name  # the same data, perhaps named by another path to the file
    over = _overrides(args)
    if over.pop("seed", None) is not None:
        raise ConfigError("--seed cannot change a resumed run (its random state continues from the checkpoint); "
                          "drop --seed, or start a new run with another --out")
    data_opts = dict(doc.get("data", {}))
    train = get_data(data_name, "train", **data_opts)
    test = load_eval_data(data_name, data_opts)
    trainer = Trainer.resume(out, train, eval_data=test, **over)
    _add_diagnostics(trainer, args, data_name)
    if trainer.step >= trainer.config.steps:
        asked = f"--steps {args.steps}" if args.steps is not None else f"train.steps = {trainer.config.steps}"
        raise ConfigError(f"{asked}: {out} is already at step {trainer.step}, nothing to resume; to train further "
                          f"pass --steps N with N > {trainer.step}")
    if trainer.is_main:
        print(f"genzoo train: resuming {run_sec['model']} at step {trainer.step} of {trainer.config.steps} -> {out}",
              file=sys.stderr)
    if over.get("steps") is not None and trainer.is_main:
        from genzoo.train.run import write_yaml

        doc["train"]["steps"] = trainer.config.steps
        write_yaml(out / "config.yaml", doc)
    trainer.fit()
    _summary(trainer, out)
    return 0


def _names(text: str | None) -> list[str]:
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if text is not None and not names:
        raise ConfigError("--diagnostics: give at least one of posterior, modes, gradients, gan")
    return names


def _add_diagnostics(trainer, args, data_name: str) -> None:
    """The monitors of --diagnostics (or, on --resume, those the run recorded) as Trainer callbacks."""
    names = _names(args.diagnostics)
    if not names and args.resume and trainer.out_dir is not None:
        names = sorted(p.stem for p in (Path(trainer.out_dir) / "diagnostics").glob("*.jsonl"))
    if not names:
        if args.diagnostics_every is not None:
            raise ConfigError("--diagnostics-every needs --diagnostics NAMES")
        return
    from genzoo.analysis.diagnostics import monitors_for

    log = trainer.config.log_every
    every = args.diagnostics_every or max(log, (trainer.config.steps // 20) // log * log)
    ev = trainer.eval_data
    trainer.callbacks += monitors_for(trainer.model, names, trainer.data.x, trainer.data.y,
                                      None if ev is None else ev.x, data_name, every)


def _same_data(given: str, trained: str) -> bool:
    """`--data` names the run's data: the same name, or another path to the same file."""
    if given == trained:
        return True
    a, b = Path(given), Path(trained)
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def _summary(trainer, out: Path) -> None:
    """The end-of-run line, every number with its unit (the model's `loss_units`; NLL in nats per example); rank 0
    only under torchrun."""
    if not trainer.is_main:
        return
    last = [h for h in trainer.history if "step" in h and not any(k.startswith("eval/") for k in h)]
    ev = [h for h in trainer.history if "eval/nll" in h or any(k.startswith("eval/") for k in h)]
    lu = getattr(trainer.model, "loss_units", "")
    parts = []
    if last:
        parts += [f"{k}={v:.4g}" + (f" {lu}" if lu else "") for k, v in last[-1].items() if k.endswith("/loss")]
    if ev:
        text = trainer.data.kind == "text"  # an example is a window of tokens; a dimension is a token
        units = (("eval/nll", "nats/window"), ("eval/bpd", "bits/token")) if text else (
            ("eval/nll", "nats/example"), ("eval/bpd", "bits/dim"))
        for k, u in units:
            if k in ev[-1]:
                parts.append(f"{k}={ev[-1][k]:.4g} {u}")
    print(f"done: step {trainer.step}  " + "  ".join(parts))
    print(f"run folder: {out}  (model/, checkpoints/, metrics.jsonl, loss.png, samples/)")

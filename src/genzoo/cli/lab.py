"""`genzoo lab mode-collapse`: GANs on ring8, grid25 and stacked MNIST, mode statistics over seeds.

    genzoo lab mode-collapse [--models gan,ns-gan,wgan-gp,pacgan] [--datasets ring8,grid25,stacked-mnist]
                             [--seeds 0,1,2,3,4] [--steps 8000] [--out docs/results/gans]
    genzoo lab mode-collapse --protocol pacgan [--models gan,pacgan2,pacgan3,pacgan4] ...

The argument parser of genzoo.lab.mode_collapse_lab (the experiment, its settings and its files live there): every
(model, data set, seed) is trained by genzoo.train.Trainer, then scored by genzoo.eval.mode_stats on 2,500
samples (toy sets; PacGAN protocol) or 26,000 samples (stacked MNIST, as PacGAN). Writes to --out:
mode_collapse.json (every run, merged with earlier runs by key), mode_collapse.md (a mean +- std table over seeds,
with the command, budget and date) and mode_collapse_{dataset}.png (scatter plots / sample grids of the first seed).
--protocol pacgan: the settings of the PacGAN authors' code (architectures, batch norm, Adam, 100 packs per batch,
training set sizes; genzoo.lab.mode_collapse.PACGAN_*) at a CPU step budget, into mode_collapse_pacgan.{json,md}
and mode_collapse_pacgan_{dataset}.png, beside the paper's Tables 1 and 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from genzoo.cli.text import description
from genzoo.errors import ConfigError, unknown_name

DEFAULT_MODELS = "gan,ns-gan,wgan-gp,pacgan"
PACGAN_DEFAULT_MODELS = "gan,pacgan2,pacgan3,pacgan4"
SET_SECTIONS = ("model", "train", "data", "run")  # the sections of genzoo.train.run.apply_sets


def register(sub) -> None:
    p = sub.add_parser("lab", help="experiments that reproduce known phenomena (mode collapse, ...)",
                       description="Laboratory experiments.")
    lab_sub = p.add_subparsers(dest="lab", metavar="EXPERIMENT")
    m = lab_sub.add_parser("mode-collapse", help="GANs on ring8 / grid25 / stacked MNIST: mode statistics",
                           description=description(__doc__))
    m.add_argument("--protocol", default="lab",
                   help="lab (the lab's settings, the default) | pacgan (the PacGAN code's settings: models gan, "
                        "pacgan2, pacgan3, pacgan4; docs/models/gans.md)")
    m.add_argument("--models", default=None,
                   help=f"comma-separated model names (default {DEFAULT_MODELS}; --protocol pacgan: "
                        f"{PACGAN_DEFAULT_MODELS}, pacganM packs M samples)")
    m.add_argument("--datasets", default="ring8,grid25,stacked-mnist")
    m.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    m.add_argument("--steps", type=int, default=None,
                   help="training steps on the toy sets (default 8000; the recorded grid25 results used 40000; "
                        "--protocol pacgan: the documented CPU budget PACGAN_STEPS)")
    m.add_argument("--mnist-steps", type=int, default=None,
                   help="training steps on stacked MNIST (default --steps; --protocol pacgan: PACGAN_STEPS)")
    m.add_argument("--model-steps", action="append", default=[], metavar="MODEL=STEPS",
                   help="steps for one model, overriding --steps / --mnist-steps (repeatable), e.g. wgan-gp=8000: "
                        "with 5 critic updates per step that is as many discriminator updates as 40000 GAN steps")
    m.add_argument("--eval-steps", default="", metavar="K1,K2,...",
                   help="also score every run when it passes these step counts (a learning curve from the same "
                        "runs; one row per budget)")
    m.add_argument("--batch-size", type=int, default=None,
                   help="default 256; --protocol pacgan: discriminator inputs (packs) per batch, default 100 on the "
                        "toy sets and 64 on stacked MNIST as in the PacGAN code")
    m.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 1e-3 with a cosine decay for GANs on the toy sets, else each "
                        "model's train_defaults)")
    m.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override for every model, e.g. --set g_hidden=[64,64] (repeatable; "
                        "model.KEY= and train.KEY= as in genzoo train are accepted too)")
    m.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig override, e.g. --train-set schedule=cosine (repeatable)")
    m.add_argument("--device", default="auto")
    m.add_argument("--out", default="docs/results/gans")
    m.add_argument("--tag", default="", help="suffix of the plot names (runs of other models into the same --out)")
    m.set_defaults(func=run_mode_collapse)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _in_section(section: str, item: str) -> str:
    """`key=value` -> `section.key=value`, unless the key already names a section."""
    key = item.split("=", 1)[0].strip()
    return item if "=" not in item or key.split(".")[0] in SET_SECTIONS else f"{section}.{item.strip()}"


def parse_lab_sets(model_items: list[str], train_items: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model overrides, TrainConfig overrides) from --set / --train-set, through the shared parser
    (genzoo.config.parse_set via genzoo.train.run.apply_sets); the values are validated by the lab."""
    from genzoo.train.run import apply_sets

    doc = apply_sets({}, [_in_section("model", it) for it in model_items]
                     + [_in_section("train", it) for it in train_items])
    for sec in ("data", "run"):
        if doc.get(sec):
            raise ConfigError(f"--set {sec}.{next(iter(doc[sec]))}: the lab takes only model and train settings "
                              "(data sets come from --datasets)")
    return doc.get("model", {}), doc.get("train", {})


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _model_steps(items: list[str]) -> dict[str, int]:
    out = {}
    for it in items:
        name, _, v = it.partition("=")
        if not v.strip().isdigit() or int(v) < 1:
            raise ConfigError(f"--model-steps expects MODEL=STEPS with STEPS >= 1, got {it!r}")
        out[name.strip()] = int(v)
    return out


def run_mode_collapse(args) -> int:
    try:
        seeds = [int(s) for s in _names(args.seeds)]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    from genzoo.lab.mode_collapse import PROTOCOLS

    if args.protocol not in PROTOCOLS:
        raise unknown_name("lab protocol", args.protocol, PROTOCOLS)
    for name in ("steps", "mnist_steps", "batch_size"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    try:
        eval_steps = [int(s) for s in _names(args.eval_steps)]
    except ValueError:
        raise ConfigError(f"--eval-steps expects comma-separated integers, got {args.eval_steps!r}") from None
    model_steps = _model_steps(args.model_steps)
    overrides, train_overrides = parse_lab_sets(args.set, args.train_set)
    cmd = ("genzoo " + " ".join(sys.argv[sys.argv.index("lab"):])) if "lab" in sys.argv else "genzoo lab mode-collapse"
    from genzoo.lab import mode_collapse_lab

    default = PACGAN_DEFAULT_MODELS if args.protocol == "pacgan" else DEFAULT_MODELS
    mode_collapse_lab(_names(args.models or default), _names(args.datasets), seeds, args.steps,
                      mnist_steps=args.mnist_steps, model_steps=model_steps, batch_size=args.batch_size, lr=args.lr,
                      overrides=overrides, train_overrides=train_overrides, device=args.device,
                      protocol=args.protocol, eval_steps=eval_steps, out=args.out, tag=args.tag, command=cmd,
                      log=lambda line: print(line, flush=True))
    out = Path(args.out)
    stem = "mode_collapse" if args.protocol == "lab" else f"mode_collapse_{args.protocol}"
    print(f"wrote {out / (stem + '.md')}, {out / (stem + '.json')}")
    return 0

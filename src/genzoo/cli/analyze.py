"""`genzoo analyze RUN [--only posterior,gradients,...]`: every analysis that applies to the run's model and data,
as figures in RUN/analysis/ with their numbers in RUN/analysis/analysis.json and a report (report.html, report.md).
`--list` names the analyses and what each needs; diagnostics recorded by `genzoo train --diagnostics` are drawn
over training.
"""

from __future__ import annotations

import sys

from genzoo.cli.text import description


def register(sub) -> None:
    p = sub.add_parser("analyze", help="figures of a trained run: latents, manifolds, diagnostics",
                       description=description(__doc__))
    p.add_argument("run", nargs="?", help="run folder written by `genzoo train`")
    p.add_argument("--only", metavar="NAMES", help="comma-separated analyses (default: all that apply; see --list)")
    p.add_argument("--checkpoint", action="store_true", help="analyse the latest checkpoint instead of model/")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and batches the analyses draw")
    p.add_argument("--list", action="store_true", help="list the analyses and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from genzoo.analysis.run_analysis import ANALYSES, analyze_run, parse_only
    from genzoo.errors import ConfigError

    if args.list:
        for name, a in ANALYSES.items():
            print(f"{name:<14}{a.what}")
        return 0
    if not args.run:
        raise ConfigError("give a run folder: genzoo analyze RUN (or --list)")
    only = parse_only(args.only)
    res = analyze_run(args.run, only, "checkpoint" if args.checkpoint else "auto", args.seed,
                      log=lambda m: print(f"genzoo analyze: {m}", file=sys.stderr))
    for fig in res["figures"]:
        print(fig)
    for name, why in res["skipped"].items():
        print(f"  skipped {name}: {why}", file=sys.stderr)
    print(f"report: {res['report']}")
    return 0

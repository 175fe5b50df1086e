"""`genzoo sample RUN -n 64 --out grid.png [--seed S]`: draw samples from a trained run.

Images are saved as a grid, 2-D points as a scatter plot (over the training data), text as decoded lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

from genzoo.cli.text import description, positive_int
from genzoo.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run", description=description(__doc__))
    p.add_argument("run", help="run folder written by `genzoo train`")
    p.add_argument("-n", "--num", type=positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", help="output file (default RUN/samples/sample.png; .txt for text)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--label", type=int, help="class label for a conditional model (default: cycle 0, 1, ...)")
    p.add_argument("--checkpoint", action="store_true", help="use the latest checkpoint instead of model/")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from genzoo.train.plots import check_output_file, save_samples
    from genzoo.train.run import get_data, load_run_model, read_run_config

    doc = read_run_config(args.run)
    kind = doc["run"].get("kind", "points")
    out = Path(args.out) if args.out else Path(args.run) / "samples" / "sample.png"
    check_output_file(out, text=kind == "text")  # a bad --out is named before the model is loaded and sampled
    model = load_run_model(args.run, "checkpoint" if args.checkpoint else "auto")
    model.eval()
    cond = None
    k = int(getattr(model.config, "num_classes", 0) or 0)
    if args.label is not None and not k:
        raise ConfigError(f"--label {args.label}: {model.name} in {args.run} is unconditional (num_classes = 0)")
    if k:
        if args.label is not None and not 0 <= args.label < k:
            raise ConfigError(f"--label must lie in [0, {k}), got {args.label}")
        cond = torch.full((args.num,), args.label) if args.label is not None else torch.arange(args.num) % k
    torch.manual_seed(args.seed)
    try:
        with torch.no_grad():
            s = model.sample(args.num, cond).detach().cpu()
    except (MemoryError, RuntimeError) as e:  # torch's allocator failure is a RuntimeError ("can't allocate")
        if not isinstance(e, MemoryError) and "alloc" not in str(e).lower():
            raise
        raise ConfigError(f"-n {args.num}: not enough memory to draw {args.num} samples at once; ask for fewer "
                          "(pictures are grids: a few hundred is plenty)") from None
    meta, ref = {}, None
    if kind in ("text", "points"):
        try:
            ds = get_data(doc["run"]["data"], "train", **doc.get("data", {}))
            meta = dict(getattr(ds, "meta", None) or {})
            ref = ds.x[:2000] if kind == "points" else None
        except Exception as e:  # noqa: BLE001  the plot works without the reference data
            print(f"genzoo sample: could not load data {doc['run']['data']} ({e}); plotting samples only",
                  file=sys.stderr)
    path = save_samples(s, out, kind, reference=ref, meta=meta, title=f"{model.name}: {args.num} samples")
    print(path)
    return 0

"""`genzoo augment RUN --n 5000 --out samples.npz [--seed 0] [--batch-size 500]`: labelled samples for augmentation.

Draws n samples from the class-conditional model of a run (labels by the model's rule: 0, 1, ..., K-1 cycling,
so the classes are balanced) and writes them atomically as a .npz file with arrays x (the data's own space: images
float32 (N, C, H, W) in [0, 1], points float32 (N, D)) and y (int64 labels), plus num_classes. `genzoo.data` reads
the file back like any user data set (`genzoo.data.get("samples.npz", holdout=0)` gives the same x and y), so it can
be mixed into a training set or scored with genzoo.eval.classification_accuracy_score. An unconditional model is
refused (exit 2).
"""

from __future__ import annotations

import io
from pathlib import Path

from genzoo.cli.text import description, positive_int
from genzoo.errors import ConfigError, OutputError


def register(sub) -> None:
    p = sub.add_parser("augment", help="write labelled samples of a conditional run as a .npz data set",
                       description=description(__doc__))
    p.add_argument("run", help="run folder written by `genzoo train` (a class-conditional model)")
    p.add_argument("-n", "--n", dest="n", type=positive_int, default=5000, help="number of samples (default 5000)")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=positive_int, default=500, help="samples drawn at once (default 500)")
    p.add_argument("--checkpoint", action="store_true", help="use the latest checkpoint instead of model/")
    p.set_defaults(func=run)


def check_npz_output(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out {path}: samples are written as a NumPy .npz file; use a .npz name")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file name (e.g. {out / 'samples.npz'})")
    return out


def run(args) -> int:
    import numpy as np

    from genzoo.io import atomic_write_bytes
    from genzoo.lab.augment import labelled_samples, num_classes_of
    from genzoo.train.run import load_run_model, read_run_config

    out = check_npz_output(args.out)
    read_run_config(args.run)  # a missing or foreign folder is named in one line before anything loads
    model = load_run_model(args.run, "checkpoint" if args.checkpoint else "auto")
    k = num_classes_of(model)
    x, y = labelled_samples(model, args.n, seed=args.seed, batch_size=args.batch_size, progress=True)
    buf = io.BytesIO()
    np.savez(buf, x=x.numpy().astype(np.float32), y=y.numpy().astype(np.int64), num_classes=np.int64(k))
    atomic_write_bytes(out, buf.getvalue())
    print(out)
    return 0

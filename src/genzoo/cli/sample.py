"""`genzoo sample RUN -n 64 --out grid.png [--seed S]`: draw samples from a trained run.

Images are saved as a grid, 2-D points as a scatter plot (over the training data). A text model prints text:
`genzoo sample runs/gpt --prompt "ROMEO:" --max-new-tokens 500 --temperature 0.8 --top-k 40` continues the
prompt (or starts from nothing), and `--out file.txt` writes it to a file instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from genzoo.cli.text import description, non_negative_float, positive_int, probability
from genzoo.errors import ConfigError, DataError


def register(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run", description=description(__doc__))
    p.add_argument("run", help="run folder written by `genzoo train`")
    p.add_argument("-n", "--num", type=positive_int, help="number of samples (default 64; 1 for text)")
    p.add_argument("--out", help="output file (default RUN/samples/sample.png; text is printed unless --out "
                                 "names a .txt file)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--label", type=int, help="class label for a conditional model (default: cycle 0, 1, ...)")
    p.add_argument("--checkpoint", action="store_true", help="use the latest checkpoint instead of model/")
    t = p.add_argument_group("text models")
    t.add_argument("--prompt", help="text to continue (default: start from nothing)")
    t.add_argument("--max-new-tokens", type=positive_int, default=500, help="tokens to generate (default 500)")
    t.add_argument("--temperature", type=non_negative_float, default=1.0,
                   help="divides the logits; 0 is greedy, the most likely token every time (default 1)")
    t.add_argument("--top-k", type=positive_int, help="sample among the k most likely tokens only")
    t.add_argument("--top-p", type=probability, help="sample among the fewest most likely tokens whose "
                                                     "probability reaches p (nucleus sampling)")
    p.set_defaults(func=run)


TEXT_FLAGS = {"prompt": "--prompt", "top_k": "--top-k", "top_p": "--top-p"}


def run(args) -> int:
    import torch

    from genzoo.train.plots import check_output_file, save_samples
    from genzoo.train.run import get_data, load_run_model, read_run_config

    doc = read_run_config(args.run)
    kind = doc["run"].get("kind", "points")
    if kind == "text":
        return run_text(args)
    given = [flag for key, flag in TEXT_FLAGS.items() if getattr(args, key) is not None]
    if given:
        raise ConfigError(f"{given[0]}: the model of {args.run} generates {kind} data, not text")
    args.num = args.num or 64
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


def run_text(args) -> int:
    """Text: `generate` continues the encoded prompt (the model's `generate` and `tokenizer` capabilities)."""
    import torch

    from genzoo.io import atomic_write_bytes
    from genzoo.train.plots import check_output_file
    from genzoo.train.run import load_run_model

    out = None
    if args.out:
        if not args.out.lower().endswith(".txt"):
            raise ConfigError(f"--out {args.out}: text is written to a .txt file; use a .txt name")
        out = check_output_file(Path(args.out), text=True)
    if args.label is not None:
        raise ConfigError(f"--label {args.label}: the text model of {args.run} takes no labels")
    model = load_run_model(args.run, "checkpoint" if args.checkpoint else "auto")
    missing = {"generate", "tokenizer"} - set(model.capabilities)
    if missing:
        raise ConfigError(f'model "{model.name}" in {args.run} cannot continue text (it lacks '
                          f"{', '.join(sorted(missing))})")
    model.eval()
    tok = model.tokenizer
    try:
        prompt = tok.encode(args.prompt or "")  # a DataError names characters outside the vocabulary
    except DataError as e:
        raise DataError(f"--prompt: {e}") from None
    n = args.num or 1
    torch.manual_seed(args.seed)
    with torch.no_grad():
        ids = model.generate(prompt.expand(n, -1).to(model.device), args.max_new_tokens,
                             temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    texts = [tok.decode(row) for row in ids.cpu()]
    body = texts[0] if n == 1 else "".join(f"--- sample {i} ---\n{t}\n" for i, t in enumerate(texts))
    if out is None:
        print(body)
        return 0
    atomic_write_bytes(out, (body if body.endswith("\n") else body + "\n").encode())
    print(out)
    return 0

"""A categorical HMM on tiny Shakespeare characters, trained by stepwise EM through the one Trainer.

    OMP_NUM_THREADS=1 python benchmarks/hmm_shakespeare.py [--states 128] [--steps 1000] [--out docs/results/classical]

Training: `hmm` with S states on windows of `context` characters at every offset of the first 90% of the text,
`Trainer` with the model's train_defaults (plain SGD on the sufficient statistics = stepwise EM, stepwise.py;
lr = step size rho, linear decay). Validation: the whole last 10% tiled by windows of the context
(genzoo.eval.text: nats/char, bits/char), each window's first state drawn from pi, as the GPT's "all positions"
column in docs/results/transformer/shakespeare.md. Writes shakespeare.json / shakespeare.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GPT = {"rotary, lr 1e-3": (1.8107, 2.6123), "learned, lr 2e-3": (1.8246, 2.6323)}  # all positions, bits/char


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--states", type=int, default=128)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "classical")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prov = provenance(__file__, argv)

    from genzoo.data import get
    from genzoo.eval.text import evaluate_text
    from genzoo.models import create
    from genzoo.train import Trainer

    train, val = get("shakespeare", split="train"), get("shakespeare", split="val")
    meta = train.meta
    m = create("hmm", states=args.states, context=args.context, vocab_size=meta["vocab_size"], chars=meta["chars"],
               tokenizer=meta["tokenizer"])
    over = {"steps": args.steps, "batch_size": args.batch_size, "progress": False, "device": "cpu"}
    if args.lr is not None:
        over["lr"] = args.lr
    trainer = Trainer(m, train, **over)
    c0, w0 = time.process_time(), time.perf_counter()
    trainer.fit()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    m.eval()
    with torch.no_grad():
        r = evaluate_text(m, val.x, batch_size=64)
        g = torch.Generator().manual_seed(0)
        text = m.tokenizer.decode(m.generate(m.tokenizer.encode("ROMEO:")[None], 300, generator=g)[0])
    n_params = sum(p.numel() for p in m.parameters())
    res = {**prov, "states": args.states, "context": args.context, "steps": args.steps,
           "batch_size": trainer.config.batch_size, "lr": trainer.config.lr, "schedule": trainer.config.schedule,
           "params": n_params, "train_cpu_s": cpu, "train_wall_s": wall, "val": r, "sample": text, "gpt": GPT}
    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"s{args.states}"
    (args.out / f"shakespeare_{tag}.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [f"# HMM on tiny Shakespeare, {args.states} states", "",
             "Written by `benchmarks/hmm_shakespeare.py`. Validation: the whole last 10% of the text, tiled by windows "
             f"of {args.context} characters, each window's first state from pi (exact log p(window)).", "",
             "| model | params | steps | val nats/char | bits/char | train CPU (s) |", "|---|---|---|---|---|---|",
             f"| hmm, {args.states} states, context {args.context} | {n_params:,} | {args.steps} | "
             f"**{r['loss']:.4f}** (± {r['loss_sem']:.4f}) | {r['bits_per_char']:.4f} | {cpu:.0f} |"]
    for name, (nats, bits) in GPT.items():
        lines.append(f"| gpt ({name}, docs/results/transformer/shakespeare.md, all positions) | ~800k | 2000 | "
                     f"{nats:.4f} | {bits:.4f} | ~200 |")
    lines += ["", f"- command: `{prov['command']}`", f"- date: {prov['date']}", f"- machine: {prov['machine']}",
              f"- commit: {prov['commit']}", f"- train config: batch {trainer.config.batch_size}, lr "
              f"{trainer.config.lr} ({trainer.config.schedule}), optimizer {trainer.config.optimizer}", "",
              "300 characters after \"ROMEO:\" (temperature 1):", "", "```text", text, "```", ""]
    (args.out / f"shakespeare_{tag}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

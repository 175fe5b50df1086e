"""A character-level GPT on tiny Shakespeare: create -> train -> generate -> evaluate -> save / load.

A decoder-only transformer (causal self-attention, rotary positions) trained on next-character prediction; its
validation loss is the exact log-probability per character (nats), also given in bits per character and as a
perplexity; the text is continued from a prompt with temperature and top-k sampling. The picture is the training
loss against the step.

    python examples/transformer.py --out runs/examples   # about a minute on 2 cores
    python examples/transformer.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval.text import evaluate_text
from genzoo.train import TrainConfig, Trainer, save_loss_curves


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, n_tokens, n_new = (10, 2000, 40) if args.smoke else (1200, 20000, 300)
    out = Path(args.out)

    train, val = genzoo.data.get("shakespeare", "train"), genzoo.data.get("shakespeare", "test")
    meta = train.meta                                                  # the tokeniser travels with the model
    model = genzoo.models.create("gpt", vocab_size=meta["vocab_size"], chars=meta["chars"], context=64,
                                 n_layer=2, n_head=4, n_embd=96, positions="rotary")
    history = Trainer(model, train, TrainConfig(steps=steps, batch_size=16, lr=2e-3, schedule="cosine",
                                                progress=False), out_dir=out / "transformer").fit()

    result = evaluate_text(model, val.x, max_tokens=n_tokens)
    print(f"validation: {result['loss']:.3f} nats/char, {result['bits_per_char']:.3f} bits/char, "
          f"perplexity {result['perplexity']:.2f}")
    prompt = model.tokenizer.encode("ROMEO:")[None]                   # (1, 6) int64
    torch.manual_seed(0)
    ids = model.generate(prompt, n_new, temperature=0.8, top_k=40)
    print("--- generated ---\n" + model.tokenizer.decode(ids[0]) + "\n---")
    picture = save_loss_curves(history, out / "transformer.png")

    model.save(out / "transformer" / "saved")
    again = genzoo.models.load(out / "transformer" / "saved")
    assert again.tokenizer.decode(ids[0]) == model.tokenizer.decode(ids[0])
    torch.manual_seed(0)
    assert torch.equal(again.generate(prompt, n_new, temperature=0.8, top_k=40), ids)
    print(f"saved and loaded: the same continuation from the same seed; picture: {picture}")
    return {"loss": result["loss"], "picture": str(picture)}


if __name__ == "__main__":
    main()

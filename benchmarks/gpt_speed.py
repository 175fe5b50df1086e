"""Speed of `gpt` on the CPU: training tokens/s against Hugging Face transformers' GPT2LMHeadModel, and generation
tokens/s with and without the key/value cache.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpt_speed.py [--rounds 15] [--steps 8] [--threads 1]

Both models: 4 layers, 4 heads, width 128, context 64, vocabulary 65 (tiny Shakespeare's characters), dropout 0,
tied output layer, fp32, batch 12 windows of 64 tokens; one step = loss, backward, torch.optim.AdamW (lr 1e-3,
weight decay 0.1). genzoo's step is the library's path (`gpt` model, GPT.loss); transformers' is its own
(GPT2LMHeadModel(input_ids, labels=input_ids).loss). Contenders:

    genzoo            `gpt` with its defaults (no biases, exact GELU, learned positions)
    genzoo-bias       `gpt` with bias=True: the same architecture as GPT-2, checked as a function (below)
    hf-gelu           GPT2LMHeadModel with activation_function="gelu" (exact GELU, the function genzoo uses)
    hf-default        GPT2LMHeadModel with its default activation "gelu_new" (the tanh approximation, written as
                      elementwise Python operations)

The headline ratio is genzoo / hf-gelu (the same function as GELU; transformers cannot drop its biases). The
match is checked, not assumed: transformers' weights are copied into genzoo-bias and both must give the same logits
on the same ids (max relative difference recorded). Contenders run interleaved: `rounds` rounds, each a block of
`steps` steps of every contender (the order rotates each round), so all see the same machine load; figures are
medians over rounds of process CPU time per step (the less noisy clock on a shared machine; wall time beside it)
and the median of the per-round ratios. Generation: 500 new tokens for 4 prompts at temperature 1 with
`use_cache` on and off (the window slides past the context of 64 either way). transformers is optional (the
`bench` extra). Writes docs/results/transformer/speed.json and speed.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import provenance  # noqa: E402

OUT = ROOT / "docs" / "results" / "transformer"
ARCH = {"vocab_size": 65, "context": 64, "n_layer": 4, "n_head": 4, "n_embd": 128}
BATCH = 12


def build_genzoo(**kw):
    from genzoo.models import create

    torch.manual_seed(0)
    return create("gpt", **ARCH, dropout=0.0, **kw)


def build_hf(activation: str):
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=ARCH["vocab_size"], n_positions=ARCH["context"], n_embd=ARCH["n_embd"],
                     n_layer=ARCH["n_layer"], n_head=ARCH["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, activation_function=activation, bos_token_id=0, eos_token_id=0,
                     tie_word_embeddings=True)
    return GPT2LMHeadModel(cfg)


def copy_hf_into_genzoo(ref, ours) -> None:
    """transformers' GPT-2 weights into genzoo's gpt (bias=True). Conv1D stores (in, out): transpose to Linear."""
    with torch.no_grad():
        ours.wte.weight[: ARCH["vocab_size"]].copy_(ref.transformer.wte.weight)
        ours.wpe.weight.copy_(ref.transformer.wpe.weight)
        for a, b in zip(ours.blocks, ref.transformer.h):
            a.ln_1.load_state_dict(b.ln_1.state_dict())
            a.ln_2.load_state_dict(b.ln_2.state_dict())
            for dst, src in ((a.attn.qkv, b.attn.c_attn), (a.attn.proj, b.attn.c_proj), (a.mlp.fc, b.mlp.c_fc),
                             (a.mlp.proj, b.mlp.c_proj)):
                dst.weight.copy_(src.weight.T)
                dst.bias.copy_(src.bias)
        ours.ln_f.load_state_dict(ref.transformer.ln_f.state_dict())


def function_match() -> float:
    """Max |genzoo - transformers| / max |transformers| of the logits of the same ids, weights copied across."""
    ref, ours = build_hf("gelu").eval(), build_genzoo(bias=True).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in ref.parameters():  # away from the initial values (unit LayerNorm gains, zero biases)
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    copy_hf_into_genzoo(ref, ours)
    ids = torch.randint(0, ARCH["vocab_size"], (4, ARCH["context"]), generator=g)
    with torch.no_grad():
        a, b = ours(ids)[0], ref(input_ids=ids).logits
    return float((a - b).abs().max() / b.abs().max())


def genzoo_step(model, x):
    from genzoo.models import Batch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    batch = Batch(x)

    def step():
        loss = model.loss(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def hf_step(model, x):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)

    def step():
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def generation_speed(reps: int = 3, new_tokens: int = 500, prompts: int = 4) -> dict:
    m = build_genzoo().eval()
    prompt = torch.randint(0, ARCH["vocab_size"], (prompts, 8), generator=torch.Generator().manual_seed(0))
    out = {}
    times = {True: [], False: []}
    for _ in range(reps):
        for use_cache in (True, False):
            t = time.process_time()
            m.generate(prompt, new_tokens, generator=torch.Generator().manual_seed(1), use_cache=use_cache)
            times[use_cache].append(time.process_time() - t)
    for use_cache, name in ((True, "with_cache"), (False, "without_cache")):
        out[f"generate_tokens_per_s_{name}"] = round(prompts * new_tokens / statistics.median(times[use_cache]), 1)
    out["generate_cache_speedup"] = round(statistics.median(times[False]) / statistics.median(times[True]), 2)
    out["generate_setup"] = f"{prompts} prompts of 8 tokens, {new_tokens} new tokens each, temperature 1, {reps} reps"
    return out


def write_markdown(res: dict) -> None:
    rows = [f"| {name} | {res['params'][name]:,} | {res['tokens_per_s_cpu'][name]:,.0f} | "
            f"{res['tokens_per_s_wall'][name]:,.0f} | {res['ratio_vs_hf_gelu'][name]:.3f} |"
            for name in res["tokens_per_s_cpu"]]
    goal = "met" if res["headline_ratio"] >= 1.2 else "not met"
    md = [
        "# gpt training and generation speed (CPU)",
        "",
        f"Command: `OMP_NUM_THREADS=1 {res['command']}`  ",
        f"Machine: 2-core CPU ({res['machine']})  ",
        f"Date: {res['date']}, commit {res['commit']}, transformers {res.get('transformers', 'not installed')}",
        "",
        f"4 layers, 4 heads, width 128, context 64, vocabulary 65, batch {BATCH}, dropout 0, fp32, AdamW, "
        f"{res['threads']} torch thread(s); {res['rounds']} interleaved rounds of {res['steps']} steps per contender; "
        "medians over rounds. Ratio: the median over rounds of (hf-gelu CPU time per step) / (contender's).",
        "",
        "| contender | parameters | train tokens/s (CPU time) | train tokens/s (wall) | ratio vs hf-gelu |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Headline (genzoo defaults vs transformers with the same GELU): **{res['headline_ratio']:.2f}x**; goal "
        f">= 1.2x: {goal}. Function match of genzoo-bias and hf-gelu (weights copied): max relative difference "
        f"{res.get('function_match_max_rel_diff', float('nan')):.1e}.",
        "",
        "Why the like-for-like margin is small: both models spend about 55 % of a step in the same BLAS "
        "matrix products and about 15 % in the same fused attention kernel (torch profiler, 10 steps each). "
        "genzoo saves the rest where it can: no biases (fewer parameters and optimizer tensors: 27 against 52), no "
        "per-call mask and position bookkeeping, no shifted copy of the logits for the loss (BOS shifts the "
        "input instead). transformers' default GELU (`gelu_new`) is the tanh formula written as elementwise "
        "operations, which costs it a further ~25 % (hf-default).",
        "",
        f"Generation ({res['generate_setup']}): **{res['generate_tokens_per_s_with_cache']:,.0f}** tokens/s with the "
        f"key/value cache, {res['generate_tokens_per_s_without_cache']:,.0f} without "
        f"(**{res['generate_cache_speedup']:.1f}x**).",
        "",
    ]
    (OUT / "speed.md").write_text("\n".join(md))


def rewrite_markdown() -> None:
    """speed.md again from speed.json (after an edit of the text, without re-measuring)."""
    write_markdown(json.loads((OUT / "speed.json").read_text()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = {**provenance(__file__), "torch": torch.__version__, "threads": args.threads, "rounds": args.rounds,
           "steps": args.steps, "batch": BATCH, **ARCH}
    x = torch.randint(0, ARCH["vocab_size"], (BATCH, ARCH["context"]), generator=torch.Generator().manual_seed(0))
    models = {"genzoo": build_genzoo(), "genzoo-bias": build_genzoo(bias=True)}
    try:
        import transformers

        models["hf-gelu"] = build_hf("gelu")
        models["hf-default"] = build_hf("gelu_new")
        res["transformers"] = transformers.__version__
        res["function_match_max_rel_diff"] = function_match()
        assert res["function_match_max_rel_diff"] < 1e-4, "genzoo-bias and GPT-2 do not compute the same function"
    except ImportError:
        print("transformers is not installed (optional 'bench' extra); timing genzoo only", file=sys.stderr)
    res["params"] = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    steps = {k: (genzoo_step if k.startswith("genzoo") else hf_step)(m.train(), x) for k, m in models.items()}
    names = list(steps)
    for f in steps.values():  # warm-up
        for _ in range(3):
            f()
    cpu = {k: [] for k in names}
    wall = {k: [] for k in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t, c = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                steps[name]()
            cpu[name].append((time.process_time() - c) / args.steps)
            wall[name].append((time.perf_counter() - t) / args.steps)
    tokens = BATCH * ARCH["context"]
    res["tokens_per_s_cpu"] = {k: round(tokens / statistics.median(cpu[k]), 1) for k in names}
    res["tokens_per_s_wall"] = {k: round(tokens / statistics.median(wall[k]), 1) for k in names}
    res["step_cpu_s"] = {k: round(statistics.median(cpu[k]), 5) for k in names}
    if "hf-gelu" in names:
        res["ratio_vs_hf_gelu"] = {k: round(statistics.median(h / c for h, c in zip(cpu["hf-gelu"], cpu[k])), 3)
                                   for k in names}
        ratios = sorted(h / c for h, c in zip(cpu["hf-gelu"], cpu["genzoo"]))
        res["headline_ratio"] = res["ratio_vs_hf_gelu"]["genzoo"]
        res["headline_ratio_quartiles"] = [round(ratios[len(ratios) // 4], 3), round(ratios[3 * len(ratios) // 4], 3)]
        res["headline_ratio_min_max"] = [round(ratios[0], 3), round(ratios[-1], 3)]
    res.update(generation_speed())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "speed.json").write_text(json.dumps(res, indent=2))
    if "hf-gelu" in names:
        write_markdown(res)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

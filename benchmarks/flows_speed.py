"""Training speed of genzoo's RealNVP against zuko's and normflows' with the same architecture, in one interleaved run.

Architecture (all): 8 affine coupling blocks on 2-D data with alternating halves (x1 | x2, then x2 | x1), each
conditioner an MLP 1 -> 64 -> 64 -> 2 (ReLU), standard normal base (not trainable), 35,344 parameters; batch
512 of `moons`. The log-scale bound differs by library, so each reference is paired with the genzoo scale closest
to it:

    genzoo scale="tanh" (2 tanh(a / 2))  vs  zuko.flows.RealNVP(2, transforms=8, hidden_features=(64, 64))
                                             (soft clamp a / (1 + |a| / 6.9))
    genzoo scale="exp" (unbounded)       vs  normflows: 8 x [AffineCouplingBlock(MLP([1, 64, 64, 2],
                                             init_zeros=True)), Permute(2, "swap")], DiagGaussian(2,
                                             trainable=False) (scale_map "exp")

A training step is loss -> zero_grad -> backward -> optimizer step. genzoo's loss is the public
`model.loss(Batch(x))["loss"]` (input checks and the bits/dim metric included; it is NLL / D, which only rescales
the gradient); zuko's `-flow().log_prob(x).mean()`; normflows' `model.forward_kld(x)`. Every model is trained with
the SAME optimizer, torch's Adam (lr 1e-3), in two settings measured in the same run: the default implementation
(`adam`) and `fused=True` (`adam-fused`, the fastest on CPU, which shrinks the optimizer's share that every
library pays alike); a third setting, `none`, times loss + backward alone (the libraries' own code: no optimizer
step, so the parameters stay at their initial values). In every round each (genzoo, reference) pair runs `--steps` steps
each, back to back on the same batches (which goes first alternates between rounds), so machine load hits both
alike; a ratio is the median over rounds of (genzoo steps/s) / (reference steps/s) of the pair's two runs, from
wall-clock time and from thread CPU time (the interquartile range is reported with it).
Goal: >= 1.3x zuko.

With `--compile` (the default; `--no-compile` leaves it out), genzoo's fast path TrainConfig.compile is timed as a
variant of genzoo's side only: `genzoo-tanh-compiled` / `genzoo-exp-compiled` are the same models with their
loss under torch.compile (inductor, random draws from the eager generator), paired with the same eager zuko /
normflows steps, with the default Adam (the reference settings are never changed). Compilation (tens of seconds
per model on a CPU) happens before the timed rounds and is reported separately.

zuko and normflows are not genzoo dependencies: `pip install zuko normflows` (or the `bench` extra).

    python benchmarks/flows_speed.py --rounds 24 --steps 25 --out docs/results/flows
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402

from genzoo.data import toy2d  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

OPTIMS = ("adam", "adam-fused", "none")


def build(lib: str, scale: str = "tanh"):
    """(module, loss function of a batch) for one library, same architecture."""
    if lib == "genzoo":
        m = create("realnvp", data_shape=(2,), n_blocks=8, hidden=(64, 64), scale=scale)
        return m, lambda b: m.loss(Batch(b))["loss"]
    if lib == "zuko":
        import zuko

        m = zuko.flows.RealNVP(2, transforms=8, hidden_features=(64, 64))
        return m, lambda b: -m().log_prob(b).mean()
    if lib == "normflows":
        import normflows as nf

        flows = []
        for _ in range(8):
            flows += [nf.flows.AffineCouplingBlock(nf.nets.MLP([1, 64, 64, 2], init_zeros=True)),
                      nf.flows.Permute(2, mode="swap")]
        m = nf.NormalizingFlow(nf.distributions.base.DiagGaussian(2, trainable=False), flows)
        return m, lambda b: m.forward_kld(b)
    raise ValueError(lib)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=24)
    ap.add_argument("--steps", type=int, default=25, help="steps per round per step function")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/results/flows")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                    help="also time genzoo's loss under torch.compile (optimizer adam)")
    args = ap.parse_args()
    try:
        import normflows
        import zuko
    except ImportError:
        raise SystemExit("flows_speed.py compares against zuko and normflows, which are not genzoo dependencies: "
                         "`pip install zuko normflows` (or `pip install genzoo[bench]`) and run again.") from None
    torch.set_num_threads(args.threads)
    data = torch.as_tensor(toy2d("moons", 100_000, seed=0)).float()
    g = torch.Generator().manual_seed(0)
    batches = [data[torch.randint(len(data), (args.batch,), generator=g)] for _ in range(args.steps)]

    pairs = {"zuko": ("genzoo-tanh", "zuko"), "normflows": ("genzoo-exp", "normflows")}
    libs = {"genzoo-tanh": ("genzoo", "tanh"), "zuko": ("zuko", None), "genzoo-exp": ("genzoo", "exp"),
            "normflows": ("normflows", None)}
    compiled = {"genzoo-tanh-compiled": ("genzoo-tanh", "zuko"), "genzoo-exp-compiled": ("genzoo-exp", "normflows")}
    variants = {o: dict(pairs) for o in OPTIMS}  # optim -> {label: (ours, theirs)}
    if args.compile:
        variants["adam"].update({k: (k, theirs) for k, (_, theirs) in compiled.items()})
    fns, models, params, compile_s = {}, {}, {}, {}
    for optim in OPTIMS:
        names = list(libs) + ([k for k in compiled] if args.compile and optim == "adam" else [])
        for name in names:
            lib, scale = libs[compiled[name][0]] if name in compiled else libs[name]
            torch.manual_seed(0)
            m, loss_fn = build(lib, scale or "tanh")
            if name in compiled:
                loss_fn = torch.compile(loss_fn, options={"fallback_random": True})
            opt = torch.optim.Adam(m.parameters(), 1e-3, fused=(optim == "adam-fused")) if optim != "none" else None
            params[name] = sum(p.numel() for p in m.parameters() if p.requires_grad)

            def step(b, m=m, loss_fn=loss_fn, opt=opt):
                loss = loss_fn(b)
                m.zero_grad(set_to_none=True)
                loss.backward()
                if opt is not None:
                    opt.step()

            fns[(optim, name)] = step
            models[(optim, name)] = (m, loss_fn)
            if name in compiled:
                t0 = time.perf_counter()
                step(batches[0])
                compile_s[name] = round(time.perf_counter() - t0, 1)
                print(f"{name}: compiled in {compile_s[name]} s", flush=True)

    def timed(fn):
        w0, c0 = time.perf_counter(), time.thread_time()
        for b in batches:
            fn(b)
        return args.steps / (time.perf_counter() - w0), args.steps / (time.thread_time() - c0)

    for fn in fns.values():  # warm-up
        for b in batches[:20]:
            fn(b)
    keys = list(fns)
    rates = {k: {"wall": [], "cpu": []} for k in keys}
    ratios = {(o, pair): {"wall": [], "cpu": []} for o in OPTIMS for pair in variants[o].values()}
    for r in range(args.rounds):  # each (genzoo, reference) pair back to back, the order alternating
        for optim in OPTIMS:
            for ours, theirs in variants[optim].values():
                order = (ours, theirs) if r % 2 == 0 else (theirs, ours)
                got = {name: timed(fns[(optim, name)]) for name in order}
                for i, c in enumerate(("wall", "cpu")):
                    rates[(optim, ours)][c].append(got[ours][i])
                    rates[(optim, theirs)][c].append(got[theirs][i])
                    ratios[(optim, (ours, theirs))][c].append(got[ours][i] / got[theirs][i])
        line = ", ".join(f"{o}/{n} {rates[(o, n)]['wall'][-1]:.0f}" for o, n in keys)
        print(f"round {r}: steps/s (wall) {line}", flush=True)

    results = {}
    for optim in OPTIMS:
        res = {"steps_per_s_median": {}, "ratios": {}}
        for name in {n for pair in variants[optim].values() for n in pair}:
            res["steps_per_s_median"][name] = {c: statistics.median(rates[(optim, name)][c]) for c in ("wall", "cpu")}
        for ref, (ours, theirs) in variants[optim].items():
            entry = {}
            for c in ("wall", "cpu"):
                rr = ratios[(optim, (ours, theirs))][c]
                q = statistics.quantiles(rr, n=4)
                entry[c] = {"median": statistics.median(rr), "q25": q[0], "q75": q[2], "min": min(rr),
                            "max": max(rr)}
            res["ratios"][f"{ours} / {theirs}"] = entry
        results[optim] = res

    test = torch.as_tensor(toy2d("moons", 5000, seed=1)).float()
    nll = {}
    with torch.no_grad():
        for name in libs:
            m, loss_fn = models[("adam-fused", name)]
            if name.startswith("genzoo"):
                nll[name] = -m.log_prob(test).mean().item()
            elif name == "zuko":
                nll[name] = -m().log_prob(test).mean().item()
            else:
                nll[name] = -m.log_prob(test).mean().item()
    res = {
        "benchmark": "flows_speed",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": "python " + " ".join(sys.argv),
        "versions": {"torch": torch.__version__, "zuko": zuko.__version__, "normflows": normflows.__version__},
        "architecture": ("8 affine couplings, alternating halves, MLP 1-64-64-2 ReLU, 2-D moons, batch %d, "
                         "standard normal base; Adam 1e-3 (default and fused) for every library; `none`: loss + "
                         "backward only" % args.batch),
        "params": params,
        "compile_seconds": compile_s,
        "rounds": args.rounds, "steps_per_round": args.steps,
        "results": results,
        "goal": ">= 1.3x zuko",
        "heldout_nll_after_training_adam_fused": {"nats": nll,
                                                  "steps": args.rounds * args.steps + 20},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_results.json").write_text(json.dumps(res, indent=2))
    lines = ["# Flow training speed: genzoo vs zuko vs normflows (benchmarks/flows_speed.py)", "",
             res["architecture"] + ".", "",
             "| optimizer | pair | ratio (wall, median over rounds) | interquartile | ratio (CPU time) | "
             "genzoo steps/s | reference steps/s |", "|---|---|---|---|---|---|---|"]
    for optim, r in results.items():
        for ref, (ours, theirs) in variants[optim].items():
            e = r["ratios"][f"{ours} / {theirs}"]
            s = r["steps_per_s_median"]
            lines.append(f"| {optim} | {ours} / {theirs} | **{e['wall']['median']:.2f}x** | "
                         f"{e['wall']['q25']:.2f}-{e['wall']['q75']:.2f} | {e['cpu']['median']:.2f}x | "
                         f"{s[ours]['wall']:.0f} | {s[theirs]['wall']:.0f} |")
    lines += ["", "Held-out NLL after the run (adam-fused models, nats): "
              + ", ".join(f"{k} {v:.3f}" for k, v in nll.items()), "",
              f"Machine: {res['machine']}", f"Date: {res['date']}", f"Command: `{res['command']}`", ""]
    (out / "speed_results.md").write_text("\n".join(lines))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

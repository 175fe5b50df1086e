"""Speed of genzoo's cnf against zuko's CNF with the same field network, solver and tolerances, one interleaved run.

Field (both): zuko's FFJTransform network, an MLP [x, cos(k pi t), sin(k pi t), k = 1..3] -> 64 -> 64 -> 2 (ELU),
with the SAME weights: genzoo's cnf gets a field g(t, z) = -f(1 - t, z) around zuko's f (zuko puts the data at
t = 0 and the base at 1, genzoo the base at 0 and the data at T = 1; the substitution s = 1 - t makes the two
trajectories the same ODE). Solver (both): adaptive Dormand-Prince 5(4) with rtol = atol = `--tol`, exact trace.
genzoo integrates with torchdiffeq's dopri5 and backpropagates through the solver (or with `--adjoint`,
torchdiffeq's adjoint); zuko with its own dopri45 and its adaptive checkpoint adjoint (Zhuang et al. 2020). The
log-likelihoods of the two are compared first (they must agree to the solver tolerance, so the same density is
timed). Timed: a training step (loss -> zero_grad -> backward -> Adam) and an evaluation log_prob (no_grad), batch
512 of checkerboard, after `--warm` training steps of the shared field, in rounds where the two run back to back
(the order alternating); a ratio is the median over rounds of genzoo's rate / zuko's. Goal: >= 1.3x.

    python benchmarks/continuous_speed.py --rounds 6 --steps 3 --out docs/results/continuous
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
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402

from genzoo.data import toy2d  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402


class ReversedField(nn.Module):
    """g(t, z) = -f(1 - t, z) for zuko's field f."""

    def __init__(self, transform):
        super().__init__()
        self.transform = transform

    def forward(self, t, z):
        return -self.transform.f(1 - t, z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--adjoint", action="store_true")
    ap.add_argument("--warm", type=int, default=100, help="training steps of the shared field before timing")
    ap.add_argument("--out", default="docs/results/continuous")
    args = ap.parse_args()
    try:
        import zuko
    except ImportError:
        raise SystemExit("continuous_speed.py needs zuko (not a genzoo dependency): pip install zuko") from None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    theirs = zuko.flows.CNF(2, hidden_features=(64, 64), atol=args.tol, rtol=args.tol)
    data = torch.as_tensor(toy2d("checkerboard", 100_000, seed=0)).float()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(theirs.parameters(), 1e-3)
    for _ in range(args.warm):  # a trained field (harder dynamics, more steps) rather than the initial one
        loss = -theirs().log_prob(data[torch.randint(len(data), (args.batch,), generator=g)]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    state = theirs.state_dict()
    ours = create("cnf", data_shape=(2,), hidden=(4,), method="dopri5", rtol=args.tol, atol=args.tol,
                  adjoint=args.adjoint)
    ours.dynamics.field = ReversedField(theirs.transform)  # the same module: the same weights
    batches = [data[torch.randint(len(data), (args.batch,), generator=g)] for _ in range(args.steps)]
    with torch.no_grad():
        lp_ours, lp_theirs = ours.log_prob(batches[0]), theirs().log_prob(batches[0])
    agree = float((lp_ours - lp_theirs).abs().max())
    nfe_eval = ours.nfe
    calls = [0]
    theirs.transform.ode.register_forward_pre_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    with torch.no_grad():
        theirs().log_prob(batches[0])
    nfe_zuko = calls[0]
    print(f"log_prob agreement: max |diff| {agree:.2e} nats; NFE genzoo {nfe_eval}, zuko {nfe_zuko}", flush=True)

    def train_step(loss_fn, params):
        opt = torch.optim.Adam(params, 1e-3)

        def step(b):
            loss = loss_fn(b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    def eval_step(fn):
        def step(b):
            with torch.no_grad():
                fn(b)

        return step

    # two copies per library, one per task, so training does not change the evaluated density mid-run
    torch.manual_seed(0)
    theirs_t = zuko.flows.CNF(2, hidden_features=(64, 64), atol=args.tol, rtol=args.tol)
    theirs_t.load_state_dict(state)
    ours_t = create("cnf", data_shape=(2,), hidden=(4,), method="dopri5", rtol=args.tol, atol=args.tol,
                    adjoint=args.adjoint)
    ours_t.dynamics.field = ReversedField(theirs_t.transform)
    theirs_t2 = zuko.flows.CNF(2, hidden_features=(64, 64), atol=args.tol, rtol=args.tol)
    theirs_t2.load_state_dict(theirs_t.state_dict())
    fns = {
        ("train", "genzoo"): train_step(lambda b: ours_t.loss(Batch(b))["loss"], ours_t.parameters()),
        ("train", "zuko"): train_step(lambda b: -theirs_t2().log_prob(b).mean() / 2, theirs_t2.parameters()),
        ("eval", "genzoo"): eval_step(lambda b: ours.log_prob(b)),
        ("eval", "zuko"): eval_step(lambda b: theirs().log_prob(b)),
    }

    def timed(fn):
        w0 = time.perf_counter()
        for b in batches:
            fn(b)
        return args.steps / (time.perf_counter() - w0)

    ratios = {task: [] for task in ("train", "eval")}
    rates = {k: [] for k in fns}
    nfe_train = []
    for r in range(args.rounds):
        for task in ("train", "eval"):
            order = ("genzoo", "zuko") if r % 2 == 0 else ("zuko", "genzoo")
            got = {lib: timed(fns[(task, lib)]) for lib in order}
            if task == "train":
                nfe_train.append(ours_t.nfe)
            for lib in order:
                rates[(task, lib)].append(got[lib])
            ratios[task].append(got["genzoo"] / got["zuko"])
        print(f"round {r}: " + ", ".join(f"{t}/{lib} {v[-1]:.2f}/s" for (t, lib), v in rates.items()), flush=True)
    res = {
        "tol": args.tol, "adjoint": args.adjoint, "batch": args.batch, "rounds": args.rounds, "steps": args.steps,
        "logprob_max_abs_diff": agree, "genzoo_nfe_eval": nfe_eval, "zuko_nfe_eval": nfe_zuko,
        "warm_steps": args.warm, "genzoo_nfe_train_last": nfe_train[-1],
        "rates_per_s": {f"{t}/{lib}": statistics.median(v) for (t, lib), v in rates.items()},
        "ratio_train": statistics.median(ratios["train"]), "ratio_eval": statistics.median(ratios["eval"]),
        "ratios_train": ratios["train"], "ratios_eval": ratios["eval"], "goal": ">= 1.3x",
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "command": "python " + " ".join(sys.argv),
    }
    print(json.dumps(res), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = f"tol{args.tol:g}{'-adjoint' if args.adjoint else ''}"
    path = out / "speed_results.json"
    allres = json.loads(path.read_text()) if path.exists() else {}
    allres[key] = res
    path.write_text(json.dumps(allres, indent=2))
    lines = ["# cnf vs zuko CNF speed (benchmarks/continuous_speed.py)", "",
             "| setting | train steps/s genzoo | zuko | ratio | eval log_prob/s genzoo | zuko | ratio | "
             "log_prob diff | NFE genzoo / zuko (eval) | date |", "|---|---|---|---|---|---|---|---|---|---|"]
    for k, v in allres.items():
        rt = v["rates_per_s"]
        lines.append(f"| {k} | {rt['train/genzoo']:.2f} | {rt['train/zuko']:.2f} | {v['ratio_train']:.2f}x | "
                     f"{rt['eval/genzoo']:.2f} | {rt['eval/zuko']:.2f} | {v['ratio_eval']:.2f}x | "
                     f"{v['logprob_max_abs_diff']:.1e} | {v['genzoo_nfe_eval']} / {v['zuko_nfe_eval']} | {v['date']} |")
    lines += ["", f"Machine: {res['machine']}", f"Command: `{res['command']}`", ""]
    (out / "speed_results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()

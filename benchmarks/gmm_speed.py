"""Speed of EM for the Gaussian mixture against scikit-learn, on the CPU.

    OMP_NUM_THREADS=1 python benchmarks/gmm_speed.py [--n 100000] [--iterations 50] [--reps 3] [--threads 1]

100,000 points of grid25 (2-D), 25 components, full covariances, reg_covar 1e-6. Both start from the same
parameters (genzoo's k-means++ initialisation, passed to scikit-learn as weights_init / means_init /
precisions_init, with init_params="random_from_data" so scikit-learn's own initialisation costs nothing) and run
the same number of EM iterations (tol = 0: no early stop). The fits run interleaved (sklearn, genzoo float64,
genzoo float32, sklearn, ...) so all see the same machine load; medians of wall time and of process CPU time.
The final mean log-likelihoods are recorded: float64 must agree with scikit-learn to 1e-6.
Writes docs/results/classical/gmm_speed.json and gmm_speed.md (command, machine, date). Goal: genzoo >= 2x faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import provenance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "classical"


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--components", type=int, default=25)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prov = provenance(__file__, argv)

    import numpy as np
    from sklearn.mixture import GaussianMixture

    from genzoo.data import get
    from genzoo.models import create

    x64 = get("grid25", n=args.n, seed=0).x.double()
    k = args.components
    init = create("gmm", components=k, data_shape=(2,)).double()
    init.initialise(x64)
    w0, mu0, cov0 = (t.detach().clone() for t in (init.weights, init.means, init.covariances))

    def run_sklearn():
        gm = GaussianMixture(k, covariance_type="full", max_iter=args.iterations, tol=0.0, reg_covar=1e-6,
                             weights_init=w0.numpy(), means_init=mu0.numpy(),
                             precisions_init=np.linalg.inv(cov0.numpy()), init_params="random_from_data")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(xn)
        return gm.score(xn)

    def run_genzoo(dtype):
        m = create("gmm", components=k, data_shape=(2,)).to(dtype)
        m.set_parameters(w0, mu0, cov0)
        return m.fit(x64.to(dtype), args.iterations)[-1]

    xn = x64.numpy()
    runs = {"scikit-learn (float64)": lambda: run_sklearn(), "genzoo (float64)": lambda: run_genzoo(torch.float64),
            "genzoo (float32)": lambda: run_genzoo(torch.float32)}
    times = {name: {"wall": [], "cpu": []} for name in runs}
    ll = {}
    for _ in range(args.reps):
        for name, fn in runs.items():
            ll[name], wall, cpu = timed(fn)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    med = {name: {kind: statistics.median(v) for kind, v in t.items()} for name, t in times.items()}
    ref = med["scikit-learn (float64)"]
    rows = []
    for name in runs:
        rows.append({"implementation": name, "wall_s": med[name]["wall"], "cpu_s": med[name]["cpu"],
                     "speedup_wall": ref["wall"] / med[name]["wall"], "speedup_cpu": ref["cpu"] / med[name]["cpu"],
                     "final_mean_log_likelihood": ll[name], "all_wall_s": times[name]["wall"],
                     "all_cpu_s": times[name]["cpu"]})
    diff64 = abs(ll["genzoo (float64)"] - ll["scikit-learn (float64)"])
    best = max(r["speedup_cpu"] for r in rows if r["implementation"].startswith("genzoo"))
    result = {**prov, "n": args.n, "components": k, "dim": 2, "covariance": "full", "iterations": args.iterations,
              "reps": args.reps, "threads": args.threads, "rows": rows, "loglik_diff_float64": diff64,
              "goal": ">= 2x faster than scikit-learn (CPU time)", "goal_met": best >= 2.0}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gmm_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# GMM EM speed against scikit-learn", "",
             f"Written by `benchmarks/gmm_speed.py`. {args.n:,} grid25 points (2-D), {k} components, full "
             f"covariances, {args.iterations} EM iterations from the same k-means++ start, {args.reps} interleaved "
             "repeats (medians), one thread, both on the CPU.", "",
             "| implementation | wall (s) | CPU (s) | speed-up (wall) | speed-up (CPU) | final mean log-likelihood |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['implementation']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['speedup_wall']:.2f}x | "
                     f"{r['speedup_cpu']:.2f}x | {r['final_mean_log_likelihood']:.8f} |")
    lines += ["", f"float64 final log-likelihood difference to scikit-learn: {diff64:.2e} nats/example.",
              f"Goal (>= 2x faster, CPU time): **{'met' if best >= 2.0 else 'NOT met'}** (best {best:.2f}x).", "",
              f"- command: `{prov['command']}`", f"- date: {prov['date']}", f"- machine: {prov['machine']}",
              f"- commit: {prov['commit']}", ""]
    (args.out / "gmm_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

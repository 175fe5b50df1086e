"""The Ising samplers' checks as figures (docs/applications/ising.md): estimates on 4 x 4 against exact
enumeration, integrated autocorrelation times at L = 16, and L = 32 / 64 energies against Onsager.

    python benchmarks/ising_samplers.py > docs/results/ising/samplers.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402

from genzoo.physics import (  # noqa: E402
    T_C,
    energy,
    exact_observables,
    integrated_autocorrelation_time,
    magnetization,
    metropolis,
    observables,
    onsager_energy,
    onsager_magnetization,
    swendsen_wang,
    wolff,
)

TEMPS = (1.8, T_C, 3.0)
SAMPLERS = {"Swendsen-Wang": lambda L, T, n, **kw: swendsen_wang(L, T, n, **kw),
            "Wolff (thin 3)": lambda L, T, n, **kw: wolff(L, T, n, thin=3, **kw),
            "Metropolis": lambda L, T, n, **kw: metropolis(L, T, n, **kw)}


def fmt(m) -> str:
    return f"{m.value:.4f} +- {m.error:.4f}" if m.error else f"{m.value:.4f}"


def main() -> None:
    p = provenance(__file__)
    print(f"# Ising samplers\n\n`{p['command']}`; {p['date']}, commit {p['commit']}; {p['machine']}\n")
    print("## 4 x 4 lattice: 20,000 samples (20 chains, 50 burn-in updates) against exact enumeration\n")
    print("| T | sampler | e | <\\|m\\|> | C | chi | CPU s |\n|---|---|---|---|---|---|---|")
    for T in TEMPS:
        ex = exact_observables(4, T)
        print(f"| {T:.3f} | exact | " + " | ".join(fmt(ex[k]) for k in ex) + " | |")
        for name, f in SAMPLERS.items():
            t0 = time.process_time()
            o = observables(f(4, T, 20000, chains=20, burn_in=50, seed=1), T)
            print(f"| {T:.3f} | {name} | " + " | ".join(fmt(o[k]) for k in o) + f" | {time.process_time() - t0:.1f} |")
    print("\n## L = 16: integrated autocorrelation time (updates; 8 chains x 2,000 after 200 burn-in)\n")
    print("| T | sampler | tau_int(E) | tau_int(\\|m\\|) |\n|---|---|---|---|")
    for T in TEMPS:
        for name, f, kw in (("Swendsen-Wang", swendsen_wang, {}), ("Metropolis (sweeps)", metropolis, {})):
            s = f(16, T, 16000, chains=8, burn_in=200, seed=1, **kw)
            E, m = energy(s).reshape(8, -1), np.abs(magnetization(s)).reshape(8, -1)
            te = np.mean([integrated_autocorrelation_time(x) for x in E])
            tm = np.mean([integrated_autocorrelation_time(x) for x in m])
            print(f"| {T:.3f} | {name} | {te:.1f} | {tm:.1f} |")
    print("\n## Large lattices against Onsager (Swendsen-Wang, 16 chains x 100 after 50 burn-in)\n")
    print("| L | T | e | Onsager e | <\\|m\\|> | Yang m |\n|---|---|---|---|---|---|")
    for L, T in ((32, 2.0), (32, T_C), (64, T_C), (32, 3.0)):
        o = observables(swendsen_wang(L, T, 1600, chains=16, burn_in=50, seed=0), T)
        print(f"| {L} | {T:.3f} | {fmt(o['energy'])} | {onsager_energy(T):.4f} | {fmt(o['magnetization'])} | "
              f"{onsager_magnetization(T):.4f} |")


if __name__ == "__main__":
    main()

"""Run the benchmarks: `make bench` runs the speed comparisons and writes docs/benchmarks.md; `--quality` adds the
long quality runs.

    python benchmarks/run_all.py               # speed comparisons (a few minutes each) -> docs/benchmarks.md
    python benchmarks/run_all.py --report      # only rewrite docs/benchmarks.md from the recorded results
    python benchmarks/run_all.py --quality     # and the quality runs behind docs/results (hours on a CPU)
    python benchmarks/run_all.py --list        # every benchmark with the command that reproduces its figure
    python benchmarks/run_all.py --only flows-speed vae-mnist

Each entry is the command recorded beside its figure in docs/results/ (the JSON/markdown each script writes).
Speed comparisons need the optional reference libraries: `pip install -e .[bench]` (zuko, normflows, diffusers,
transformers). Every script runs with fixed thread counts (one torch thread; OMP_NUM_THREADS=1 and
MKL_NUM_THREADS=1 in its environment) and interleaves its contenders round by round; docs/benchmarks.md reports
each comparison as the ratio of genzoo's rate to the reference's per round, min / median / max
(benchmarks/report.py reads the recorded results).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
sys.path.insert(0, str(ROOT / "benchmarks"))


@dataclass(frozen=True)
class Bench:
    name: str
    kind: str  # "speed" | "quality"
    args: tuple[str, ...]  # script and its arguments, relative to the project root
    about: str
    needs: tuple[str, ...] = ()  # reference libraries that must import


BENCHMARKS = [
    Bench("flows-speed", "speed", ("benchmarks/flows_speed.py", "--rounds", "12", "--out", "docs/results/flows"),
          "RealNVP training steps/s against zuko and normflows, same architecture", ("zuko", "normflows")),
    Bench("diffusion-speed", "speed", ("benchmarks/diffusion_speed.py", "--reps", "8"),
          "UNet DDPM training step against diffusers' UNet2DModel, same architecture", ("diffusers",)),
    Bench("gpt-speed", "speed", ("benchmarks/gpt_speed.py",),
          "gpt training tokens/s against transformers' GPT2LMHeadModel; generation with and without the cache",
          ("transformers",)),
    Bench("dcgan-speed", "speed", ("benchmarks/gan_dcgan_speed.py", "--rounds", "8", "--steps", "10", "--out",
                                   "docs/results/gans"),
          "DCGAN through the Trainer against a textbook PyTorch DCGAN loop"),
    Bench("vae-overhead", "speed", ("benchmarks/trainer_overhead.py", "--model", "vae", "--rounds", "8", "--steps",
                                    "40"),
          "VAE: Trainer overhead against a plain loop over the same model.loss, batches and Adam"),
    Bench("dcgan-overhead", "speed", ("benchmarks/trainer_overhead.py", "--model", "dcgan", "--rounds", "6",
                                      "--steps", "8"),
          "DCGAN: Trainer overhead against a plain loop over the same model.loss per player, batches and Adam"),
    Bench("cnf-speed", "speed", ("benchmarks/continuous_speed.py", "--rounds", "6", "--steps", "3", "--warm", "50",
                                 "--out", "docs/results/continuous"),
          "cnf training step and evaluation against zuko's CNF, same field, dopri5 1e-5", ("zuko",)),
    Bench("gmm-speed", "speed", ("benchmarks/gmm_speed.py", "--iterations", "30", "--reps", "3"),
          "gmm EM fit time against scikit-learn GaussianMixture from the same start", ("sklearn",)),
    Bench("scaling", "speed", ("benchmarks/scaling.py", "--reps", "3", "--ddp-steps", "30"),
          "DDP throughput with 1 and 2 CPU processes; step time and peak memory against batch and image size"),
    Bench("vae-mnist", "quality", ("benchmarks/vae_mnist.py", "--minutes", "30", "--model", "vae"),
          "VAE on MNIST-10k, held-out NLL (IS, k = 5000) in 30 CPU minutes"),
    Bench("iwae-mnist", "quality", ("benchmarks/vae_mnist.py", "--minutes", "30", "--model", "iwae", "--k", "5"),
          "IWAE (k = 5) on MNIST-10k, held-out NLL (IS, k = 5000) in 30 CPU minutes"),
    Bench("flows-toy", "quality", ("benchmarks/flows_toy.py",), "2-D flows: NLL against the data entropy, densities"),
    Bench("realnvp-mnist", "quality", ("benchmarks/flows_mnist.py", "--model", "realnvp", "--minutes", "60"),
          "RealNVP on MNIST-10k, held-out bits/dim in 60 CPU minutes"),
    Bench("glow-mnist", "quality", ("benchmarks/flows_mnist.py", "--model", "glow", "--minutes", "60"),
          "Glow on MNIST-10k, held-out bits/dim in 60 CPU minutes"),
    Bench("ddpm-mnist", "quality", ("benchmarks/diffusion_mnist.py", "--minutes", "60"),
          "DDPM on MNIST-10k: samples, VLB bits/dim, DDIM-50 against DDPM-1000"),
    Bench("ddpm-toy", "quality", ("benchmarks/diffusion_toy.py",), "DDPM on 2-D sets: PF-ODE NLL and densities"),
    Bench("gan-mnist", "quality", ("benchmarks/gan_mnist.py", "--model", "dcgan", "--out", "docs/results/gans"),
          "DCGAN on MNIST-10k: samples and classifier scores"),
    Bench("pggan-mnist", "quality", ("benchmarks/gan_mnist.py", "--model", "pggan", "--out", "docs/results/gans"),
          "PGGAN (7 -> 14 -> 28) on MNIST-10k: samples and classifier scores"),
    Bench("pixelrnn-speed", "speed", ("benchmarks/pixelrnn_speed.py", "--out", "docs/results/autoregressive"),
          "PixelRNN (Row LSTM, Diagonal BiLSTM) training step and sampling time on MNIST 28x28"),
    Bench("pixelcnn-mnist", "quality", ("benchmarks/autoregressive_mnist.py", "--model", "pixelcnn", "--minutes", "60"),
          "PixelCNN on binarized MNIST-10k, exact held-out NLL in 60 CPU minutes; 64 samples timed"),
    Bench("made-mnist", "quality", ("benchmarks/autoregressive_mnist.py", "--model", "made", "--minutes", "30"),
          "MADE on binarized MNIST-10k, exact held-out NLL in 30 CPU minutes"),
    Bench("gpt-shakespeare", "quality", ("benchmarks/gpt_shakespeare.py", "--recipe", "cpu", "--positions", "rotary"),
          "char-GPT on tiny Shakespeare, nanoGPT's CPU recipe: validation loss and a passage"),
    Bench("mode-collapse", "quality", ("-m", "genzoo", "lab", "mode-collapse", "--out", "docs/results/gans"),
          "the mode-collapse lab: GAN, NS-GAN, WGAN-GP, PacGAN on ring8, grid25, stacked MNIST, 5 seeds"),
    Bench("disentanglement-shapes", "quality", ("benchmarks/disentanglement_shapes.py", "--minutes", "1.6", "--seeds",
                                                "0", "1", "2"),
          "beta-VAE (beta 4) against VAE on shapes, 1.6 CPU-min x 3 seeds each: MIG, linear probe, traversals"),
]


def missing(b: Bench) -> list[str]:
    out = []
    for mod in b.needs:
        try:
            __import__(mod)
        except ImportError:
            out.append(mod)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", action="store_true", help="also run the long quality benchmarks")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these (see --list)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and their commands")
    ap.add_argument("--report", action="store_true", help="only write docs/benchmarks.md from recorded results")
    args = ap.parse_args(argv)
    names = [b.name for b in BENCHMARKS]
    for n in args.only or []:
        if n not in names:
            print(f"run_all: unknown benchmark {n!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:<16} {b.kind:<8} python {' '.join(b.args)}\n{'':<26}{b.about}")
        return 0
    if args.report:
        from report import write_report

        print(f"run_all: wrote {write_report()}")
        return 0
    chosen = [b for b in BENCHMARKS if (b.name in args.only if args.only else b.kind == "speed" or args.quality)]
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    failed = []
    for b in chosen:
        lack = missing(b)
        if lack:
            print(f"== {b.name}: skipped, needs {', '.join(lack)} (pip install -e .[bench])", flush=True)
            continue
        print(f"== {b.name}: python {' '.join(b.args)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([PY, *b.args], cwd=ROOT, env=env)
        print(f"== {b.name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(b.name)
    if any(b.kind == "speed" for b in chosen):
        from report import write_report

        print(f"run_all: wrote {write_report()}")
    if failed:
        print(f"run_all: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

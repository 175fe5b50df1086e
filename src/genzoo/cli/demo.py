"""`genzoo demo [--out runs/demo] [--quick] [--only NAME ...]`: train small models on the bundled MNIST-10k and a
2-D toy set, then write `OUT/report.html` (one self-contained file) and `OUT/report.md`.

The demo is the table `JOBS` below: one row per (model, data set, overrides, steps, pictures). A family adds
itself by adding a row. Pictures: "samples" (always possible), "reconstructions" (needs `model.reconstruct`),
"interpolations" (needs `model.encode` and `model.decode`: decoded latent paths through
`genzoo.analysis.interpolation_grid`), "density" (2-D likelihood models: exp(log p) on a grid, with its mass),
"passage" (text models with `generate` and `tokenizer`: a continuation of the job's `prompt`), "loss" (the run's
loss curves). A row whose model or data set is not
available is listed as skipped; a picture a model cannot make is left out.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.cli.text import description
from genzoo.errors import ConfigError, GenzooError


@dataclass
class DemoJob:
    name: str  # folder under OUT and section title
    model: str
    data: str
    model_config: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    steps: int = 1000
    quick_steps: int = 60
    pictures: tuple[str, ...] = ("samples", "loss")
    eval_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"k": 100} for bound models
    eval_examples: int = 1000
    data_options: dict[str, Any] = field(default_factory=dict)
    mode_stats: bool = False  # report genzoo.eval.mode_stats of 2,500 samples (ring8, grid25, 8gaussians)
    prompt: str = ""  # text models: the "passage" picture continues it
    sample_seconds: bool = False  # report the time to draw the 64 pictured samples (slow samplers)
    description: str = ""


# The demo table. Budget: all rows together train, evaluate and draw in about 6 minutes on 2 quiet CPU cores, so
# that `make demo` (install included) stays under 10.
JOBS: list[DemoJob] = [
    DemoJob(
        name="vae-mnist", model="vae", data="mnist",
        model_config={"latent_dim": 16, "hidden": [256, 128]},
        train_config={"batch_size": 128, "lr": 1e-3, "eval_every": 500, "eval_batches": 4, "sample_every": 500},
        steps=2000, quick_steps=60,
        pictures=("samples", "reconstructions", "interpolations", "loss"),
        eval_kwargs={"k": 100}, eval_examples=1000,
        description="Gaussian-latent VAE with a Bernoulli decoder (dynamic binarization) on MNIST-10k; "
                    "NLL is the importance-sampled bound with k = 100.",
    ),
    DemoJob(
        name="vae-ring8", model="vae", data="ring8",
        model_config={"latent_dim": 2, "hidden": [64, 64], "decoder": "gaussian", "decoder_std": 0.1},
        train_config={"batch_size": 256, "lr": 2e-3, "eval_every": 1000, "eval_batches": 4},
        steps=2000, quick_steps=60,
        pictures=("samples", "reconstructions", "loss"),
        eval_kwargs={"k": 100}, eval_examples=1000,
        description="The same VAE on a ring of 8 Gaussians (2-D): its blurry, mode-bridging samples are the "
                    "baseline the other families improve on.",
    ),
    DemoJob(
        name="realnvp-moons", model="realnvp", data="moons",
        model_config={"n_blocks": 8, "hidden": [64, 64]},
        train_config={"batch_size": 512, "lr": 2e-3, "schedule": "cosine", "eval_every": 0, "eval_batches": 4},
        steps=1500, quick_steps=40,
        pictures=("samples", "density", "loss"),
        eval_examples=2000,
        description="RealNVP (8 affine couplings) on two moons: an exact log-likelihood by the change of "
                    "variables, and a density that integrates to 1 on the grid.",
    ),
    DemoJob(
        name="pacgan-ring8", model="pacgan", data="ring8",
        model_config={"latent_dim": 2, "g_hidden": [128, 128, 128], "d_hidden": [128, 128], "g_batch_norm": False},
        train_config={"batch_size": 256, "lr": 1e-3, "schedule": "cosine"},
        steps=8000, quick_steps=40,
        pictures=("samples", "loss"),
        mode_stats=True,
        description="PacGAN (the discriminator judges packs of 2 samples) on the PacGAN ring of 8 Gaussians "
                    "(std 0.01): mode statistics on 2,500 samples, as in the mode-collapse lab.",
    ),
    DemoJob(
        name="ddpm-8gaussians", model="ddpm", data="8gaussians",
        model_config={},
        train_config={"batch_size": 256, "lr": 2e-3, "schedule": "cosine", "eval_batches": 2},
        steps=3000, quick_steps=40,
        pictures=("samples", "loss"),
        eval_examples=500,
        description="DDPM (1,000 steps, eps-prediction, EMA) on 8 Gaussians with an MLP denoiser; the NLL is the "
                    "variational bound.",
    ),
    DemoJob(
        name="pixelcnn-mnist", model="pixelcnn", data="mnist",
        model_config={"channels": 32, "blocks": 4},
        train_config={"batch_size": 32, "lr": 1e-3, "schedule": "cosine", "eval_batches": 4, "n_samples": 16},
        steps=800, quick_steps=10,
        pictures=("samples", "loss"), eval_examples=500, sample_seconds=True,
        description="PixelCNN (mask-A 7x7, 4 residual mask-B blocks of 32 channels, Bernoulli outputs) on dynamically "
                    "binarized MNIST-10k: the exact NLL by the chain rule, and samples drawn pixel by pixel.",
    ),
    DemoJob(
        name="ebm-8gaussians", model="ebm", data="8gaussians",
        model_config={"hidden": [128, 128], "sgld_step": 0.03, "buffer_size": 2000, "resolution": 128},
        train_config={"batch_size": 256, "lr": 1e-3, "schedule": "cosine", "eval_batches": 2},
        steps=600, quick_steps=10,
        pictures=("samples", "density", "loss"), eval_examples=1000,
        description="An energy network E(x) trained by maximum likelihood with 20 SGLD negatives per step from a "
                    "replay buffer; its NLL is exact through log Z integrated on a 128 x 128 grid over [-4, 4]^2.",
    ),
    DemoJob(
        name="rbm-mnist", model="rbm", data="mnist",
        model_config={"hidden": 500, "ais_betas": 500, "ais_runs": 50},
        train_config={"batch_size": 100, "schedule": "linear", "eval_batches": 2},
        steps=2000, quick_steps=10,
        pictures=("samples", "loss"), eval_examples=500,
        description="A Bernoulli RBM with 500 hidden units trained by persistent contrastive divergence (PCD-1) on "
                    "dynamically binarized MNIST-10k; the NLL is exact up to log Z, estimated by annealed importance "
                    "sampling (500 temperatures x 50 runs here; the benchmark uses 14,500).",
    ),
    DemoJob(
        name="gmm-grid25", model="gmm", data="grid25",
        model_config={"components": 25, "covariance": "full"},
        train_config={}, steps=200, quick_steps=5,
        pictures=("samples", "density", "loss"), eval_examples=2000,
        description="The classical floor: a 25-component Gaussian mixture fitted by stepwise EM (k-means++ start) "
                    "on the 5 x 5 grid of Gaussians; exact NLL.",
    ),
    DemoJob(
        name="cnf-moons", model="cnf", data="moons",
        model_config={"hidden": [64, 64], "method": "rk4", "steps": 8},
        train_config={"batch_size": 256, "lr": 2e-3, "schedule": "cosine", "eval_batches": 2},
        steps=300, quick_steps=5,
        pictures=("samples", "density", "loss"), eval_examples=1000,
        description="A continuous normalizing flow (FFJORD: dz/dt = f(z, t), d log p / dt = -tr(df/dz), exact "
                    "trace in 2-D, RK4 with 8 steps) on two moons.",
    ),
    DemoJob(
        name="neural-ode-8gaussians", model="neural-ode", data="8gaussians",
        model_config={"width": 32, "method": "rk4", "steps": 8},
        train_config={"batch_size": 256, "lr": 3e-3, "schedule": "cosine", "eval_batches": 2},
        steps=200, quick_steps=5,
        pictures=("samples", "density", "loss"), eval_examples=1000,
        description="Chen et al.'s continuous normalizing flow: dz/dt = sum_m u_m(t) tanh(w_m(t) . z + b_m(t)) "
                    "from a hypernetwork of t, its trace in closed form, RK4 with 8 steps, on 8 Gaussians.",
    ),
    DemoJob(
        name="sparse-coding-digits", model="sparse-coding", data="digits",
        model_config={"latent_dim": 32, "lam": 0.1},
        train_config={"batch_size": 128, "eval_batches": 2},
        steps=400, quick_steps=5,
        pictures=("samples", "reconstructions", "loss"), eval_examples=300,
        description="Sparse coding: codes by FISTA for 1/2 ||x - D z||^2 + lambda ||z||_1 with unit-norm atoms, a "
                    "Laplace prior on z; the NLL is an importance-sampled bound.",
    ),
    DemoJob(
        name="hmm-shakespeare", model="hmm", data="shakespeare",
        model_config={"states": 64, "context": 128},
        train_config={"batch_size": 64, "eval_every": 0, "eval_batches": 4},
        steps=150, quick_steps=5,
        pictures=("passage", "loss"), prompt="ROMEO:", eval_examples=400,
        description="The classical sequence floor beside the GPT: a 64-state hidden Markov model over characters "
                    "fitted by stepwise Baum-Welch (forward-backward in log space); exact log p of 400 validation "
                    "windows by the forward algorithm.",
    ),
    DemoJob(
        name="gpt-shakespeare", model="gpt", data="shakespeare",
        model_config={"context": 64, "n_layer": 4, "n_head": 4, "n_embd": 128, "positions": "rotary"},
        train_config={"batch_size": 12, "eval_every": 0, "eval_batches": 10, "n_samples": 4},
        steps=2000, quick_steps=20,
        pictures=("passage", "loss"), prompt="ROMEO:", eval_examples=400,
        description="A character-level GPT (4 layers, 4 heads, width 128, context 64, rotary positions: nanoGPT's "
                    "CPU recipe at fewer steps) on tiny Shakespeare; the loss is the exact log-probability of 400 "
                    "validation windows per character.",
    ),
]


def register(sub) -> None:
    p = sub.add_parser("demo", help="train small demo models and write an HTML report",
                       description=description(__doc__))
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="a few steps per job (a smoke test, ~30 s)")
    p.add_argument("--only", nargs="+", metavar="JOB", help="run only these jobs (names from the table)")
    p.add_argument("--list", action="store_true", help="list the demo jobs and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    jobs = list(JOBS)
    if args.list:
        for j in jobs:
            print(f"{j.name:<22} {j.model:<12} {j.data:<14} {j.steps} steps  pictures: {', '.join(j.pictures)}")
        return 0
    if args.only:
        names = [j.name for j in jobs]
        for n in args.only:
            if n not in names:
                from genzoo.errors import unknown_name

                raise unknown_name("demo job", n, names)
        jobs = [j for j in jobs if j.name in args.only]
    out = Path(args.out)
    html, md, failed = run_demo(jobs, out, quick=args.quick)
    print(f"report: {html}\n        {md}")
    return 1 if failed else 0


def run_demo(jobs: list[DemoJob], out: Path, quick: bool = False) -> tuple[Path, Path, int]:
    from genzoo.models import available
    from genzoo.train.report import write_report

    out.mkdir(parents=True, exist_ok=True)
    sections, failed = [], 0
    t_all = time.perf_counter()
    for job in jobs:
        title = f"{job.name}: {job.model} on {job.data}"
        if job.model not in available():
            sections.append({"title": title, "error": f'skipped: model "{job.model}" is not registered'})
            continue
        print(f"genzoo demo: {title} ({job.quick_steps if quick else job.steps} steps)", file=sys.stderr)
        try:
            sections.append(run_job(job, out / job.name, quick))
        except GenzooError as e:
            print(f"genzoo demo: {job.name}: {e}", file=sys.stderr)
            sections.append({"title": title, "error": f"skipped: {e}"})
        except Exception as e:  # noqa: BLE001  one failing row must not lose the others' report
            traceback.print_exc()
            failed += 1
            sections.append({"title": title, "error": f"failed: {type(e).__name__}: {e}"})
    total = time.perf_counter() - t_all
    intro = (f"{len(jobs)} demo job(s){' (quick mode)' if quick else ''}, {total:.0f} s in total. Each row was "
             "trained by the same Trainer; numbers are on the held-out split.")
    html, md = write_report(out, "genzoo demo", sections, intro=intro)
    return html, md, failed


def _clear(folder: Path) -> None:
    if not folder.exists():
        return
    if not (folder / "config.yaml").is_file() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists and is not a genzoo run folder; choose another --out")
    shutil.rmtree(folder)


def run_job(job: DemoJob, folder: Path, quick: bool = False) -> dict[str, Any]:
    from genzoo.train.run import start_run

    _clear(folder)
    steps = job.quick_steps if quick else job.steps
    train_cfg = dict(job.train_config)
    for k in ("eval_every", "sample_every", "ckpt_every"):
        if quick and train_cfg.get(k):
            train_cfg[k] = 0
    doc = {"model": dict(job.model_config), "train": train_cfg, "data": dict(job.data_options)}
    t0 = time.perf_counter()
    trainer = start_run(job.model, job.data, doc, folder, {"steps": steps, "progress": sys.stderr.isatty()})
    trainer.fit()
    train_s = time.perf_counter() - t0
    model = trainer.model
    pics = folder / "pictures"
    images: list[tuple[str, Path | None]] = []
    table: dict[str, Any] = {"model": job.model, "data": f"{job.data} ({len(trainer.data)} training examples)",
                             "parameters": f"{sum(p.numel() for p in model.parameters()):,}",
                             "steps": steps, "training time (s)": round(train_s, 1)}
    last = [h for h in trainer.history if any(k.endswith("/loss") and not k.startswith("eval/") for k in h)]
    if last:
        lu = f" ({model.loss_units})" if model.loss_units else ""  # the unit the model declares for its loss
        table.update({f"final train {k}{lu}": v for k, v in last[-1].items() if k.endswith("/loss")})
    test = trainer.eval_data
    with trainer.eval_weights():
        table.update(_numbers(job, model, test, quick))
        if job.mode_stats:
            table.update(_modes(trainer, job.data))
        passages = []
        for pic in job.pictures:
            try:
                t_pic = time.perf_counter()
                if pic == "passage":
                    passages.append(_passage(job, trainer))
                    continue
                images.append(_picture(pic, trainer, test, pics))
                if pic == "samples" and job.sample_seconds:
                    table["time to draw 64 samples (s)"] = round(time.perf_counter() - t_pic, 1)
            except Exception as e:  # noqa: BLE001  optional pictures: note and go on
                print(f"genzoo demo: {job.name}: no {pic} picture ({type(e).__name__}: {e})", file=sys.stderr)
    return {"title": f"{job.name}: {job.model} on {job.data}", "text": job.description, "table": table,
            "images": [i for i in images if i[1] is not None], "passages": passages}


def _passage(job: DemoJob, trainer, tokens: int = 400) -> tuple[str, str]:
    """A continuation of the job's prompt by a text model (temperature 0.8, top-k 40, seed 0)."""
    import torch

    from genzoo.train import isolated_rng

    model = trainer.model
    if not {"generate", "tokenizer"} <= model.capabilities:
        raise ConfigError(f"{model.name} does not generate text")
    prompt = model.tokenizer.encode(job.prompt)[None].to(trainer.device)
    with isolated_rng(0, trainer.device), torch.no_grad():
        ids = model.generate(prompt, tokens, temperature=0.8, top_k=40)
    return (f"{tokens} generated tokens after the prompt {job.prompt!r} (temperature 0.8, top-k 40)",
            model.tokenizer.decode(ids[0].cpu()))


def _numbers(job: DemoJob, model, test, quick: bool) -> dict[str, Any]:
    import torch

    from genzoo.train import isolated_rng

    if test is None:
        return {"evaluation": "no held-out split"}
    n = min(len(test), 200 if quick else job.eval_examples)
    if test.kind == "text":  # windows of the model's context; the metrics of language models
        from genzoo.eval.text import evaluate_text

        r = evaluate_text(model, test.x.reshape(-1)[: n * model.config.data_shape[0]], batch_size=100)
        return {"validation loss (nats/token)": f"{r['loss']:.4f} ± {r['loss_sem']:.4f}",
                "bits per character": f"{r['bits_per_char']:.4f}", "perplexity": f"{r['perplexity']:.3f}",
                "validation tokens": r["tokens"]}
    if model.likelihood != "none":
        from genzoo.eval.likelihood import evaluate_likelihood

        kw = dict(job.eval_kwargs)
        if quick and "k" in kw:
            kw["k"] = min(kw["k"], 10)
        with isolated_rng(0, model.device):
            r = evaluate_likelihood(model, (test.x, test.y), batch_size=100, max_examples=n, **kw)
        label = "NLL (nats/example)" if model.likelihood == "exact" else "NLL bound (nats/example)"
        out = {label: f"{r['nll']:.3f} ± {r['nll_sem']:.3f}"}
        if test.x.dim() == 4:  # bits/dim is the convention for images
            out["bits/dim"] = f"{r['bpd']:.4f} ± {r['bpd_sem']:.4f}"
        out["test examples"] = r["n"]
        if r.get("k"):
            out["importance samples k"] = r["k"]
        return out
    from genzoo.cli.evaluate import sample_statistics

    with isolated_rng(0, model.device), torch.no_grad():
        s = sample_statistics(model, test.x, n)
    return {"sample mean / data mean": f"{s['sample_mean']:.3f} / {s['data_mean']:.3f}",
            "sample std / data std": f"{s['sample_std']:.3f} / {s['data_std']:.3f}"}


def _modes(trainer, dataset: str, n: int = 2500) -> dict[str, Any]:
    """PacGAN-protocol mode statistics of n samples (genzoo.eval.mode_stats)."""
    from genzoo.eval import mode_stats

    s = mode_stats(trainer.sample(n, seed=0), dataset)
    return {f"modes covered ({n} samples)": f"{s['modes_covered']} / {s['n_modes']}",
            "high-quality samples (within 3 std of a mode)": f"{s['high_quality_pct']:.1f} %",
            "reverse KL of the mode histogram to uniform": f"{s['reverse_kl']:.3f}"}


def _picture(kind: str, trainer, test, folder: Path) -> tuple[str, Path | None]:
    import torch

    from genzoo.train import isolated_rng
    from genzoo.train.plots import save_image_grid, save_samples, save_scatter

    model, dkind = trainer.model, trainer.data.kind
    src = test if test is not None else trainer.data
    cond = None
    if trainer.conditional and src.y is not None:
        cond = src.y[:16].to(trainer.device)
    if kind == "samples":
        s = trainer.sample(1000 if dkind == "points" else 64, seed=0)
        ref = trainer.data.x[:2000] if dkind == "points" else None
        return "samples", save_samples(s, folder / "samples.png", dkind, reference=ref, meta=trainer.data.meta)
    if kind == "loss":
        p = trainer.out_dir / "loss.png"
        return "loss curves", p if p.is_file() else None
    if kind == "reconstructions":
        if "reconstruct" not in model.capabilities:
            return kind, None
        n = 16 if dkind == "image" else 500
        x = src.x[:n].to(trainer.device)
        c = src.y[:n].to(trainer.device) if (trainer.conditional and src.y is not None) else None
        with torch.no_grad(), isolated_rng(0, trainer.device):
            r = model.reconstruct(x, c).detach().cpu()
        if dkind == "image":
            return ("reconstructions (top: data, bottom: reconstruction)",
                    save_image_grid(torch.cat([x.cpu(), r]), folder / "reconstructions.png", nrow=n))
        return ("reconstructions (blue) of held-out points (grey)",
                save_scatter(r, folder / "reconstructions.png", reference=x.cpu()))
    if kind == "interpolations":
        if not {"encode", "decode"} <= model.capabilities or dkind != "image":
            return kind, None
        from genzoo.analysis import interpolation_grid

        x = src.x[:16].to(trainer.device)
        c = cond[:8] if cond is not None else None
        with torch.no_grad():
            imgs = interpolation_grid(model, x[:8], x[8:16], steps=10, condition=c).detach().cpu()
        return ("latent interpolations (slerp between posterior means)",
                save_image_grid(imgs, folder / "interpolations.png", nrow=10))
    if kind == "density":
        if model.likelihood == "none" or dkind != "points" or trainer.data.x.shape[1] != 2:
            return kind, None
        from genzoo.train.plots import save_density

        with isolated_rng(0, trainer.device):
            path = save_density(lambda x: model.log_prob(x.to(trainer.device)), folder / "density.png",
                                reference=trainer.data.x[:5000], n=120 if trainer.config.steps < 200 else 200)
        return "density exp(log p(x)) on a grid", path
    raise ConfigError(f'unknown demo picture "{kind}" (samples, reconstructions, interpolations, density, loss)')

"""`genzoo lab mode-collapse`: GANs on ring8, grid25 and stacked MNIST, mode statistics over seeds.

    genzoo lab mode-collapse [--models gan,ns-gan,wgan-gp,pacgan] [--datasets ring8,grid25,stacked-mnist]
                             [--seeds 0,1,2,3,4] [--steps 8000] [--out docs/results/gans]

Each (model, data set, seed) is trained by genzoo.train.Trainer, then scored by genzoo.eval.mode_stats on 2,500
samples (toy sets; PacGAN protocol) or 26,000 samples (stacked MNIST, as PacGAN). Writes to --out:
mode_collapse.json (every run, merged with earlier runs by key), mode_collapse.md (a mean +- std table over seeds,
with the command, budget and date) and mode_collapse_{dataset}.png (scatter plots / sample grids of the first seed).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import ConfigError

DEFAULT_MODELS = "gan,ns-gan,wgan-gp,pacgan"
TOY = ("ring8", "grid25")
# Lab settings for 2-D points, those of the recorded results (docs/models/gans.md): z in R^2, generator 3 x 128
# without batch norm, discriminator 2 x 128; Adam lr 1e-3 with a cosine decay to 0 (unless --lr / --train-set).
LAB_2D = {"data_shape": (2,), "latent_dim": 2, "g_hidden": (128, 128, 128), "d_hidden": (128, 128),
          "g_batch_norm": False}
LAB_2D_TRAIN = {"lr": 1e-3, "schedule": "cosine"}
# Per-model lab settings on the toy sets that differ from the above (the model's train_defaults give the rest).
# WGAN-GP: the toy-task settings of Gulrajani et al.'s code (gan_toy.py): Adam 1e-4, betas (0.5, 0.9), 5 critic
# steps, lambda = 0.1 ("smaller lambda seems to help for toy tasks"); with lambda = 10 the 1-Lipschitz critic cannot
# separate modes of std 0.01-0.05 sharply and the samples stay off the modes (docs/models/gans.md). WGAN (clipping):
# RMSprop 5e-5 as in Arjovsky et al.
LAB_2D_BY_MODEL: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "wgan-gp": ({"gp_weight": 0.1}, {"lr": 1e-4, "betas": (0.5, 0.9)}),
    "wgan": ({}, {"lr": 5e-5}),
}
LAB_STACKED = {"data_shape": (3, 28, 28), "latent_dim": 64, "width": 32}
N_SAMPLES = {"ring8": 2500, "grid25": 2500, "stacked-mnist": 26000}  # PacGAN: 26,000 on stacked MNIST


def register(sub) -> None:
    p = sub.add_parser("lab", help="experiments that reproduce known phenomena (mode collapse, ...)",
                       description="Laboratory experiments.")
    lab_sub = p.add_subparsers(dest="lab", metavar="EXPERIMENT")
    m = lab_sub.add_parser("mode-collapse", help="GANs on ring8 / grid25 / stacked MNIST: mode statistics",
                           description=__doc__.splitlines()[0])
    m.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated model names (default {DEFAULT_MODELS})")
    m.add_argument("--datasets", default="ring8,grid25,stacked-mnist")
    m.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    m.add_argument("--steps", type=int, default=8000,
                   help="training steps on the toy sets (the recorded grid25 results used 40000)")
    m.add_argument("--mnist-steps", type=int, default=None, help="training steps on stacked MNIST (default --steps)")
    m.add_argument("--model-steps", action="append", default=[], metavar="MODEL=STEPS",
                   help="steps for one model, overriding --steps / --mnist-steps (repeatable), e.g. wgan-gp=8000: "
                        "with 5 critic updates per step that is as many discriminator updates as 40000 GAN steps")
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 1e-3 with a cosine decay for GANs on the toy sets, else each "
                        "model's train_defaults)")
    m.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model config override for every model, e.g. --set g_batch_norm=false (repeatable)")
    m.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                   help="TrainConfig override, e.g. --train-set schedule=cosine (repeatable)")
    m.add_argument("--device", default="auto")
    m.add_argument("--out", default="docs/results/gans")
    m.add_argument("--tag", default="", help="suffix of the plot names (runs of other models into the same --out)")
    m.set_defaults(func=run_mode_collapse)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


# ---- data --------------------------------------------------------------------------------------------------
def mnist_arrays(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-10k images (N, 1, 28, 28) in [0, 1] and labels: genzoo.data.get when available, else the shipped
    IDX files."""
    try:
        from genzoo.data import get

        ds = get("mnist", split=split)
        return ds.x.float(), ds.y.long()
    except (ImportError, AttributeError):
        pass
    from genzoo.data.idx import read_idx

    root = Path(__file__).resolve().parents[1] / "data" / "assets" / "mnist-10k"
    prefix = "train" if split == "train" else "t10k"
    x = torch.from_numpy(read_idx(root / f"{prefix}-images-idx3-ubyte.gz").astype("float32") / 255.0).unsqueeze(1)
    y = torch.from_numpy(read_idx(root / f"{prefix}-labels-idx1-ubyte.gz").astype("int64"))
    return x, y


def stacked_mnist_data(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 28, 28): three independently drawn MNIST training digits per example (genzoo.data.stacked_mnist
    when available)."""
    try:
        from genzoo.data import stacked_mnist
    except ImportError:
        stacked_mnist = None
    if stacked_mnist is not None:
        out = stacked_mnist(n, seed)
        x = out[0] if isinstance(out, tuple) else getattr(out, "x", out)
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    x, _ = mnist_arrays("train")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, x.shape[0], (n, 3), generator=g)
    return x[idx].squeeze(2)


def toy_data(name: str, n: int, seed: int) -> torch.Tensor:
    from genzoo.data.toy import toy2d

    return toy2d(name, n, seed=seed)


def lab_settings(model_name: str, dataset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, TrainConfig overrides) the lab uses for `model_name` on `dataset` before --set/--train-set:
    GANs on the toy sets get LAB_2D / LAB_2D_TRAIN (and LAB_2D_BY_MODEL), on stacked MNIST LAB_STACKED; any
    other model only the data shape (its own defaults otherwise)."""
    from genzoo.models import get_class

    cls = get_class(model_name)
    is_gan = cls.family == "gan" and model_name != "pggan"
    if dataset in TOY:
        if not is_gan:  # real-valued points: a model with a choice of decoder gets the Gaussian one
            fields = {f.name for f in dataclasses.fields(cls.Config)} if dataclasses.is_dataclass(cls.Config) else set()
            return {"data_shape": (2,), **({"decoder": "gaussian"} if "decoder" in fields else {})}, {}
        cfg, train = LAB_2D_BY_MODEL.get(model_name, ({}, {}))
        return {**LAB_2D, **cfg}, {**LAB_2D_TRAIN, **train}
    if dataset == "stacked-mnist":
        return (dict(LAB_STACKED) if is_gan else {"data_shape": (3, 28, 28)}), {}
    raise ConfigError(f"lab mode-collapse: unknown data set {dataset!r}; use ring8, grid25, stacked-mnist")


# ---- one run -----------------------------------------------------------------------------------------------
def _parse_sets(items: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"--set expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def train_model(model, data: torch.Tensor, steps: int, batch_size: int, seed: int, lr: float | None,
                device: str, train_overrides: dict[str, Any] | None = None) -> tuple[str, float]:
    """Train with genzoo.train.Trainer (a plain loop over players() if the Trainer cannot be imported)."""
    t0 = time.perf_counter()
    try:
        from genzoo.train import TrainConfig, Trainer
    except ImportError:
        Trainer = None
    if Trainer is not None:
        kw: dict[str, Any] = {"steps": steps, "batch_size": batch_size, "seed": seed, "progress": False,
                              "log_every": max(1, steps // 10), "device": device}
        if lr is not None:
            kw["lr"] = lr
        kw.update(train_overrides or {})
        Trainer(model, data, TrainConfig(**kw), out_dir=None).fit()
        return "genzoo.train.Trainer", time.perf_counter() - t0
    from genzoo.models import Batch

    torch.manual_seed(seed)
    defaults = dict(getattr(model, "train_defaults", {}))
    opts = {p: torch.optim.Adam(ps, lr=lr or defaults.get("lr", 2e-4), betas=defaults.get("betas", (0.5, 0.999)))
            for p, ps in model.players().items()}
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        b = Batch(data[torch.randint(0, len(data), (batch_size,), generator=g)])
        for p in model.update_order(step):
            opts[p].zero_grad(set_to_none=True)
            model.loss(b, p)["loss"].backward()
            opts[p].step()
        model.on_step_end(step)
    return "plain loop (Trainer unavailable)", time.perf_counter() - t0


def run_one(model_name: str, dataset: str, seed: int, steps: int, batch_size: int, lr: float | None,
            overrides: dict[str, Any], device: str = "auto",
            train_overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], torch.Tensor]:
    from genzoo.eval.modes import mode_stats
    from genzoo.models import create

    torch.manual_seed(seed)
    cfg, train = lab_settings(model_name, dataset)
    if dataset in TOY:
        data = toy_data(dataset, 100_000, seed)
        cfg = {**cfg, **overrides}
    else:
        data = stacked_mnist_data(50_000, seed)
        cfg = {**cfg, **{k: v for k, v in overrides.items() if k not in LAB_2D}}
    model = create(model_name, **cfg)
    train = {**train, **(train_overrides or {})}
    if lr is not None:
        train["lr"] = lr
    lr = train.pop("lr", None)
    how, secs = train_model(model, data, steps, batch_size, seed, lr, device, train)
    train_used = {**({"lr": lr} if lr is not None else {}), **train}
    model.eval()
    torch.manual_seed(10_000 + seed)
    samples = torch.cat([model.sample(min(2500, N_SAMPLES[dataset] - i)).cpu()
                         for i in range(0, N_SAMPLES[dataset], 2500)])
    st = mode_stats(samples, dataset)
    st.pop("counts", None)
    plain = lambda d: {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}  # noqa: E731
    rec = {"model": model_name, "dataset": dataset, "seed": seed, "steps": steps, "batch_size": batch_size,
           "train_seconds": round(secs, 1), "trainer": how, "train": plain(train_used), "config": plain(cfg), **st}
    return rec, samples


# ---- reporting ---------------------------------------------------------------------------------------------
def _mean_std(v: list[float]) -> str:
    if not v:
        return "-"
    m = sum(v) / len(v)
    s = math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def write_table(records: list[dict[str, Any]], out: Path, header: str) -> Path:
    lines = [header, ""]
    for ds in ("ring8", "grid25", "stacked-mnist"):
        rows = [r for r in records if r["dataset"] == ds]
        if not rows:
            continue
        k = rows[0]["n_modes"]
        lines += [f"### {ds} ({k} modes, {N_SAMPLES.get(ds, '?')} samples)", ""]
        if ds in TOY:
            lines += ["| model | seeds | steps | modes covered | high-quality % | reverse KL | train s / run |",
                      "|---|---|---|---|---|---|---|"]
        else:
            lines += ["| model | seeds | steps | modes covered | reverse KL | train s / run |",
                      "|---|---|---|---|---|---|"]
        order = DEFAULT_MODELS.split(",")
        keys = sorted(dict.fromkeys((r["model"], r["steps"]) for r in rows),
                      key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0], k[1]))
        for m, steps in keys:  # one row per model and budget, in the order gan, ns-gan, wgan-gp, pacgan, others
            rs = sorted([r for r in rows if r["model"] == m and r["steps"] == steps], key=lambda r: r["seed"])
            seeds = ",".join(str(r["seed"]) for r in rs)
            cov = _mean_std([r["modes_covered"] for r in rs])
            kl = _mean_std([r["reverse_kl"] for r in rs])
            secs = f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f}"
            if ds in TOY:
                hq = _mean_std([r["high_quality_pct"] for r in rs])
                lines.append(f"| {m} | {seeds} | {steps} | {cov} | {hq} | {kl} | {secs} |")
            else:
                lines.append(f"| {m} | {seeds} | {steps} | {cov} | {kl} | {secs} |")
        lines.append("")
    path = out / "mode_collapse.md"
    path.write_text("\n".join(lines))
    return path


def plot_samples(samples: dict[str, torch.Tensor], dataset: str, out: Path, tag: str = "") -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(samples)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3 * (len(names) + 1), 3.2))
    axes = list(axes) if len(names) else [axes]
    if dataset in TOY:
        real = toy_data(dataset, 2500, 12345)
        lim = 1.5 if dataset == "ring8" else 5.5
        for ax, (title, pts) in zip(axes, [("data", real)] + list(samples.items())):
            ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_aspect("equal"), ax.set_title(title)
            ax.set_xticks([]), ax.set_yticks([])
    else:
        real = stacked_mnist_data(36, 12345)
        for ax, (title, imgs) in zip(axes, [("data", real)] + list(samples.items())):
            g = imgs[:36].reshape(6, 6, 3, 28, 28).permute(0, 3, 1, 4, 2).reshape(6 * 28, 6 * 28, 3)
            ax.imshow(g.clamp(0, 1).numpy()), ax.set_title(title), ax.axis("off")
    fig.tight_layout()
    path = out / f"mode_collapse_{dataset}{'_' + tag if tag else ''}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def table_header(records: list[dict[str, Any]]) -> str:
    cmds = list(dict.fromkeys(f"`{r.get('command', 'genzoo lab mode-collapse')}` ({r.get('date', '?')})"
                              for r in records))
    return ("## Mode-collapse lab\n\n"
            f"{platform.machine()} CPU, torch {torch.__version__}. Mean ± std over the listed seeds. "
            "A sample is high quality within 3 std of its nearest mode; a mode is covered by >= 1 high-quality "
            "sample (toy sets) or >= 1 sample (stacked MNIST); reverse KL = KL(mode histogram || uniform). "
            "Every run's config and budget is in mode_collapse.json.\n\nCommands:\n\n"
            + "\n".join(f"- {c}" for c in cmds))


def _merge_store(store: Path, rec: dict[str, Any] | None = None) -> dict[str, dict]:
    """Re-read the JSON store (another lab process may have written to it), add `rec`, write it back."""
    records: dict[str, dict] = {}
    if store.is_file():
        for r in json.loads(store.read_text()).get("runs", []):
            records[f"{r['model']}|{r['dataset']}|{r['seed']}"] = r
    if rec is not None:
        records[f"{rec['model']}|{rec['dataset']}|{rec['seed']}"] = rec
        from genzoo.io import atomic_write_bytes

        atomic_write_bytes(store, json.dumps({"runs": list(records.values())}, indent=1).encode())
    return records


def run_mode_collapse(args) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    from genzoo.models import available

    for m in models:
        if m not in available():
            from genzoo.errors import unknown_name

            raise unknown_name("model", m, available())
    model_steps = {}
    for it in getattr(args, "model_steps", []):
        name, _, v = it.partition("=")
        if not v.strip().isdigit() or int(v) < 1:
            raise ConfigError(f"--model-steps expects MODEL=STEPS with STEPS >= 1, got {it!r}")
        model_steps[name.strip()] = int(v)
    overrides = _parse_sets(args.set)
    train_overrides = _parse_sets(args.train_set)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "mode_collapse.json"
    cmd = ("genzoo " + " ".join(sys.argv[sys.argv.index("lab"):])) if "lab" in sys.argv else "genzoo lab mode-collapse"
    for ds in datasets:
        first: dict[str, torch.Tensor] = {}
        ds_steps = args.steps if ds in TOY else (args.mnist_steps or args.steps)
        for m in models:
            steps = model_steps.get(m, ds_steps)
            for seed in seeds:
                rec, samples = run_one(m, ds, seed, steps, args.batch_size, args.lr, overrides, args.device,
                                       train_overrides)
                rec["date"] = datetime.date.today().isoformat()
                rec["command"] = cmd
                rec["overrides"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in overrides.items()}
                rec["train_overrides"] = train_overrides
                _merge_store(store, rec)
                if m not in [k.split(",")[0] for k in first]:
                    first[f"{m}, {steps:,} steps"] = samples
                extra = f", HQ {rec['high_quality_pct']:.1f}%" if "high_quality_pct" in rec else ""
                print(f"{ds} {m} seed {seed}: {rec['modes_covered']}/{rec['n_modes']} modes{extra}, "
                      f"KL {rec['reverse_kl']:.3f} ({rec['train_seconds']:.0f}s)", flush=True)
        plot_samples(first, ds, out, getattr(args, "tag", ""))
    path = write_table(list(_merge_store(store).values()), out, table_header(list(_merge_store(store).values())))
    print(f"wrote {path}, {store}")
    return 0

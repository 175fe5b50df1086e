"""What the mode-collapse lab writes: the JSON store of runs (merged by key), the mean ± std table, the plots.

- `mode_collapse.json`: {"runs": [record, ...]}, one record per (model, data set, seed); a new run replaces the
  record with its key, every other record is kept (several lab processes may share one folder).
- `mode_collapse.md`: one row per (model, steps) and data set, mean ± std over the seeds with the sample standard
  deviation s = sqrt(sum (v - mean)^2 / (n - 1)) (0 for one seed).
- `mode_collapse_{dataset}[_{tag}].png`: the data and the first seed's samples of each model.
Runs under the PacGAN protocol go to `mode_collapse_pacgan.json`, `mode_collapse_pacgan.md` (one row per variant
GAN / PacGAN2 / ... and budget, mean ± standard error over seeds beside the paper's Tables 1 and 2, PAPER_RESULTS)
and `mode_collapse_pacgan_{dataset}.png`.
Every file is written atomically (genzoo.io.atomic_write_bytes).
"""

from __future__ import annotations

import io
import json
import math
import platform
from pathlib import Path
from typing import Any

import torch

from genzoo.io import atomic_write_bytes

DATASETS = ("ring8", "grid25", "stacked-mnist")
TOY = ("ring8", "grid25")
MODEL_ORDER = ("gan", "ns-gan", "wgan-gp", "pacgan")  # table rows in this order, then any other model by name


# Lin et al. (2018), PacGAN, Table 1 (toy sets, 10 trials: modes, high-quality %, reverse KL, each mean and standard
# error) and Table 2 (stacked MNIST, 10 trials: modes, KL; "DCGAN (our implementation)" for the GAN row).
PAPER_RESULTS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("ring8", "GAN"): {"modes": (6.3, 0.5), "hq": (98.2, 0.2), "kl": (0.45, 0.09)},
    ("ring8", "PacGAN2"): {"modes": (7.9, 0.1), "hq": (95.6, 2.0), "kl": (0.07, 0.03)},
    ("ring8", "PacGAN3"): {"modes": (7.8, 0.1), "hq": (97.7, 0.3), "kl": (0.10, 0.02)},
    ("ring8", "PacGAN4"): {"modes": (7.8, 0.1), "hq": (95.9, 1.4), "kl": (0.07, 0.02)},
    ("grid25", "GAN"): {"modes": (17.3, 0.8), "hq": (94.8, 0.7), "kl": (0.70, 0.07)},
    ("grid25", "PacGAN2"): {"modes": (23.8, 0.7), "hq": (91.3, 0.8), "kl": (0.13, 0.04)},
    ("grid25", "PacGAN3"): {"modes": (24.6, 0.4), "hq": (94.2, 0.4), "kl": (0.06, 0.02)},
    ("grid25", "PacGAN4"): {"modes": (24.8, 0.2), "hq": (93.6, 0.6), "kl": (0.04, 0.01)},
    ("stacked-mnist", "GAN"): {"modes": (78.9, 6.46), "kl": (4.50, 0.127)},
    ("stacked-mnist", "PacGAN2"): {"modes": (1000.0, 0.0), "kl": (0.06, 0.003)},
    ("stacked-mnist", "PacGAN3"): {"modes": (1000.0, 0.0), "kl": (0.06, 0.003)},
    ("stacked-mnist", "PacGAN4"): {"modes": (1000.0, 0.0), "kl": (0.07, 0.005)},
}


def run_key(rec: dict[str, Any]) -> str:
    """model|dataset|seed (|steps for a score on the way of a longer run); under a protocol
    label|dataset|seed|protocol|steps (several budgets side by side)."""
    if rec.get("protocol", "lab") != "lab":
        return f"{rec['label']}|{rec['dataset']}|{rec['seed']}|{rec['protocol']}|{rec['steps']}"
    if "run_steps" in rec:  # a score on the way of a longer run (eval_steps)
        return f"{rec['model']}|{rec['dataset']}|{rec['seed']}|{rec['steps']}"
    return f"{rec['model']}|{rec['dataset']}|{rec['seed']}"


def protocol_files(protocol: str, out: Path) -> tuple[Path, str, str]:
    """(JSON store, table file name, plot prefix) of a protocol's runs in `out`."""
    suffix = "" if protocol == "lab" else f"_{protocol}"
    return Path(out) / f"mode_collapse{suffix}.json", f"mode_collapse{suffix}.md", f"mode_collapse{suffix}"


def merge_store(store: Path, rec: dict[str, Any] | None = None) -> dict[str, dict]:
    """Re-read the JSON store (another lab process may have written to it), add `rec`, write it back."""
    records: dict[str, dict] = {}
    if store.is_file():
        for r in json.loads(store.read_text()).get("runs", []):
            records[run_key(r)] = r
    if rec is not None:
        records[run_key(rec)] = rec
        atomic_write_bytes(store, json.dumps({"runs": list(records.values())}, indent=1).encode())
    return records


def mean_std(v: list[float]) -> str:
    """'mean ± s' with two decimals (s the sample standard deviation, 0 for one value); '-' for none."""
    if not v:
        return "-"
    m = sum(v) / len(v)
    s = math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def table_header(records: list[dict[str, Any]]) -> str:
    cmds = list(dict.fromkeys(f"`{r.get('command', 'genzoo lab mode-collapse')}` ({r.get('date', '?')})"
                              for r in records))
    return ("## Mode-collapse lab\n\n"
            f"{platform.machine()} CPU, torch {torch.__version__}. Mean ± std over the listed seeds. "
            "A sample is high quality within 3 std of its nearest mode; a mode is covered by >= 1 high-quality "
            "sample (toy sets) or >= 1 sample (stacked MNIST); reverse KL = KL(mode histogram || uniform). "
            "Every run's config and budget is in mode_collapse.json.\n\nCommands:\n\n"
            + "\n".join(f"- {c}" for c in cmds))


def mean_se(v: list[float], digits: int = 2) -> str:
    """'mean ± s/sqrt(n)' (the standard error of the mean, as the PacGAN paper reports; 0 for one value)."""
    if not v:
        return "-"
    m = sum(v) / len(v)
    s = math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return f"{m:.{digits}f} ± {s / math.sqrt(len(v)):.{digits}f}"


def _paper(ds: str, label: str, key: str, digits: int) -> str:
    p = PAPER_RESULTS.get((ds, label), {}).get(key)
    return "-" if p is None else f"{p[0]:.{digits}f} ± {p[1]:.{digits}f}"


def _label_order(label: str) -> tuple[int, str]:
    return (0, "") if label == "GAN" else (1, f"{len(label):03d}{label}")


def write_protocol_table(records: list[dict[str, Any]], out: Path, name: str = "mode_collapse_pacgan.md") -> Path:
    """`out/mode_collapse_pacgan.md`: per data set, one row per variant (GAN, PacGAN2, ...) and budget, mean ±
    standard error over the seeds, beside the paper's figures (PAPER_RESULTS; 10 trials, 400,000 toy / 100,000
    stacked-MNIST steps), with the mean training seconds per run and the budget as a share of the paper's."""
    cmds = list(dict.fromkeys(f"`{r.get('command', 'genzoo lab mode-collapse')}` ({r.get('date', '?')})"
                              for r in records))
    lines = ["## Mode-collapse lab under the PacGAN protocol", "",
             f"{platform.machine()} CPU, torch {torch.__version__}, one thread per run. Ours: mean ± standard error "
             "over the listed seeds (as the paper reports), the paper's: Lin et al. 2018, Tables 1 and 2 "
             "(10 trials each). Settings: the PacGAN code's (genzoo.lab.mode_collapse.PACGAN_*; "
             "docs/models/gans.md, 'The PacGAN protocol'), at the step budget in the row. HQ: within 3 std of "
             "the nearest mode; a mode is covered by >= 1 HQ sample (toy) / >= 1 sample (stacked MNIST); reverse "
             "KL = KL(mode histogram || uniform), log K when nothing is HQ.", "", "Commands:", ""]
    lines += [f"- {c}" for c in cmds] + [""]
    for ds in DATASETS:
        rows = [r for r in records if r["dataset"] == ds]
        if not rows:
            continue
        toy = ds in TOY
        lines += [f"### {ds} ({rows[0]['n_modes']} modes, {rows[0].get('n_samples', '?')} samples)", ""]
        if toy:
            lines += ["| model | seeds | steps (% of paper) | modes | paper | HQ % | paper | reverse KL | paper "
                      "| train s / run |", "|---|---|---|---|---|---|---|---|---|---|"]
        else:
            lines += ["| model | seeds | steps (% of paper) | modes | paper | KL | paper | train s / run |",
                      "|---|---|---|---|---|---|---|---|"]
        keys = sorted(dict.fromkeys((r["label"], r["steps"]) for r in rows),
                      key=lambda k: (k[1], *_label_order(k[0])))
        for label, steps in keys:
            rs = sorted([r for r in rows if r["label"] == label and r["steps"] == steps], key=lambda r: r["seed"])
            seeds = ",".join(str(r["seed"]) for r in rs)
            share = f"{steps:,} ({100 * steps / rs[0].get('paper_steps', steps):.1f} %)"
            secs = f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f}"
            cov = mean_se([r["modes_covered"] for r in rs], 1)
            kl = mean_se([r["reverse_kl"] for r in rs])
            if toy:
                hq = mean_se([r["high_quality_pct"] for r in rs], 1)
                lines.append(f"| {label} | {seeds} | {share} | {cov} | {_paper(ds, label, 'modes', 1)} | {hq} | "
                             f"{_paper(ds, label, 'hq', 1)} | {kl} | {_paper(ds, label, 'kl', 2)} | {secs} |")
            else:
                lines.append(f"| {label} | {seeds} | {share} | {cov} | {_paper(ds, label, 'modes', 1)} | {kl} | "
                             f"{_paper(ds, label, 'kl', 2)} | {secs} |")
        lines.append("")
    path = Path(out) / name
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


def _row_order(model: str) -> tuple[int, str]:
    return (MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER), model)


def write_table(records: list[dict[str, Any]], out: Path, header: str | None = None) -> Path:
    """`out/mode_collapse.md`: per data set, one row per model and budget (gan, ns-gan, wgan-gp, pacgan, others)."""
    lines = [table_header(records) if header is None else header, ""]
    for ds in DATASETS:
        rows = [r for r in records if r["dataset"] == ds]
        if not rows:
            continue
        lines += [f"### {ds} ({rows[0]['n_modes']} modes, {rows[0].get('n_samples', '?')} samples)", ""]
        if ds in TOY:
            lines += ["| model | seeds | steps | modes covered | high-quality % | reverse KL | train s / run |",
                      "|---|---|---|---|---|---|---|"]
        else:
            lines += ["| model | seeds | steps | modes covered | reverse KL | train s / run |",
                      "|---|---|---|---|---|---|"]
        keys = sorted(dict.fromkeys((r["model"], r["steps"]) for r in rows), key=lambda k: (*_row_order(k[0]), k[1]))
        for m, steps in keys:
            rs = sorted([r for r in rows if r["model"] == m and r["steps"] == steps], key=lambda r: r["seed"])
            seeds = ",".join(str(r["seed"]) for r in rs)
            cov = mean_std([r["modes_covered"] for r in rs])
            kl = mean_std([r["reverse_kl"] for r in rs])
            secs = f"{sum(r['train_seconds'] for r in rs) / len(rs):.0f}"
            if ds in TOY:
                hq = mean_std([r["high_quality_pct"] for r in rs])
                lines.append(f"| {m} | {seeds} | {steps} | {cov} | {hq} | {kl} | {secs} |")
            else:
                lines.append(f"| {m} | {seeds} | {steps} | {cov} | {kl} | {secs} |")
        lines.append("")
    path = Path(out) / "mode_collapse.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


def plot_samples(samples: dict[str, torch.Tensor], dataset: str, real: torch.Tensor, out: Path,
                 tag: str = "", prefix: str = "mode_collapse") -> Path | None:
    """One panel for the data `real`, one per entry of `samples` (title -> samples): scatter plots of 2-D points,
    6 x 6 RGB grids of stacked-MNIST images. None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [("data", real)] + list(samples.items())
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.2))
    axes = list(axes) if len(panels) > 1 else [axes]
    if dataset in TOY:
        lim = 1.5 if dataset == "ring8" else 5.5
        for ax, (title, pts) in zip(axes, panels):
            ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5)
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_aspect("equal"), ax.set_title(title)
            ax.set_xticks([]), ax.set_yticks([])
    else:
        for ax, (title, imgs) in zip(axes, panels):
            g = imgs[:36].reshape(6, 6, 3, 28, 28).permute(0, 3, 1, 4, 2).reshape(6 * 28, 6 * 28, 3)
            ax.imshow(g.clamp(0, 1).numpy()), ax.set_title(title), ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    path = Path(out) / f"{prefix}_{dataset}{'_' + tag if tag else ''}.png"
    atomic_write_bytes(path, buf.getvalue())
    return path

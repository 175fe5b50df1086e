"""What the mode-collapse lab writes: the JSON store of runs (merged by key), the mean ± std table, the plots.

- `mode_collapse.json`: {"runs": [record, ...]}, one record per (model, data set, seed); a new run replaces the
  record with its key, every other record is kept (several lab processes may share one folder).
- `mode_collapse.md`: one row per (model, steps) and data set, mean ± std over the seeds with the sample standard
  deviation s = sqrt(sum (v - mean)^2 / (n - 1)) (0 for one seed).
- `mode_collapse_{dataset}[_{tag}].png`: the data and the first seed's samples of each model.
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


def run_key(rec: dict[str, Any]) -> str:
    return f"{rec['model']}|{rec['dataset']}|{rec['seed']}"


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
                 tag: str = "") -> Path | None:
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
    path = Path(out) / f"mode_collapse_{dataset}{'_' + tag if tag else ''}.png"
    atomic_write_bytes(path, buf.getvalue())
    return path

"""The leaderboard's files: the JSON store of records, the Markdown tables and the plots.

    <out>/leaderboard.json                 {"records": {"board|data|entry|seed": record}}
    <out>/leaderboard.md                   one section per board: the table (mean over seeds, +- their spread)
    <out>/leaderboard/<board>/*.png        a sample grid (MNIST) or scatter (2-D) per run
    <out>/leaderboard/mnist_quality_vs_time.png, mnist_nll_vs_fid.png, toy2d_samples.png, toy2d_mmd_vs_time.png
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genzoo.io import atomic_write_bytes


def record_id(rec: dict[str, Any]) -> str:
    return f"{rec['board']}|{rec['data']}|{rec['entry']}|{rec['seed']}"


def merge_records(path: str | os.PathLike, records: Iterable[dict[str, Any]] = ()) -> dict[str, dict[str, Any]]:
    """Merge `records` into the store at `path` (atomically) and return the whole store."""
    path = Path(path)
    store: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            store = json.loads(path.read_text()).get("records", {})
        except (OSError, ValueError):
            store = {}
    records = list(records)
    for r in records:
        store[record_id(r)] = r
    if records:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps({"records": store}, indent=1, default=str).encode())
    return store


def metric(rec: dict[str, Any], name: str, key: str = "value") -> float | None:
    """A number from a record: a sample metric's field, or None when absent (a failed run, a metric not defined)."""
    m = (rec.get("metrics") or {}).get(name)
    v = m.get(key) if isinstance(m, dict) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _nll(rec: dict[str, Any], unit: str) -> float | None:
    n = rec.get("nll")
    return float(n["value"]) if n and n.get("unit") == unit else None


def _mean(vals: list[float | None]) -> tuple[float | None, float | None]:
    v = [x for x in vals if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    m = sum(v) / len(v)
    sd = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else None
    return m, sd


def _fmt(vals: list[float | None], digits: int = 3, scale: float = 1.0) -> str:
    m, sd = _mean([None if x is None else x * scale for x in vals])
    if m is None:
        return ""
    return f"{m:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def _groups(store: dict[str, dict[str, Any]], board: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    g: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in store.values():
        if rec.get("board") == board:
            g[(rec["data"], rec["entry"])].append(rec)
    return g


def _nll_cell(recs: list[dict[str, Any]], unit: str) -> str:
    ok = [r for r in recs if _nll(r, unit) is not None]
    if not ok:
        return ""
    n = ok[0]["nll"]
    se = f" (SE {n['se']:.3f})" if len(ok) == 1 and n.get("se") is not None else ""
    note = f"; {n['note']}" if n.get("note") else ""
    return f"{_fmt([_nll(r, unit) for r in ok])}{se} [{n['kind']}{note}; n = {n['n']}]"


def _common(recs: list[dict[str, Any]]) -> list[str]:
    r0 = recs[0]
    return [f"{r0.get('parameters', 0):,}", _fmt([r.get("steps") for r in recs], 0),
            _fmt([r.get("train_cpu_seconds") for r in recs], 0), _fmt([r.get("sample_seconds") for r in recs], 1),
            _fmt([r.get("peak_memory_mib") for r in recs], 0)]


def _mnist_table(groups) -> list[str]:
    head = ["entry", "family", "NLL binarized (nats)", "bits/dim (dequantized)", "FID-MNIST", "KID",
            "precision", "recall", "density", "coverage", "IS (MNIST)", "confidence", "classes", "CAS",
            "parameters", "steps", "train CPU s", "1,000 samples s", "peak MiB"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (_, entry), recs in sorted(groups.items(), key=lambda kv: _sort_key(kv[1])):
        bad = [r for r in recs if "error" in r]
        good = [r for r in recs if "error" not in r]
        if not good:
            rows.append(f"| {entry} | | failed: {bad[0]['error']} |" + " |" * (len(head) - 3))
            continue
        cas = [((r.get("cas") or {}).get("cas")) for r in good]
        nf = sum(r.get("nonfinite_samples") or 0 for r in good)
        note = [f"{len(bad)} failed"] * bool(bad) + [f"{nf} non-finite samples dropped"] * bool(nf)
        cells = [entry + (f" ({'; '.join(note)})" if note else ""), good[0].get("family", ""),
                 _nll_cell(good, "nats/example"), _nll_cell(good, "bits/dim"),
                 _fmt([metric(r, "fid") for r in good], 1), _fmt([metric(r, "kid") for r in good], 1),
                 *(_fmt([metric(r, m) for r in good], 3) for m in ("precision", "recall", "density", "coverage")),
                 _fmt([metric(r, "inception_score") for r in good], 2),
                 _fmt([metric(r, "classifier", "mean_confidence") for r in good], 3),
                 _fmt([metric(r, "classifier", "classes_covered") for r in good], 0),
                 _fmt(cas, 3), *_common(good)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _sort_key(recs: list[dict[str, Any]]) -> tuple:
    good = [r for r in recs if "error" not in r]
    fid = _mean([metric(r, "fid") for r in good])[0]
    mmd = _mean([metric(r, "mmd") for r in good])[0]
    return (fid if fid is not None else (mmd if mmd is not None else math.inf), recs[0]["entry"])


def _toy_table(groups, data: str) -> list[str]:
    head = ["entry", "family", "held-out NLL (nats)", "floor", "gap", "modes", "% HQ", "MMD^2 (rbf)", "KID x 1e3",
            "precision", "recall", "coverage", "parameters", "steps", "train CPU s", "1,000 samples s", "peak MiB"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mine = {k: v for k, v in groups.items() if k[0] == data}
    for (_, entry), recs in sorted(mine.items(), key=lambda kv: _sort_key(kv[1])):
        good = [r for r in recs if "error" not in r]
        if not good:
            rows.append(f"| {entry} | | failed: {recs[0]['error']} |" + " |" * (len(head) - 3))
            continue
        floor = (good[0].get("nll") or {}).get("floor")
        modes = [metric(r, "modes", "modes_covered") for r in good]
        n_modes = metric(good[0], "modes", "n_modes")
        cells = [entry, good[0].get("family", ""), _nll_cell(good, "nats/example"),
                 "" if floor is None else f"{floor:.3f}",
                 _fmt([(r.get("nll") or {}).get("gap") for r in good], 3),
                 "" if n_modes is None else f"{_fmt(modes, 1)} / {n_modes:.0f}",
                 _fmt([metric(r, "modes", "high_quality_pct") for r in good], 1),
                 _fmt([metric(r, "mmd") for r in good], 4), _fmt([metric(r, "kid") for r in good], 2, 1e3),
                 *(_fmt([metric(r, m) for r in good], 3) for m in ("precision", "recall", "coverage")),
                 *_common(good)]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _provenance(recs: list[dict[str, Any]]) -> list[str]:
    good = [r for r in recs if "error" not in r]
    dates = sorted(r["date"] for r in good if r.get("date"))
    cmds = sorted({r.get("command") for r in recs if r.get("command")})
    machines = sorted({r["machine"].split(" | load")[0] for r in good if r.get("machine")})
    loads = [float(r["machine"].split("(")[-1].split(",")[0]) for r in good
             if r.get("machine") and "load average" in r["machine"]]
    out = []
    if cmds:
        out.append("Command: " + "; ".join(f"`{c}`" for c in cmds))
    if machines:
        load = f"; 1-minute load average {min(loads):.1f} to {max(loads):.1f} at the runs' starts" if loads else ""
        out.append("Machine: " + "; ".join(machines) + load)
    if dates:
        out.append(f"Dates: {dates[0]} to {dates[-1]}")
    budgets = sorted({r.get("budget_cpu_minutes") for r in recs if r.get("budget_cpu_minutes") is not None})
    if budgets:
        out.append("Training budget: " + ", ".join(f"{b:g}" for b in budgets) + " CPU-minutes per run")
    return [f"- {line}" for line in out]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 110) -> Path:
    """Write the figure atomically (a temporary file renamed into place) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    _plt().close(fig)
    os.replace(tmp, path)
    return path


def _points(ax, pts) -> None:
    for name, x, y in pts:
        ax.scatter([x], [y], s=30)
        ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.grid(alpha=0.3)


def _scatter(points: list[tuple[str, float, float]], xlabel: str, ylabel: str, path: Path, title: str,
             logx: bool = False) -> Path | None:
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    _points(ax, points)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.tight_layout()
    return _save(fig, path)


def _mnist_plots(groups, folder: Path) -> list[str]:
    pts_t, nats, bpd = [], [], []
    for (_, entry), recs in groups.items():
        good = [r for r in recs if "error" not in r]
        fid = _mean([metric(r, "fid") for r in good])[0]
        t = _mean([r.get("train_cpu_seconds") for r in good])[0]
        if fid is None:
            continue
        if t:
            pts_t.append((entry, t, fid))
        for unit, acc in (("nats/example", nats), ("bits/dim", bpd)):
            v = _mean([_nll(r, unit) for r in good])[0]
            if v is not None:
                acc.append((entry, fid, v))
    out = []
    p = _scatter(pts_t, "training CPU seconds", "FID-MNIST (lower is better)", folder / "mnist_quality_vs_time.png",
                 "sample quality against training time")
    if p:
        out.append(f"![sample quality against training time](leaderboard/{p.name})")
    if nats or bpd:
        plt = _plt()
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        for ax, pts, lab in ((axes[0], nats, "NLL of binarized digits (nats)"),
                             (axes[1], bpd, "bits/dim (8-bit dequantized)")):
            _points(ax, pts)
            ax.set(xlabel="FID-MNIST", ylabel=lab)
        fig.suptitle("likelihood against sample quality (each column only compares like with like)")
        fig.tight_layout()
        path = _save(fig, folder / "mnist_nll_vs_fid.png")
        out.append(f"![NLL against FID](leaderboard/{path.name})")
    return out


def _toy_plots(groups, folder: Path) -> list[str]:
    plt = _plt()
    datas = sorted({d for d, _ in groups})
    entries = sorted({e for _, e in groups})
    pics = {(d, e): Path(r["picture"]) for (d, e), recs in groups.items() for r in recs[:1]
            if r.get("picture") and Path(r["picture"]).is_file()}
    out = []
    if pics:
        fig, axes = plt.subplots(len(datas), len(entries), figsize=(2.0 * len(entries), 2.0 * len(datas)),
                                 squeeze=False)
        for i, d in enumerate(datas):
            for j, e in enumerate(entries):
                ax = axes[i][j]
                ax.axis("off")
                if (d, e) in pics:
                    ax.imshow(plt.imread(pics[(d, e)]))
                if i == 0:
                    ax.set_title(e, fontsize=9)
            axes[i][0].text(-0.1, 0.5, d, transform=axes[i][0].transAxes, rotation=90, va="center", ha="right")
        fig.tight_layout()
        path = _save(fig, folder / "toy2d_samples.png", dpi=100)
        out.append(f"![samples of every model on every set](leaderboard/{path.name})")
    pts = []
    for (d, e), recs in groups.items():
        good = [r for r in recs if "error" not in r]
        mmd, t = _mean([metric(r, "mmd") for r in good])[0], _mean([r.get("train_cpu_seconds") for r in good])[0]
        if mmd is not None and t:
            pts.append((f"{e} ({d})", t, max(mmd, 1e-6)))
    p = _scatter(pts, "training CPU seconds", "MMD^2 to held-out points", folder / "toy2d_mmd_vs_time.png",
                 "sample quality against training time")
    if p:
        out.append(f"![MMD against training time](leaderboard/{p.name})")
    return out


INTRO = """# Leaderboard

Every family on the same data with one protocol, written by `genzoo leaderboard` (genzoo.lab.leaderboard; the
protocol is in its module docstring and in docs/evaluation.md). Likelihood columns are kept apart by what they
measure and each says whether it is exact, a bound or an estimate; a blank cell means the model has no such number.
Sample metrics use 1,000 samples per run against the held-out split named in the JSON records (features: the
project's MNIST classifier for images, raw coordinates for points). Rows are sorted by FID-MNIST (MNIST) or MMD
(2-D). With several seeds a cell is the mean ± the standard deviation over seeds.
"""


def write_report(out: str | os.PathLike) -> Path:
    """Rewrite <out>/leaderboard.md and the plots from the whole store <out>/leaderboard.json."""
    out = Path(out)
    store = merge_records(out / "leaderboard.json")
    folder = out / "leaderboard"
    lines = [INTRO]
    mn = _groups(store, "mnist")
    if mn:
        lines += ["## MNIST-10k", "",
                  "Binarized NLL: the 2,000 held-out digits binarized once (static, seed 123); bits/dim: the grey "
                  "digits, 8-bit dequantized. FID-MNIST and KID on the classifier's 128-d features; precision / "
                  "recall with k = 3, density / coverage with k = 5; CAS: accuracy on the real held-out digits of a "
                  "classifier trained only on the model's labelled samples.", ""]
        lines += _mnist_table(mn) + [""] + _provenance([r for v in mn.values() for r in v]) + [""]
        lines += _mnist_plots(mn, folder) + [""]
        lines += [f"![{e}](leaderboard/mnist/{Path(r['picture']).name})" for (_, e), recs in sorted(mn.items())
                  for r in recs[:1] if r.get("picture")] + [""]
        aug = out / "results" / "augmentation" / "augmentation.md"
        if aug.is_file():
            lines += ["Generated data for augmentation (CAS and the augmentation experiment): "
                      "[results/augmentation/augmentation.md](results/augmentation/augmentation.md).", ""]
    toy = _groups(store, "toy2d")
    if toy:
        lines += ["## 2-D toy sets", "",
                  "Held-out NLL on 5,000 test points against the set's floor (its differential entropy where known); "
                  "modes and % HQ (samples within 3 std of a mode) for the Gaussian mixtures on 1,000 samples; MMD^2 "
                  "(RBF, median bandwidth) and KID on raw coordinates against 5,000 held-out points.", ""]
        for d in sorted({d for d, _ in toy}):
            lines += [f"### {d}", ""] + _toy_table(toy, d) + [""]
        lines += _provenance([r for v in toy.values() for r in v]) + [""] + _toy_plots(toy, folder) + [""]
    path = out / "leaderboard.md"
    atomic_write_bytes(path, "\n".join(lines).encode())
    return path


__all__ = ["merge_records", "metric", "record_id", "write_report"]

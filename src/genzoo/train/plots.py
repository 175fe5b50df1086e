"""Pictures of a run: image grids (`save_image_grid`, shared by every family), 2-D scatter plots, decoded text,
loss curves. matplotlib with the Agg backend; nothing here needs a display.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.io import atomic_write_bytes


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        try:
            matplotlib.use("Agg")
        except Exception:  # noqa: BLE001  a backend already in use is fine
            pass
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig, path: str | os.PathLike) -> Path:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def image_grid(images: Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] -> one (H', W', 3) uint8 array, `nrow` images per row (default ~sqrt N)."""
    x = images.detach().float().cpu()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(f"image_grid expects (N, C, H, W), got {tuple(x.shape)}")
    x = x.nan_to_num(0.0).clamp(0, 1)
    n, c, h, w = x.shape
    if c == 1:
        x = x.expand(n, 3, h, w)
    elif c != 3:
        x = x[:, :3] if c > 3 else torch.cat([x, x[:, -1:].expand(n, 3 - c, h, w)], 1)
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    H, W = ncol * (h + padding) + padding, nrow * (w + padding) + padding
    grid = torch.full((3, H, W), float(pad_value))
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[i]
    return (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_image_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None, padding: int = 2,
                    title: str | None = None, scale: int | None = None) -> Path:
    """Save (N, C, H, W) images in [0, 1] as one PNG grid (atomically), each pixel drawn as `scale` x `scale`
    screen pixels (default: 1 to 4, so the grid is about 480 pixels wide). Returns the path."""
    plt = _plt()
    grid = image_grid(images, nrow=nrow, padding=padding)
    h, w = grid.shape[:2]
    scale = scale or max(1, min(4, math.ceil(480 / w)))
    fig = plt.figure(figsize=(max(w * scale / 100, 1.0), max(h * scale / 100, 1.0) + (0.3 if title else 0)))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(grid, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return _save_fig(fig, path)


def save_scatter(points: Tensor, path: str | os.PathLike, reference: Tensor | None = None,
                 title: str | None = None) -> Path:
    """Scatter plot of (N, 2) samples, over an optional (M, 2) reference set (the data) in grey."""
    plt = _plt()
    p = points.detach().float().cpu().reshape(len(points), -1).numpy()
    fig, ax = plt.subplots(figsize=(4, 4))
    if reference is not None:
        r = reference.detach().float().cpu().reshape(len(reference), -1).numpy()
        ax.scatter(r[:, 0], r[:, 1] if r.shape[1] > 1 else np.zeros(len(r)), s=3, c="0.75", label="data")
    ax.scatter(p[:, 0], p[:, 1] if p.shape[1] > 1 else np.zeros(len(p)), s=4, c="tab:blue", label="samples")
    if reference is not None:
        ax.legend(loc="upper right", fontsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title, fontsize=9)
    return _save_fig(fig, path)


def density_grid(log_prob, lo: Sequence[float], hi: Sequence[float], n: int = 200,
                 batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """exp(log_prob) of a 2-D model on an n x n grid over [lo, hi]: (xs, ys, density (n, n) indexed [y, x],
    mass = the Riemann sum of the density over the grid, about 1 when the grid holds the distribution)."""
    xs = torch.linspace(float(lo[0]), float(hi[0]), n)
    ys = torch.linspace(float(lo[1]), float(hi[1]), n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    with torch.no_grad():
        lp = torch.cat([log_prob(pts[i:i + batch_size]).detach().float().cpu()
                        for i in range(0, len(pts), batch_size)])
    dens = lp.exp().nan_to_num(0.0).reshape(n, n)
    cell = float((xs[1] - xs[0]) * (ys[1] - ys[0]))
    return xs.numpy(), ys.numpy(), dens.numpy(), float(dens.sum()) * cell


def save_density(log_prob, path: str | os.PathLike, reference: Tensor, n: int = 200, margin: float = 0.15,
                 title: str | None = None) -> Path:
    """Heat map of a 2-D model's density exp(log_prob(x)) over the box around `reference` (the data), with the
    grid's probability mass in the title."""
    plt = _plt()
    r = reference.detach().float().cpu()
    lo, hi = r.min(0).values, r.max(0).values
    pad = margin * (hi - lo).max()
    xs, ys, dens, mass = density_grid(log_prob, (lo - pad).tolist(), (hi + pad).tolist(), n=n)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(dens, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), cmap="magma", aspect="equal",
              interpolation="bilinear")
    ax.set_title(f"{title + ': ' if title else ''}density (grid mass {mass:.3f})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save_fig(fig, path)


def decode_text(ids: Tensor, vocab: Any = None) -> list[str]:
    """Token ids -> strings, through `vocab` (a tokeniser of genzoo.data.tokenizers, a string or a list of tokens)
    when given, else the raw ids."""
    from genzoo.data.tokenizers import ByteTokenizer, CharTokenizer

    if isinstance(vocab, (ByteTokenizer, CharTokenizer)):
        return [vocab.decode(r) for r in ids.detach().cpu().long().reshape(len(ids), -1)]
    rows = ids.detach().cpu().long().reshape(len(ids), -1).tolist()
    if vocab is None:
        return [" ".join(map(str, r)) for r in rows]
    sep = "" if all(len(str(t)) == 1 for t in vocab) else " "
    return [sep.join(str(vocab[i]) if 0 <= i < len(vocab) else "?" for i in r) for r in rows]


def save_text(lines: Sequence[str], path: str | os.PathLike) -> Path:
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return Path(path)


def check_output_file(path: str | os.PathLike, text: bool = False) -> Path:
    """The file a picture (PNG) or text samples (.txt) will be written to, checked before any work is done:
    a picture needs a .png name (text is written as NAME.txt), the path must not be a folder, and its nearest
    existing parent must be a folder we may write in. Raises ConfigError (format) or OutputError (place)."""
    from genzoo.errors import ConfigError, OutputError

    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name (e.g. {path / 'samples.png'})")
    if not text and path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: genzoo writes sample pictures as PNG only; use a .png name "
                          "(text samples are written as .txt)")
    if text:
        path = path.with_suffix(".txt")
    parent = next((q for q in path.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"{path}: cannot write: {parent} is a file, not a folder")
    if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write: no permission to write in {parent}")
    return path


def save_samples(samples: Tensor, path: str | os.PathLike, kind: str, reference: Tensor | None = None,
                 meta: dict[str, Any] | None = None, title: str | None = None) -> Path:
    """Save samples the way their data kind is looked at: image grid, scatter plot (PNG), or a text file (.txt)."""
    path = Path(path)
    is_text = kind == "text" or (kind != "image" and samples.dim() != 4 and not samples.is_floating_point())
    check_output_file(path, text=is_text)
    if kind == "image" or (kind != "text" and samples.dim() == 4):
        return save_image_grid(samples, path, title=title)
    if kind == "text" or not samples.is_floating_point():
        meta = meta or {}
        vocab = meta.get("vocab")
        if meta.get("tokenizer") in ("char", "byte"):
            from genzoo.data.tokenizers import make_tokenizer

            vocab = make_tokenizer(meta["tokenizer"], meta.get("chars", ""))
        lines = decode_text(samples, vocab)
        if any("\n" in line for line in lines):  # passages of text: one block each, separated by a rule
            lines = [f"--- sample {i} ---\n{line}" for i, line in enumerate(lines)]
        return save_text(lines, path.with_suffix(".txt"))
    if samples.dim() == 2 and samples.shape[1] <= 3:
        return save_scatter(samples, path, reference=reference, title=title)
    # other vectors: show them as one-row "images" of their values, min-max scaled
    s = samples.detach().float().reshape(len(samples), -1)
    s = (s - s.min()) / (s.max() - s.min() + 1e-12)
    return save_image_grid(s[:, None, None, :], path, nrow=1, title=title)


def save_loss_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike, eval_history=None) -> Path | None:
    """One panel per player: every loss part against the step (log-scaled y where all values are > 0)."""
    plt = _plt()
    if not history:
        return None
    keys = sorted({k for h in history for k in h if "/" in k and not k.startswith(("lr/", "grad_norm/", "eval/"))})
    players = sorted({k.split("/", 1)[0] for k in keys})
    if not players:
        return None
    fig, axes = plt.subplots(1, len(players), figsize=(4.5 * len(players), 3.2), squeeze=False)
    for ax, pl in zip(axes[0], players):
        for k in (k for k in keys if k.startswith(pl + "/")):
            pts = [(h["step"], h[k]) for h in history if k in h and h[k] is not None]
            if pts:
                s, v = zip(*pts)
                ax.plot(s, v, label=k.split("/", 1)[1], lw=1.2)
        for k in sorted({k for h in (eval_history or []) for k in h if k.startswith(f"eval/{pl}/")}):
            pts = [(h["step"], h[k]) for h in eval_history if k in h]
            if pts:
                s, v = zip(*pts)
                ax.plot(s, v, "o--", ms=3, label="held-out " + k.split("/", 2)[2], lw=1)
        ax.set_title(pl, fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_fig(fig, path)

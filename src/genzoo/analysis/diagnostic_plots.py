"""Figures of the diagnostics (genzoo.analysis.diagnostics), each readable without the code: titles say what is
measured, axes name their units, and a dashed line marks a threshold where one exists. Every function writes one
PNG atomically and returns its path."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.train.plots import _plt
from genzoo.train.plots import _save_fig as _save


def plot_posterior(stats: Mapping[str, Any], path: str | os.PathLike,
                   history: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Per-dimension KL (nats) and activity Var_x E_q[z_d] of the final model, sorted; with a history, the active
    units and the total KL over training and a heat map of the per-dimension KL against the step."""
    plt = _plt()
    ncols = 3 if history else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.8))
    act = np.asarray(stats["activity"])
    order = np.argsort(-act)
    ax = axes[0]
    if "kl_per_dim" in stats:
        kl = np.asarray(stats["kl_per_dim"])
        order = np.argsort(-kl)
        ax.bar(np.arange(len(kl)), kl[order], color="#4477aa")
        ax.set_ylabel("KL(q(z_d | x) || p(z_d)), nats")
        ax.set_title(f"per-dimension KL (total {stats['kl']:.2f} nats)")
    else:
        ax.text(0.5, 0.5, "no N(0, I) prior: KL per dimension not defined", ha="center", va="center")
    ax.set_xlabel("latent dimension (sorted)")
    ax = axes[1]
    ax.bar(np.arange(len(act)), act[order], color="#cc6677")
    ax.axhline(stats["threshold"], ls="--", color="k", lw=1, label=f"active threshold {stats['threshold']}")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension (same order)")
    ax.set_ylabel("activity Var_x(E_q[z_d])")
    ax.set_title(f"{stats['active_units']} of {stats['latent_dim']} units active")
    ax.legend(fontsize=8)
    if history:
        ax = axes[2]
        steps = [h["step"] for h in history]
        ax.plot(steps, [h["active_units"] for h in history], "o-", color="#cc6677", label="active units")
        ax.set_xlabel("training step")
        ax.set_ylabel("active units")
        if all("kl" in h for h in history):
            ax2 = ax.twinx()
            ax2.plot(steps, [h["kl"] for h in history], "s--", color="#4477aa", label="total KL")
            ax2.set_ylabel("total KL, nats")
        ax.set_title("over training")
    fig.suptitle("posterior collapse: a collapsed dimension has KL 0 and activity 0 (Burda et al. 2016)")
    return _save(fig, path)


def plot_gradients(norms: Mapping[str, Mapping[str, float]], path: str | os.PathLike,
                   history: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Gradient norm per layer (log scale) for every player, and with a history each player's total over
    training."""
    plt = _plt()
    players = list(norms)
    ncols = len(players) + (1 if history else 0)
    fig, axes = plt.subplots(1, ncols, figsize=(max(5.0, 4.6 * ncols), 4.2), squeeze=False)
    for ax, p in zip(axes[0], players, strict=False):
        layers = [k for k in norms[p] if k != "total"]
        vals = [max(norms[p][k], 1e-30) for k in layers]
        ax.barh(np.arange(len(layers)), vals, color="#228833")
        ax.set_yticks(np.arange(len(layers)), labels=layers, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("||d loss / d theta_layer||_2")
        ax.set_title(f"player {p}: total {norms[p]['total']:.3g}")
    if history:
        ax = axes[0][-1]
        steps = [h["step"] for h in history]
        for p in players:
            ax.plot(steps, [h["norms"].get(p, {}).get("total", math.nan) for h in history], "o-", label=p)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("total gradient norm")
        ax.legend(fontsize=8)
        ax.set_title("over training")
    fig.suptitle("gradient norms per layer (input side at the top): tiny norms in early layers = vanishing gradients")
    return _save(fig, path)


def plot_gan(outputs: Mapping[str, Any], summary: Mapping[str, float], logistic: bool, path: str | os.PathLike,
             history: Sequence[Mapping[str, Any]] = (), final_grads: Mapping[str, float] | None = None) -> Path:
    """Histograms of D(x) on real data and D(G(z)) on samples (sigmoid of the output for a logistic discriminator,
    the raw score for a critic), and the generator's gradient norm under the saturating and non-saturating losses
    (over training with a history, else at the end)."""
    import torch

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    real, fake = outputs["real"], outputs["fake"]
    if logistic:
        real, fake = torch.sigmoid(real), torch.sigmoid(fake)
        bins = np.linspace(0, 1, 41)
        axes[0].set_xlabel("D = sigmoid(output)")
        axes[0].set_title(f"mean D(x) {summary['d_real']:.3f}, mean D(G(z)) {summary['d_fake']:.3f}")
    else:
        lo, hi = float(min(real.min(), fake.min())), float(max(real.max(), fake.max()))
        bins = np.linspace(lo, hi + 1e-9, 41)
        axes[0].set_xlabel("critic score")
        axes[0].set_title(f"critic gap E f(x) - E f(G(z)) = {summary['critic_gap']:.3f}")
    axes[0].hist(real.numpy(), bins=bins, alpha=0.6, label="real x", color="#4477aa")
    axes[0].hist(fake.numpy(), bins=bins, alpha=0.6, label="generated G(z)", color="#ee6677")
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=8)
    ax = axes[1]
    if history:
        steps = [h["step"] for h in history]
        ax.plot(steps, [h["saturating"] for h in history], "o-", label="saturating: E log(1 - D(G(z)))")
        ax.plot(steps, [h["non_saturating"] for h in history], "s-", label="non-saturating: -E log D(G(z))")
        ax.set_xlabel("training step")
    elif final_grads is not None:
        ax.bar([0, 1], [final_grads["saturating"], final_grads["non_saturating"]], color=["#aa3377", "#228833"])
        ax.set_xticks([0, 1], labels=["saturating", "non-saturating"])
    ax.set_yscale("log")
    ax.set_ylabel("||d L_G / d theta_G||_2")
    ax.set_title("generator gradient under both losses")
    ax.legend(fontsize=8) if history else None
    fig.suptitle("discriminator confidence and the generator's gradient (Goodfellow et al. 2014, sec. 3)")
    return _save(fig, path)


def plot_modes(history: Sequence[Mapping[str, Any]], path: str | os.PathLike, final: Mapping[str, Any] | None = None
               ) -> Path:
    """Modes covered (of all) and % high-quality samples over training (or the final values alone)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    recs = list(history) or ([dict(final, step=0)] if final else [])
    steps = [h["step"] for h in recs]
    ax.plot(steps, [h["modes_covered"] for h in recs], "o-", color="#4477aa", label="modes covered")
    n_modes = recs[-1]["n_modes"] if recs else 0
    ax.axhline(n_modes, ls="--", color="k", lw=1, label=f"all {n_modes} modes")
    ax.set_xlabel("training step")
    ax.set_ylabel("modes covered")
    if any(h.get("high_quality_pct") is not None for h in recs):
        ax2 = ax.twinx()
        ax2.plot(steps, [h.get("high_quality_pct") for h in recs], "s--", color="#ee6677", label="% high quality")
        ax2.set_ylabel("% samples within 3 std of a mode")
        ax2.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("mode coverage" + (" over training" if history else " of the final model"))
    return _save(fig, path)


def plot_ood(res: Mapping[str, Any], path: str | os.PathLike, data_name: str = "held-out data") -> Path:
    """Histograms of bits/dim of held-out data and of each shifted set, with each set's AUROC in the legend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    sets = ["in"] + [k for k in res if k not in ("in", "auroc")]
    finite = [res[k][np.isfinite(res[k].numpy())].numpy() for k in sets]
    allv = np.concatenate([f for f in finite if len(f)])
    lo, hi = np.percentile(allv, 0.5), np.percentile(allv, 99.5)
    bins = np.linspace(lo, hi + 1e-9, 50)
    for k, v in zip(sets, finite, strict=True):
        label = data_name if k == "in" else f"{k} (AUROC {res['auroc'][k]:.3f})"
        ax.hist(np.clip(v, lo, hi), bins=bins, alpha=0.55, label=label)
    ax.set_xlabel("bits/dim (lower = more likely)")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    ax.set_title("likelihood as an out-of-distribution test (Nalisnick et al. 2019): AUROC 1 separates, "
                 "< 0.5 prefers the shifted set", fontsize=9)
    return _save(fig, path)


__all__ = ["plot_gan", "plot_gradients", "plot_modes", "plot_ood", "plot_posterior"]

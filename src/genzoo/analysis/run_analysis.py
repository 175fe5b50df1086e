"""`analyze_run(RUN)`: every analysis that applies to a trained run, as figures in RUN/analysis/, their numbers in
RUN/analysis/analysis.json and a report (RUN/analysis/report.html + report.md).

An analysis applies when the model declares what it needs (`capabilities`, `likelihood`) and the data fit it
(images, points with known modes); `ANALYSES` names each with what it needs. Diagnostics recorded during training
(`genzoo train --diagnostics ...`, RUN/diagnostics/*.jsonl) are drawn over training; without them a figure shows
the final model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import ConfigError, unknown_name


@dataclass
class Context:
    """What an analysis sees: the run folder, its model (eval mode), the data sets and the output folder."""

    run: Path
    model: Any
    data_name: str
    train: Any
    test: Any
    out: Path
    seed: int = 0

    @property
    def held_out(self):
        return self.test if self.test is not None else self.train

    @property
    def kind(self) -> str:
        return getattr(self.train, "kind", "")


@dataclass(frozen=True)
class Analysis:
    """One analysis: `applies(ctx)` returns None when it applies, else the reason it does not; `run(ctx)` returns a
    report section {"title", "text", "table", "images", "numbers"}."""

    name: str
    what: str
    applies: Callable[[Context], str | None]
    run: Callable[[Context], dict[str, Any]]


def _caps(ctx: Context) -> set[str]:
    return set(getattr(ctx.model, "capabilities", ()))


def _needs(*caps: str, kinds: Sequence[str] = ("image", "points")) -> Callable[[Context], str | None]:
    def applies(ctx: Context) -> str | None:
        missing = set(caps) - _caps(ctx)
        if missing:
            return f"the model lacks the {', '.join(sorted(missing))} capabilit{'y' if len(missing) == 1 else 'ies'}"
        if ctx.kind not in kinds:
            return f"needs {' or '.join(kinds)} data, the run's is {ctx.kind or 'unknown'}"
        return None

    return applies


def _posterior(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostic_plots import plot_posterior
    from genzoo.analysis.diagnostics import posterior_stats, preserved, read_history

    d = ctx.held_out
    n = min(2000, len(d))
    cond = d.y[:n] if ctx.model.conditional and d.y is not None else None
    with preserved(ctx.model, ctx.seed):
        st = posterior_stats(ctx.model, d.x[:n], cond)
    hist = read_history(ctx.run, "posterior")
    path = plot_posterior(st, ctx.out / "posterior.png", hist)
    table = {"active units": f"{st['active_units']} of {st['latent_dim']}"}
    if "kl" in st:
        table["KL(q(z|x) || p(z)), nats"] = st["kl"]
    return {"title": "Posterior collapse", "table": table, "images": [("per-dimension KL and activity", path)],
            "text": f"Encoder statistics on {n} held-out examples: a unit is active when the variance over the data "
                    "of its posterior mean exceeds 0.01 (Burda et al. 2016); a collapsed unit carries no information "
                    "about x.", "numbers": {**st, "history": hist}}


def _modes_applies(ctx: Context) -> str | None:
    from genzoo.eval.modes import STACKED, TOY_SETS

    if ctx.data_name not in (*TOY_SETS, *STACKED, "mnist"):
        return f"no known modes for {ctx.data_name} (toy mixtures, stacked-mnist and mnist have them)"
    return None


def _modes(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostic_plots import plot_modes
    from genzoo.analysis.diagnostics import mode_coverage, preserved, read_history

    with preserved(ctx.model, ctx.seed):
        final = mode_coverage(ctx.model, ctx.data_name)
    hist = read_history(ctx.run, "modes")
    path = plot_modes(hist, ctx.out / "modes.png", final)
    table = {"modes covered": f"{final['modes_covered']} of {final['n_modes']}",
             "reverse KL, nats": final["reverse_kl"]}
    if final.get("high_quality_pct") is not None:
        table["% high quality"] = final["high_quality_pct"]
    return {"title": "Mode collapse", "table": table, "images": [("mode coverage", path)],
            "text": f"{final['n']} samples assigned to the nearest mode (classes of the MNIST classifier for digits); "
                    "the reverse KL is KL(sample mode frequencies || uniform), 0 when every mode is hit equally.",
            "numbers": {"final": final, "history": hist}}


def _gradients(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostic_plots import plot_gradients
    from genzoo.analysis.diagnostics import gradient_norms, preserved, read_history
    from genzoo.models import Batch

    n = min(64, len(ctx.train))
    batch = Batch(ctx.train.x[:n], None if ctx.train.y is None or not ctx.model.conditional else ctx.train.y[:n])
    with preserved(ctx.model, ctx.seed, mode="train"):
        norms = gradient_norms(ctx.model, batch)
    hist = read_history(ctx.run, "gradients")
    path = plot_gradients(norms, ctx.out / "gradients.png", hist)
    return {"title": "Gradient norms", "table": {f"{p} total": v["total"] for p, v in norms.items()},
            "images": [("gradient norm per layer", path)],
            "text": f"||d loss / d theta|| per layer and player on {n} training examples, taken from the final model "
                    "in training mode.", "numbers": {"final": norms, "history": hist}}


def _gan(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostic_plots import plot_gan
    from genzoo.analysis.diagnostics import (
        discriminator_outputs,
        discriminator_summary,
        generator_gradients,
        is_logistic,
        preserved,
        read_history,
    )

    with preserved(ctx.model, ctx.seed):
        grads = generator_gradients(ctx.model, 256)
        with torch.no_grad():
            outs = discriminator_outputs(ctx.model, ctx.held_out.x[:1000])
    logistic = is_logistic(ctx.model)
    summ = discriminator_summary(outs, logistic)
    hist = read_history(ctx.run, "gan")
    path = plot_gan(outs, summ, logistic, ctx.out / "gan.png", hist, grads)
    table = {"generator gradient, saturating loss": grads["saturating"],
             "generator gradient, non-saturating loss": grads["non_saturating"], **summ}
    return {"title": "Discriminator and vanishing gradients", "table": table,
            "images": [("D(x) and D(G(z)); the generator's gradient", path)],
            "text": "When D rejects the samples (D(G(z)) near 0) the saturating loss log(1 - D(G(z))) gives the "
                    "generator almost no gradient, while the non-saturating -log D(G(z)) still does.",
            "numbers": {**grads, **summ, "history": hist}}


def _ood_applies(ctx: Context) -> str | None:
    if getattr(ctx.model, "likelihood", "none") == "none":
        return "the model has no likelihood"
    if ctx.kind != "image":
        return "the shifted sets are defined for images"
    return None


def _ood(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostic_plots import plot_ood
    from genzoo.analysis.diagnostics import likelihood_ood, preserved

    x = ctx.held_out.x[:500]
    with preserved(ctx.model, ctx.seed):
        if ctx.model.conditional:
            raise ConfigError("the out-of-distribution analysis takes unconditional models")
        res = likelihood_ood(ctx.model, x, seed=ctx.seed)
    path = plot_ood(res, ctx.out / "ood.png", f"{ctx.data_name} held out")
    table = {"bits/dim held out (median)": float(res["in"].median())}
    table.update({f"AUROC vs {k}": v for k, v in res["auroc"].items()})
    return {"title": "Likelihood and out-of-distribution data", "table": table,
            "images": [("bits/dim histograms", path)],
            "text": f"Bits/dim of {len(x)} held-out images against the same images inverted, flipped upside down, "
                    "and uniform noise. AUROC 1: likelihood tells them apart; below 0.5: the model finds the shifted "
                    "set more likely (Nalisnick et al. 2019).",
            "numbers": {"auroc": res["auroc"], **{k: {"median": float(v.median()), "mean": float(v.mean())}
                                                  for k, v in res.items() if k != "auroc"}}}


def _manifold_applies(ctx: Context) -> str | None:
    if ctx.kind != "image":
        return "embeddings and intrinsic dimension are drawn for images (2-D points are their own picture)"
    return None


def _manifold(ctx: Context) -> dict[str, Any]:
    """Embeddings of held-out data (and of the model's latent codes when it encodes) coloured by label, and the
    intrinsic dimension of the data, of the model's samples and of the codes (Levina-Bickel k = 10..20, TwoNN)."""
    from genzoo.analysis.diagnostics import _draw, preserved
    from genzoo.analysis.manifold import intrinsic_dimension, plot_embeddings

    d = ctx.held_out
    n = min(1500, len(d))
    x, y = d.x[:n], None if d.y is None else d.y[:n]
    plot_embeddings(x, y, ctx.out / "manifold_data.png", methods=("pca", "tsne", "isomap"), subsample=n,
                    seed=ctx.seed, title=f"{ctx.data_name} held out ({n})")
    images = [("held-out data: PCA, t-SNE, Isomap", ctx.out / "manifold_data.png")]
    sets = {"data": x.flatten(1)}
    with preserved(ctx.model, ctx.seed):
        s = _draw(ctx.model, n) if not ctx.model.conditional else None
        codes = None
        if "encode" in _caps(ctx):
            cond = y if ctx.model.conditional else None
            with torch.no_grad():
                codes = ctx.model.encode(x.to(ctx.model.device), None if cond is None else cond.to(
                    ctx.model.device))[0].detach().cpu()
    if s is not None and len(s) > 25:
        sets["samples"] = s.clamp(0, 1).flatten(1)
    if codes is not None:
        sets["latent codes"] = codes
        plot_embeddings(codes, y, ctx.out / "manifold_latents.png", methods=("pca", "tsne"), subsample=n,
                        seed=ctx.seed, title=f"{ctx.model.name} latent means ({codes.shape[1]}-d)")
        images.append(("latent means: PCA, t-SNE", ctx.out / "manifold_latents.png"))
    dims = {}
    for name, v in sets.items():
        dims[name] = {m: intrinsic_dimension(v.double().numpy(), m) for m in ("levina_bickel", "two_nn")}
    table = {f"intrinsic dimension of the {k} (Levina-Bickel / TwoNN)": f"{v['levina_bickel']:.1f} / {v['two_nn']:.1f}"
             for k, v in dims.items()}
    return {"title": "Manifolds", "table": table, "images": images,
            "text": f"2-D embeddings of {n} held-out examples coloured by label, and intrinsic-dimension estimates of "
                    "the data, of as many samples and of the latent codes: a model whose samples have a much lower "
                    "dimension than the data covers only part of its manifold.",
            "numbers": {"n": n, "intrinsic_dimension": dims}}


def _latents_applies(ctx: Context) -> str | None:
    from genzoo.analysis.latents import latent_route

    if ctx.kind != "image":
        return "latent grids are drawn for images"
    try:
        latent_route(ctx.model)
    except ConfigError as e:
        return str(e).split(": ", 1)[-1]
    return None


def _latents(ctx: Context) -> dict[str, Any]:
    """Interpolation grids between held-out examples (and between random latents), an attribute-arithmetic grid
    (class 1 minus the rest) for labelled data, and, for a generator without an encoder, the inversion error."""
    from genzoo.analysis.diagnostics import preserved
    from genzoo.analysis.interpolate import save_image_grid
    from genzoo.analysis.latents import attribute_grid, attribute_vector, latent_grid, latent_route, random_latents

    route = latent_route(ctx.model)
    d = ctx.held_out
    x0, x1 = d.x[0:6], d.x[6:12]
    c0 = d.y[0:6] if ctx.model.conditional and d.y is not None else None  # a conditional model: x0's labels
    inv = {"steps": 150, "restarts": 2} if route == "generator" else None
    images, table, numbers = [], {"route to the latent": route}, {"route": route}
    with preserved(ctx.model, ctx.seed):
        if route != "generator" or "latent" in _caps(ctx):
            g = torch.Generator().manual_seed(ctx.seed)
            z0, z1 = random_latents(ctx.model, 6, g), random_latents(ctx.model, 6, g)
            grid = latent_grid(ctx.model, z0=z0, z1=z1, steps=10, condition=c0)
            save_image_grid(grid.float().clamp(0, 1).cpu(), ctx.out / "latents_random.png", nrow=10)
            images.append(("slerp between random latents", ctx.out / "latents_random.png"))
        grid = latent_grid(ctx.model, x0, x1, steps=10, condition=c0, inversion=inv)
        save_image_grid(grid.float().clamp(0, 1).cpu(), ctx.out / "latents_interpolation.png", nrow=10)
        images.append(("slerp between held-out examples (first and last columns: their reconstructions)",
                       ctx.out / "latents_interpolation.png"))
        if d.y is not None and not ctx.model.conditional and route != "generator":
            n = min(1000, len(d))
            v = attribute_vector(ctx.model, d.x[:n], d.y[:n], target=1)
            grid = attribute_grid(ctx.model, v, d.x[12:18], scales=(-2.0, -1.0, 0.0, 1.0, 2.0))
            save_image_grid(grid.float().clamp(0, 1).cpu(), ctx.out / "latents_attribute.png", nrow=5)
            images.append(("z + s v, v = mean latent of label 1 minus the rest, s = -2..2",
                           ctx.out / "latents_attribute.png"))
            numbers["attribute_norm"] = float(torch.as_tensor(v).norm())
        if route == "generator":
            from genzoo.analysis.latents import invert

            c16 = d.y[:16] if c0 is not None else None
            r = invert(ctx.model, d.x[:16], steps=200, restarts=2, condition=c16)
            table["inversion MSE per pixel (16 held-out, 200 Adam steps, best of 2)"] = float(r.error.mean())
            numbers["inversion_mse"] = r.error.tolist()
    return {"title": "Latent space", "table": table, "images": images,
            "text": f"The model's latent is reached by its {route} (`genzoo.analysis.latents`); paths are spherical "
                    "(slerp), which keeps N(0, I) latents at a typical norm (White 2016).", "numbers": numbers}


def _traversal(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostics import preserved
    from genzoo.analysis.traversal import latent_traversal

    d = ctx.held_out
    encodes = "encode" in _caps(ctx) and not ctx.model.conditional
    with preserved(ctx.model, ctx.seed):
        t = latent_traversal(ctx.model, x=d.x[0] if encodes else None, dims=None, order="kl" if encodes else "index",
                             kl_data=d.x[:1000] if encodes else None, path=ctx.out / "traversal.png")
    rows = len(t.dims)
    numbers = {"dims": t.dims, "values": t.values.tolist()}
    table = {"rows": f"{rows} latent dimensions, values {float(t.values[0]):.1f} .. {float(t.values[-1]):.1f}"}
    if t.kl is not None:
        numbers["kl_per_dim"] = t.kl.tolist()
        table["rows ordered by"] = "KL per dimension, largest first"
    return {"title": "Latent traversals", "table": table, "images": [("one row per latent dimension", ctx.out /
                                                                         "traversal.png")],
            "text": "Each row varies one latent dimension with the others held (at the first held-out example's "
                    "posterior mean for encoders, else at 0): a disentangled dimension changes one factor.",
            "numbers": numbers}


def _traversal_applies(ctx: Context) -> str | None:
    reason = _needs("decode", "latent", kinds=("image",))(ctx)
    if reason is None and ctx.model.conditional:
        return "traversals are drawn for unconditional models"
    return reason


def _disentanglement_applies(ctx: Context) -> str | None:
    if ctx.data_name != "shapes":
        return "needs data with known factors (the shapes set)"
    return _needs("encode", kinds=("image",))(ctx)


def _disentanglement(ctx: Context) -> dict[str, Any]:
    from genzoo.analysis.diagnostics import preserved
    from genzoo.analysis.disentanglement import linear_probe, mig

    def codes(ds, n):
        with preserved(ctx.model, ctx.seed), torch.no_grad():
            return torch.cat([ctx.model.encode(ds.x[i:i + 500].to(ctx.model.device))[0].cpu()
                              for i in range(0, n, 500)]).double().numpy()

    tr, te = ctx.train, ctx.held_out
    n_tr, n_te = min(5000, len(tr)), min(2000, len(te))
    z_tr, z_te = codes(tr, n_tr), codes(te, n_te)
    f_tr, f_te = tr.meta["factor_values"][:n_tr], te.meta["factor_values"][:n_te]
    m = mig(z_te, te.meta["factor_index"][:n_te])
    p = linear_probe(z_tr, f_tr, z_te, f_te, kinds=tr.meta.get("factor_kinds"))
    names = list(tr.meta["factors"])
    table = {"MIG": m.mig, "linear probe (mean)": p.mean}
    table.update({f"MIG gap / probe: {k}": f"{g:.3f} / {s:.3f}" for k, g, s in zip(names, m.per_factor, p.scores,
                                                                                   strict=True)})
    return {"title": "Disentanglement", "table": table, "images": [],
            "text": f"MIG (Chen et al. 2018) of the posterior means of {n_te} held-out images against the five known "
                    f"factors, and a linear probe trained on {n_tr} training codes, scored on the held-out ones "
                    "(accuracy for the shape, R^2 otherwise).",
            "numbers": {"mig": m.mig, "mig_per_factor": m.per_factor.tolist(), "probe": p.mean,
                        "probe_per_factor": p.scores.tolist(), "factors": names}}


ANALYSES: dict[str, Analysis] = {a.name: a for a in (
    Analysis("posterior", "posterior collapse: active units and per-dimension KL (encoders)",
             _needs("encode"), _posterior),
    Analysis("modes", "mode collapse: modes covered and % high quality (toy mixtures, MNIST classes)",
             _modes_applies, _modes),
    Analysis("gradients", "per-layer gradient norms of every player", _needs(kinds=("image", "points", "text")),
             _gradients),
    Analysis("gan", "discriminator outputs and the generator's gradient under both losses",
             _needs("decode", "latent", "discriminate"), _gan),
    Analysis("ood", "likelihood histograms of held-out against shifted images, AUROC", _ood_applies, _ood),
    Analysis("manifold", "embeddings of data and latent codes; intrinsic dimension of data, samples and codes",
             _manifold_applies, _manifold),
    Analysis("latents", "interpolation grids, attribute arithmetic and generator inversion (every latent model)",
             _latents_applies, _latents),
    Analysis("traversal", "one row per latent dimension, ordered by KL for encoders", _traversal_applies, _traversal),
    Analysis("disentanglement", "MIG and a linear probe against the known factors (shapes)",
             _disentanglement_applies, _disentanglement),
)}


def register(analysis: Analysis) -> None:
    """Add an analysis to `ANALYSES` (the latent, manifold and disentanglement tools register theirs)."""
    ANALYSES[analysis.name] = analysis


def parse_only(text: str | None) -> list[str] | None:
    """"a,b" -> the names (None: every analysis that applies); an unknown name is one line."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError(f"--only: give at least one of {', '.join(ANALYSES)}")
    for n in names:
        if n not in ANALYSES:
            raise unknown_name("analysis", n, tuple(ANALYSES))
    return names


def analyze_run(run_dir: str | os.PathLike, only: Sequence[str] | None = None, which: str = "auto", seed: int = 0,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the analyses that apply (or those named in `only`: one that does not apply is a ConfigError with the
    reason) on a run folder; write RUN/analysis/{*.png, analysis.json, report.html, report.md}; return
    {"analyses": {name: numbers}, "skipped": {name: reason}, "report": path}."""
    from genzoo.io import atomic_write_bytes
    from genzoo.train.report import write_report
    from genzoo.train.run import get_data, load_eval_data, load_run_model, read_run_config

    run = Path(run_dir)
    doc = read_run_config(run)
    model = load_run_model(run, which)
    model.eval()
    data_name, options = doc["run"]["data"], doc.get("data", {})
    train = get_data(data_name, "train", **options)
    test = load_eval_data(data_name, options, "test", quiet=True)
    out = run / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(run, model, str(data_name), train, test, out, seed)
    names = list(only) if only is not None else list(ANALYSES)
    sections, numbers, skipped = [], {}, {}
    for name in names:
        a = ANALYSES[name]
        reason = a.applies(ctx)
        if reason is not None:
            if only is not None:
                raise ConfigError(f"analysis {name} does not apply to {model.name} on {data_name}: {reason}")
            skipped[name] = reason
            continue
        if log is not None:
            log(f"{name}: {a.what}")
        sec = a.run(ctx)
        numbers[name] = sec.pop("numbers", {})
        sections.append(sec)
    result = {"run": str(run), "model": model.name, "data": data_name, "analyses": numbers, "skipped": skipped}
    atomic_write_bytes(out / "analysis.json", json.dumps(result, indent=1, default=_jsonable).encode())
    sections.append({"title": "Not applicable", "table": skipped}) if skipped else None
    html, md = write_report(out, f"genzoo analyze: {model.name} on {data_name}", sections,
                            intro=f"Run {run}. Each figure's numbers are in analysis.json.")
    result["report"] = str(html)
    result["figures"] = [str(p) for s in sections for _, p in s.get("images", [])]
    return result


def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.tolist()
    return str(v)


__all__ = ["ANALYSES", "Analysis", "Context", "analyze_run", "parse_only", "register"]

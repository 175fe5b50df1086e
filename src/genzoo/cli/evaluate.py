"""`genzoo evaluate RUN [--split test] [--k 5000] [--metrics nll,fid,kid,...] [--samples N]`: every metric that
applies to the run's model and data. Likelihood models: held-out NLL (nats/example) and bits/dim ("nll"). Images
and points: the sample-quality metrics of genzoo.eval.sample_metrics on N samples against the held-out split
(default: 2,000 images, 5,000 points, capped at the split's size), each with its protocol (features and their
checksum, k, kernel). Text models: the validation loss (nats/token), bits per character and perplexity. Also writes
RUN/eval_SPLIT.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genzoo.cli.text import description, positive_int
from genzoo.errors import ConfigError, unknown_name

METRIC_NAMES = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classifier", "mmd",
                "sliced_wasserstein", "modes")
DEFAULT_SAMPLES = {"image": 2000, "points": 5000}


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on a held-out split",
                       description=description(__doc__))
    p.add_argument("run", help="run folder written by `genzoo train`")
    p.add_argument("--split", default="test", help="data split (default test)")
    p.add_argument("--k", type=positive_int,
                   help="importance samples for models whose likelihood is a bound (e.g. 5000)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--max-examples", type=positive_int,
                   help="evaluate on the first N examples only (text: the first N windows of the context)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", action="store_true", help="use the latest checkpoint instead of model/")
    p.add_argument("--metrics", default=None,
                   help="comma-separated subset: nll and any of " + ", ".join(METRIC_NAMES)
                   + " (default: all that apply)")
    p.add_argument("--samples", type=positive_int, default=None,
                   help="samples for the sample metrics (default 2,000 images / 5,000 points, capped at the split)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def sample_statistics(model, x, n: int = 1000, condition=None) -> dict[str, Any]:
    """Moments of n samples against the data's: mean and std per dimension (and their max abs differences)."""
    import torch

    with torch.no_grad():
        s = model.sample(n, condition).detach().float().cpu().reshape(n, -1)
    d = x[:max(n, 1)].float().reshape(min(len(x), max(n, 1)), -1)
    ms, md, ss, sd = s.mean(0), d.mean(0), s.std(0), d.std(0)
    out = {
        "n_samples": n,
        "sample_mean": float(ms.mean()),
        "data_mean": float(md.mean()),
        "sample_std": float(ss.mean()),
        "data_std": float(sd.mean()),
        "max_abs_mean_diff": float((ms - md).abs().max()),
        "max_abs_std_diff": float((ss - sd).abs().max()),
        "nonfinite_samples": int((~torch.isfinite(s)).any(1).sum()),
    }
    if s.shape[1] <= 16:
        out["sample_mean_per_dim"] = [round(float(v), 5) for v in ms]
        out["data_mean_per_dim"] = [round(float(v), 5) for v in md]
    return out


def parse_metrics(text: str | None) -> list[str] | None:
    """--metrics a,b -> the names (None: every metric that applies); an unknown name is one line."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--metrics: give at least one name, e.g. --metrics nll,fid")
    for n in names:
        if n != "nll" and n not in METRIC_NAMES:
            raise unknown_name("metric", n, ("nll", *METRIC_NAMES))
    return names


def draw_samples(model, n: int, batch_size: int = 500, progress: bool = True):
    """(n samples on the CPU, their labels or None): conditional models get balanced labels (sample_labels)."""
    import torch
    from tqdm.auto import tqdm

    labels = model.sample_labels(n) if model.conditional else None
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=not progress,
                      total=-(-n // batch_size)):
            c = None if labels is None else labels[i:i + batch_size].to(model.device)
            out.append(model.sample(min(batch_size, n - i), c).detach().float().cpu())
    return torch.cat(out), labels


def evaluate_run(run_dir, split: str = "test", k: int | None = None, batch_size: int = 256,
                 max_examples: int | None = None, seed: int = 0, which: str = "auto",
                 metrics: list[str] | None = None, samples: int | None = None,
                 progress: bool = True) -> dict[str, Any]:
    import torch

    from genzoo.eval import sample_metrics
    from genzoo.eval.likelihood import evaluate_likelihood
    from genzoo.eval.metrics import applicable
    from genzoo.train.run import get_data, load_run_model, read_run_config

    doc = read_run_config(run_dir)
    model = load_run_model(run_dir, which)
    model.eval()
    ds = get_data(doc["run"]["data"], split, **doc.get("data", {}))
    x = ds.x
    y = getattr(ds, "y", None)
    kind = getattr(ds, "kind", None)
    res: dict[str, Any] = {"model": model.name, "data": doc["run"]["data"], "split": split,
                           "likelihood": model.likelihood}
    torch.manual_seed(seed)
    if kind == "text":
        if metrics is not None and set(metrics) - {"nll"}:
            raise ConfigError(f"--metrics: a text run has its text metrics only (nats/token, bits/char, perplexity); "
                              f"{', '.join(sorted(set(metrics) - {'nll'}))} need images or points")
        from genzoo.eval.text import evaluate_text

        res.update(evaluate_text(model, x, batch_size=batch_size,
                                 max_tokens=None if max_examples is None else max_examples * model.config.data_shape[0],
                                 progress=progress))
        return res
    want_nll = metrics is None or "nll" in metrics
    if metrics is not None and "nll" in metrics and model.likelihood == "none":
        raise ConfigError(f"--metrics nll: {model.name} has no likelihood (likelihood = \"none\")")
    if want_nll and model.likelihood != "none":
        kw = {"k": k} if k is not None else {}
        res.update(evaluate_likelihood(model, (x, y), batch_size=batch_size, max_examples=max_examples,
                                       progress=progress, **kw))
    wanted = None if metrics is None else [m for m in metrics if m != "nll"]
    if kind in DEFAULT_SAMPLES and (wanted is None or wanted):
        n = min(samples or DEFAULT_SAMPLES[kind], len(x))
        if n < 2:
            raise ConfigError(f"the {split} split has {len(x)} example(s): the sample metrics need at least 2")
        from genzoo.train import isolated_rng

        with isolated_rng(10_000 + seed, model.device):
            s, _ = draw_samples(model, n, progress=progress)
        if kind == "image":
            s = s.clamp(0, 1)
        names = wanted if wanted is not None else applicable(s, ds.name)
        res["metrics"] = sample_metrics(s, x[:n], metrics=names, reference_name=f"{ds.name} {split} split ({n})",
                                        dataset=ds.name, seed=seed)
    elif model.likelihood == "none":
        n = min(len(x), max_examples or 1000)
        res.update(sample_statistics(model, x, n))
    return res


def run(args) -> int:
    if args.k is not None and args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    import sys

    metrics = parse_metrics(args.metrics)
    res = evaluate_run(args.run, args.split, args.k, args.batch_size, args.max_examples, args.seed,
                       "checkpoint" if args.checkpoint else "auto", metrics=metrics, samples=args.samples,
                       progress=sys.stderr.isatty())
    from genzoo.io import atomic_write_bytes

    atomic_write_bytes(Path(args.run) / f"eval_{args.split}.json", json.dumps(res, indent=2).encode())
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['model']} on {res['data']} ({res['split']} split), likelihood = {res['likelihood']}")
    if "perplexity" in res:
        print(f"  loss        {res['loss']:.4f} ± {_f(res['loss_sem'])} nats/token  ({res['tokens']:,} tokens in "
              f"{res['windows']:,} windows of {res['context']})")
        print(f"  bits/char   {res['bits_per_char']:.4f}  ({res['chars']:,} characters)")
        print(f"  perplexity  {res['perplexity']:.3f}")
    if "nll" in res:
        what = "exact"
        if res["likelihood"] != "exact":
            what = "bound/estimate" + (f", k = {res['k']}" if "k" in res else "")
        print(f"  NLL        {res['nll']:.4f} ± {_f(res['nll_sem'])} nats/example  ({what}; n = {res['n']})")
        print(f"  bits/dim   {res['bpd']:.4f} ± {_f(res['bpd_sem'])}  (D = {res['dims']})")
        if res.get("ignored_kwargs"):
            print(f"  note: {', '.join(res['ignored_kwargs'])} ignored (log_prob does not take them)")
    if "metrics" in res:
        first = next(iter(res["metrics"].values()), {})
        print(f"  sample metrics of {first.get('n_samples')} samples against the {first.get('reference')} "
              f"(features: {first.get('features')})")
        for name, rec in res["metrics"].items():
            print(f"  {name:<19}{_metric_line(name, rec)}")
    elif "sample_mean" in res:
        for key in ("sample_mean", "data_mean", "sample_std", "data_std", "max_abs_mean_diff", "max_abs_std_diff",
                    "nonfinite_samples"):
            print(f"  {key:<18} {res[key]:.4g}")
    return 0


def _metric_line(name: str, rec: dict[str, Any]) -> str:
    v = rec.get("value")
    se = rec.get("se")
    text = f"{v:.4g}" if isinstance(v, float) else str(v)
    if isinstance(se, float) and not math.isnan(se):
        text += f" ± {se:.2g}"
    extra = []
    if "k" in rec:
        extra.append(f"k = {rec['k']}")
    if name == "kid":
        extra.append(f"{rec['subsets']} subsets of {rec['subset_size']}")
    if name == "modes":
        extra.append(f"of {rec['n_modes']}, {rec['high_quality_pct']:.1f} % high quality, reverse KL "
                     f"{rec['reverse_kl']:.3f}")
    if name == "classifier":
        extra.append(f"mean confidence; {rec['classes_covered']} classes covered")
    return text + (f"  ({'; '.join(extra)})" if extra else "")


def _f(v: float) -> str:
    return "nan" if v is None or math.isnan(v) else f"{v:.4f}"

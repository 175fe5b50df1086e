"""`genzoo evaluate RUN [--split test] [--k 5000]`: held-out NLL and bits/dim for likelihood models, sample
statistics otherwise; for text models the validation loss (nats/token), bits per character and perplexity. Also
writes RUN/eval_SPLIT.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from genzoo.cli.text import description, positive_int
from genzoo.errors import ConfigError


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


def evaluate_run(run_dir, split: str = "test", k: int | None = None, batch_size: int = 256,
                 max_examples: int | None = None, seed: int = 0, which: str = "auto") -> dict[str, Any]:
    import torch

    from genzoo.eval.likelihood import evaluate_likelihood
    from genzoo.train.run import get_data, load_run_model, read_run_config

    doc = read_run_config(run_dir)
    model = load_run_model(run_dir, which)
    model.eval()
    ds = get_data(doc["run"]["data"], split, **doc.get("data", {}))
    x = ds.x
    y = getattr(ds, "y", None)
    res: dict[str, Any] = {"model": model.name, "data": doc["run"]["data"], "split": split,
                           "likelihood": model.likelihood}
    torch.manual_seed(seed)
    if getattr(ds, "kind", None) == "text":
        from genzoo.eval.text import evaluate_text

        res.update(evaluate_text(model, x, batch_size=batch_size,
                                 max_tokens=None if max_examples is None else max_examples * model.config.data_shape[0],
                                 progress=True))
    elif model.likelihood != "none":
        kw = {"k": k} if k is not None else {}
        res.update(evaluate_likelihood(model, (x, y), batch_size=batch_size, max_examples=max_examples,
                                       progress=True, **kw))
    else:
        n = min(len(x), max_examples or 1000)
        res.update(sample_statistics(model, x, n))
    return res


def run(args) -> int:
    if args.k is not None and args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    res = evaluate_run(args.run, args.split, args.k, args.batch_size, args.max_examples, args.seed,
                       "checkpoint" if args.checkpoint else "auto")
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
    elif "nll" in res:
        what = "exact"
        if res["likelihood"] != "exact":
            what = "bound/estimate" + (f", k = {res['k']}" if "k" in res else "")
        print(f"  NLL        {res['nll']:.4f} ± {_f(res['nll_sem'])} nats/example  ({what}; n = {res['n']})")
        print(f"  bits/dim   {res['bpd']:.4f} ± {_f(res['bpd_sem'])}  (D = {res['dims']})")
        if res.get("ignored_kwargs"):
            print(f"  note: {', '.join(res['ignored_kwargs'])} ignored (log_prob does not take them)")
    else:
        for key in ("sample_mean", "data_mean", "sample_std", "data_std", "max_abs_mean_diff", "max_abs_std_diff",
                    "nonfinite_samples"):
            print(f"  {key:<18} {res[key]:.4g}")
    return 0


def _f(v: float) -> str:
    return "nan" if v is None or math.isnan(v) else f"{v:.4f}"

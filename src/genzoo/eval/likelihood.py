"""Held-out likelihood: mean NLL (nats per example) and bits per dimension of a model on a data split, batched.

For `likelihood = "bound"` models the value is a bound/estimate of log p(x) (an ELBO, an IWAE bound with `k`
importance samples, ...): keyword arguments such as `k=5000` go through to `model.log_prob` when the model
declares them (`log_prob_options`), and are reported as ignored otherwise. Bits/dim use
`genzoo.math.bits_per_dim` with the model's `bpd_bins` (the one audited conversion). `likelihood = "none"` raises
LikelihoodError.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import DataError, LikelihoodError


def _accepted_kwargs(model, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The keyword arguments `model.log_prob` declares (`log_prob_options`), and the names of the others."""
    declared = set(getattr(model, "log_prob_options", ()))
    ok = {k: v for k, v in kwargs.items() if k in declared}
    return ok, sorted(set(kwargs) - set(ok))


def _tensors(data) -> tuple[Tensor, Tensor | None]:
    if isinstance(data, Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    if hasattr(data, "x"):
        return data.x, getattr(data, "y", None)
    raise DataError(f"expected a data set with .x/.y, a Tensor or an (x, y) tuple, got {type(data).__name__}")


@torch.no_grad()
def log_likelihood(model, data, *, batch_size: int = 256, max_examples: int | None = None,
                   device: str | torch.device | None = None, progress: bool = False, **kwargs: Any) -> Tensor:
    """Per-example log p(x) in nats (a bound/estimate for "bound" models), as a CPU float64 tensor.
    `progress`: a tqdm bar over the examples (shown on a terminal)."""
    if getattr(model, "likelihood", "none") == "none":
        model.log_prob(torch.zeros(1))  # raises LikelihoodError with the model's message
        raise LikelihoodError(f"model {getattr(model, 'name', '?')} has no likelihood")
    x, y = _tensors(data)
    if max_examples is not None:
        x = x[:max_examples]
        y = None if y is None else y[:max_examples]
    if len(x) == 0:
        raise DataError("no examples to evaluate")
    cond = y if getattr(getattr(model, "config", None), "num_classes", 0) else None
    device = torch.device(device) if device is not None else model.device
    kw, _ = _accepted_kwargs(model, kwargs)
    model.check_input(x[:2].to(device), None if cond is None else cond[:2].to(device))
    was_training = model.training
    model.eval()
    out = []
    bar = _bar(len(x), progress, f"log p(x) {getattr(model, 'name', '')}")
    try:
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            cb = None if cond is None else cond[i:i + batch_size].to(device)
            out.append(model.log_prob(xb, cb, **kw).detach().double().cpu().reshape(-1))
            bar.update(len(xb))
    finally:
        bar.close()
        model.train(was_training)
    return torch.cat(out)


def _bar(total: int, enabled: bool, desc: str):
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ex", disable=not (enabled and sys.stderr.isatty()), leave=False)


def evaluate_likelihood(model, data, *, batch_size: int = 256, max_examples: int | None = None,
                        device: str | torch.device | None = None, progress: bool = False,
                        **kwargs: Any) -> dict[str, Any]:
    """{"nll", "nll_sem", "bpd", "bpd_sem", "n", "likelihood", "ignored_kwargs"}: mean NLL in nats per example
    with its standard error, and bits per dimension (through genzoo.math.bits_per_dim)."""
    from genzoo.math import bits_per_dim

    _, ignored = _accepted_kwargs(model, kwargs)
    lp = log_likelihood(model, data, batch_size=batch_size, max_examples=max_examples, device=device,
                        progress=progress, **kwargs)
    x, _ = _tensors(data)
    dims = math.prod(x.shape[1:])
    nll = -lp
    bpd = bits_per_dim(nll, dims, n_bins=model.bpd_bins)
    n = len(nll)

    def sem(t: Tensor) -> float:
        return float(t.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")

    return {
        "nll": float(nll.mean()),
        "nll_sem": sem(nll),
        "bpd": float(bpd.mean()),
        "bpd_sem": sem(bpd),
        "n": n,
        "dims": dims,
        "likelihood": model.likelihood,
        "ignored_kwargs": ignored,
        **{k: v for k, v in kwargs.items() if k not in ignored},
    }

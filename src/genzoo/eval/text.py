"""Language-model metrics of a held-out token stream: loss in nats per token, bits per token and per character,
perplexity.

The stream is tiled by windows of the model's context L (the last partial window is dropped), and each window is
scored by the model's exact log p(x_1..x_L) (`log_likelihood`). With T scored tokens, C the characters they decode
to, and NLL the summed negative log-likelihood in nats:

    loss = NLL / T  (nats/token),   bits/token = loss / ln 2,   bits/char = NLL / (C ln 2),   perplexity = e^loss.

For a character tokeniser C = T, so bits/char = bits/token; for bytes C <= T (a character takes 1-4 bytes). The
standard error of the loss is that of the per-window mean NLL divided by L (windows as independent draws).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import DataError
from genzoo.eval.likelihood import log_likelihood


def evaluate_text(model, stream: Tensor, *, batch_size: int = 64, max_tokens: int | None = None,
                  device: str | torch.device | None = None, progress: bool = False) -> dict[str, Any]:
    """{"loss", "loss_sem", "bits_per_token", "bits_per_char", "perplexity", "tokens", "chars", "windows",
    "context"} of a text model on a 1-D stream of token ids (see the module docstring)."""
    from genzoo.data.text import windows

    if stream.dim() != 1 or stream.is_floating_point():
        raise DataError(f"evaluate_text: expected a 1-D stream of token ids, got {stream.dtype} {tuple(stream.shape)}")
    L = int(model.config.data_shape[0])
    if max_tokens is not None:
        stream = stream[:max(max_tokens, L)]
    w = windows(stream, L, L)
    lp = log_likelihood(model, w, batch_size=batch_size, device=device, progress=progress)
    tokens = int(w.numel())
    nll = float(-lp.sum())
    chars = len(model.tokenizer.decode(w.reshape(-1))) if "tokenizer" in model.capabilities else tokens
    loss = nll / tokens
    sem = float((-lp).std(unbiased=True) / math.sqrt(len(lp)) / L) if len(lp) > 1 else float("nan")
    return {
        "loss": loss,
        "loss_sem": sem,
        "bits_per_token": loss / math.log(2),
        "bits_per_char": nll / (chars * math.log(2)),
        "perplexity": math.exp(loss),
        "tokens": tokens,
        "chars": chars,
        "windows": len(lp),
        "context": L,
        "likelihood": model.likelihood,
    }

"""GPT: a decoder-only transformer language model over token windows (Radford et al. 2018, 2019).

Factorisation. A window x = (x_1, ..., x_L) of token ids in [0, V) has the exact probability

    log p(x) = sum_{t=1..L} log p(x_t | x_<t),      p(x_t | x_<t) = softmax(W_out h_t)

where h_t is the transformer's last hidden state at input position t - 1. The input is the window shifted right
behind a begin-of-window id BOS = V: [BOS, x_1, ..., x_{L-1}] -> predicts [x_1, ..., x_L], so the first token has
the unconditional distribution p(x_1 | BOS) and the L factors sum to 1 over all V^L windows (the exhaustive test).
BOS has its own embedding row (the table is (V + 1) x C); the output layer has V logits only. Training windows start
at any offset of a token stream, so BOS means "start of a window", not "start of a document".

Network (GPT-2, Radford et al. 2019, section 2.3):

    h_0 = Dropout(E[ids] + P[positions])               token embedding E, learned positions P (or rotary, below)
    h_l = Block(h_{l-1}),  l = 1..n_layer              pre-norm: attention and MLP sub-layers (block.py)
    logits = LayerNorm(h_L) W_out^T                    W_out = E[:V] when tie_weights (Press & Wolf 2017)

Attention is softmax(Q K^T / sqrt(d_k) + M) V with the causal mask M (Vaswani et al. 2017, eq. 1;
genzoo.nn.CausalSelfAttention). Positions are either a learned table P (context x C) added to the embeddings, or
rotary (Su et al. 2021; genzoo.nn.RotaryEmbedding) rotations of q and k in every layer, in which case h_0 = E[ids].
Initialisation (GPT-2): every weight N(0, 0.02^2), biases 0, and the two residual projections of each block
(attention output, MLP output) N(0, (0.02 / sqrt(2 n_layer))^2), so the residual stream's variance does not grow
with depth.

Loss: the mean cross-entropy over all N L positions of a batch (nats/token) = -log_prob(x).mean() / L.

Generation (`generate`, `sample`): token by token from BOS (and a prompt), with a key/value cache so each new
token costs one position per layer. The network sees at most `context` positions, BOS included. A prompt longer
than context - 1 tokens is cut to its last context - 1. When the window is full, it slides: it keeps BOS and its
last (context - 1) // 2 tokens and the cache is recomputed from them in one pass. Dropping half the window at once
amortises that recomputation (one pass per ~context / 2 new tokens, instead of one full pass per token for a
window sliding by one), at the price of conditioning on between (context - 1) // 2 and context - 1 tokens after the
first slide. `use_cache=False` recomputes the same windows from scratch for every token (the reference the tests
compare the cache against). `sample(n)` draws whole windows of `context` tokens, which never slide: they are exact
draws from the distribution `log_prob` defines. The sampling filters are in sampling.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError, DataError
from genzoo.math.sampling import check_sampling, sample_next
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.registry import register
from genzoo.models.text import TextConfig, TextModel
from genzoo.models.transformer.block import Block
from genzoo.nn import RotaryEmbedding
from genzoo.nn.causal_attention import KV


@dataclass
class GPTConfig(TextConfig):
    """Configuration of `gpt`.

    vocab_size: V, the number of token ids (65 for tiny Shakespeare's characters, 256 for bytes); the network has
    one more embedding row for BOS. context: L, the window length and the most positions the network sees.
    n_layer, n_head, n_embd: blocks, heads, width (n_embd divisible by n_head). dropout: on the embeddings, the
    attention weights and both residual branches (training only). bias: biases in the linear and LayerNorm layers.
    positions: "learned" (a table of `context` vectors added to the embeddings) or "rotary" (RoPE on q and k).
    tie_weights: the output layer is the token embedding's first V rows. tokenizer: "char" (ids of the characters
    of `chars`) or "byte" (UTF-8 bytes, vocab_size 256). chars: a char model's vocabulary, len(chars) == vocab_size
    ("" while not known yet, e.g. before training on a data set whose meta carries it). data_shape is (context,).
    """

    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = False
    positions: Literal["learned", "rotary"] = "learned"
    tie_weights: bool = True

    positive: ClassVar[tuple[str, ...]] = (*TextConfig.positive, "n_layer", "n_head", "n_embd")

    def checks(self) -> list[tuple[bool, str]]:
        head = self.n_embd // self.n_head if self.n_head > 0 else 0
        return [
            (self.n_head <= 0 or self.n_embd % self.n_head == 0,
             f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"),
            (self.positions != "rotary" or head % 2 == 0,
             f"rotary positions need an even head width, got n_embd / n_head = {head}"),
            (0.0 <= self.dropout < 1.0, f"dropout must lie in [0, 1), got {self.dropout}"),
            *self.text_checks(),
        ]


@register("gpt", family="transformer")
class GPT(TextModel, GenerativeModel):
    """GPT (Radford et al. 2019): decoder-only transformer, log p(window) = sum_t log p(x_t | x_<t)."""

    likelihood = "exact"
    Config = GPTConfig
    capabilities = frozenset({"generate", "tokenizer"})
    fsdp_units: ClassVar[tuple[type, ...]] = (Block,)  # train.fsdp shards each block, then the root
    sample_options = ("generator",)
    loss_units = "nats/token"
    # nanoGPT's Shakespeare-char recipe (config/train_shakespeare_char.py)
    train_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adamw", "lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.1, "schedule": "cosine",
        "warmup_steps": 100, "min_lr_factor": 0.1, "clip_norm": 1.0, "batch_size": 64,
        "decay_exempt": True,  # decay weight matrices only: not biases, norms or the (tied) embedding
    }

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        c = config
        self.bos = c.vocab_size  # the begin-of-window id
        self.wte = nn.Embedding(c.vocab_size + 1, c.n_embd)
        self.wpe = nn.Embedding(c.context, c.n_embd) if c.positions == "learned" else None
        self.rotary = RotaryEmbedding(c.n_embd // c.n_head, c.context) if c.positions == "rotary" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c.n_embd, c.n_head, c.dropout, c.bias, self.rotary)
                                    for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = None if c.tie_weights else nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # attn.proj and mlp.proj: the residual projections
                nn.init.normal_(p, 0.0, residual_std)
            elif name.endswith("weight") and p.dim() == 2:  # linear layers and embeddings
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    @property
    def bpd_bins(self) -> int:
        return 1  # a probability mass function over the token ids

    @property
    def output_weight(self) -> Tensor:
        """W_out (V, C): the token embedding's first V rows when tied (no row for BOS), else the output layer's."""
        return self.wte.weight[: self.config.vocab_size] if self.lm_head is None else self.lm_head.weight

    # ---- the network -----------------------------------------------------------------------------------------
    def embed(self, ids: Tensor, offset: int = 0) -> Tensor:
        """h_0 (N, T, C) of network inputs `ids` (N, T) in [0, V] at positions offset .. offset + T - 1."""
        t = ids.shape[1]
        if offset + t > self.config.context:
            raise DataError(f"{self.name}: {offset + t} positions, more than the context of {self.config.context}")
        h = self.wte(ids)
        if self.wpe is not None:
            h = h + self.wpe(torch.arange(offset, offset + t, device=ids.device))
        return self.drop(h)

    def transformer(self, h: Tensor, past: list[KV] | None = None) -> tuple[Tensor, list[KV]]:
        """Blocks, final LayerNorm and output layer: h_0 (N, T, C) -> logits (N, T, V), and each layer's (k, v)."""
        present = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, None if past is None else past[i])
            present.append(kv)
        return F.linear(self.ln_f(h), self.output_weight), present

    def forward(self, ids: Tensor, past: list[KV] | None = None) -> tuple[Tensor, list[KV]]:
        """Logits (N, T, V) of network inputs `ids` (N, T) that follow the positions cached in `past`."""
        offset = 0 if past is None else past[0][0].shape[2]
        return self.transformer(self.embed(ids, offset), past)

    def shift_right(self, x: Tensor) -> Tensor:
        """The network input of windows x (N, L): [BOS, x_1, ..., x_{L-1}]."""
        return torch.cat([x.new_full((x.shape[0], 1), self.bos), x[:, :-1]], 1)

    # ---- the contract ----------------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        x = batch.x
        self.check_input(x, batch.y)
        logits, _ = self(self.shift_right(x))
        return {"loss": F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1))}

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """sum_t log p(x_t | x_<t) in nats, (N,): the exact log-probability of each window."""
        self.check_input(x, condition)
        logits, _ = self(self.shift_right(x))
        return logits.log_softmax(-1).gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(1)

    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n windows (n, context) of int64 ids drawn from the model at temperature 1 (from BOS)."""
        self.sample_labels(n, condition)  # unconditional: a condition is a DataError
        empty = torch.zeros(n, 0, dtype=torch.long, device=self.device)
        return self.generate(empty, self.config.context, generator=generator)

    # ---- generation ------------------------------------------------------------------------------------------
    def generate(self, prompt: Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None,
                 use_cache: bool = True) -> Tensor:
        """Continue int64 prompts (N, T0) (T0 may be 0) by max_new_tokens ids -> (N, T0 + max_new_tokens).

        Each token is drawn by `sampling.sample_next`: temperature (0: greedy), then top-k, then top-p."""
        check_sampling(temperature, top_k, top_p)
        return self.generate_by(prompt, max_new_tokens,
                                lambda logits: sample_next(logits, temperature, top_k, top_p, generator),
                                use_cache=use_cache)

    @torch.no_grad()
    def generate_by(self, prompt: Tensor, max_new_tokens: int, choose: Callable[[Tensor], Tensor],
                    use_cache: bool = True) -> Tensor:
        """`generate` with the next ids (N,) chosen by `choose(logits (N, V))`; the window rule of the module
        docstring; `use_cache=False` recomputes every window from scratch."""
        prompt = self._check_prompt(prompt)
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        limit = self.config.context - 1  # tokens the window holds besides BOS
        keep = limit // 2  # tokens kept when the window slides
        out = [prompt]
        window = prompt[:, prompt.shape[1] - min(prompt.shape[1], limit):]
        past = None
        for _ in range(max_new_tokens):
            if past is None:  # a fresh pass over BOS + the window
                logits, present = self(torch.cat([window.new_full((window.shape[0], 1), self.bos), window], 1))
            else:  # one new position on top of the cache
                logits, present = self(window[:, -1:], past)
            past = present if use_cache else None
            token = choose(logits[:, -1]).reshape(-1, 1).to(prompt)
            out.append(token)
            window = torch.cat([window, token], 1)
            if window.shape[1] > limit:  # full: keep the last `keep` tokens and recompute the cache
                window, past = window[:, window.shape[1] - keep:], None
        return torch.cat(out, 1)

    def _check_prompt(self, prompt) -> Tensor:
        prompt = torch.as_tensor(prompt)
        if prompt.dim() != 2:
            raise DataError(f"{self.name}: a prompt is int64 token ids of shape (N, T0), got shape "
                            f"{tuple(prompt.shape)} (a single prompt: ids[None])")
        if prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool:
            raise DataError(f"{self.name}: a prompt is int64 token ids, got {prompt.dtype}")
        v = self.config.vocab_size
        if prompt.numel() and (prompt.min() < 0 or prompt.max() >= v):
            lo, hi = int(prompt.min()), int(prompt.max())
            raise DataError(f"{self.name}: prompt ids must lie in [0, {v}), got {lo}..{hi}")
        return prompt.long().to(self.device)

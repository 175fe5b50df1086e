"""Transformers: the decoder-only GPT language model (docs/models/transformer.md).

    m = genzoo.models.create("gpt", vocab_size=65, chars=chars, context=64, n_layer=4, n_head=4, n_embd=128)
    m.loss(Batch(windows)); m.log_prob(windows); m.generate(m.tokenizer.encode("ROMEO:")[None], 200, top_k=40)

gpt.py       `GPT`, `GPTConfig`: the factorisation with BOS, the network, the cache and the window slide
block.py     `Block`, `MLP`: the pre-norm transformer block
sampling.py  `sample_next`, `filter_logits`, `top_k_filter`, `top_p_filter`: choosing the next token

Importing this package registers `gpt` (family "transformer"). The attention and rotary layers are shared ones
(`genzoo.nn.CausalSelfAttention`, `genzoo.nn.RotaryEmbedding`).
"""

from genzoo.math.sampling import check_sampling, filter_logits, sample_next, top_k_filter, top_p_filter
from genzoo.models.transformer.block import MLP, Block
from genzoo.models.transformer.gpt import GPT, GPTConfig

__all__ = [
    "GPT",
    "MLP",
    "Block",
    "GPTConfig",
    "check_sampling",
    "filter_logits",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
]

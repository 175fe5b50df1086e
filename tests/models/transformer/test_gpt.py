"""`gpt` against its definitions (docs/models/transformer.md): causality, the exact factorisation with BOS, the
key/value cache and the window slide, weight tying, positions, the loss, dropout, the config rules."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from scipy import stats

from genzoo.errors import ConfigError, DataError
from genzoo.models import Batch, create, load
from genzoo.nn import causal_attention
from genzoo.train import TrainConfig

TINY = {"context": 6, "n_layer": 2, "n_head": 2, "n_embd": 8}


def gpt(scale: float = 1.0, **kw):
    """A tiny gpt; `scale` multiplies every weight, so that an untrained model has a far-from-uniform p(x)."""
    torch.manual_seed(0)
    m = create("gpt", **{"vocab_size": 5, **TINY, **kw}).eval()
    if scale != 1.0:
        with torch.no_grad():
            for name, p in m.named_parameters():
                if not name.startswith("ln") and ".ln_" not in name:
                    p.mul_(scale)
    return m


def dependence(m, ids):
    """D[t, s] = sum |d logits_t / d h_s| over the embedded inputs h of one sequence (the Jacobian, by autograd)."""
    h = m.embed(ids[None]).detach()
    jac = torch.autograd.functional.jacobian(lambda h: m.transformer(h)[0][0], h)[:, :, 0]  # (T, V, T, C)
    return jac.abs().sum((1, 3))


# ---- causality ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_logits_depend_on_exactly_the_earlier_tokens(positions):
    m = gpt(scale=3.0, positions=positions)
    ids = torch.tensor([5, 1, 4, 0, 2, 3])  # BOS, then tokens
    dep = dependence(m, ids)
    later = torch.ones(6, 6, dtype=torch.bool).triu(1)
    assert (dep[later] == 0).all(), "a logit depends on a later token"
    assert (dep[~later] > 0).all(), "a logit ignores an earlier token"


def test_a_non_causal_variant_fails_the_causality_check(monkeypatch):
    sdpa = causal_attention.F.scaled_dot_product_attention

    def no_mask(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        return sdpa(q, k, v, dropout_p=dropout_p)

    monkeypatch.setattr(causal_attention.F, "scaled_dot_product_attention", no_mask)
    m = gpt(scale=3.0)
    dep = dependence(m, torch.tensor([5, 1, 4, 0, 2, 3]))
    assert (dep[torch.ones(6, 6, dtype=torch.bool).triu(1)] > 0).any()


# ---- the factorisation ------------------------------------------------------------------------------------------
def all_windows(v: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(v), repeat=length)))


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_probabilities_of_all_windows_sum_to_one(positions):
    """V = 3, L = 4: the 81 windows' exp(log_prob) sum to 1 (the model is far from uniform)."""
    m = gpt(scale=4.0, vocab_size=3, context=4, positions=positions)
    x = all_windows(3, 4)
    with torch.no_grad():
        lp = m.log_prob(x).double()
    assert abs(lp.exp().sum().item() - 1) < 1e-5
    assert lp.exp().max() > 2 / 81  # not the uniform distribution
    # the wrong variant (no shift: x_t predicted from x_<=t) is not normalised
    with torch.no_grad():
        leaky = m(x)[0].log_softmax(-1).gather(-1, x[..., None]).squeeze(-1).sum(1).double()
    assert abs(leaky.exp().sum().item() - 1) > 1e-2


def test_log_prob_is_the_chain_rule_over_prefixes():
    """log p(x) = sum_t log p(x_t | BOS, x_<t), each factor from a separate pass over its own prefix."""
    m = gpt(scale=3.0)
    x = torch.tensor([[1, 4, 0, 2, 3, 3]])
    total = 0.0
    with torch.no_grad():
        for t in range(6):
            inp = torch.cat([torch.tensor([[m.bos]]), x[:, :t]], 1)
            total += m(inp)[0][0, -1].log_softmax(-1)[x[0, t]].item()
        assert m.log_prob(x).item() == pytest.approx(total, abs=1e-5)


def test_loss_is_the_mean_negative_log_prob_per_token():
    m = gpt(scale=2.0)
    x = torch.randint(0, 5, (7, 6))
    assert m.loss(Batch(x))["loss"].item() == pytest.approx((-m.log_prob(x).mean() / 6).item(), rel=1e-6)
    assert m.loss_units == "nats/token" and m.bpd_bins == 1
    # bits/dim of a pmf is bits per token: -log2 p(x) / L
    torch.testing.assert_close(m.bits_per_dim(x), -m.log_prob(x) / (6 * math.log(2)))


def test_sampled_windows_follow_the_model_distribution():
    """V = 3, L = 2: 9000 sampled windows against exp(log_prob) of the 9 windows, chi-square at the 0.1 % level;
    the uniform distribution (a wrong answer) fails the same test."""
    m = gpt(scale=4.0, vocab_size=3, context=2)
    x = all_windows(3, 2)
    with torch.no_grad():
        p = m.log_prob(x).double().exp()
    s = m.sample(9000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(s[:, 0] * 3 + s[:, 1], minlength=9).double()
    critical = stats.chi2.ppf(0.999, 8)
    assert ((counts - 9000 * p) ** 2 / (9000 * p)).sum() < critical
    assert ((counts - 1000) ** 2 / 1000).sum() > critical


# ---- generation: the cache and the window slide ------------------------------------------------------------------
def forced(tokens):
    """A `choose` that records the logits it is given and returns the next of `tokens` (teacher forcing)."""
    seen = []

    def choose(logits):
        seen.append(logits.clone())
        return tokens[:, len(seen) - 1]

    return choose, seen


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_logits_equal_recomputation_across_window_slides(positions):
    """context 6: the window holds 5 tokens and slides to its last 2; 20 new tokens slide it several times. The
    cache's logits equal recomputing every window, and both equal a direct pass over the documented window."""
    m = gpt(scale=3.0, positions=positions)
    prompt = torch.tensor([[1, 2, 3], [4, 0, 1]])
    tokens = torch.randint(0, 5, (2, 20))
    choose, cached = forced(tokens)
    out = m.generate_by(prompt, 20, choose)
    choose, fresh = forced(tokens)
    assert torch.equal(m.generate_by(prompt, 20, choose, use_cache=False), out)
    assert torch.equal(out, torch.cat([prompt, tokens], 1))
    seq, w = out, 3
    with torch.no_grad():
        for i in range(20):
            end = 3 + i  # tokens before the one chosen at step i
            window = seq[:, end - w:end]
            direct = m(torch.cat([torch.full((2, 1), m.bos), window], 1))[0][:, -1]
            torch.testing.assert_close(cached[i], direct, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(fresh[i], direct, atol=1e-5, rtol=1e-5)
            w = w + 1 if w + 1 <= 5 else 2


def test_long_generation_slides_past_the_context():
    m = gpt(context=64, n_layer=1)
    prompt = torch.randint(0, 5, (1, 100))  # longer than the context: cut to its last 63 tokens
    out = m.generate(prompt, 500, temperature=0.8, top_k=3)
    assert out.shape == (1, 600) and torch.equal(out[:, :100], prompt)
    assert out.dtype == torch.int64 and out.min() >= 0 and out.max() < 5
    assert m.generate(torch.zeros(3, 0, dtype=torch.long), 10).shape == (3, 10)  # T0 = 0: from BOS
    assert torch.equal(m.generate(prompt, 0), prompt)


def test_temperature_to_zero_is_greedy():
    m = gpt(scale=3.0)
    prompt = torch.tensor([[1, 2], [3, 3]])
    greedy = m.generate(prompt, 12, temperature=0)
    assert torch.equal(greedy, m.generate_by(prompt, 12, lambda logits: logits.argmax(-1)))
    cold = m.generate(prompt, 12, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, greedy)
    warm = m.generate(prompt[:1].expand(50, -1), 12, generator=torch.Generator().manual_seed(0))
    assert not (warm == greedy[:1]).all(1).all()  # temperature 1 is not greedy


def test_seeded_samples_are_reproducible():
    m = gpt(scale=2.0)
    a = m.sample(4, generator=torch.Generator().manual_seed(7))
    b = m.sample(4, generator=torch.Generator().manual_seed(7))
    c = m.sample(4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    p = torch.tensor([[0, 1]])
    g = m.generate(p, 9, top_p=0.9, generator=torch.Generator().manual_seed(1))
    assert torch.equal(g, m.generate(p, 9, top_p=0.9, generator=torch.Generator().manual_seed(1)))


def test_bad_prompts_and_options_are_one_line_errors():
    m = gpt()
    with pytest.raises(DataError, match=r"\(N, T0\)"):
        m.generate(torch.tensor([1, 2]), 3)
    with pytest.raises(DataError, match="int64"):
        m.generate(torch.zeros(1, 2), 3)
    with pytest.raises(DataError, match=r"\[0, 5\)"):
        m.generate(torch.tensor([[5]]), 3)  # BOS is not a token
    with pytest.raises(ConfigError, match="temperature"):
        m.generate(torch.tensor([[1]]), 3, temperature=-1)
    with pytest.raises(ConfigError, match="top_k"):
        m.generate(torch.tensor([[1]]), 3, top_k=0)
    with pytest.raises(ConfigError, match="top_p"):
        m.generate(torch.tensor([[1]]), 3, top_p=1.5)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        m.generate(torch.tensor([[1]]), -1)
    with pytest.raises(DataError):
        m.sample(2, torch.zeros(2, dtype=torch.long))


# ---- parameters ---------------------------------------------------------------------------------------------------
def test_tied_weights_are_one_tensor_and_survive_save_load(tmp_path):
    m = gpt(scale=2.0)
    assert m.lm_head is None and "lm_head.weight" not in m.state_dict()
    assert m.output_weight.data_ptr() == m.wte.weight.data_ptr() and m.output_weight.shape == (5, 8)
    m.loss(Batch(torch.randint(0, 5, (4, 6))))["loss"].backward()
    assert m.wte.weight.grad[:5].abs().sum() > 0  # the output layer's gradient lands in the embedding
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m")
    assert m2.output_weight.data_ptr() == m2.wte.weight.data_ptr()
    with torch.no_grad():
        m2.wte.weight[0, 0] += 1.0
    assert m2.output_weight[0, 0] == m2.wte.weight[0, 0]
    x = torch.randint(0, 5, (3, 6))
    torch.testing.assert_close(load(tmp_path / "m").log_prob(x), m.log_prob(x))
    untied = gpt(tie_weights=False)
    assert untied.output_weight is untied.lm_head.weight and untied.lm_head.weight.shape == (5, 8)
    assert sum(p.numel() for p in untied.parameters()) == sum(p.numel() for p in m.parameters()) + 5 * 8


def test_learned_positions_are_one_parameter_vector_per_position():
    """Changing the vector of position j changes the logits at positions >= j only."""
    m = gpt(scale=3.0)
    delta = torch.randn(8)  # not a constant vector, which the LayerNorms would remove
    assert m.wpe.weight.shape == (6, 8) and m.rotary is None
    ids = torch.tensor([[5, 1, 4, 0, 2, 3]])
    with torch.no_grad():
        base = m(ids)[0]
        for j in range(6):
            m.wpe.weight[j] += delta
            changed = (m(ids)[0] - base).abs().sum(-1)[0] > 1e-6
            m.wpe.weight[j] -= delta
            assert torch.equal(changed, torch.arange(6) >= j), j
    rot = gpt(positions="rotary")
    assert rot.wpe is None and not any("rotary" in k for k in rot.state_dict())


def test_gpt2_initialisation():
    """Weights N(0, 0.02^2); the residual projections N(0, (0.02 / sqrt(2 n_layer))^2); biases 0."""
    torch.manual_seed(0)
    m = create("gpt", vocab_size=65, context=32, n_layer=4, n_head=4, n_embd=64, bias=True)
    for name, p in m.named_parameters():
        if name.endswith("proj.weight"):
            expected = 0.02 / math.sqrt(8)
        elif p.dim() == 2:
            expected = 0.02
        elif name.endswith("bias"):
            assert (p == 0).all(), name
            continue
        else:  # LayerNorm gains
            assert (p == 1).all(), name
            continue
        se = expected / math.sqrt(2 * p.numel())  # standard error of a sample standard deviation
        assert abs(p.std().item() - expected) < 5 * se + 1e-4, (name, p.std().item(), expected)


def test_eval_mode_has_no_dropout_noise():
    m = gpt(scale=2.0, dropout=0.5)
    x = torch.randint(0, 5, (4, 6))
    ref = gpt(scale=2.0)  # the same weights without dropout
    with torch.no_grad():
        torch.testing.assert_close(m.log_prob(x), ref.log_prob(x))
        assert torch.equal(m.log_prob(x), m.log_prob(x))
        m.train()
        assert not torch.equal(m.log_prob(x), m.log_prob(x))


# ---- config ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg, message", [
    ({"n_embd": 10, "n_head": 4}, "n_embd \\(10\\) must be divisible by n_head \\(4\\)"),
    ({"tokenizer": "byte", "vocab_size": 65}, "vocab_size must be 256"),
    ({"chars": "abc", "vocab_size": 5}, "chars has 3 characters but vocab_size is 5"),
    ({"chars": "aabcd", "vocab_size": 5}, "distinct"),
    ({"positions": "rotary", "n_embd": 6, "n_head": 2}, "even head width"),
    ({"dropout": 1.0}, "dropout"),
    ({"context": 0}, "context must be > 0"),
])
def test_config_rules(cfg, message):
    with pytest.raises(ConfigError, match=message):
        create("gpt", **{"vocab_size": 5, **TINY, **cfg})


def test_config_derives_the_data_shape_and_the_tokenizer():
    m = create("gpt", vocab_size=3, chars="abc", **TINY)
    assert m.config.data_shape == (6,)
    assert m.tokenizer.decode(m.tokenizer.encode("cab")) == "cab" and m.tokenizer.vocab_size == 3
    byte = create("gpt", vocab_size=256, tokenizer="byte", **TINY)
    assert byte.tokenizer.encode("é").tolist() == [195, 169]
    with pytest.raises(ConfigError, match="chars is empty"):
        _ = create("gpt", vocab_size=5, **TINY).tokenizer


def test_train_defaults_are_train_config_fields():
    from genzoo.models import get_class

    defaults = get_class("gpt").train_defaults
    assert set(defaults) <= {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**defaults)
    assert cfg.optimizer == "adamw" and cfg.betas == (0.9, 0.99) and cfg.schedule == "cosine"

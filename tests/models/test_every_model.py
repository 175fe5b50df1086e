"""The model contract as a test: every registered model, one tiny config each (docs/architecture.md, "Adding a family").

A model registered without an entry in TINY fails `test_every_registered_model_has_an_entry`: nothing is skipped
silently. Each test below runs for every entry and checks one item of the contract:

- `loss(batch, player)` is finite for each player of `update_order`, its gradients reach that player's parameters
  and leave the other players' untouched;
- `sample(n)` has the data shape and lies in the data's range; conditional models honour `condition` (the label
  rule: without one, labels cycle 0..K-1) and reject out-of-range labels;
- `log_prob` is (N,) and finite where `likelihood != "none"`, LikelihoodError where it is "none";
- save -> load gives identical tensors, identical `log_prob` and identical seeded samples; `extra_state` round-trips;
- 4 steps -> checkpoint -> resume -> 4 more steps equals 8 straight steps bit-exactly on CPU;
- `check_input` rejects a wrong shape and a NaN (text models: a float tensor and an id outside the vocabulary);
- the declarations (`capabilities`, `sample_options`, `log_prob_options`, `data_kinds`, `conditional`) hold: every
  declared capability works (`decode` is differentiable in z; `invert` maps x -> z -> x back within 1e-3).
"""

from __future__ import annotations

import dataclasses
import inspect
import math

import pytest
import torch

from genzoo.errors import DataError, LikelihoodError
from genzoo.models import CAPABILITIES, DATA_KINDS, Batch, available, create, get_class, load
from genzoo.train import TrainConfig, Trainer

IMG = (1, 8, 8)
IMG28 = (1, 28, 28)
PTS = (2,)
_GAN = {"g_hidden": (8,), "d_hidden": (8,), "latent_dim": 2}
_DIFF = {"hidden": (16,), "sample_batch": 64}
_RNN = {"channels": 6, "blocks": 1, "out_channels": 3, "first_kernel": 3}
_DIFF_IMG = {"channels": (4, 8), "num_res_blocks": 1, "sample_batch": 64}
_GPT = {"context": 8, "n_layer": 1, "n_head": 2, "n_embd": 8}
_AR = {"channels": 6, "blocks": 1, "out_channels": 6}
AR_IMG = (1, 4, 4)
_RBM = {"hidden": 6, "chains": 8, "ais_betas": 20, "ais_runs": 4, "sample_steps": 3}
_EBM = {"hidden": (8,), "sgld_steps": 2, "buffer_size": 16, "sample_steps": 3, "resolution": 16}

# name -> (config, data shape); the data shape is also the config's data_shape.
TINY: dict[str, tuple[dict, tuple[int, ...]]] = {
    "vae": ({"hidden": (8,), "latent_dim": 2, "eval_k": 2}, IMG),
    "beta-vae": ({"hidden": (8,), "latent_dim": 2, "eval_k": 2}, IMG),
    "cvae": ({"hidden": (8,), "latent_dim": 2, "eval_k": 2, "num_classes": 3}, IMG),
    "iwae": ({"hidden": (8,), "latent_dim": 2, "eval_k": 2, "k": 2}, IMG),
    "realnvp": ({"hidden": (8,), "n_blocks": 2}, PTS),
    "glow": ({"hidden": (8,), "steps": 2}, PTS),
    "maf": ({"hidden": (8,), "n_blocks": 2}, PTS),
    "nice": ({"hidden": (8,), "n_blocks": 2}, PTS),
    "gan": (_GAN, PTS),
    "ns-gan": (_GAN, PTS),
    "wgan": (_GAN, PTS),
    "wgan-gp": ({**_GAN, "n_critic": 2}, PTS),
    "pacgan": (_GAN, PTS),
    "sngan": (_GAN, PTS),
    "dcgan": ({"width": 4, "latent_dim": 4}, IMG28),
    "cgan": ({"width": 4, "latent_dim": 4, "num_classes": 3}, IMG28),
    "pggan": ({"channels": 4, "latent_dim": 4, "fade_steps": 2, "stable_steps": 2}, IMG28),
    "ddpm": ({**_DIFF, "timesteps": 10}, PTS),
    "ddim": ({**_DIFF, "timesteps": 10, "sample_steps": 3}, PTS),
    "ncsn": ({**_DIFF, "num_levels": 3, "steps_per_level": 2}, PTS),
    "score-sde": ({**_DIFF, "sample_steps": 3, "ode_tol": 1e-3}, PTS),
    "gpt": ({**_GPT, "vocab_size": 5, "chars": "abcde"}, (8,)),
    "made": ({"hidden": (16,), "num_masks": 3, "ensemble": 2}, AR_IMG),
    "pixelcnn": (_AR, AR_IMG),
    "gated-pixelcnn": (_AR, AR_IMG),
    "pixelrnn": (_RNN, (1, 4, 4)),
    "pixelrnn-diag": (_RNN, (1, 4, 4)),
    "rbm": (_RBM, IMG),
    "dbn": ({**_RBM, "hidden": (6, 4), "layer_steps": 3, "bound_samples": 2}, IMG),
    "ebm": (_EBM, PTS),
    "sparse-coding": ({"latent_dim": 6, "n_iter": 20, "eval_k": 4, "noise_std": 0.5}, IMG),
    "sparse-vae": ({"hidden": (8,), "latent_dim": 2, "eval_k": 2, "l1": 0.1}, IMG),
    "gmm": ({"components": 3, "covariance": "diag"}, PTS),
    "cnf": ({"hidden": (8,), "method": "rk4", "steps": 2}, PTS),
    "neural-ode": ({"width": 4, "hyper_hidden": (4,), "method": "rk4", "steps": 2}, PTS),
    "hmm": ({"states": 3, "vocab_size": 5, "chars": "abcde", "context": 6}, (6,)),
    "vae-gan": ({"hidden": (8,), "latent_dim": 2, "d_hidden": (8,)}, IMG),
}
# Extra variants through the same checks: conditional and image paths of families whose defaults are neither.
VARIANTS: dict[str, tuple[str, dict, tuple[int, ...]]] = {
    "realnvp-image-conditional": ("realnvp", {"hidden_channels": 4, "levels": 1, "steps": 1, "final_steps": 1,
                                              "num_classes": 3}, (1, 4, 4)),
    "ddpm-image-conditional": ("ddpm", {**_DIFF_IMG, "timesteps": 10, "num_classes": 3}, IMG),
    "pixelrnn-rgb-logistic-conditional": ("pixelrnn", {**_RNN, "output": "logistic", "mixtures": 2,
                                                        "num_classes": 3}, (3, 3, 3)),
    "pixelrnn-diag-categorical-conditional": ("pixelrnn-diag", {**_RNN, "channels": 16, "out_channels": 8,
                                                                "output": "categorical", "bins": 4,
                                                                "num_classes": 3}, (1, 3, 3)),
    "ddpm-exact": ("ddpm", {**_DIFF, "timesteps": 10, "likelihood_method": "exact", "ode_tol": 1e-3}, PTS),
    "gpt-rotary-dropout": ("gpt", {**_GPT, "vocab_size": 5, "positions": "rotary", "dropout": 0.1}, (8,)),
    "gpt-byte-untied": ("gpt", {**_GPT, "vocab_size": 256, "tokenizer": "byte", "tie_weights": False, "bias": True},
                        (8,)),
    "made-conditional-colour": ("made", {"hidden": (24,), "num_classes": 3, "output": "categorical", "bins": 4},
                                (3, 3, 3)),
    "pixelcnn-colour-logistic": ("pixelcnn", {**_AR, "output": "logistic", "mixtures": 2}, (3, 3, 3)),
    "pixelcnn-conditional": ("pixelcnn", {**_AR, "num_classes": 3}, AR_IMG),
    "gated-pixelcnn-conditional": ("gated-pixelcnn", {**_AR, "blocks": 2, "num_classes": 3, "output": "categorical",
                                                     "bins": 4}, AR_IMG),
    "gated-pixelcnn-colour-categorical": ("gated-pixelcnn", {**_AR, "blocks": 2, "output": "categorical", "bins": 8},
                                          (3, 3, 3)),
    "rbm-gaussian-points-cd3": ("rbm", {**_RBM, "visible": "gaussian", "cd": "cd", "k": 3}, PTS),
    "rbm-gaussian-image": ("rbm", {**_RBM, "visible": "gaussian", "sigma": 0.5}, IMG),
    "ebm-image-spectral": ("ebm", {**_EBM, "hidden": (4, 4), "spectral_norm": True}, AR_IMG),
    "sparse-coding-points-ista": ("sparse-coding", {"latent_dim": 3, "solver": "ista", "n_iter": 20, "bias": False,
                                                    "eval_k": 4, "prior_scale": 0.5, "defensive": 0.0}, PTS),
    "sparse-vae-gaussian-decoder-mc-kl": ("sparse-vae", {"hidden": (8,), "latent_dim": 2, "eval_k": 2,
                                                         "decoder": "gaussian", "kl": "mc"}, PTS),
    "gmm-full": ("gmm", {"components": 3, "covariance": "full"}, PTS),
    "cnf-hutchinson-rnode-adjoint": ("cnf", {"hidden": (8,), "method": "euler", "steps": 2, "trace": "hutchinson",
                                             "kinetic": 0.01, "jacobian": 0.01, "adjoint": True}, PTS),
    "neural-ode-dopri5-rnode": ("neural-ode", {"width": 4, "hyper_hidden": (4,), "rtol": 1e-3, "atol": 1e-3,
                                               "kinetic": 0.01, "jacobian": 0.01}, PTS),
    "vae-gan-points-minimax": ("vae-gan", {"hidden": (8,), "latent_dim": 2, "d_hidden": (8, 6), "gan_loss": "minimax",
                                           "gamma": 0.5, "kl_warmup_steps": 3}, PTS),
    "vae-gan-dcgan-conv": ("vae-gan", {"arch": "conv", "hidden": (4,), "latent_dim": 2, "d_arch": "dcgan",
                                       "d_width": 4, "d_norm": "batch"}, IMG28),
    "hmm-byte": ("hmm", {"states": 4, "vocab_size": 256, "tokenizer": "byte", "context": 5, "smoothing": 0.01}, (5,)),
}
CASES = {**{n: (n, c, s) for n, (c, s) in TINY.items()}, **VARIANTS}


def make(case: str):
    name, cfg, shape = CASES[case]
    torch.manual_seed(0)
    return create(name, data_shape=shape, **cfg)


def data(model, n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    shape = model.config.data_shape
    if model.data_kinds == ("text",):  # token ids of windows (N, context)
        x = torch.randint(0, model.config.vocab_size, (n, *shape), generator=g)
    elif len(shape) == 3:  # 8-bit images in [0, 1]
        x = torch.randint(0, 256, (n, *shape), generator=g).float() / 255
    else:
        x = torch.randn(n, *shape, generator=g)
    k = model.config.num_classes
    y = torch.randint(0, k, (n,), generator=g) if k else None
    return Batch(x, y)


def in_data_range(model, s) -> bool:
    if model.data_kinds == ("text",):
        return bool(s.dtype == torch.int64 and s.min() >= 0 and s.max() < model.config.vocab_size)
    if len(model.config.data_shape) == 3:
        return bool(s.min() >= 0 and s.max() <= 1)
    return bool(torch.isfinite(s).all())


def test_every_registered_model_has_an_entry():
    missing = sorted(set(available()) - set(TINY))
    assert not missing, f"registered models without a conformance entry in TINY: {missing}"
    assert not set(TINY) - set(available()), "TINY names models that are not registered"


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_is_finite_and_gradients_reach_only_the_player(case):
    m = make(case)
    m.train()
    b = data(m)
    players = m.players()
    for player in dict.fromkeys(m.update_order(0)):
        m.zero_grad(set_to_none=True)
        out = m.loss(b, player)
        assert isinstance(out, dict) and out["loss"].dim() == 0
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in out.values()), out
        out["loss"].backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in players[player]), \
            f"{case}: loss of {player} does not reach its parameters"
        for other, params in players.items():
            if other != player:
                assert all(p.grad is None or p.grad.abs().sum() == 0 for p in params), \
                    f"{case}: loss of {player} leaked gradients into {other}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_shape_range_and_labels(case):
    m = make(case)
    m.eval()
    s = m.sample(6)
    assert s.shape == (6, *m.config.data_shape) and in_data_range(m, s)
    k = m.config.num_classes
    if k == 0:
        with pytest.raises(DataError):
            m.sample(2, torch.zeros(2, dtype=torch.long))
        return
    # the label rule: no condition = labels cycling 0..K-1, the same as passing them
    assert torch.equal(m.sample_labels(7), torch.arange(7) % k)
    torch.manual_seed(3)
    a = m.sample(6)
    torch.manual_seed(3)
    b = m.sample(6, torch.arange(6) % k)
    assert torch.equal(a, b)
    # the condition is honoured: other labels, other samples from the same noise (weights perturbed first:
    # zero-initialised output layers make an untrained model ignore its input)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.manual_seed(3)
    a = m.sample(6)
    torch.manual_seed(3)
    c = m.sample(6, torch.full((6,), k - 1))
    assert not torch.equal(a, c)
    with pytest.raises(DataError):
        m.sample(2, torch.tensor([0, k]))
    with pytest.raises(DataError):
        m.sample(2, torch.tensor([-1, 0]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_log_prob_or_likelihood_error(case):
    m = make(case)
    m.eval()
    b = data(m, 5)
    if m.likelihood == "none":
        with pytest.raises(LikelihoodError):
            m.log_prob(b.x, b.y)
        return
    lp = m.log_prob(b.x, b.y)
    assert lp.shape == (5,) and torch.isfinite(lp).all()


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_load_identical(case, tmp_path):
    m = make(case)
    m.train()
    b = data(m)
    for step in range(2):  # move weights, buffers (ActNorm, batch norm) and extra_state off their initial values
        for player in m.update_order(step):
            m.zero_grad()
            m.loss(b, player)["loss"].backward()
            with torch.no_grad():
                for p in m.players()[player]:
                    if p.grad is not None:
                        p -= 1e-3 * p.grad
        m.on_step_end(step)
    m.eval()
    m.save(tmp_path / "m")
    m2 = load(tmp_path / "m")
    m2.eval()
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert sd.keys() == sd2.keys() and all(torch.equal(sd[k], sd2[k]) for k in sd)
    assert m2.extra_state() == m.extra_state()
    assert m2.likelihood == m.likelihood and m2.config == m.config
    torch.manual_seed(5)
    a = m.sample(4)
    torch.manual_seed(5)
    assert torch.equal(a, m2.sample(4))
    if m.likelihood != "none":
        x = data(m, 4, seed=1)
        torch.manual_seed(6)
        lp = m.log_prob(x.x, x.y)
        torch.manual_seed(6)
        assert torch.equal(lp, m2.log_prob(x.x, x.y))


def _trainer(case, out_dir, steps):
    m = make(case)
    b = data(m, 32)
    cfg = TrainConfig(steps=steps, batch_size=8, ckpt_every=0, log_every=2, progress=False, device="cpu",
                      n_samples=4)
    return Trainer(m, (b.x, b.y), cfg, out_dir=out_dir)


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_equals_not_stopping(case, tmp_path):
    straight = _trainer(case, tmp_path / "a", 8)
    straight.fit()
    first = _trainer(case, tmp_path / "b", 8)
    first.fit(stop_at=4)
    m = first.model
    b = data(m, 32)
    resumed = Trainer.resume(tmp_path / "b", (b.x, b.y))
    assert resumed.step == 4
    resumed.fit()
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert sa.keys() == sb.keys()
    diff = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not diff, f"{case}: resumed run differs from the straight run in {diff[:5]}"
    assert straight.model.extra_state() == resumed.model.extra_state()


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_input_rejects_bad_data(case):
    m = make(case)
    b = data(m, 4)
    m.check_input(b.x, b.y)
    wrong = torch.zeros(4, *[s + 1 for s in m.config.data_shape])
    with pytest.raises(DataError):
        m.check_input(wrong, b.y)
    x = b.x.clone()
    x.view(-1)[0] = m.config.vocab_size if m.data_kinds == ("text",) else float("nan")  # no id / not a number
    with pytest.raises(DataError):
        m.check_input(x, b.y)
    if m.data_kinds == ("text",):
        with pytest.raises(DataError):
            m.check_input(b.x.float(), b.y)
    if m.config.num_classes:
        with pytest.raises(DataError):
            m.check_input(b.x, torch.full((4,), m.config.num_classes))


@pytest.mark.parametrize("case", sorted(CASES))
def test_declarations_hold(case):
    m = make(case)
    cls = type(m)
    assert m.likelihood in ("exact", "bound", "none")
    assert m.likelihood == cls.likelihood_for(m.config)
    assert set(cls.capabilities) <= set(CAPABILITIES)
    assert cls.data_kinds and set(cls.data_kinds) <= set(DATA_KINDS)
    default_k = next(f.default for f in dataclasses.fields(cls.Config) if f.name == "num_classes")
    assert cls.conditional == (default_k > 0), f"{case}: `conditional` disagrees with the config's num_classes"
    # every extra keyword of sample / log_prob is declared, and every declared one exists
    for fn, declared in ((m.sample, cls.sample_options), (m.log_prob, cls.log_prob_options)):
        extra = [p for p in inspect.signature(fn).parameters if p not in ("n", "x", "condition")]
        assert sorted(extra) == sorted(declared), f"{case}.{fn.__name__}: declared {declared}, takes {extra}"
    b = data(m, 4)
    m.eval()
    with torch.no_grad():
        if "encode" in cls.capabilities:
            mu, logvar = m.encode(b.x, b.y)
            assert mu.shape == logvar.shape == (4, m.config.latent_dim)
        if "decode" in cls.capabilities:
            z = torch.randn(4, m.config.latent_dim)
            assert m.decode(z, b.y).shape == (4, *m.config.data_shape)
    if "decode" in cls.capabilities:  # differentiable in z (generator inversion optimises z through it)
        z = torch.randn(4, m.config.latent_dim, requires_grad=True)
        (g,) = torch.autograd.grad(m.decode(z, b.y).sum(), z)
        assert torch.isfinite(g).all()
    if "invert" in cls.capabilities:  # a deterministic bijection: x -> z (N, D) -> x
        with torch.no_grad():
            z = m.to_latent(b.x, b.y)
            assert z.shape == (4, math.prod(m.config.data_shape)) and torch.isfinite(z).all()
            assert torch.equal(z, m.to_latent(b.x, b.y))
            back = m.from_latent(z, b.y)
        assert back.shape == b.x.shape
        err = (back - b.x).abs().max().item()
        assert err < 1e-3, f"{case}: from_latent(to_latent(x)) differs from x by {err:.3g}"
        if "reconstruct" in cls.capabilities:
            assert m.reconstruct(b.x, b.y).shape == b.x.shape
        if "discriminate" in cls.capabilities:
            assert m.discriminate(b.x, b.y).reshape(-1).shape[0] >= 1
    if "score" in cls.capabilities:
        s = m.score(b.x, torch.full((4,), 0.5), b.y)
        assert s.shape == b.x.shape and torch.isfinite(s).all()
    methods = {"invert": ("to_latent", "from_latent")}
    for c in set(CAPABILITIES) - set(cls.capabilities) - {"latent", "score"}:
        for method in methods.get(c, (c,)):
            assert not callable(getattr(m, method, None)), f"{case} has {method}() but does not declare {c}"


def test_declarations_are_read_not_discovered():
    """The demo, evaluate and the analysis tools read `capabilities` / `log_prob_options`; nothing asks hasattr."""
    import pathlib

    import genzoo

    root = pathlib.Path(genzoo.__file__).parent
    for rel in ("cli/demo.py", "cli/evaluate.py", "eval/likelihood.py", "analysis/interpolate.py",
                "analysis/latents.py"):
        text = (root / rel).read_text()
        assert "hasattr(model" not in text and "inspect.signature" not in text, rel


def test_evaluation_losses_run_without_gradients():
    """Trainer.evaluate follows `eval_needs_grad`: a WGAN-GP evaluation computes no gradient penalty."""
    m = make("wgan-gp")
    assert not type(m).eval_needs_grad
    b = data(m, 32)
    t = Trainer(m, (b.x, b.y), TrainConfig(steps=1, batch_size=8, progress=False, device="cpu"),
                eval_data=(b.x, b.y))
    rec = t.evaluate()
    assert "eval/discriminator/loss" in rec and "eval/discriminator/gp" not in rec
    assert get_class("wgan-gp").eval_needs_grad is False

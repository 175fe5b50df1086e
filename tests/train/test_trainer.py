"""The Trainer on tiny models: resume, checkpoints, divergence, optimizers, schedules, clipping, EMA, accumulation."""

from __future__ import annotations

import json
import math

import pytest
import torch
from train_toys import Gauss, GaussConfig, ToyGAN, toy_data

from genzoo.errors import CheckpointError, ConfigError, DataError, DivergenceError, UnknownNameError
from genzoo.models import ModelConfig
from genzoo.train import OPTIMIZERS, TrainConfig, Trainer, list_checkpoints, load_checkpoint, lr_factor
from genzoo.train import checkpoint as ckpt_mod

BASE = dict(batch_size=8, progress=False, device="cpu", seed=3)


def gauss(**kw):
    torch.manual_seed(1)
    return Gauss(GaussConfig(data_shape=(2,), **kw))


def strip_time(history):
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


def assert_same_state(a: Trainer, b: Trainer):
    for (n, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q), n
    if a.ema is not None:
        for k in a.ema.shadow:
            assert torch.equal(a.ema.shadow[k], b.ema.shadow[k]), k
    for p in a.optimizers:
        sa, sb = a.optimizers[p].state_dict(), b.optimizers[p].state_dict()
        assert sa["param_groups"] == sb["param_groups"]
        for i in sa["state"]:
            for k, v in sa["state"][i].items():
                assert torch.equal(v, sb["state"][i][k]), (p, i, k)
    assert strip_time(a.history) == strip_time(b.history)
    assert a.model.extra_state() == b.model.extra_state()


def test_resume_is_bit_exact(tmp_path):
    data = toy_data(50)  # 6 batches per epoch: the run crosses epochs
    cfg = TrainConfig(steps=20, ckpt_every=5, log_every=3, ema_decay=0.9, schedule="cosine", warmup_steps=3, **BASE)
    a = Trainer(gauss(), data, cfg, out_dir=tmp_path / "a")
    a.fit()

    class Kill(Exception):
        pass

    def kill(trainer, rec):
        if trainer.step >= 12:
            raise Kill

    b = Trainer(gauss(), data, cfg, out_dir=tmp_path / "b", callbacks=[kill])
    with pytest.raises(Kill):
        b.fit()
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [5, 10]
    torch.manual_seed(123)  # whatever the caller's RNG holds, resume restores the saved one
    c = Trainer.resume(tmp_path / "b", data, model=gauss())
    assert c.step == 10
    c.fit()
    assert c.step == 20
    assert_same_state(a, c)
    lines_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    lines_c = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert strip_time(lines_a) == strip_time(lines_c)
    # the final saved model holds the EMA weights
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "b" / "model" / "model.safetensors"))
    assert torch.equal(saved["mu"], c.ema.shadow["mu"])
    assert not torch.equal(saved["mu"], c.model.mu.detach())


def test_resume_gan_two_players_bit_exact(tmp_path):
    data = toy_data(40)
    cfg = TrainConfig(steps=8, ckpt_every=4, optim={"discriminator": {"lr": 3e-3, "betas": [0.5, 0.9]}}, **BASE)
    torch.manual_seed(0)
    a = Trainer(ToyGAN(ModelConfig(data_shape=(2,))), data, cfg, out_dir=tmp_path / "a")
    a.fit()
    torch.manual_seed(0)
    b = Trainer(ToyGAN(ModelConfig(data_shape=(2,))), data, cfg, out_dir=tmp_path / "b")
    b.fit(stop_at=4)
    torch.manual_seed(0)
    c = Trainer.resume(tmp_path / "b", data, model=ToyGAN(ModelConfig(data_shape=(2,))))
    c.fit()
    assert_same_state(a, c)
    assert c.optimizers["discriminator"].param_groups[0]["betas"] == (0.5, 0.9)


def test_resume_recreates_registered_model(tmp_path):
    from genzoo.models import register
    from genzoo.models.registry import _REGISTRY

    register("test-train-gauss", family="test")(Gauss)
    try:
        t = Trainer(Gauss(GaussConfig(data_shape=(2,))), toy_data(), TrainConfig(steps=4, **BASE), out_dir=tmp_path)
        t.fit(stop_at=2)
        r = Trainer.resume(tmp_path, toy_data())
        assert type(r.model) is Gauss and r.step == 2
        r.fit()
        assert r.step == 4
    finally:
        _REGISTRY.pop("test-train-gauss", None)


def test_atomic_save_crash_keeps_previous(tmp_path, monkeypatch):
    t = Trainer(gauss(), toy_data(), TrainConfig(steps=10, ckpt_every=5, **BASE), out_dir=tmp_path)
    calls = {"n": 0}
    real = ckpt_mod.atomic_write_bytes

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] >= 2:  # the JSON of the second checkpoint: crash mid-save
            raise OSError("disk full (simulated)")
        return real(path, data)

    monkeypatch.setattr(ckpt_mod, "atomic_write_bytes", flaky)
    with pytest.raises(OSError, match="simulated"):
        t.fit()
    monkeypatch.setattr(ckpt_mod, "atomic_write_bytes", real)
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [5]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    tensors, meta = load_checkpoint(tmp_path / "checkpoints" / "step_00000005")
    assert meta["step"] == 5 and torch.isfinite(tensors["model/mu"]).all()
    # a folder left by a killed process is ignored, and a resume works
    (tmp_path / "checkpoints" / ".tmp-step_00000010-999").mkdir()
    r = Trainer.resume(tmp_path, toy_data(), model=gauss())
    assert r.step == 5
    r.fit()
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [5, 10]


def test_corrupt_checkpoint_and_missing(tmp_path):
    with pytest.raises(CheckpointError, match="no such run folder"):
        Trainer.resume(tmp_path / "nope", toy_data(), model=gauss())
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        Trainer.resume(tmp_path / "empty", toy_data(), model=gauss())
    t = Trainer(gauss(), toy_data(), TrainConfig(steps=2, **BASE), out_dir=tmp_path / "r")
    t.fit()
    f = tmp_path / "r" / "checkpoints" / "step_00000002" / "state.safetensors"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt"):
        Trainer.resume(tmp_path / "r", toy_data(), model=gauss())
    with pytest.raises(DataError, match="same data"):
        t2 = Trainer(gauss(), toy_data(), TrainConfig(steps=2, **BASE), out_dir=tmp_path / "s")
        t2.fit()
        Trainer.resume(tmp_path / "s", toy_data(30), model=gauss())


def test_keep_last(tmp_path):
    t = Trainer(gauss(), toy_data(), TrainConfig(steps=20, ckpt_every=2, keep_last=3, **BASE), out_dir=tmp_path)
    t.fit()
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [16, 18, 20]
    for name in ("metrics.jsonl", "loss.png", "samples/step_000020.png", "model/model.safetensors"):
        assert (tmp_path / name).is_file(), name


def test_nan_stops_with_step_player_part_and_no_nan_checkpoint(tmp_path):
    t = Trainer(gauss(nan_at=3), toy_data(), TrainConfig(steps=10, ckpt_every=1, **BASE), out_dir=tmp_path)
    with pytest.raises(DivergenceError, match=r'step 3: player "model", loss part "nll"'):
        t.fit()
    steps = [s for s, _ in list_checkpoints(tmp_path / "checkpoints")]
    assert steps[-1] == 3
    for _, p in list_checkpoints(tmp_path / "checkpoints"):
        tensors, _ = load_checkpoint(p)
        assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    # the refusal to checkpoint non-finite weights
    with torch.no_grad():
        t.model.mu.fill_(float("inf"))
    with pytest.raises(DivergenceError, match="non-finite weights"):
        t.save_checkpoint()


def test_nan_gradient_is_named(tmp_path):
    m = gauss()
    m.log_sigma.register_hook(lambda g: g * float("nan"))
    with pytest.raises(DivergenceError, match=r'non-finite gradient at step 0: player "model"'):
        Trainer(m, toy_data(), TrainConfig(steps=3, **BASE)).fit()


def test_rollback_recovers_and_lowers_lr(tmp_path, capsys):
    cfg = TrainConfig(steps=10, ckpt_every=2, on_nan="rollback", rollback_lr_factor=0.5, lr=0.01, log_every=1,
                      **BASE)
    t = Trainer(gauss(nan_at=5), toy_data(), cfg, out_dir=tmp_path)
    t.fit()
    assert t.step == 10 and t.rollbacks == 1
    assert t.schedulers["model"].get_lr() == pytest.approx(0.005)
    assert t.history[-1]["lr/model"] == pytest.approx(0.005)
    assert "rolled back to step 4" in capsys.readouterr().err
    t2 = Trainer(gauss(nan_at=5, nan_always=True), toy_data(), dict(cfg.to_dict(), max_rollbacks=2),
                 out_dir=tmp_path / "b")
    with pytest.raises(DivergenceError, match="max_rollbacks"):
        t2.fit()
    assert t2.rollbacks == 2


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_by_name(name):
    t = Trainer(gauss(), toy_data(), TrainConfig(steps=3, optimizer=name, lr=0.05, nesterov=True, **BASE))
    before = t.model.mu.detach().clone()
    t.fit()
    expected = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[name]
    assert type(t.optimizers["model"]).__name__ == expected
    assert not torch.equal(before, t.model.mu.detach())
    if name == "sgd":
        assert t.optimizers["model"].param_groups[0]["nesterov"] is True


def test_unknown_names_suggest_nearest():
    with pytest.raises(UnknownNameError, match='unknown optimizer "adma".*Did you mean "adam"'):
        TrainConfig(optimizer="adma")
    with pytest.raises(UnknownNameError, match='Did you mean "cosine"'):
        TrainConfig(schedule="cosin")
    with pytest.raises(ConfigError, match='unknown key "lrr".*Did you mean "lr"'):
        Trainer(gauss(), toy_data(), {"lrr": 1.0})
    with pytest.raises(ConfigError, match='unknown player "discriminatr"'):
        Trainer(ToyGAN(ModelConfig()), toy_data(), TrainConfig(optim={"discriminatr": {"lr": 1.0}}, **BASE))
    with pytest.raises(ConfigError, match="expected int"):
        Trainer(gauss(), toy_data(), {"steps": "many"})


def test_schedules_closed_form():
    T, W, m = 100, 10, 0.1
    for s in (0, 5, 9):
        assert lr_factor(s, T, "cosine", W, m) == pytest.approx((s + 1) / W)
    for s in (10, 37, 60, 99, 100):
        t = (s - W) / (T - W)
        assert lr_factor(s, T, "cosine", W, m) == pytest.approx(m + (1 - m) * 0.5 * (1 + math.cos(math.pi * t)))
        assert lr_factor(s, T, "linear", W, m) == pytest.approx(m + (1 - m) * (1 - t))
        assert lr_factor(s, T, "constant", W, m) == 1.0
    # through the trainer: the lr logged at step s is the one used for update s - 1
    cfg = TrainConfig(steps=12, lr=0.1, schedule="cosine", warmup_steps=4, log_every=1, **BASE)
    t = Trainer(gauss(), toy_data(), cfg)
    hist = t.fit()
    for h in hist:
        assert h["lr/model"] == pytest.approx(0.1 * lr_factor(h["step"] - 1, 12, "cosine", 4))


def test_clip_by_norm_and_value():
    seen = []
    t = Trainer(gauss(scale=1e4), toy_data(), TrainConfig(steps=4, clip_norm=0.5, **BASE))
    opt = t.optimizers["model"]
    step = opt.step

    def spy(*a, **k):
        seen.append(float(torch.nn.utils.get_total_norm([p.grad for p in t.players["model"]])))
        return step(*a, **k)

    opt.step = spy
    hist = t.fit()
    assert seen and max(seen) <= 0.5 + 1e-5
    assert hist[-1]["grad_norm/model"] > 0.5  # the logged norm is before clipping
    vals = []
    t = Trainer(gauss(scale=1e4), toy_data(), TrainConfig(steps=2, clip_value=0.01, **BASE))
    step2 = t.optimizers["model"].step

    def spy2(*a, **k):
        vals.append(max(float(p.grad.abs().max()) for p in t.players["model"]))
        return step2(*a, **k)

    t.optimizers["model"].step = spy2
    t.fit()
    assert max(vals) <= 0.01 + 1e-9


def test_ema_matches_hand_computation():
    decay = 0.8
    params = []
    t = Trainer(gauss(), toy_data(), TrainConfig(steps=6, optimizer="sgd", lr=0.1, ema_decay=decay, log_every=1,
                                                 **BASE),
                callbacks=[lambda tr, rec: params.append(tr.model.mu.detach().clone())])
    ema = t.model.mu.detach().clone()
    t.fit()
    for p in params:
        ema = decay * ema + (1 - decay) * p
    assert torch.allclose(t.ema.shadow["mu"], ema, atol=1e-6)
    assert torch.equal(t.ema.shadow["seen"], t.model.seen)  # buffers are copied
    with t.eval_weights() as m:
        assert torch.equal(m.mu, t.ema.shadow["mu"])
    assert torch.equal(t.model.mu.detach(), params[-1])


def test_grad_accumulation_equals_full_batch():
    res = []
    for accum in (1, 2):
        t = Trainer(gauss(noise=0.0), toy_data(), TrainConfig(steps=5, optimizer="sgd", lr=0.05, grad_accum=accum,
                                                              **BASE))
        t.fit()
        res.append((t.model.mu.detach().clone(), t.model.log_sigma.detach().clone()))
    assert torch.allclose(res[0][0], res[1][0], atol=1e-6) and torch.allclose(res[0][1], res[1][1], atol=1e-6)
    with pytest.raises(ConfigError, match="multiple of grad_accum"):
        TrainConfig(batch_size=7, grad_accum=2)


def test_two_player_update_order_and_per_player_optim():
    m = ToyGAN(ModelConfig(data_shape=(2,)))
    t = Trainer(m, toy_data(), TrainConfig(steps=3, optim={"discriminator": {"lr": 4e-3}}, lr=1e-3, **BASE))
    t.fit()
    assert m.calls == [(s, p) for s in range(3) for p in ("discriminator", "discriminator", "generator")]
    assert t.optimizers["discriminator"].param_groups[0]["lr"] == pytest.approx(4e-3)
    assert t.optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-3)
    rec = t.history[-1]
    assert {"discriminator/loss", "discriminator/d_real", "generator/loss", "grad_norm/generator"} <= set(rec)


def test_train_defaults_apply_under_user_settings():
    class Defaults(Gauss):
        train_defaults = {"lr": 0.5, "optimizer": "sgd", "momentum": 0.0, "optim": {"model": {"eps": 1e-5}}}

    m = Defaults(GaussConfig())
    t = Trainer(m, toy_data(), TrainConfig(steps=1, **BASE))
    assert t.config.lr == 0.5 and t.config.optimizer == "sgd"
    t = Trainer(m, toy_data(), TrainConfig(steps=1, lr=0.1, optim={"model": {"momentum": 0.5}}, **BASE))
    g = t.optimizers["model"].param_groups[0]
    assert t.config.lr == 0.1 and t.config.optimizer == "sgd" and g["momentum"] == 0.5
    t = Trainer(m, toy_data(), {"steps": 1, "lr": 1e-3, **BASE})
    assert t.config.lr == 1e-3  # explicitly set to the dataclass default: still the user's value


def test_data_inputs_and_drop_last():
    x = toy_data(10)

    class DS:
        def __init__(self):
            self.x, self.y, self.kind, self.meta, self.name = x, torch.zeros(10, dtype=torch.long), "points", {}, "ds"

    for data in (x, (x, None), DS()):
        t = Trainer(gauss(), data, TrainConfig(steps=3, batch_size=4, progress=False, device="cpu"))
        assert t.order.per_epoch == 2
        seen = torch.cat([t.order.indices(i) for i in range(2)])
        assert len(set(seen.tolist())) == 8
        assert all(len(t.batch(i)) == 4 for i in range(5))
        assert t.batch(0).y is None  # unconditional model: no labels passed
    with pytest.raises(DataError, match=r"does not fit the model.*shape \(N, 2\)"):
        Trainer(gauss(), torch.zeros(10, 3), TrainConfig(steps=1, **BASE))
    with pytest.raises(DataError, match="fewer than batch_size"):
        Trainer(gauss(), torch.zeros(3, 2), TrainConfig(steps=1, **BASE))


def test_eval_metrics_bf16_and_deterministic(tmp_path):
    from genzoo.eval.likelihood import evaluate_likelihood

    test = toy_data(40, seed=1)
    cfg = TrainConfig(steps=4, eval_every=2, eval_batches=2, precision="bf16", deterministic=True, **BASE)
    t = Trainer(gauss(), toy_data(), cfg, eval_data=test, out_dir=tmp_path)
    hist = t.fit()
    assert not torch.are_deterministic_algorithms_enabled()  # restored after fit
    ev = [h for h in hist if "eval/nll" in h]
    assert [h["step"] for h in ev] == [2, 4]
    r = evaluate_likelihood(t.model, test[:16], batch_size=8)
    assert ev[-1]["eval/nll"] == pytest.approx(r["nll"], rel=1e-5)
    assert "eval/model/nll" in ev[-1]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(hist) and all("step" in json.loads(x) for x in lines)
    # the NLL part of an evaluation uses the first eval_nll_examples held-out examples (the loss parts all batches)
    t.config.eval_nll_examples = 5
    assert t.evaluate()["eval/nll"] == pytest.approx(evaluate_likelihood(t.model, test[:5], batch_size=8)["nll"],
                                                     rel=1e-5)
    assert t.evaluate()["eval/nll"] != pytest.approx(r["nll"], rel=1e-5)


def test_sample_grid_for_images(tmp_path):
    x = torch.rand(16, 1, 4, 4)
    m = Gauss(GaussConfig(data_shape=(1, 4, 4)))
    t = Trainer(m, x, TrainConfig(steps=2, sample_every=1, n_samples=9, **BASE), out_dir=tmp_path)
    t.fit()
    assert (tmp_path / "samples" / "step_000001.png").is_file()
    assert (tmp_path / "samples" / "step_000002.png").is_file()


def test_decay_exempt_groups_biases_norms_and_embeddings():
    """decay_exempt: only the weight matrices of Linear / Conv layers are decayed (the GPT-2 grouping)."""
    from torch import nn

    from genzoo.train.optim import build_optimizer, decay_exempt_params

    net = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Conv1d(4, 4, 3))
    exempt = decay_exempt_params(net)
    names = {n for n, p in net.named_parameters() if id(p) in exempt}
    assert names == {"0.weight", "1.bias", "2.weight", "2.bias", "3.bias"}
    settings = {"optimizer": "adamw", "lr": 1.0, "weight_decay": 0.5, "eps": 1e-8, "betas": (0.9, 0.99)}
    opt = build_optimizer(net.parameters(), settings, exempt)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.5, 0.0]
    assert {id(p) for p in opt.param_groups[1]["params"]} == exempt
    # decoupled decay with a zero gradient: decayed weights shrink by lr * wd, exempt ones do not move
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in net.named_parameters():
        factor = 1.0 if n in names else 0.5
        assert torch.allclose(p.detach(), before[n] * factor), n

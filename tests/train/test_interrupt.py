"""Nothing lost: SIGINT / SIGTERM save the run and resuming equals not stopping; a second signal aborts without
harming the last checkpoint; a divergence keeps the last finite state; files follow the umask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from train_toys import Gauss, GaussConfig, toy_data

from genzoo.errors import DivergenceError, TrainingInterrupted
from genzoo.io import atomic_write_bytes
from genzoo.train import TrainConfig, Trainer, list_checkpoints, load_checkpoint
from genzoo.train import checkpoint as ckpt_mod

BASE = dict(batch_size=8, progress=False, device="cpu", seed=3)
# EMA, a warm-up + cosine schedule and a log interval the interrupt falls inside: all of it must survive
RICH = dict(BASE, steps=14, log_every=3, ema_decay=0.9, schedule="cosine", warmup_steps=3)


def gauss(**kw):
    torch.manual_seed(1)
    return Gauss(GaussConfig(data_shape=(2,), **kw))


class SignalAt(Gauss):
    """Gauss that sends itself `sig` while step `at` runs (from on_step_end: mid-step, before log/checkpoint)."""

    def __init__(self, config, at, sig=signal.SIGINT, times=1):
        super().__init__(config)
        self.at, self.sig, self.times = at, sig, times

    def on_step_end(self, step):
        super().on_step_end(step)
        if step + 1 == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), self.sig)


def signal_at(at, **kw):
    torch.manual_seed(1)
    return SignalAt(GaussConfig(data_shape=(2,)), at, **kw)


def strip_time(history):
    return [{k: v for k, v in h.items() if k != "time"} for h in history]


def assert_same_state(a: Trainer, b: Trainer):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for n in sa:
        assert torch.equal(sa[n], sb[n]), n
    for k in a.ema.shadow:
        assert torch.equal(a.ema.shadow[k], b.ema.shadow[k]), k
    oa, ob = a.optimizers["model"].state_dict(), b.optimizers["model"].state_dict()
    assert oa["param_groups"] == ob["param_groups"]
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.equal(v, ob["state"][i][k]), (i, k)
    assert strip_time(a.history) == strip_time(b.history)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_then_resume_equals_not_stopping(tmp_path, sig):
    straight = Trainer(gauss(), toy_data(), TrainConfig(**RICH), out_dir=tmp_path / "a")
    straight.fit()
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    t = Trainer(signal_at(5, sig=sig), toy_data(), TrainConfig(**RICH), out_dir=tmp_path / "b")
    with pytest.raises(TrainingInterrupted, match="interrupted by SIG.* at step 5 of 14; checkpoint") as e:
        t.fit()
    assert e.value.signum == sig and e.value.step == 5 and t.step == 5
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored
    assert e.value.checkpoint == tmp_path / "b" / "checkpoints" / "step_00000005"
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [5]
    assert not (tmp_path / "b" / "model").exists()  # not finished: no final model
    resumed = Trainer.resume(tmp_path / "b", toy_data(), model=gauss())
    assert resumed.step == 5
    resumed.fit()
    assert_same_state(straight, resumed)
    lines = [(tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("a", "b")]
    assert strip_time(map(json.loads, lines[0])) == strip_time(map(json.loads, lines[1]))


def test_interrupt_on_a_checkpoint_step_writes_it_once(tmp_path, monkeypatch):
    calls = []
    real = ckpt_mod.save_checkpoint
    monkeypatch.setattr(ckpt_mod, "save_checkpoint", lambda d, step, *a, **k: calls.append(step) or real(d, step, *a,
                                                                                                         **k))
    t = Trainer(signal_at(4), toy_data(), TrainConfig(**dict(RICH, ckpt_every=2)), out_dir=tmp_path)
    with pytest.raises(TrainingInterrupted) as e:
        t.fit()
    assert calls == [2, 4] and e.value.checkpoint == tmp_path / "checkpoints" / "step_00000004"


def test_interrupt_without_a_run_folder_stops_and_raises():
    t = Trainer(signal_at(2, sig=signal.SIGTERM), toy_data(), TrainConfig(**RICH))
    with pytest.raises(TrainingInterrupted, match="nothing saved") as e:
        t.fit()
    assert e.value.signum == signal.SIGTERM and t.step == 2 and e.value.checkpoint is None


def test_ignored_signal_stays_ignored_and_threads_install_nothing(tmp_path):
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. SIGINT of a background job
    try:
        t = Trainer(signal_at(2), toy_data(), TrainConfig(**dict(RICH, steps=4)))
        t.fit()
        assert t.step == 4 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
    seen, t = [], Trainer(gauss(), toy_data(), TrainConfig(**dict(RICH, steps=3)))
    th = threading.Thread(target=lambda: seen.append(t.fit()))
    th.start()
    th.join()
    assert seen and t.step == 3 and signal.getsignal(signal.SIGINT) is old


def test_second_signal_aborts_at_once_and_keeps_the_last_checkpoint(tmp_path):
    t = Trainer(signal_at(5, times=2), toy_data(), TrainConfig(**dict(RICH, ckpt_every=2)), out_dir=tmp_path)
    with pytest.raises(TrainingInterrupted, match="aborted by a second SIGINT after 4 of 14 steps") as e:
        t.fit()
    assert e.value.checkpoint == tmp_path / "checkpoints" / "step_00000004"
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 4]  # nothing written after the abort
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    tensors, meta = load_checkpoint(e.value.checkpoint)
    assert meta["step"] == 4
    r = Trainer.resume(tmp_path, toy_data(), model=gauss())
    assert r.step == 4
    r.fit()
    assert r.step == 14


def test_second_signal_during_the_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    real = ckpt_mod.atomic_write_bytes

    def abort_mid_write(path, data):  # the JSON of the interrupt checkpoint: the tensors are already written
        if "step_00000005" in str(path):
            os.kill(os.getpid(), signal.SIGINT)
        return real(path, data)

    monkeypatch.setattr(ckpt_mod, "atomic_write_bytes", abort_mid_write)
    t = Trainer(signal_at(5), toy_data(), TrainConfig(**dict(RICH, ckpt_every=2)), out_dir=tmp_path)
    with pytest.raises(TrainingInterrupted, match="aborted.*last checkpoint .*step_00000004"):
        t.fit()
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 4]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    assert load_checkpoint(tmp_path / "checkpoints" / "step_00000004")[1]["step"] == 4


def test_abort_while_replacing_or_pruning_checkpoints_loses_none(tmp_path, monkeypatch):
    d = tmp_path / "checkpoints"
    x = {"w": torch.ones(3)}
    for step in (1, 2):
        ckpt_mod.save_checkpoint(d, step, x, {"n": step})
    real_replace, real_rmtree = os.replace, ckpt_mod.shutil.rmtree

    def replace(src, dst):  # interrupted between moving the old step_2 aside and moving the new one in
        if Path(src).name.startswith(".tmp-step_"):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.save_checkpoint(d, 2, {"w": torch.zeros(3)}, {"n": 22})
    monkeypatch.setattr(ckpt_mod.os, "replace", real_replace)
    assert load_checkpoint(d / "step_00000002")[1]["n"] == 2  # the old one is back

    def rmtree(path, ignore_errors=False):  # interrupted while deleting the oldest (keep_last)
        if "step_00000001" in str(path):
            (Path(path) / ckpt_mod.TENSORS).unlink()
            raise KeyboardInterrupt
        return real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(ckpt_mod.shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.save_checkpoint(d, 3, x, {"n": 3}, keep_last=2)
    monkeypatch.setattr(ckpt_mod.shutil, "rmtree", real_rmtree)
    assert [s for s, _ in list_checkpoints(d)] == [2, 3]  # no half-deleted step_1 that looks complete
    for _, p in list_checkpoints(d):
        load_checkpoint(p)


def test_divergence_keeps_the_last_finite_state(tmp_path):
    clean = Trainer(gauss(), toy_data(), TrainConfig(**dict(RICH, steps=3)))
    clean.fit()
    t = Trainer(gauss(nan_at=3), toy_data(), TrainConfig(**RICH), out_dir=tmp_path)
    with pytest.raises(DivergenceError, match=r"step 3: .*; last finite state kept in .*diverged/step_00000003"):
        t.fit()
    (step, path), = list_checkpoints(tmp_path / "diverged")
    assert step == 3
    tensors, meta = load_checkpoint(path)
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    assert "non-finite loss at step 3" in meta["diverged"]
    # checked before optimizer.step(): the weights and the optimizer state are those after 3 clean steps
    for k in ("mu", "log_sigma"):
        assert torch.equal(tensors[f"model/{k}"], clean.model.state_dict()[k]), k
        assert torch.equal(tensors[f"ema/{k}"], clean.ema.shadow[k]), k
    for k, v in clean.optimizers["model"].state_dict()["state"][0].items():
        assert torch.equal(tensors[f"optim/model/0/{k}"], v), k
    assert not list_checkpoints(tmp_path / "checkpoints")  # --resume is not pointed at it
    r = Trainer.resume(tmp_path, toy_data(), model=gauss(), checkpoint=path)
    assert r.step == 3


def test_divergence_with_non_finite_weights_names_the_last_checkpoint(tmp_path):
    def poison(trainer, rec):
        if trainer.step == 3:
            with torch.no_grad():
                trainer.model.mu.fill_(float("inf"))

    t = Trainer(gauss(), toy_data(), TrainConfig(**dict(RICH, log_every=1, ckpt_every=2)), out_dir=tmp_path,
                callbacks=[poison])
    with pytest.raises(DivergenceError, match=r"not finite \(not saved\); last checkpoint .*step_00000002"):
        t.fit()
    assert not (tmp_path / "diverged").exists()
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [2]


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_and_folders_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "new" / "f.json", b"{}")
        atomic_write_bytes(tmp_path / "new" / "f.json", b"{}")  # replacing a file too
        ckpt_mod.save_checkpoint(tmp_path / "ck", 1, {"w": torch.ones(2)}, {})
    finally:
        os.umask(old)
    assert (tmp_path / "new" / "f.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o777 & ~mask
    c = tmp_path / "ck" / "step_00000001"
    assert c.stat().st_mode & 0o777 == 0o777 & ~mask
    assert {f.stat().st_mode & 0o777 for f in c.iterdir()} == {mode}
    assert sorted(os.listdir(tmp_path / "new")) == ["f.json"]  # no temp file left


# ---- the command, in a real subprocess ------------------------------------------------------------------------
CMD = [sys.executable, "-m", "genzoo", "train"]
TINY = ["realnvp", "--data", "ring8", "--steps", "100000", "--no-progress", "--set", "model.n_blocks=2",
        "--set", "train.batch_size=16"]


def _wait_for_progress(run: Path, proc, timeout=300.0):  # generous: a loaded CI machine starts torch slowly
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = run / "metrics.jsonl"
        if m.is_file() and m.read_text().count("\n") >= 1:
            return
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        time.sleep(0.05)
    raise AssertionError("no progress")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_signal_saves_and_resumes(tmp_path, sig, code):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(CMD + TINY + ["--out", str(run)], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_progress(run, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:  # a failed wait must not leave a 100,000-step run behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    (step, path), = list_checkpoints(run / "checkpoints")
    assert step >= 10
    name = signal.Signals(sig).name
    assert f"genzoo train: interrupted by {name} at step {step} of 100000; checkpoint {path}; resume with: " \
           f"genzoo train --resume --out {run}\n" in err
    if sig == signal.SIGTERM:  # resuming is the same for both; once is enough
        return
    before = (run / "metrics.jsonl").read_text()
    r = subprocess.run(CMD + ["--resume", "--out", str(run), "--steps", str(step + 3), "--no-progress"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"resuming realnvp at step {step} of {step + 3}" in r.stderr
    after = (run / "metrics.jsonl").read_text()
    assert after.startswith(before)  # the records up to the interrupt are kept, then it goes on from there
    steps = [rec["step"] for rec in map(json.loads, after.splitlines()) if not any(k.startswith("eval/") for k in rec)]
    assert steps == sorted(set(steps)) and steps[-1] == step + 3

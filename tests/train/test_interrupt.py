"""Nothing lost: SIGINT / SIGTERM save the run and resuming equals not stopping; a divergence keeps the last finite
state; files follow the umask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_toys import Gauss, GaussConfig, toy_data

from genzoo.errors import DivergenceError, TrainingInterrupted
from genzoo.io import atomic_write_bytes
from genzoo.train import TrainConfig, Trainer, list_checkpoints, load_checkpoint

BASE = dict(batch_size=8, progress=False, device="cpu", seed=3, log_every=1)


def gauss(**kw):
    torch.manual_seed(1)
    return Gauss(GaussConfig(data_shape=(2,), **kw))


def test_interrupt_then_resume_equals_not_stopping(tmp_path):
    straight = Trainer(gauss(), toy_data(), TrainConfig(steps=12, **BASE), out_dir=tmp_path / "a")
    straight.fit()

    def kill_at_5(trainer, rec):
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    t = Trainer(gauss(), toy_data(), TrainConfig(steps=12, **BASE), out_dir=tmp_path / "b", callbacks=[kill_at_5])
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as e:
        t.fit()
    assert e.value.signum == signal.SIGINT and e.value.step == 5 and "--resume --out" in str(e.value)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "checkpoints")] == [5]
    resumed = Trainer.resume(tmp_path / "b", toy_data(), model=gauss())
    resumed.fit()
    for (n, p), (_, q) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(p, q), n
    strip = lambda h: [{k: v for k, v in r.items() if k != "time"} for r in h]
    assert strip(straight.history) == strip(resumed.history)


def test_interrupt_without_a_run_folder_stops_and_raises():
    def kill(trainer, rec):
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    t = Trainer(gauss(), toy_data(), TrainConfig(steps=10, **BASE), callbacks=[kill])
    with pytest.raises(TrainingInterrupted, match="nothing saved") as e:
        t.fit()
    assert e.value.signum == signal.SIGTERM and t.step == 2 and e.value.checkpoint is None


def test_divergence_keeps_the_last_finite_state(tmp_path):
    t = Trainer(gauss(nan_at=3), toy_data(), TrainConfig(steps=10, **BASE), out_dir=tmp_path)
    with pytest.raises(DivergenceError, match="last finite state kept in"):
        t.fit()
    (step, path), = list_checkpoints(tmp_path / "diverged")
    assert step == 3
    tensors, meta = load_checkpoint(path)
    assert all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    assert not (tmp_path / "checkpoints").exists() or not list_checkpoints(tmp_path / "checkpoints")


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic_write_bytes(tmp_path / "f.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == mode


def _wait_for_progress(run: Path, proc, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = run / "metrics.jsonl"
        if m.is_file() and m.read_text().count("\n") >= 1:
            return
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        time.sleep(0.1)
    raise AssertionError("no progress")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_signal_saves_and_resumes(tmp_path, sig, code):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "genzoo", "train", "realnvp", "--data", "ring8", "--steps", "100000", "--out",
           str(run), "--no-progress", "--set", "model.n_blocks=2", "--set", "train.batch_size=16"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _wait_for_progress(run, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and f"genzoo train --resume --out {run}" in err
    (step, _), = list_checkpoints(run / "checkpoints")
    assert step >= 10
    r = subprocess.run([sys.executable, "-m", "genzoo", "train", "--resume", "--out", str(run), "--steps",
                        str(step + 3), "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(rec.get("step", 0) for rec in last) == step + 3


def test_second_signal_aborts_at_once_and_keeps_the_last_checkpoint(tmp_path):
    def kill_twice(trainer, rec):
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    t = Trainer(gauss(), toy_data(), TrainConfig(steps=12, ckpt_every=2, **BASE), out_dir=tmp_path,
                callbacks=[kill_twice])
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    (step, path), *_ = reversed(list_checkpoints(tmp_path / "checkpoints"))
    assert step == 4  # nothing written after the abort
    tensors, meta = load_checkpoint(path)
    assert meta["step"] == 4 and all(torch.isfinite(v).all() for v in tensors.values() if v.is_floating_point())
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    Trainer.resume(tmp_path, toy_data(), model=gauss()).fit()

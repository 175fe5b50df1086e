"""`Trainer`: one training loop for every family, through the model contract only (see docs/training.md).

    for step in range(start, steps):                         # step = 0-based index of the update
        batch = batches[step]                                 # seeded permutation per epoch, last partial dropped
        for player in model.update_order(step):
            zero all grads; for each of grad_accum micro-batches: out = model.loss(micro, player) (+ l1 term)
            check every part finite; (out["loss"] / grad_accum).backward()
            check the gradient finite; clip; optimizers[player].step()
        model.on_step_end(step); schedulers step; ema.update(model)
        log / evaluate / sample / checkpoint at their intervals (counted in completed steps)
        after a SIGINT / SIGTERM: checkpoint, raise TrainingInterrupted (train/signals.py); after a divergence: the
        last finite state to RUN/diverged/step_K/

Under torchrun (WORLD_SIZE > 1, train/distributed.py) every process takes its slice of each batch, the loss parts
and every player's gradients are averaged over the processes before the checks and the optimizer step, buffers are
broadcast from rank 0 after every step, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DivergenceError,
    GenzooError,
    TrainingInterrupted,
    suggest,
)
from genzoo.io import atomic_write_bytes
from genzoo.models.base import Batch, GenerativeModel
from genzoo.train import checkpoint as ckpt
from genzoo.train import distributed as ddp
from genzoo.train import fsdp
from genzoo.train.config import TrainConfig, apply_defaults, make_train_config
from genzoo.train.data import BatchOrder, Data, Prefetch, as_data, as_windows
from genzoo.train.optim import EMA, Scheduler, build_optimizer, decay_exempt_params
from genzoo.train.signals import Abort, StopFlag, signal_name, stop_on_signals


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and python's `random`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device named by `train.device`; under torchrun (`local_rank` given) "auto" / "cuda" mean the process's
    own GPU, cuda:LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"train config.device: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f'train config.device = "{name}" but CUDA is not available; use "cpu" or "auto"')
    if dev.type == "cuda" and dev.index is None and local_rank is not None:
        dev = torch.device("cuda", local_rank)
    return dev


def micro_seed(seed: int, step: int, update: int, micro: int) -> int:
    """The seed of micro-batch `micro` (counted over every process) of player update `update` (its place in
    `update_order(step)`, from 1; 0 for `on_step_end`) of step `step`: numpy's SeedSequence of the four numbers,
    as a 63-bit integer. A run's random draws are then a function of the run, not of how many processes share it."""
    a, b = np.random.SeedSequence([int(seed), int(step), int(update), int(micro)]).generate_state(2, np.uint32)
    return (int(a) << 31) | (int(b) >> 1)


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with seeded RNGs and restore torch/numpy/python RNG states afterwards, so side work
    (sampling, evaluation) never changes what training draws."""
    devices = [device] if device is not None and device.type == "cuda" else []
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _scalar(v: Any) -> Tensor:
    t = v if isinstance(v, Tensor) else torch.as_tensor(v)
    return t.detach().float().mean()


class Trainer:
    """Train any `GenerativeModel` (see the module docstring and docs/training.md).

    `train_data`: an ArrayDataset (anything with .x and .y), a Tensor, or an (x, y) tuple. `config`: a
    TrainConfig or a mapping; keyword overrides are applied on top; the model's `train_defaults` fill every
    field the user did not set. `out_dir`: the run folder (metrics.jsonl, checkpoints/, samples/, loss.png,
    model/); None trains in memory only. `callbacks`: functions `f(trainer, record)` called at every log step.
    """

    def __init__(self, model: GenerativeModel, train_data: Any, config: TrainConfig | dict | None = None,
                 out_dir: str | os.PathLike | None = None, eval_data: Any = None,
                 callbacks: list[Callable[[Trainer, dict], None]] | None = None, **overrides: Any):
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "loss"):
            raise ConfigError(f"Trainer expects a GenerativeModel, got {type(model).__name__}")
        name = getattr(model, "name", "") or type(model).__name__
        cfg = make_train_config(config, **overrides)
        self.config: TrainConfig = apply_defaults(cfg, getattr(type(model), "train_defaults", None), where=name)
        cfg = self.config
        self.model = model
        shape = tuple(getattr(getattr(model, "config", None), "data_shape", ()) or ())
        # a text stream becomes windows of the model's context: every offset to train on, tiles to evaluate on
        self.data: Data = as_windows(as_data(train_data, "training data"), shape, stride=1)
        self.eval_data: Data | None = None if eval_data is None else as_windows(
            as_data(eval_data, "evaluation data"), shape)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.callbacks = list(callbacks or [])
        self.device = resolve_device(cfg.device, ddp.local_rank() if ddp.env_world() > 1 else None)
        self.dist: ddp.Dist = ddp.setup(self.device)
        if cfg.batch_size % (self.dist.world * cfg.grad_accum):
            raise ConfigError(f"train config.batch_size ({cfg.batch_size}) must be a multiple of the number of "
                              f"processes ({self.dist.world}) x grad_accum ({cfg.grad_accum})")
        if self.dist.enabled and not cfg.micro_seeds:  # random draws by micro-batch, not by process (micro_seed)
            self.config = cfg = make_train_config(cfg, micro_seeds=True)
        self.model.to(self.device)
        if cfg.channels_last:  # 4-D weights (conv kernels) NHWC in memory; shapes and state_dict keys unchanged.
            # Batches keep their layout: the first convolution returns NHWC (its weight is), so the network runs
            # in NHWC, while random draws shaped like a batch (dequantisation, binarisation, diffusion noise:
            # randn_like fills in memory order) stay the numbers of the default path.
            self.model.to(memory_format=torch.channels_last)
        ddp.broadcast_module(self.model, self.dist)  # every rank starts from rank 0's weights and buffers
        self._plain = fsdp.setup(self.model, cfg.fsdp, self.dist)  # the class before sharding; None: not sharded
        self.conditional = int(getattr(getattr(model, "config", None), "num_classes", 0) or 0) > 0
        if self.conditional and self.data.y is None:
            raise DataError(f"{name} is conditional (num_classes = {model.config.num_classes}) but the training "
                            "data has no labels")
        self._check_data(self.data, "training data")
        if self.eval_data is not None:
            self._check_data(self.eval_data, "evaluation data")
        if cfg.on_nan == "rollback" and self.out_dir is None:
            raise ConfigError('train config.on_nan = "rollback" needs a run folder (out_dir) for its checkpoints')
        self.autocast_dtype = self._autocast_dtype()
        seed_everything(cfg.seed)

        self.players: dict[str, list[torch.nn.Parameter]] = {p: list(ps) for p, ps in model.players().items()}
        if not self.players:
            raise ConfigError(f"{name}: players() returned no parameter groups")
        for p in cfg.optim:
            if p not in self.players:
                raise ConfigError(f'train config.optim: unknown player "{p}".{suggest(p, self.players)} '
                                  f"Players of {name}: {', '.join(self.players)}")
        self._noted: set[str] = set()  # fast paths whose "not available" note was printed
        exempt = decay_exempt_params(model) if cfg.decay_exempt else None
        self.settings = {p: cfg.player(p) for p in self.players}  # each player's effective optimisation settings
        self.optimizers = {p: self._build_optimizer(ps, self.settings[p], exempt) for p, ps in self.players.items()}
        self._params = list(model.parameters())  # every parameter, for zeroing gradients without a module walk
        self.schedulers = {p: Scheduler(o, cfg.steps, cfg.schedule, cfg.warmup_steps, cfg.min_lr_factor)
                           for p, o in self.optimizers.items()}
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay is not None else None
        self.order = BatchOrder(len(self.data), cfg.batch_size, cfg.seed)

        self.step = 0  # completed steps
        self.history: list[dict[str, Any]] = []
        self.rollbacks = 0
        self.elapsed = 0.0
        self._acc: dict[str, list[float]] = {}  # since the last log: key -> [sum, count, last value]
        self._last_ckpt_step: int | None = None
        self._synced = False  # parameters broadcast after the first step of this process
        self._prefetch: Prefetch | None = None  # batches read ahead by DataLoader workers (num_workers > 0)
        self._prefetch_end = 0
        self.last_loss: float | None = None
        self._compiled = self._compile() if cfg.compile else None  # the compiled model.loss, None: eager
        if cfg.cudnn_benchmark and self.device.type != "cuda" and self.is_main:
            print(f"genzoo: cudnn_benchmark applies to CUDA only; ignored on {self.device.type}", file=sys.stderr)

    # ---- construction helpers ------------------------------------------------------------------------
    def _check_data(self, data: Data, what: str) -> None:
        n = min(2, len(data))
        if n == 0:
            raise DataError(f"{what} is empty")
        y = data.y[:n].to(self.device) if (self.conditional and data.y is not None) else None
        try:
            self.model.check_input(data.x[:n].to(self.device), y)
        except DataError as e:
            raise DataError(f"{what} ({data.name}) does not fit the model: {e}") from None

    def _autocast_dtype(self) -> torch.dtype | None:
        if self.config.precision != "bf16":
            return None
        if self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            print("genzoo: bf16 is not supported on this GPU; training in fp32", file=sys.stderr)
            return None
        if self.device.type not in ("cpu", "cuda"):
            print(f"genzoo: bf16 autocast is not supported on {self.device.type}; training in fp32", file=sys.stderr)
            return None
        return torch.bfloat16

    def _build_optimizer(self, params, settings: dict[str, Any], exempt) -> torch.optim.Optimizer:
        """`build_optimizer` with the config's kernel (fused / foreach); torch's default one, with a note, where
        the optimizer or the device lacks it."""
        kernel = "fused" if self.config.fused else "foreach" if self.config.foreach else None
        if kernel is None:
            return build_optimizer(params, settings, exempt)
        try:
            return build_optimizer(params, settings, exempt, kernel=kernel)
        except (RuntimeError, ValueError, TypeError) as e:
            if self.is_main and kernel not in self._noted:
                self._noted.add(kernel)
                print(f"genzoo: no {kernel} {settings['optimizer']} on {self.device.type} ({str(e).splitlines()[0]});"
                      " using the default implementation", file=sys.stderr)
            return build_optimizer(params, settings, exempt)

    def _compile(self) -> Callable | None:
        """torch.compile of `model.loss`, or None (eager) with a note where the platform lacks it. Random draws
        inside the compiled loss use torch's eager generator (inductor's `fallback_random`), so a compiled run
        draws the same numbers as an eager one and resumes bit-exactly in the same mode."""
        try:
            import torch._dynamo

            if not torch._dynamo.is_dynamo_supported():
                raise RuntimeError("torch.compile is not supported on this platform")
            return torch.compile(self.model.loss, options={"fallback_random": True})
        except Exception as e:  # noqa: BLE001  any failure: train eagerly
            if self.is_main:
                print(f"genzoo: torch.compile unavailable ({str(e).splitlines()[0]}); training eagerly",
                      file=sys.stderr)
            return None

    def _loss(self, batch: Batch, player: str) -> dict[str, Tensor]:
        """model.loss(batch, player), compiled when `compile` is on; a compilation failure prints one note and
        falls back to eager for the rest of the run (the failing call is re-run eagerly)."""
        if self._compiled is not None:
            try:
                return self._compiled(batch, player)
            except GenzooError:
                raise
            except Exception as e:  # noqa: BLE001  inductor / dynamo failures of any type
                self._compiled = None
                if self.is_main:
                    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                    print(f"genzoo: torch.compile failed ({type(e).__name__}: {msg[:200]}); training eagerly",
                          file=sys.stderr)
        return self.model.loss(batch, player)

    @contextlib.contextmanager
    def _cudnn_benchmark(self):
        """torch.backends.cudnn.benchmark on during `fit` when `cudnn_benchmark` is on and the device is CUDA."""
        if not (self.config.cudnn_benchmark and self.device.type == "cuda"):
            yield
            return
        prev = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = prev

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    # ---- batches ---------------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """True in the process that writes the run folder: the only one, or rank 0 under torchrun."""
        return self.dist.is_main

    @property
    def _writes(self) -> bool:
        return self.out_dir is not None and self.dist.is_main

    @property
    def _model_work(self) -> bool:
        """True where evaluations, samples and the saved model are computed: rank 0, or every rank when the model
        is sharded (train.fsdp: a sharded forward needs them all; only rank 0 writes)."""
        return self.dist.is_main or self._plain is not None

    def batch(self, i: int) -> Batch:
        """Batch number `i` of the run (0-based), on the device; under torchrun, this process's contiguous slice
        of it (`genzoo.train.distributed.shard`)."""
        if self._prefetch is not None:
            got = self._prefetch.get(i)
            if got is None:  # not the next step (a rollback): read ahead from here
                self._prefetch.close()
                self._prefetch = self._start_prefetch(i, self._prefetch_end)
                got = self._prefetch.get(i)
            return Batch(*got).to(self.device)
        idx = ddp.shard(self.order.indices(i), self.dist)
        y = self.data.y[idx] if (self.conditional and self.data.y is not None) else None
        return Batch(self.data.x[idx], y).to(self.device)

    def _start_prefetch(self, start: int, end: int) -> Prefetch:
        return Prefetch(self.data, self.order, start, end, self.config.num_workers,
                        labels=self.conditional and self.data.y is not None,
                        part=lambda idx: ddp.shard(idx, self.dist))

    def _micro(self, batch: Batch) -> list[Batch]:
        k = self.config.grad_accum
        if k == 1:
            return [batch]
        xs = batch.x.chunk(k)
        ys = batch.y.chunk(k) if batch.y is not None else [None] * k
        return [Batch(a, b) for a, b in zip(xs, ys)]

    # ---- one step --------------------------------------------------------------------------------------
    def _train_step(self) -> dict[str, float]:
        cfg, model, i = self.config, self.model, self.step
        if not model.training:  # evaluation and sampling restore the mode they found (eval_weights)
            model.train()
        micro = self._micro(self.batch(i))
        k = len(micro)
        seeded = cfg.micro_seeds
        logged: dict[str, float] = {}
        order = list(model.update_order(i))
        for u, player in enumerate(order, start=1):
            if player not in self.players:
                raise ConfigError(f'{model.name}.update_order({i}) names an unknown player "{player}"; '
                                  f"players: {', '.join(self.players)}")
            params = self.players[player]
            settings = self.settings[player]
            self._zero_grad()
            sums: dict[str, float] = {}
            for m, mb in enumerate(micro):
                if seeded:
                    seed_everything(micro_seed(cfg.seed, i, u, self.dist.rank * k + m))
                with self._autocast():
                    out = self._loss(mb, player)
                if not isinstance(out, dict) or "loss" not in out:
                    raise TypeError(f"{model.name}.loss must return a dict with a 'loss' entry, got {type(out)}")
                loss = out["loss"]
                if settings["l1"]:
                    from genzoo.math import l1_penalty

                    l1 = settings["l1"] * l1_penalty(params)
                    loss = loss + l1
                    out = {**out, "loss": loss, "l1": l1}
                names = list(out)
                values = ddp.mean_values(torch.stack([_scalar(out[n]) for n in names]), self.dist).tolist()
                bad = [n for n, v in zip(names, values) if not math.isfinite(v)]
                if bad:
                    part = next((n for n in bad if n != "loss"), "loss")
                    raise DivergenceError(
                        f'non-finite loss at step {i}: player "{player}", loss part "{part}" = '
                        f"{values[names.index(part)]}"
                    )
                for n, v in zip(names, values):
                    sums[n] = sums.get(n, 0.0) + v / k
                (loss / k).backward()
            ddp.average_gradients(params, self.dist)
            grads = [p.grad for p in params if p.grad is not None]
            gnorm = fsdp.grad_norm(grads)
            if not math.isfinite(gnorm):
                raise DivergenceError(
                    f'non-finite gradient at step {i}: player "{player}", loss part "loss" (grad norm = {gnorm})'
                )
            if settings["clip_value"] is not None:
                torch.nn.utils.clip_grad_value_(params, settings["clip_value"])
            if settings["clip_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(params, settings["clip_norm"])
            self.optimizers[player].step()
            for n, v in sums.items():
                logged[f"{player}/{n}"] = v
            logged[f"grad_norm/{player}"] = gnorm
        for player in self.players:
            logged[f"lr/{player}"] = self.schedulers[player].get_lr()
        self._zero_grad()
        if seeded:
            seed_everything(micro_seed(cfg.seed, i, 0, 0))
        model.on_step_end(i)
        # rank 0's buffers everywhere (ActNorm flags, replay buffers, chains); after a session's first step also
        # its parameters (a data-dependent initialisation saw each rank's own slice)
        ddp.broadcast_module(model, self.dist, buffers_only=self._synced)
        self._synced = True
        for s in self.schedulers.values():
            s.step()
        if self.ema is not None:
            self.ema.update(model)
        self.step = i + 1
        losses = [v for key, v in logged.items() if key.endswith("/loss") and key.split("/")[0] in self.players]
        self.last_loss = losses[-1] if losses else None
        return logged

    def _zero_grad(self) -> None:
        """Every parameter's gradient to None (model.zero_grad(set_to_none=True) without its module walk)."""
        for p in self._params:
            p.grad = None

    # ---- the loop --------------------------------------------------------------------------------------
    def fit(self, stop_at: int | None = None) -> list[dict[str, Any]]:
        """Train until `config.steps` (or until `stop_at` completed steps, e.g. to simulate an interruption).

        Returns the metric history (train records and "eval/..." records), also in `metrics.jsonl`.
        """
        cfg = self.config
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        if self._writes:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self.step == 0 and not self.history:
                atomic_write_bytes(self.out_dir / "metrics.jsonl", b"")
        if self.out_dir is not None and cfg.on_nan == "rollback":
            have = self.dist.is_main and ckpt.latest_checkpoint(self.ckpt_dir) is not None
            if not ddp.agree_max(int(have), self.dist, self.device):
                self.save_checkpoint()
        bar = self._progress(end)
        try:
            with stop_on_signals() as stop:  # a signal stops at the next step boundary (see train/signals.py)
                if cfg.num_workers:
                    self._prefetch, self._prefetch_end = self._start_prefetch(self.step, end), end
                try:
                    with self._deterministic(), self._cudnn_benchmark():
                        self._loop(end, bar, stop)
                finally:
                    if self._prefetch is not None:
                        self._prefetch.close()
                        self._prefetch = None
                bar.close()
                if self.step >= cfg.steps and self.eval_data is not None and self._model_work:
                    self._record(self.evaluate())
                if self.out_dir is not None and self._last_ckpt_step != self.step:
                    self.save_checkpoint()
        except Abort as a:
            bar.close()
            raise self._aborted(a.signum) from None
        if self.out_dir is not None and self._model_work:
            if self.step >= cfg.steps:
                self.save_samples()
                self.save_model(self.out_dir / "model")
            self.plot()
        return self.history

    def _loop(self, end: int, bar, stop: StopFlag) -> None:
        """The steps up to `end`, each with its log / eval / sample / checkpoint work; a divergence ends it (or
        rolls back), a stop signal ends it after the step (`_interrupted`)."""
        cfg = self.config
        t_last = time.perf_counter()
        while self.step < end:
            try:
                logged = self._train_step()
            except DivergenceError as e:
                if cfg.on_nan == "rollback" and self.rollbacks < cfg.max_rollbacks:
                    self.rollback(str(e))
                    bar.n = self.step
                    bar.refresh()
                    t_last = time.perf_counter()
                    continue
                if cfg.on_nan == "rollback":
                    e = DivergenceError(f"{e} (after {self.rollbacks} rollbacks, max_rollbacks reached)")
                raise DivergenceError(f"{e}; {self._keep_diverged(str(e))}") from None
            now = time.perf_counter()
            self.elapsed += now - t_last
            t_last = now
            for key, v in logged.items():
                a = self._acc.setdefault(key, [0.0, 0, 0.0])
                a[0] += v
                a[1] += 1
                a[2] = v
            bar.update(1)
            if self.last_loss is not None:
                bar.set_postfix(loss=f"{self.last_loss:.4g}", refresh=False)
            s = self.step
            if s % cfg.log_every == 0 or s == cfg.steps:
                self._log()
            if (self.eval_data is not None and cfg.eval_every and s % cfg.eval_every == 0 and s != cfg.steps
                    and self._model_work):
                self._record(self.evaluate())
            if self._model_work and cfg.sample_every and s % cfg.sample_every == 0 and s != cfg.steps:
                self.save_samples()
                self.plot()
            if self.out_dir is not None and cfg.ckpt_every and s % cfg.ckpt_every == 0 and s != end:
                self.save_checkpoint()
            signum = ddp.agree_max(stop.signum or 0, self.dist, self.device)  # every rank stops after one step
            if signum and self.step < end:
                bar.close()
                self._interrupted(signum)
            t_last = time.perf_counter()

    def _resume_hint(self) -> str:
        """How to continue: the CLI command for a run folder made by `genzoo train` (it has config.yaml)."""
        if self.out_dir is not None and (self.out_dir / "config.yaml").is_file():
            return f"resume with: genzoo train --resume --out {shlex.quote(str(self.out_dir))}"
        return f"resume with: Trainer.resume({str(self.out_dir)!r}, train_data)"

    def _interrupted(self, signum: int) -> None:
        """After the step a signal arrived in: save the run (when it has a folder) and raise TrainingInterrupted."""
        where = f"at step {self.step} of {self.config.steps}"
        if self.out_dir is None:
            raise TrainingInterrupted(f"interrupted by {signal_name(signum)} {where} (no run folder: nothing saved)",
                                      signum, self.step, None)
        path = (self.save_checkpoint() if self._last_ckpt_step != self.step
                else self.ckpt_dir / ckpt.checkpoint_name(self.step))
        if self.is_main:
            self.plot()
        raise TrainingInterrupted(f"interrupted by {signal_name(signum)} {where}; checkpoint {path}; "
                                  f"{self._resume_hint()}", signum, self.step, path)

    def _aborted(self, signum: int) -> TrainingInterrupted:
        """The error for a second signal: nothing more was written; name the last complete checkpoint."""
        last = ckpt.latest_checkpoint(self.ckpt_dir) if self.out_dir is not None else None
        if last is None:
            kept = "no checkpoint was written" if self.out_dir is not None else "no run folder: nothing saved"
        else:
            kept = f"last checkpoint {last}; {self._resume_hint()}"
        return TrainingInterrupted(f"aborted by a second {signal_name(signum)} after {self.step} of "
                                   f"{self.config.steps} steps; {kept}", signum, self.step, last)

    def _keep_diverged(self, reason: str) -> str:
        """After a divergence: the current state, still finite (the checks run before `optimizer.step()`), as a
        checkpoint in RUN/diverged/step_K/ for inspection (K = completed steps; `RUN/checkpoints/` is left as it
        was, so `--resume` starts from the last regular checkpoint). Returns where the last finite state is."""
        if self.out_dir is None:
            return "no run folder: nothing saved"
        tensors, meta = self.state()  # on every rank: gathering a sharded state is collective
        if not self.is_main:
            return "rank 0 keeps the last finite state"
        last = ckpt.latest_checkpoint(self.ckpt_dir)
        if any(k.startswith(("model/", "ema/")) and v.is_floating_point() and not torch.isfinite(v).all()
               for k, v in tensors.items()):
            return (f"the weights are not finite (not saved); last checkpoint {last}" if last is not None
                    else "the weights are not finite (not saved) and there is no earlier checkpoint")
        meta["diverged"] = reason
        path = ckpt.save_checkpoint(self.out_dir / "diverged", self.step, tensors, meta, keep_last=1)
        return f"last finite state kept in {path}"

    def _progress(self, end: int):
        from tqdm.auto import tqdm

        enabled = self.config.progress and sys.stderr.isatty() and self.is_main
        return tqdm(total=end, initial=self.step, disable=not enabled, desc=getattr(self.model, "name", "") or "train",
                    dynamic_ncols=True, leave=True)

    @contextlib.contextmanager
    def _deterministic(self):
        if not self.config.deterministic:
            yield
            return
        prev = torch.are_deterministic_algorithms_enabled()
        prev_bench = torch.backends.cudnn.benchmark
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev)
            torch.backends.cudnn.benchmark = prev_bench

    # ---- logging ---------------------------------------------------------------------------------------
    def _log(self) -> None:
        if not self._acc:
            return
        rec: dict[str, Any] = {"step": self.step, "epoch": round(self.step / self.order.per_epoch, 4)}
        for key in sorted(self._acc):
            s, n, last = self._acc[key]
            rec[key] = last if key.startswith("lr/") else s / n
        rec["time"] = round(self.elapsed, 4)
        self._acc = {}
        self._record(rec)
        for cb in self.callbacks:
            cb(self, rec)

    def _record(self, rec: dict[str, Any]) -> None:
        self.history.append(rec)
        if self._writes:
            with open(self.out_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")

    # ---- evaluation and samples ------------------------------------------------------------------------
    @contextlib.contextmanager
    def eval_weights(self) -> Iterator[GenerativeModel]:
        """The model in eval mode with the EMA weights loaded when EMA is on (restored on exit)."""
        was = self.model.training
        self.model.eval()
        try:
            if self.ema is not None:
                with self.ema.applied(self.model):
                    yield self.model
            else:
                yield self.model
        finally:
            self.model.train(was)

    def evaluate(self, data: Any = None) -> dict[str, Any]:
        """Mean loss parts per player on up to `eval_batches` batches of held-out data, plus NLL and bits/dim
        (through genzoo.eval.likelihood) on the first `eval_nll_examples` of them for likelihood models.
        Keys are "eval/<player>/<part>", "eval/nll"... Losses run under torch.no_grad() unless the model declares
        `eval_needs_grad` (so a WGAN-GP evaluation computes no gradient penalty)."""
        cfg = self.config
        d = self.eval_data if data is None else as_windows(as_data(data, "evaluation data"),
                                                           tuple(self.model.config.data_shape))
        if d is None:
            raise DataError("evaluate: no evaluation data given")
        bs = min(cfg.batch_size, len(d))
        nb = max(1, min(cfg.eval_batches, len(d) // bs))
        rec: dict[str, Any] = {"step": self.step}
        sums: dict[str, float] = {}
        players = list(dict.fromkeys(self.model.update_order(self.step)))
        grad = bool(getattr(self.model, "eval_needs_grad", False))  # the contract: no_grad unless declared
        with isolated_rng(cfg.seed + 1, self.device), self.eval_weights() as model, torch.set_grad_enabled(grad):
            for b in range(nb):
                x = d.x[b * bs:(b + 1) * bs]
                y = d.y[b * bs:(b + 1) * bs] if (self.conditional and d.y is not None) else None
                batch = Batch(x, y).to(self.device)
                for p in players:
                    with self._autocast():
                        out = model.loss(batch, p)
                    for n, v in out.items():
                        key = f"eval/{p}/{n}"
                        sums[key] = sums.get(key, 0.0) + float(_scalar(v)) / nb
            rec.update(sums)
            if getattr(model, "likelihood", "none") != "none":
                from genzoo.eval.likelihood import evaluate_likelihood

                n_nll = nb * bs if cfg.eval_nll_examples == 0 else min(nb * bs, cfg.eval_nll_examples)
                r = evaluate_likelihood(model, (d.x, d.y), batch_size=bs, max_examples=n_nll, device=self.device,
                                        **cfg.eval_kwargs)
                rec["eval/nll"] = r["nll"]
                rec["eval/bpd"] = r["bpd"]
        return rec

    def sample(self, n: int | None = None, seed: int | None = None) -> Tensor:
        """n samples from the model (EMA weights when on), with a fixed seed; class-conditional models use the
        contract's rule (labels 0, 1, ..., K-1 cycling)."""
        n = n or self.config.n_samples
        with isolated_rng(self.config.seed + 2 if seed is None else seed, self.device), self.eval_weights() as m:
            with torch.no_grad():
                return m.sample(n).detach().cpu()

    def save_samples(self, path: str | os.PathLike | None = None) -> Path | None:
        from genzoo.train.plots import save_samples

        if path is None:
            if self.out_dir is None:
                return None
            path = self.out_dir / "samples" / f"step_{self.step:06d}.png"
        try:
            s = self.sample()
        except NotImplementedError:
            return None
        if not self.is_main:
            return None
        ref = self.data.x[:2000] if self.data.kind == "points" else None
        return save_samples(s, path, self.data.kind, reference=ref, meta=self.data.meta,
                            title=f"{getattr(self.model, 'name', '')} step {self.step}")

    def plot(self) -> Path | None:
        from genzoo.train.plots import save_loss_curves

        if self.out_dir is None or not self.is_main:
            return None
        train = [h for h in self.history if not any(k.startswith("eval/") for k in h)]
        ev = [h for h in self.history if any(k.startswith("eval/") for k in h)]
        return save_loss_curves(train, self.out_dir / "loss.png", eval_history=ev)

    def save_model(self, path: str | os.PathLike) -> Path:
        """Save the model (EMA weights when on) as a model folder (model.safetensors + config.json). Sharded
        (train.fsdp): every rank calls it, rank 0 writes the full weights."""
        if self._plain is not None:
            full = fsdp.full_tensors(self.ema.state_dict()) if self.ema is not None else fsdp.full_model_state(
                self.model)
            return fsdp.save_plain(self._plain, self.model, full, path, self.is_main)
        with self.eval_weights() as m:
            return m.save(path)

    # ---- checkpoints -----------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        if self.out_dir is None:
            raise CheckpointError("this Trainer has no run folder (out_dir=None)")
        return self.out_dir / "checkpoints"

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """(tensors, JSON meta) of the full training state."""
        sharded = self._plain is not None  # train.fsdp: full tensors gathered (collective), as in one process
        model_sd = fsdp.full_model_state(self.model) if sharded else self.model.state_dict()
        tensors: dict[str, Tensor] = {f"model/{k}": v for k, v in model_sd.items()}
        if self.ema is not None:
            ema_sd = fsdp.full_tensors(self.ema.state_dict()) if sharded else self.ema.state_dict()
            tensors.update({f"ema/{k}": v for k, v in ema_sd.items()})
        optim_meta = {}
        for p, o in self.optimizers.items():
            osd = fsdp.full_optimizer_state(self.model, o) if sharded else o.state_dict()
            t, m = ckpt.flatten_optimizer(f"optim/{p}", osd)
            tensors.update(t)
            optim_meta[p] = m
        t, rng_meta = ckpt.rng_state()
        tensors.update(t)
        model_cfg = None
        if hasattr(self.model, "config_dict"):
            try:
                model_cfg = self.model.config_dict()
            except Exception:  # noqa: BLE001  a config that is not a dataclass: no auto re-creation on resume
                model_cfg = None
        meta = {
            "step": self.step,
            "model": {"name": getattr(self.model, "name", ""), "family": getattr(self.model, "family", ""),
                      "config": model_cfg},
            "config": self.config.to_dict(),
            "schedulers": {p: s.state_dict() for p, s in self.schedulers.items()},
            "optimizers": optim_meta,
            "rng": rng_meta,
            "data": {**self.order.state(self.step), "processes": self.dist.world,
                     "micro_batches": self.dist.world * self.config.grad_accum},
            "history": self.history,
            "log_acc": self._acc,
            "extra_state": self.model.extra_state(),
            "rollbacks": self.rollbacks,
            "elapsed": self.elapsed,
        }
        return tensors, meta

    def save_checkpoint(self) -> Path:
        """Write checkpoint `checkpoints/step_XXXXXXXX/` atomically; refuses non-finite weights. Under torchrun
        every rank calls it (the weights are the same everywhere), rank 0 writes, and all wait for the write."""
        tensors, meta = self.state()
        for k, v in tensors.items():
            if k.startswith(("model/", "ema/")) and v.is_floating_point() and not torch.isfinite(v).all():
                raise DivergenceError(
                    f'non-finite weights at step {self.step} ("{k}"): checkpoint not written'
                )
        if self.is_main:
            path = ckpt.save_checkpoint(self.ckpt_dir, self.step, tensors, meta, keep_last=self.config.keep_last)
        else:
            path = self.ckpt_dir / ckpt.checkpoint_name(self.step)
        ddp.barrier(self.dist)
        self._last_ckpt_step = self.step
        return path

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any], where: str = "checkpoint") -> None:
        """Restore the full training state from `state()`'s output (model, EMA, optimizers, schedulers, RNGs,
        step, history)."""
        d = meta.get("data", {})
        if d.get("n") not in (None, len(self.data)) or d.get("batch_size") not in (None, self.config.batch_size):
            raise DataError(
                f"{where}: was trained on {d.get('n')} examples in batches of {d.get('batch_size')}, now given "
                f"{len(self.data)} in batches of {self.config.batch_size}; resume with the same data and batch_size"
            )
        model_sd = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        sharded = self._plain is not None  # train.fsdp: the full tensors cut into this rank's shards
        try:
            if sharded:
                fsdp.load_model_state(self.model, model_sd)
            else:
                self.model.load_state_dict(model_sd, strict=True)
            if self.ema is not None:
                ema_sd = {k[len("ema/"):]: v for k, v in tensors.items() if k.startswith("ema/")}
                ema_sd = ema_sd if ema_sd else model_sd
                self.ema.load_state_dict(fsdp.shard_like(ema_sd, self.ema.state_dict()) if sharded else ema_sd)
            for p, o in self.optimizers.items():
                if p not in meta["optimizers"]:
                    raise CheckpointError(f'{where}: no optimizer state for player "{p}"')
                kernels = [{k: g.get(k) for k in ("fused", "foreach")} for g in o.param_groups]
                osd = ckpt.unflatten_optimizer(f"optim/{p}", tensors, meta["optimizers"][p])
                if sharded:
                    fsdp.load_optimizer_state(self.model, o, osd)
                else:
                    o.load_state_dict(osd)
                for g, kern in zip(o.param_groups, kernels):  # this run's kernel, not the checkpoint's
                    g.update(kern)
                _match_layout(o)
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"{where}: state does not match the model ({str(e).splitlines()[0]})") from None
        for p, s in self.schedulers.items():
            st = meta["schedulers"].get(p)
            if st is not None:
                s.load_state_dict(st)
        ckpt.set_rng_state(tensors, meta["rng"])
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))
        self._acc = {k: list(v) for k, v in meta.get("log_acc", {}).items()}
        self.rollbacks = int(meta.get("rollbacks", 0))
        self.elapsed = float(meta.get("elapsed", 0.0))
        self.model.load_extra_state(meta.get("extra_state", {}))
        self._last_ckpt_step = self.step
        if self._writes:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.out_dir / "metrics.jsonl",
                               "".join(json.dumps(h) + "\n" for h in self.history).encode())

    def rollback(self, reason: str = "") -> None:
        """Go back to the last checkpoint and multiply every learning rate by `rollback_lr_factor`."""
        last = ckpt.latest_checkpoint(self.ckpt_dir)
        if last is None:
            raise DivergenceError(f"{reason} (no checkpoint to roll back to)")
        tensors, meta = ckpt.load_checkpoint(last)
        rollbacks = self.rollbacks + 1
        self.load_state(tensors, meta, where=str(last))
        self.rollbacks = rollbacks
        for s in self.schedulers.values():
            s.scale *= self.config.rollback_lr_factor
            s._apply()
        msg = (f"genzoo: {reason}; rolled back to step {self.step} and scaled the learning rate by "
               f"{self.config.rollback_lr_factor} (rollback {rollbacks}/{self.config.max_rollbacks})")
        print(msg, file=sys.stderr)
        self._record({"step": self.step, "event": "rollback", "reason": reason,
                      "lr_scale": next(iter(self.schedulers.values())).scale})

    @classmethod
    def resume(cls, run_dir: str | os.PathLike, train_data: Any, eval_data: Any = None,
               model: GenerativeModel | None = None, checkpoint: str | os.PathLike | None = None,
               callbacks=None, **overrides: Any) -> Trainer:
        """A Trainer continuing from the last checkpoint of `run_dir` (or from `checkpoint`), bit-exactly on CPU.

        `model`: the model object to load the weights into; by default re-created from the registry by the
        name and config the checkpoint records. `overrides`: TrainConfig fields to change (e.g. steps=5000).
        """
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise CheckpointError(f"{run_dir}: no such run folder")
        path = Path(checkpoint) if checkpoint is not None else ckpt.latest_checkpoint(run_dir / "checkpoints")
        if path is None:
            raise CheckpointError(f"{run_dir}: no checkpoint found (expected {run_dir / 'checkpoints'}/step_*/)")
        tensors, meta = ckpt.load_checkpoint(path)
        if model is None:
            from genzoo.models import create

            info = meta.get("model") or {}
            if not info.get("name") or info.get("config") is None:
                raise CheckpointError(f"{path}: the checkpoint names no registered model; pass model=...")
            model = create(info["name"], **info["config"])
        overrides = _keep_micro_batches(meta, overrides, path)
        config = make_train_config(meta["config"], **overrides)
        trainer = cls(model, train_data, config, out_dir=run_dir, eval_data=eval_data, callbacks=callbacks)
        trainer.load_state(tensors, meta, where=str(path))
        return trainer


def _match_layout(optimizer: torch.optim.Optimizer) -> None:
    """Optimizer state tensors (moments) in their parameter's memory layout. A checkpoint stores them contiguous;
    a channels-last parameter needs channels-last moments, or fused kernels (which walk memory linearly) would
    pair a gradient entry with another entry's moment."""
    for p, st in optimizer.state.items():
        for k, v in st.items():
            if isinstance(v, Tensor) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _keep_micro_batches(meta: dict[str, Any], overrides: dict[str, Any], where: Path) -> dict[str, Any]:
    """Resuming in another number of processes: grad_accum such that a step still has the checkpoint's number of
    micro-batches (processes x grad_accum), when it divides; then each micro-batch holds the same examples and
    (with micro_seeds, always on under torchrun) the same random draws as in the run that wrote the checkpoint."""
    data = meta.get("data") or {}
    total, world = data.get("micro_batches"), ddp.env_world()
    if "grad_accum" in overrides or not total or data.get("processes", 1) == world:
        return overrides
    if total % world == 0:
        return {**overrides, "grad_accum": total // world}
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"genzoo: {where} was written with {total} micro-batches per step, which {world} processes cannot "
              f"share equally; each takes grad_accum = {meta['config'].get('grad_accum', 1)} (the same batches, "
              f"other random draws)", file=sys.stderr)
    return overrides

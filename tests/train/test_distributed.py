"""Data-parallel training on CPU (gloo): 2 processes with global batch B equal 1 process with batch B.

The 2-process runs happen once per module (`ddp_jobs.job`, spawned with torch.multiprocessing, as torchrun would
start them). One process with batch B in grad_accum = 2 micro-batches takes the same gradient as 2 processes with
B/2 each (the loss is a batch mean: mean of two equal halves' means = mean over B), and with micro_seeds (on under
DDP) the same random draws per micro-batch: z of the GAN, the VAE's reparameterisation noise and binarisation. So
the weights must agree up to float rounding (the sums differ in order). The wrong answers that fail: one process
with batch B but another split of the randomness (grad_accum = 1), and one process with batch B/2 (what a rank
would learn on its own, without the gradient average).
"""

from __future__ import annotations

import json

import pytest
import torch
from ddp_jobs import MODELS, config, data, model, result

from genzoo.train import Trainer

TOL = 2e-5


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    from ddp_jobs import spawn_world

    out = tmp_path_factory.mktemp("ddp")
    spawn_world(2, out)
    return out


def load(out, name):
    from safetensors.torch import load_file

    return load_file(str(out / f"{name}.safetensors")), json.loads((out / f"{name}.json").read_text())


def distance(a: dict, b: dict) -> float:
    """Largest difference of the weights and EMA weights. Batch-norm running statistics are left out: under DDP
    they are rank 0's, from its B/2 examples per forward, where one process updates them once per micro-batch (the
    training-mode forward, hence the weights, uses the batch's own statistics and is not affected)."""
    assert a.keys() == b.keys()
    keep = [k for k in a if a[k].is_floating_point() and ".running_" not in k]
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in keep)


def one_process(case: str, **kw) -> Trainer:
    t = Trainer(model(case), data(case), config(**kw))
    t.fit()
    return t


@pytest.mark.parametrize("case", list(MODELS))
def test_two_processes_equal_one_process_with_the_global_batch(world2, case):
    got, got_losses = load(world2, case)
    ref = one_process(case, grad_accum=2, micro_seeds=True)
    assert distance(got, result(ref)) < TOL
    # the logged losses are means over the global batch, as in one process
    ref_losses = [{k: v for k, v in h.items() if k.endswith("/loss")} for h in ref.history]
    assert len(got_losses) == len(ref_losses)
    for g, r in zip(got_losses, ref_losses):
        assert g.keys() == r.keys()
        assert all(abs(g[k] - r[k]) < 1e-4 for k in g)
    # wrong answers: other random draws, or half the batch without the gradient average
    assert distance(got, result(one_process(case, grad_accum=1, micro_seeds=True))) > 50 * TOL
    assert distance(got, result(one_process(case, batch_size=8, micro_seeds=True))) > 50 * TOL


def test_lazy_data_with_workers_in_two_processes(world2):
    """The same run from a memory-mapped .npy, read by a DataLoader worker per process (each process's slice of
    every batch): bit for bit the in-memory run."""
    lazy, lazy_losses = load(world2, "vae-lazy")
    eager, eager_losses = load(world2, "vae")
    assert distance(lazy, eager) == 0.0 and lazy_losses == eager_losses


def test_resume_in_two_processes_equals_the_straight_run(world2):
    straight, s_losses = load(world2, "straight")
    resumed, r_losses = load(world2, "resumed")
    assert distance(straight, resumed) == 0.0  # same processes, same order of sums: bit for bit
    assert s_losses == r_losses


def test_checkpoint_of_two_processes_resumes_in_one(world2):
    """A checkpoint written by 2 processes at step 3 resumes in 1 process with the same global batch: grad_accum
    becomes 2 so a step keeps its 2 micro-batches (and their random draws)."""
    straight, s_losses = load(world2, "straight")
    run = world2 / "run-at-3"
    meta = json.loads((run / "checkpoints" / "step_00000003" / "state.json").read_text())
    assert meta["data"]["processes"] == 2 and meta["data"]["micro_batches"] == 2
    r = Trainer.resume(run, data("gan"), model=model("gan"))
    assert r.step == 3 and r.config.grad_accum == 2 and r.config.micro_seeds and r.config.batch_size == 16
    r.fit()
    assert distance(straight, result(r)) < TOL
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in lines if "eval/nll" not in h] == list(range(1, 7))  # one writer: no duplicates
    # wrong answer: resuming with one micro-batch per step draws other noise
    w = Trainer.resume(run, data("gan"), model=model("gan"), grad_accum=1,
                       checkpoint=run / "checkpoints" / "step_00000003")
    assert w.step == 3
    w.fit()
    assert distance(straight, result(w)) > 50 * TOL


def test_only_rank_zero_writes(world2):
    run = world2 / "run"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(x)["step"] for x in lines]
    assert steps == sorted(set(steps))  # each record once
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000003", "step_00000006"]
    assert (run / "model" / "model.safetensors").is_file()


def test_batch_must_split_over_processes(world2):
    assert "batch_size (15) must be a multiple of the number of processes (2)" in (world2 / "error.txt").read_text()


def test_shard_is_a_contiguous_slice():
    from genzoo.train.distributed import Dist, shard

    idx = torch.arange(12)
    parts = [shard(idx, Dist(r, 3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), idx)
    assert torch.equal(parts[1], torch.arange(4, 8))
    assert torch.equal(shard(idx, Dist()), idx)


def test_micro_seed_is_a_function_of_the_run_not_the_processes():
    from genzoo.train.trainer import micro_seed

    assert micro_seed(5, 3, 1, 0) == micro_seed(5, 3, 1, 0)
    seeds = {micro_seed(5, s, u, m) for s in range(3) for u in range(3) for m in range(3)}
    assert len(seeds) == 27 and all(0 <= x < 2**63 for x in seeds)

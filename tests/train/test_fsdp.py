"""train.fsdp on CPU (gloo): a tiny GPT sharded over 2 processes equals 1 process with the same global batch.

FSDP2 splits every parameter, gradient and Adam moment over the ranks; the reduce-scatter of the gradients gives
each rank its shard of the mean gradient, so the update equals one process with batch B in 2 micro-batches
(micro_seeds), and the data-parallel path, up to float rounding. Clipping by norm (clip_norm small enough to clip
every step) needs the norm of the FULL gradient: a norm of the local shard only would change every update and the
logged grad_norm (checked against one process). Checkpoints hold full tensors: one from the FSDP run resumes in one
process, one from a single process resumes under FSDP, both continuing as the straight run. Wrong answers that
fail: half the batch without the gradient average, resuming with other micro-batches.
"""

from __future__ import annotations

import json

import pytest
import torch
from fsdp_jobs import config, data, model

from genzoo.errors import ConfigError
from genzoo.train import Trainer

TOL = 1e-5


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    from fsdp_jobs import spawn_world

    out = tmp_path_factory.mktemp("fsdp")
    one = Trainer(model(), data(), config(grad_accum=2, micro_seeds=True), out_dir=out / "one")
    one.fit(stop_at=2)
    spawn_world(2, out)
    return out


def load(out, name):
    from safetensors.torch import load_file

    return load_file(str(out / f"{name}.safetensors")), json.loads((out / f"{name}.json").read_text())


def one_process(**kw) -> Trainer:
    t = Trainer(model(), data(), config(**kw))
    t.fit()
    return t


def weights(t: Trainer) -> dict[str, torch.Tensor]:
    out = {f"model/{k}": v for k, v in t.model.state_dict().items()}
    out.update({f"ema/{k}": v for k, v in t.ema.state_dict().items()})
    return out


def distance(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    assert all(a[k].shape == b[k].shape for k in a)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def close_logs(a: list[dict], b: list[dict], tol: float = 1e-5) -> bool:
    return len(a) == len(b) and all(x.keys() == y.keys() and all(abs(x[k] - y[k]) < tol for k in x)
                                    for x, y in zip(a, b))


def test_fsdp_equals_one_process_and_the_data_parallel_path(world2):
    got, got_log = load(world2, "fsdp")
    ddp, ddp_log = load(world2, "ddp")
    ref = one_process(grad_accum=2, micro_seeds=True)
    ref_log = [{k: v for k, v in h.items() if k.endswith("/loss") or k.startswith("grad_norm/")} for h in ref.history]
    assert distance(got, weights(ref)) < TOL
    assert distance(got, ddp) < TOL
    assert close_logs(got_log, ref_log) and close_logs(got_log, ddp_log)
    assert all(h["grad_norm/model"] > 0.05 for h in got_log)  # clipping was active at every step
    # wrong answers: a rank alone (half the batch, no gradient average); a norm of one shard only
    assert distance(got, weights(one_process(batch_size=4, micro_seeds=True))) > 50 * TOL
    assert not close_logs(got_log, [{**h, "grad_norm/model": h["grad_norm/model"] / 2**0.5} for h in ref_log])


def test_fsdp_checkpoint_is_full_and_resumes_in_one_process(world2, capsys):
    straight, s_log = load(world2, "fsdp")
    run = world2 / "run-copy"
    ck = run / "checkpoints" / "step_00000002"
    meta = json.loads((ck / "state.json").read_text())
    assert meta["config"]["fsdp"] is True and meta["data"]["processes"] == 2
    from safetensors.torch import load_file

    # the same tensors (names, shapes: full, not shards) as the one-process checkpoint of the same step
    tensors = load_file(str(ck / "state.safetensors"))
    single = load_file(str(world2 / "one" / "checkpoints" / "step_00000002" / "state.safetensors"))
    assert {k: v.shape for k, v in tensors.items()} == {k: v.shape for k, v in single.items()}
    assert tensors["model/wte.weight"].shape == (8, 8)
    assert distance({k: v for k, v in tensors.items() if k.startswith(("model/", "ema/", "optim/"))},
                    {k: v for k, v in single.items() if k.startswith(("model/", "ema/", "optim/"))}) < TOL
    r = Trainer.resume(run, data(), model=model(), checkpoint=ck)
    assert "no effect in one process" in capsys.readouterr().err
    assert r.step == 2 and r.config.grad_accum == 2 and r._plain is None
    r.fit()
    assert distance(straight, weights(r)) < TOL
    # the model folder is the normal one-process model with the EMA weights
    from genzoo.models import load as load_model

    m = load_model(run / "model")
    assert type(m).__name__ == "GPT"
    assert max(float((v - straight[f"ema/{k}"]).abs().max()) for k, v in m.state_dict().items()) < TOL
    assert sorted(p.name for p in (run / "samples").iterdir())  # rank 0 wrote the end-of-run samples
    # wrong answer: the same checkpoint without its (gathered) Adam moments
    w = Trainer.resume(run, data(), model=model(), checkpoint=ck)
    for o in w.optimizers.values():
        o.state.clear()
    w.fit()
    assert distance(straight, weights(w)) > 50 * TOL


def test_one_process_checkpoint_resumes_under_fsdp(world2):
    straight, _ = load(world2, "fsdp")
    got, _ = load(world2, "one-then-fsdp")
    assert distance(straight, got) < TOL


def test_fsdp_needs_a_model_that_names_its_units():
    from genzoo.models import create

    vae = create("vae", data_shape=(1, 4, 4), hidden=(4,), latent_dim=2)
    with pytest.raises(ConfigError, match="declares no fsdp_units"):
        Trainer(vae, torch.rand(8, 1, 4, 4), config(fsdp=True, ema_decay=None))

"""The augmentation experiment (genzoo.lab.augment): labelled samples, real subsets, per-class pools, bookkeeping."""

from __future__ import annotations

import statistics

import pytest
import torch

from genzoo.data import get
from genzoo.errors import ConfigError, DataError
from genzoo.eval import real_data_accuracy
from genzoo.lab import augmentation, labelled_samples
from genzoo.lab.augment import per_class_prefix, real_subset
from genzoo.models import create

FAST = {"steps": 12, "batch_size": 32}


@pytest.fixture(scope="module")
def mnist():
    ds, dt = get("mnist"), get("mnist", split="test")
    return ds.x[:600], ds.y[:600], dt.x[:300], dt.y[:300]


def tiny_cvae(k=10):
    torch.manual_seed(0)
    return create("cvae", data_shape=(1, 28, 28), num_classes=k, hidden=(8,), latent_dim=2)


def test_labelled_samples_are_balanced_seeded_and_in_range():
    model = tiny_cvae()
    x, y = labelled_samples(model, 37, seed=4, batch_size=8)
    assert x.shape == (37, 1, 28, 28) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=10)
    assert counts.tolist() == [4] * 7 + [3] * 3  # 0, 1, ..., 9 cycling: n // K or n // K + 1 each
    assert torch.equal(y, torch.arange(37) % 10)
    state = torch.random.get_rng_state()
    x2, _ = labelled_samples(model, 37, seed=4, batch_size=8)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(x, x2)
    assert not torch.equal(x, labelled_samples(model, 37, seed=5)[0])
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_labels_follow_their_samples():
    """Each sample is drawn for its own label: decoding label k gives the image of label k (not a neighbour's)."""
    model = tiny_cvae()
    x, y = labelled_samples(model, 20, seed=0, batch_size=20)
    torch.manual_seed(0)
    z = model.prior_sample(20)
    torch.testing.assert_close(x, model.decode(z, y).clamp(0, 1))
    assert not torch.allclose(x, model.decode(z, (y + 1) % 10).clamp(0, 1))


def test_an_unconditional_model_is_refused():
    vae = create("vae", data_shape=(1, 28, 28), hidden=(8,), latent_dim=2)
    with pytest.raises(ConfigError, match="unconditional"):
        labelled_samples(vae, 10)
    with pytest.raises(ConfigError, match="unconditional"):
        augmentation(vae, torch.zeros(10, 1, 28, 28), torch.zeros(10, dtype=torch.long), None, None)


def test_pools_and_subsets():
    y = torch.tensor([0, 1, 1, 0, 2, 1, 0, 2])
    assert per_class_prefix(y, 2, 3).tolist() == [0, 3, 1, 2, 4, 7]
    with pytest.raises(DataError, match="class 2"):
        per_class_prefix(y, 3, 3)
    a, b = real_subset(100, 10, 0), real_subset(100, 10, 1)
    assert len(set(a.tolist())) == 10 and torch.equal(a, real_subset(100, 10, 0)) and not torch.equal(a, b)
    with pytest.raises(DataError, match="n_real"):
        real_subset(5, 6, 0)


def test_bookkeeping_of_the_experiment(mnist):
    x, y, xt, yt = mnist
    pool = (x[300:], y[300:])  # real images as the "generated" pool: every count is known
    res = augmentation(None, x[:300], y[:300], xt, yt, n_real=100, n_per_class=(3, 0), seeds=(0, 1), samples=pool,
                       **FAST)
    assert res["n_per_class"] == [0, 3] and res["seeds"] == [0, 1] and res["num_classes"] == 10
    r0, r3 = res["rows"]
    for i, s in enumerate((0, 1)):  # the N = 0 row is the real-only classifier of that seed
        idx = real_subset(300, 100, s)
        ref = real_data_accuracy(x[:300][idx], y[:300][idx], xt, yt, seed=s, **FAST)
        assert r0["accuracies"][i] == ref["accuracy"]
    assert r0["n_train"] == 100 and r3["n_train"] == 130 and r3["n_generated"] == 30
    for r in (r0, r3):
        assert r["mean"] == pytest.approx(statistics.mean(r["accuracies"]))
        assert r["std"] == pytest.approx(statistics.stdev(r["accuracies"]))
        assert r["se"] == pytest.approx(r["std"] / 2 ** 0.5)
    assert r0["diffs"] == [0.0, 0.0]
    diffs = [a - b for a, b in zip(r3["accuracies"], r0["accuracies"])]
    assert r3["diffs"] == pytest.approx(diffs)
    assert r3["diff_std"] == pytest.approx(statistics.stdev(diffs))
    assert r3["diff_mean"] == pytest.approx(r3["mean"] - r0["mean"])

"""The shipped MNIST classifier (genzoo.eval.classifier): safetensors only, and the recorded >= 98% held-out
accuracy on MNIST-10k's 2,000 test images is re-measured here (about 0.5 s on one CPU core)."""

import json
import pickle
import struct

import pytest
import torch

from genzoo.errors import CheckpointError, DataError
from genzoo.eval.classifier import ASSET, MNISTClassifier, classifier_metadata, classify_digits, load_mnist_classifier


def _test_set():
    from genzoo.data import get

    ds = get("mnist", split="test")
    return ds.x.float(), ds.y.long()


def test_weights_are_safetensors_and_load_without_pickle(monkeypatch):
    raw = ASSET.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])  # safetensors: u64 header length, then a JSON header
    header = json.loads(raw[8:8 + n])
    assert set(k for k in header if k != "__metadata__") == set(MNISTClassifier().state_dict())

    def no_pickle(*a, **k):
        raise AssertionError("the classifier must not be unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    from genzoo.eval import classifier

    classifier._load.cache_clear()
    clf = load_mnist_classifier()
    assert not clf.training
    classifier._load.cache_clear()


def test_held_out_accuracy_is_at_least_98_percent_and_matches_the_recorded_value():
    meta = classifier_metadata()
    assert int(meta["n_test"]) == 2000 and int(meta["n_train"]) == 8000
    recorded = float(meta["test_accuracy"])
    x, y = _test_set()
    assert len(x) == 2000
    pred = classify_digits(x)
    acc = float((pred == y).double().mean())
    assert acc >= 0.98, acc
    assert acc == pytest.approx(recorded, abs=1e-4)  # the metadata is the measured number, not a claim
    # two-sided: shuffled labels (a wrong pairing) score at chance
    g = torch.Generator().manual_seed(0)
    wrong = float((pred == y[torch.randperm(len(y), generator=g)]).double().mean())
    assert wrong < 0.2


def test_corrupt_or_missing_weights_and_bad_shapes_raise_clear_errors(tmp_path):
    bad = tmp_path / "clf.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        load_mnist_classifier(path=bad)
    with pytest.raises(CheckpointError):
        load_mnist_classifier(path=tmp_path / "missing.safetensors")
    with pytest.raises(DataError):
        classify_digits(torch.zeros(2, 3, 28, 28))

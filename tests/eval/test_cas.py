"""The classification accuracy score: the real-data path is the same code, and shuffled labels fall to chance."""

from __future__ import annotations

import pytest
import torch

from genzoo.data import get
from genzoo.errors import GenzooError
from genzoo.eval import classification_accuracy_score, classifier_accuracy, real_data_accuracy, train_classifier


@pytest.fixture(scope="module")
def mnist():
    tr, te = get("mnist"), get("mnist", split="test")
    return tr.x[:600], tr.y[:600], te.x[:1000], te.y[:1000]


def test_cas_of_real_data_is_the_real_data_accuracy_and_beats_chance(mnist):
    x, y, xt, yt = mnist
    cas = classification_accuracy_score(x, y, xt, yt, steps=80, seed=3)
    real = real_data_accuracy(x, y, xt, yt, steps=80, seed=3)
    assert cas["cas"] == real["accuracy"] and cas["n_train"] == 600 and cas["n_test"] == 1000
    assert cas["cas"] > 0.6


def test_shuffled_labels_give_chance_accuracy(mnist):
    """The check that catches samples and labels out of step: a classifier trained on permuted labels scores
    about 1/10 (binomial SE on 1,000 test digits ~ 0.01; the margin allows for the majority class)."""
    x, y, xt, yt = mnist
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    cas = classification_accuracy_score(x, y[perm], xt, yt, steps=80, seed=3)["cas"]
    assert abs(cas - 0.1) < 0.06


def test_classifier_is_seeded_and_bad_input_is_one_line(mnist):
    x, y, xt, yt = mnist
    a = train_classifier(x[:64], y[:64], steps=3, seed=1)
    b = train_classifier(x[:64], y[:64], steps=3, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert 0.0 <= classifier_accuracy(a, xt[:10], yt[:10]) <= 1.0
    with pytest.raises(GenzooError, match="labels"):
        classification_accuracy_score(x[:10], y[:9], xt, yt, steps=1)
    with pytest.raises(GenzooError, match="0..9"):
        train_classifier(x[:4], torch.tensor([0, 1, 2, 11]), steps=1)

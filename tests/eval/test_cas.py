"""Classification accuracy score (genzoo.eval.cas) and the classifier recipe behind it (genzoo.eval.classifier)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genzoo.data import get
from genzoo.errors import DataError
from genzoo.eval import classification_accuracy_score, classifier_accuracy, real_data_accuracy, train_classifier
from genzoo.eval.classifier import MNISTClassifier, random_shift

FAST = {"steps": 60, "batch_size": 32}


@pytest.fixture(scope="module")
def mnist():
    ds, dt = get("mnist"), get("mnist", split="test")
    return ds.x[:1000], ds.y[:1000], dt.x[:1000], dt.y[:1000]


def test_cas_of_real_data_is_the_real_data_accuracy_and_far_above_chance(mnist):
    x, y, xt, yt = mnist
    cas = classification_accuracy_score(x, y, xt, yt, seed=3, **FAST)
    real = real_data_accuracy(x, y, xt, yt, seed=3, **FAST)
    assert cas["cas"] == real["accuracy"]  # one code path: the same classifier, bit for bit
    assert {k: v for k, v in cas.items() if k != "cas"} == {k: v for k, v in real.items() if k != "accuracy"}
    assert cas["n_train"] == 1000 and cas["n_test"] == 1000 and cas["classifier"] == "MNISTClassifier"
    assert cas["se"] == pytest.approx(math.sqrt(cas["cas"] * (1 - cas["cas"]) / 1000))
    assert cas["cas"] > 0.1 + 20 * 0.0095  # chance is 0.1 with SE sqrt(0.09 / 1000) = 0.0095


def test_cas_of_samples_with_shuffled_labels_is_chance(mnist):
    x, y, xt, yt = mnist
    wrong = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    cas = classification_accuracy_score(x, wrong, xt, yt, seed=3, **FAST)["cas"]
    se = math.sqrt(0.1 * 0.9 / len(xt))
    assert abs(cas - 0.1) < 4 * se, cas  # the check that catches images and labels out of step


def test_train_classifier_is_seeded_and_leaves_the_global_rng_alone(mnist):
    x, y, _, _ = mnist
    state = torch.random.get_rng_state()
    a = train_classifier(x[:200], y[:200], steps=3, batch_size=32, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = train_classifier(x[:200], y[:200], steps=3, batch_size=32, seed=1)
    c = train_classifier(x[:200], y[:200], steps=3, batch_size=32, seed=2)
    assert not a.training and isinstance(a, MNISTClassifier)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.fc2.weight, c.fc2.weight)


def _recipe_loop(x, y, steps, batch_size, seed):
    """The loop that trained the shipped weights (benchmarks/train_mnist_classifier.py before it called
    train_classifier), kept here as the reference the function must reproduce."""
    torch.manual_seed(seed)
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            if done == steps:
                break
            idx = perm[i:i + batch_size]
            n = len(idx)
            pad = F.pad(x[idx], (2,) * 4)
            dx = torch.randint(0, 5, (n,), generator=g)
            dy = torch.randint(0, 5, (n,), generator=g)
            rows = (dy[:, None] + torch.arange(28)[None]).view(n, 1, 28, 1).expand(n, 1, 28, 32)
            cols = (dx[:, None] + torch.arange(28)[None]).view(n, 1, 1, 28).expand(n, 1, 28, 28)
            loss = F.cross_entropy(model(pad.gather(2, rows).gather(3, cols)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            done += 1
    return model


def test_train_classifier_is_the_shipped_recipe(mnist):
    x, y, _, _ = mnist
    x, y = x[:96], y[:96]  # 3 batches per epoch: 7 steps cross two epoch boundaries
    ref = _recipe_loop(x, y, 7, 32, seed=5)
    got = train_classifier(x, y, steps=7, batch_size=32, seed=5, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(ref.parameters(), got.parameters()))


def test_random_shift_translates_each_image_by_its_offset():
    x = torch.zeros(40, 1, 9, 9)
    x[:, 0, 3:6, 3:6] = torch.rand(40, 3, 3)  # a patch 3 pixels from every border: no shift crops it
    g = torch.Generator().manual_seed(0)
    out = random_shift(x, g)
    g = torch.Generator().manual_seed(0)
    dx, dy = torch.randint(0, 5, (40,), generator=g), torch.randint(0, 5, (40,), generator=g)
    seen = set()
    for i in range(40):
        want = torch.roll(x[i], shifts=(2 - int(dy[i]), 2 - int(dx[i])), dims=(1, 2))
        assert torch.equal(out[i], want)
        seen.add((int(dx[i]), int(dy[i])))
    assert len(seen) > 10  # offsets vary per image


def test_labels_outside_the_digits_are_refused(mnist):
    x, y, xt, yt = mnist
    with pytest.raises(DataError, match=r"\[0, 10\)"):
        classification_accuracy_score(x[:64], torch.full((64,), 10), xt, yt, steps=1)
    with pytest.raises(DataError, match="labels must be integers"):
        classification_accuracy_score(x[:64], y[:63], xt, yt, steps=1)
    clf = train_classifier(x[:64], y[:64], steps=1, batch_size=32)
    assert 0.0 <= classifier_accuracy(clf, xt[:10], yt[:10]) <= 1.0

"""The sample-quality metrics against closed forms, brute force and the reference prdc package; the protocol each
record carries; one-line errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from genzoo.errors import GenzooError
from genzoo.eval import METRICS, features, inception_score, kid, prdc, sample_metrics
from genzoo.math.divergences import mmd


def _gauss(n, d=16, seed=0, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def _poly(a, b):
    return (a @ b / len(a) + 1.0) ** 3


def test_kid_kernel_is_the_unbiased_mmd_by_brute_force():
    x, y = _gauss(6, 3, 1).numpy(), _gauss(5, 3, 2).numpy()
    kxx = sum(_poly(x[i], x[j]) for i, j in itertools.permutations(range(6), 2)) / (6 * 5)
    kyy = sum(_poly(y[i], y[j]) for i, j in itertools.permutations(range(5), 2)) / (5 * 4)
    kxy = sum(_poly(a, b) for a in x for b in y) / 30
    assert float(mmd(torch.tensor(x), torch.tensor(y), kernel="poly")) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)


def test_kid_is_zero_for_one_distribution_and_grows_with_noise():
    real, fake = _gauss(1000, seed=1), _gauss(1000, seed=2)
    r = kid(real, fake, subsets=50, subset_size=500)
    assert abs(r["value"]) < 3 * r["se"] / 50**0.5 + 1e-12 or abs(r["value"]) < r["se"]
    # the biased V-statistic (diagonal terms kept) sits well above zero for the same samples: the test above can fail
    x, y = real[:500], fake[:500]
    kxx, kyy, kxy = ((x @ x.T / 16 + 1) ** 3), ((y @ y.T / 16 + 1) ** 3), ((x @ y.T / 16 + 1) ** 3)
    biased = float(kxx.mean() + kyy.mean() - 2 * kxy.mean())
    assert biased > 5 * r["se"]
    vals = [kid(real, fake + s * _gauss(1000, seed=3), subsets=20, subset_size=500)["value"]
            for s in (0.5, 1.0, 2.0, 4.0)]
    assert all(a < b for a, b in zip(vals, vals[1:], strict=False)) and vals[0] > 0


def test_prdc_by_hand_on_five_points():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    fake = torch.tensor([[0.5], [2.9], [6.0], [20.0], [21.0]])
    r = prdc(real, fake, k=1)
    # real 1-NN radii: 1, 1, 1, 1, 7; fake 1-NN radii: 2.4, 2.4, 3.1, 1, 1
    # precision: 0.5 (in the balls of 0 and 1), 2.9 (balls of 2 and 3), 6.0 (the ball of 10, radius 7): 3/5
    # density: 0.5 -> 2 balls (0, 1), 2.9 -> 2 balls (2, 3; |2.9 - 10| = 7.1 > 7), 6.0 -> 1 ball: 5 / 5
    # recall: reals in some fake ball: 0 (|0-0.5|<2.4), 1, 2, 3 (2.9's ball), 10 (|10-6|=4 > 3.1): 4/5
    # coverage: nearest fake within the real's radius: 0 (0.5 < 1), 1 (0.5 < 1), 2 (0.9 < 1), 3 (0.1), 10 (4 < 7): 1
    assert r == {"precision": 0.6, "recall": 0.8, "density": 1.0, "coverage": 1.0, "k": 1}


def test_prdc_matches_the_reference_package():
    ref = pytest.importorskip("prdc")
    real, fake = _gauss(500, seed=4), _gauss(500, seed=5)
    for k in (3, 5):
        mine = prdc(real, fake, k=k)
        theirs = ref.compute_prdc(real.numpy(), fake.numpy(), nearest_k=k)
        for key in ("precision", "recall", "density", "coverage"):
            assert mine[key] == pytest.approx(float(theirs[key]), abs=0.01), (k, key)


def test_prdc_a_shifted_sample_loses_precision_and_coverage():
    real = _gauss(500, seed=6)
    same, shifted = prdc(real, _gauss(500, seed=7)), prdc(real, _gauss(500, seed=7, shift=1.0))
    assert shifted["precision"] < same["precision"] - 0.2 and shifted["coverage"] < same["coverage"] - 0.2


def test_inception_score_closed_forms():
    onehot = torch.eye(10).repeat(50, 1)  # every split of 50 holds each class 5 times
    assert inception_score(onehot, splits=10)["value"] == pytest.approx(10.0, rel=1e-9)
    assert inception_score(torch.full((500, 10), 0.1))["value"] == pytest.approx(1.0, abs=1e-12)
    collapsed = torch.zeros(500, 10)
    collapsed[:, 3] = 1.0  # confident but one class only: 1, the score's mode-collapse blindness to quality aside
    assert inception_score(collapsed)["value"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(GenzooError):
        inception_score(torch.rand(10, 10))


def test_sample_metrics_records_their_protocol_and_fid_of_x_with_itself_is_zero():
    from genzoo.data import get

    x = get("mnist", split="test").x[:300]
    m = sample_metrics(x, x, reference_name="mnist test")
    assert set(m) == {"fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classifier"}
    assert abs(m["fid"]["value"]) < 1e-3
    for name, rec in m.items():
        assert {"value", "n_samples", "n_reference", "reference", "features", "features_sha256"} <= set(rec), name
        assert rec["n_samples"] == 300 and rec["reference"] == "mnist test"
    assert m["precision"]["k"] == 3 and m["density"]["k"] == 5 and m["kid"]["kernel"] == "poly3"
    assert len(m["fid"]["features_sha256"]) == 64
    assert m["precision"]["value"] == 1.0 and m["coverage"]["value"] == 1.0  # every point is its own neighbour


def test_sample_metrics_on_points_and_errors():
    from genzoo.data import get

    r = get("ring8", split="test").x
    m = sample_metrics(r[:1000], r[1000:3000], dataset="ring8")
    assert set(m) == {"kid", "precision", "recall", "density", "coverage", "mmd", "sliced_wasserstein", "modes"}
    assert m["modes"]["modes_covered"] == 8 and abs(m["mmd"]["value"]) < 1e-3 and m["mmd"]["bandwidth"] > 0
    far = sample_metrics(r[:1000] * 1.5, r[1000:3000], dataset="ring8", metrics=["mmd", "modes"])
    assert far["mmd"]["value"] > 0.02 and far["modes"]["high_quality_pct"] < 10
    assert "modes" not in sample_metrics(r[:100], r[100:300], dataset="moons")
    with pytest.raises(GenzooError, match="(?i)did you mean") as e:
        sample_metrics(r[:100], r[100:200], metrics=["fidd"])
    assert "\n" not in str(e.value)
    with pytest.raises(GenzooError, match="does not apply"):
        sample_metrics(r[:100], r[100:200], metrics=["fid"])
    assert all(isinstance(v, str) and "(" in v for v in METRICS.values())


def test_inception_extractor_without_weights_says_what_is_missing(tmp_path):
    x = torch.rand(4, 3, 32, 32)
    with pytest.raises(GenzooError, match="weights=PATH") as e:
        features(x, "inception")
    assert "\n" not in str(e.value)
    with pytest.raises(GenzooError, match="no such Inception-v3 weights file"):
        features(x, "inception", weights=tmp_path / "missing.safetensors")
    with pytest.raises(GenzooError, match="feature extractor"):
        features(x, "vgg")
    f, info = features(np.zeros((3, 2), dtype=np.float32) if False else torch.zeros(3, 2))
    assert info == {"extractor": "raw", "dim": 2, "sha256": None} and f.shape == (3, 2)

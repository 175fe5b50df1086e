"""mode_stats with exactly known samples (docs/models/gans.md, "The mode-collapse lab")."""

import math

import pytest
import torch

from genzoo.errors import DataError, UnknownNameError
from genzoo.eval.modes import kl_to_uniform, mode_stats


def _modes(name):
    from genzoo.data.toy import toy2d_modes

    m = toy2d_modes(name)
    return m.means, m.std


@pytest.mark.parametrize("name,k", [("ring8", 8), ("grid25", 25)])
def test_all_samples_at_one_mode(name, k):
    means, _ = _modes(name)
    s = means[3].repeat(2500, 1)
    st = mode_stats(s, name)
    assert st["modes_covered"] == 1 and st["n_modes"] == k
    assert st["high_quality_pct"] == pytest.approx(100.0)
    assert st["reverse_kl"] == pytest.approx(math.log(k), abs=1e-12)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_uniform_over_modes(name):
    means, std = _modes(name)
    k = means.shape[0]
    s = means.repeat(100, 1) + 0.5 * std * torch.randn(100 * k, 2).clamp(-2, 2)
    st = mode_stats(s, name)
    assert st["modes_covered"] == k
    assert st["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert st["high_quality_pct"] == pytest.approx(100.0)


def test_far_samples_are_not_high_quality():
    means, std = _modes("ring8")
    near = means[:4] + 2.9 * std * torch.tensor([1.0, 0.0])
    far = means[4:] + 3.1 * std * torch.tensor([0.0, 1.0])
    st = mode_stats(torch.cat([near, far, torch.full((2, 2), 50.0)]), "ring8")
    assert st["high_quality_pct"] == pytest.approx(100 * 4 / 10)
    assert st["modes_covered"] == 4  # the far samples cover nothing


def test_reverse_kl_uses_the_high_quality_histogram():
    """PacGAN's evaluation: KL(histogram of high-quality samples over modes || uniform). 100 HQ samples at each of
    the 8 ring modes plus 800 off-mode samples nearest to mode 0: the protocol's KL is 0; the all-samples
    histogram (reverse_kl_all, 900 of 1,600 samples at mode 0) is unbalanced and must differ."""
    means, std = _modes("ring8")
    hq = means.repeat(100, 1)
    off = means[0] * 1.2 + torch.zeros(800, 2)  # 0.2 from mode 0: nearest is mode 0, far beyond 3 std
    st = mode_stats(torch.cat([hq, off]), "ring8")
    assert st["high_quality_pct"] == pytest.approx(50.0) and st["modes_covered"] == 8
    assert st["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    p = torch.tensor([900.0] + [100.0] * 7, dtype=torch.float64) / 1600
    assert st["reverse_kl_all"] == pytest.approx(float((p * torch.log(8 * p)).sum()), rel=1e-9)
    assert st["reverse_kl_all"] > 0.3  # the other histogram would have been reported as imbalanced
    # no high-quality sample at all: KL is undefined and reported as log K
    st = mode_stats(off, "ring8")
    assert st["modes_covered"] == 0 and st["reverse_kl"] == pytest.approx(math.log(8))


def test_real_data_scores_perfectly():
    from genzoo.data.toy import toy2d

    for name, k in (("ring8", 8), ("grid25", 25)):
        st = mode_stats(toy2d(name, 2500, seed=0), name)
        assert st["modes_covered"] == k and st["high_quality_pct"] > 99.0 and st["reverse_kl"] < 0.02


def test_kl_to_uniform_known_values():
    assert kl_to_uniform([1, 1, 0, 0]) == pytest.approx(math.log(2))
    assert kl_to_uniform([3, 1]) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_bad_inputs():
    with pytest.raises(UnknownNameError):
        mode_stats(torch.zeros(3, 2), "moons-ish")
    with pytest.raises(DataError):
        mode_stats(torch.zeros(3, 3), "ring8")
    with pytest.raises(DataError):
        mode_stats(torch.zeros(3, 1, 28, 28), "stacked-mnist")


def _digits(label, n=1):
    from genzoo.data import get

    ds = get("mnist", split="test")
    return ds.x.float()[ds.y == label][:n]


def test_stacked_mnist_modes_with_real_digits():
    from genzoo.eval.classifier import ASSET

    if not ASSET.is_file():
        pytest.skip("classifier weights not trained yet")
    # one stacked sample per mode (1, 2, 3) repeated: exactly one mode covered, KL = log 1000
    one = torch.cat([_digits(1), _digits(2), _digits(3)], 1)
    st = mode_stats(one.repeat(50, 1, 1, 1), "stacked-mnist")
    assert st["modes_covered"] == 1 and st["counts"][123] == 50
    assert st["reverse_kl"] == pytest.approx(math.log(1000))
    # ten modes (d, d, d), equally often: KL = log 1000 - log 10
    ten = torch.cat([torch.cat([_digits(d)] * 3, 1) for d in range(10)])
    st = mode_stats(ten.repeat(3, 1, 1, 1), "stacked-mnist")
    assert st["modes_covered"] == 10 and st["reverse_kl"] == pytest.approx(math.log(100), abs=1e-9)

"""Information theory against scipy, hand-computed tables and closed-form channel capacities (two-sided)."""

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genzoo.math import (
    channel_capacity,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
)

LN2 = math.log(2.0)


def close(a, b, tol=1e-10):
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=tol))


def h2(p):
    """Binary entropy in bits."""
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def rand_prob(*shape):
    p = torch.rand(*shape, dtype=torch.float64) + 0.05
    return p / p.sum(-1, keepdim=True)


def test_entropy_matches_scipy_batched_and_in_bits():
    p = rand_prob(4, 7)
    got = entropy(p)
    ref = scipy.stats.entropy(p.numpy(), axis=-1)
    assert got.shape == (4,)
    assert close(got, ref)
    assert close(entropy(p, base=2), scipy.stats.entropy(p.numpy(), base=2, axis=-1))
    assert close(entropy(p, base=10), ref / math.log(10))
    # the other side: a perturbed distribution scores differently, and bits are not nats
    assert not close(got, scipy.stats.entropy(rand_prob(4, 7).numpy(), axis=-1), tol=1e-3)
    assert not close(entropy(p, base=2), ref, tol=1e-3)


def test_entropy_hand_table_and_zero_log_zero():
    assert entropy(torch.tensor([0.5, 0.25, 0.25]), base=2).item() == pytest.approx(1.5, abs=1e-12)
    assert entropy(torch.tensor([0.5, 0.25, 0.25]), base=2).item() != pytest.approx(1.0, abs=1e-3)
    h = entropy(torch.tensor([1.0, 0.0, 0.0]))
    assert torch.isfinite(h) and h.item() == 0.0  # 0 log 0 = 0, no NaN
    assert entropy(torch.tensor([0.5, 0.5, 0.0]), base=2).item() == pytest.approx(1.0, abs=1e-12)
    # uniform over K is the maximum, log K
    assert entropy(torch.full((8,), 1 / 8, dtype=torch.float64), base=2).item() == pytest.approx(3.0, abs=1e-12)


def test_kl_and_cross_entropy_match_scipy():
    p, q = rand_prob(3, 5), rand_prob(3, 5)
    ref = scipy.stats.entropy(p.numpy(), q.numpy(), axis=-1)
    got = kl_divergence(p, q)
    assert close(got, ref)
    assert close(kl_divergence(p, q, base=2), ref / LN2)
    assert close(cross_entropy(p, q), entropy(p) + got)
    assert close(cross_entropy(p, q), -(p * q.log()).sum(-1))
    assert close(kl_divergence(p, p), 0.0)
    # the other side: KL is asymmetric, and the swapped direction is a different number
    assert not close(got, scipy.stats.entropy(q.numpy(), p.numpy(), axis=-1), tol=1e-4)


def test_kl_infinite_where_q_zero_and_zero_terms_ignored():
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])
    assert math.isinf(kl_divergence(p, q).item()) and kl_divergence(p, q).item() > 0
    assert math.isinf(cross_entropy(p, q).item())
    # p = 0 where q > 0 is fine: terms with p_i = 0 vanish
    assert kl_divergence(q, p).item() == pytest.approx(LN2, abs=1e-7)
    assert torch.isfinite(kl_divergence(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.5])))


def test_jsd_matches_scipy_symmetric_and_bounded():
    p, q = rand_prob(6, 4), rand_prob(6, 4)
    ref = np.array([scipy.spatial.distance.jensenshannon(a, b) ** 2 for a, b in zip(p.numpy(), q.numpy())])
    got = js_divergence(p, q)
    assert close(got, ref, tol=1e-9)
    assert close(got, js_divergence(q, p))
    assert bool(((got >= 0) & (got <= LN2)).all())
    # disjoint supports reach the bound ln 2 = 1 bit; identical distributions give 0
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), base=2).item()
    assert disjoint == pytest.approx(1.0, abs=1e-12)
    assert js_divergence(p, p).abs().max().item() < 1e-12
    # the other side: JSD is not half the KL sum (a common slip)
    assert not close(got, 0.5 * (kl_divergence(p, q) + kl_divergence(q, p)), tol=1e-4)


def test_mutual_information():
    px, py = rand_prob(4), rand_prob(3)
    indep = px[:, None] * py[None, :]
    assert mutual_information(indep).abs().item() < 1e-12
    diag = torch.diag(px)
    assert mutual_information(diag).item() == pytest.approx(entropy(px).item(), abs=1e-12)
    joint = torch.tensor([[0.3, 0.1], [0.05, 0.55]], dtype=torch.float64)
    hx, hy, hxy = entropy(joint.sum(1)), entropy(joint.sum(0)), entropy(joint.flatten())
    mi = mutual_information(joint)
    assert mi.item() == pytest.approx((hx + hy - hxy).item(), abs=1e-12)
    assert mutual_information(joint, base=2).item() == pytest.approx(mi.item() / LN2, abs=1e-12)
    assert mi.item() > 0.1  # the other side: a dependent table is not independent
    batch = torch.stack([indep[:2, :2] / indep[:2, :2].sum(), joint])
    assert close(mutual_information(batch), [0.0, mi.item()])


@pytest.mark.parametrize("flip", [0.0, 0.1, 0.25, 0.5])
def test_capacity_binary_symmetric_channel(flip):
    w = torch.tensor([[1 - flip, flip], [flip, 1 - flip]], dtype=torch.float64)
    cap, r = channel_capacity(w, base=2)
    exact = 1.0 - (h2(flip) if 0 < flip < 1 else 0.0)
    assert cap.item() == pytest.approx(exact, abs=1e-8)
    assert close(r, [0.5, 0.5], tol=1e-6)
    assert abs(cap.item() - (1.0 - h2(flip + 0.02))) > 1e-3


@pytest.mark.parametrize("e", [0.0, 0.2, 0.7])
def test_capacity_erasure_channel(e):
    w = torch.tensor([[1 - e, e, 0.0], [0.0, e, 1 - e]], dtype=torch.float64)
    cap, _ = channel_capacity(w, base=2)
    assert cap.item() == pytest.approx(1 - e, abs=1e-8)
    assert abs(cap.item() - (1 - e - 0.01)) > 1e-3


def test_capacity_z_channel_has_a_nonuniform_optimal_input():
    # Z channel: 0 -> 0 always, 1 -> 0 with probability p. C = log2(1 + (1 - p) p^(p / (1 - p))) bits
    # (Cover & Thomas 2006, problem 7.8); the capacity-achieving input is not uniform.
    p = 0.5
    w = torch.tensor([[1.0, 0.0], [p, 1 - p]], dtype=torch.float64)
    cap, r = channel_capacity(w, base=2)
    exact = math.log2(1 + (1 - p) * p ** (p / (1 - p)))
    assert cap.item() == pytest.approx(exact, abs=1e-8)
    assert cap.item() == pytest.approx(math.log2(5 / 4), abs=1e-8)
    uniform_mi = mutual_information(0.5 * w, base=2).item()
    assert uniform_mi < cap.item() - 1e-3  # the uniform input does not achieve it
    assert mutual_information(r.unsqueeze(-1) * w, base=2).item() == pytest.approx(exact, abs=1e-8)
    assert r[1].item() == pytest.approx(0.4, abs=1e-6)  # p*(x=1) = 2/5 for p = 1/2


def test_capacity_batched():
    w = torch.tensor([[[0.9, 0.1], [0.1, 0.9]], [[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    cap, r = channel_capacity(w, base=2)
    assert close(cap, [1 - h2(0.1), 1.0], tol=1e-8) and r.shape == (2, 2)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="negative.*-0.1"):
        entropy(torch.tensor([1.1, -0.1]))
    with pytest.raises(ValueError, match="q does not sum to 1.*1.2.*0.2"):
        kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.6, 0.6]))
    with pytest.raises(ValueError, match="joint does not sum to 1"):
        mutual_information(torch.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="transition"):
        channel_capacity(torch.tensor([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="NaN"):
        js_divergence(torch.tensor([float("nan"), 1.0]), torch.tensor([0.5, 0.5]))
    # the other side: a row normalised to rounding error is accepted
    entropy(torch.tensor([0.1, 0.2, 0.7], dtype=torch.float32))


def prob_pairs():
    vec = lambda n: st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n).filter(lambda v: sum(v) > 1e-3)
    return st.integers(2, 6).flatmap(lambda n: st.tuples(vec(n), vec(n)))


def _norm(v):
    t = torch.tensor(v, dtype=torch.float64)
    return t / t.sum()


@settings(max_examples=30, deadline=None)
@given(prob_pairs())
def test_property_kl_nonnegative_jsd_symmetric_bounded(pq):
    p, q = _norm(pq[0]), _norm(pq[1])
    assert kl_divergence(p, q).item() >= 0.0
    a, b = js_divergence(p, q).item(), js_divergence(q, p).item()
    assert a == pytest.approx(b, abs=1e-12)
    assert 0.0 <= a <= LN2
    assert js_divergence(p, q, base=2).item() <= 1.0
    h = entropy(p).item()
    assert 0.0 <= h <= math.log(len(p)) + 1e-12


def test_capacity_float32_agrees_with_float64_and_random_channels_obey_the_bounds():
    g = torch.Generator().manual_seed(0)
    w = torch.rand(3, 6, 4, dtype=torch.float64, generator=g) ** 3  # three random 6-input, 4-output channels
    w = w / w.sum(-1, keepdim=True)
    cap, r = channel_capacity(w)
    cap32, r32 = channel_capacity(w.float())
    assert cap32.dtype == torch.float32 and close(cap32, cap, tol=1e-5)
    # capacity = I(X; Y) at the returned input, and no input does better (random inputs, the optimum's defining
    # property); the bound C <= log |Y| holds
    mi_at_r = mutual_information(r.unsqueeze(-1) * w)
    assert close(mi_at_r, cap, tol=1e-9)
    others = torch.rand(200, 3, 6, dtype=torch.float64, generator=g)
    others = others / others.sum(-1, keepdim=True)
    assert bool((mutual_information(others.unsqueeze(-1) * w) <= cap + 1e-12).all())
    assert bool((cap <= math.log(4)).all())
    # the other side: the uniform input is strictly worse on these channels
    assert bool((mutual_information(w / 6) < cap - 1e-4).all())


def test_mutual_information_matches_sklearn_contingency_oracle():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(3)
    counts = rng.integers(0, 20, size=(4, 5)).astype(float)
    counts[0, 1] = 0.0  # an empty cell: 0 log 0 = 0
    ref = mutual_info_score(None, None, contingency=counts)  # nats, from the counts' empirical joint
    joint = torch.tensor(counts / counts.sum(), dtype=torch.float64)
    assert mutual_information(joint).item() == pytest.approx(ref, abs=1e-12)
    # the other side: the MI of the table's transpose is the same (symmetry), that of a shuffled table is not
    assert mutual_information(joint.T).item() == pytest.approx(ref, abs=1e-12)
    shuffled = torch.tensor(rng.permutation(counts.flatten()).reshape(4, 5) / counts.sum(), dtype=torch.float64)
    assert mutual_information(shuffled).item() != pytest.approx(ref, abs=1e-3)

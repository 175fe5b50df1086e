"""Every genzoo.math function keeps float64 (no silent float32 step) and the input's device.

Runs on the CPU always and on CUDA when a GPU is present. The values themselves are tested elsewhere; here every
result must have the input's dtype and device, and the deterministic ones must agree between float32 and float64
to float32 precision.
"""

import pytest
import torch
from torch.distributions import Independent, Normal

import genzoo.math as gm

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def calls(dev: str, dtype: torch.dtype) -> dict:
    src = torch.Generator().manual_seed(0)  # the same inputs for every dtype and device
    draw = lambda *shape: torch.randn(*shape, dtype=torch.float64, generator=src).to(dev, dtype)
    t = lambda *v: torch.tensor(v, dtype=dtype, device=dev)
    p, q = t(0.2, 0.3, 0.5), t(0.3, 0.3, 0.4)
    mu, lv, x, y = draw(4, 3), draw(4, 3), draw(30, 2), draw(30, 2) + 0.5
    g = torch.Generator(device=dev).manual_seed(0)  # for the samplers (their draws differ across dtypes)
    normal = Normal(t(0.0), t(1.0))
    diag = Independent(Normal(torch.zeros(2, dtype=dtype, device=dev), torch.ones(2, dtype=dtype, device=dev)), 1)
    lp = lambda z: -0.5 * z.pow(2).sum(-1)
    x0 = torch.zeros(3, 2, dtype=dtype, device=dev)
    cap = gm.channel_capacity(torch.stack([p, q]))
    return {
        "entropy": gm.entropy(p), "cross_entropy": gm.cross_entropy(p, q), "kl": gm.kl_divergence(p, q),
        "js": gm.js_divergence(p, q, base=2), "mi": gm.mutual_information(torch.outer(p, q)),
        "capacity": cap.capacity, "capacity_input": cap.input,
        "gaussian_kl": gm.gaussian_kl(mu, lv), "gaussian_kl_p": gm.gaussian_kl(mu, lv, mu + 1, lv - 1),
        "gaussian_entropy": gm.gaussian_entropy(lv), "gaussian_log_prob": gm.gaussian_log_prob(mu, mu + 0.1, lv),
        "reparameterize": gm.reparameterize(mu, lv, generator=g),
        "mc_estimate": gm.mc_estimate(lambda v: v.pow(2), normal, 50).stderr,
        "log_mean_exp": gm.log_mean_exp(mu, dim=0),
        "is": gm.importance_sampling(lambda v: v, normal.log_prob, normal, 50).mean,
        "is_sn": gm.importance_sampling(lambda v: v, normal.log_prob, normal, 50, self_normalized=True).stderr,
        "ess": gm.effective_sample_size(lv), "kl_mc": gm.kl_mc(diag, diag, 20).mean,
        "elbo": gm.elbo(lp, diag, 8),
        "mh": gm.metropolis_hastings(lp, x0, 4, generator=g).samples,
        "mh_rate": gm.metropolis_hastings(lp, x0, 4, generator=g).acceptance_rate,
        "mala": gm.langevin(lp, x0, 4, 0.1, metropolis=True, generator=g).samples,
        "ula": gm.langevin(lp, x0, 4, 0.1, generator=g).samples,
        "hmc": gm.hmc(lp, x0, 4, 0.1, n_leapfrog=3, generator=g).samples,
        "mmd": gm.mmd(x, y), "mmd_imq": gm.mmd(x, y, kernel="imq", bandwidth=1.0), "kid": gm.mmd(x, y, kernel="poly"),
        "median_bandwidth": gm.median_bandwidth(x, y),
        "sliced_w": gm.sliced_wasserstein(x, y, n_proj=16, generator=g),
        "w1": gm.wasserstein_1d(x[:, 0], y[:17, 0]), "w2": gm.wasserstein_1d(x.T, y.T, p=2),
        "knn_kl": gm.knn_kl(x, y, k=2), "bpd": gm.bits_per_dim(lv.sum(-1), 3),
        "gp": gm.gradient_penalty(lambda z: z.pow(2).sum(-1), x, y, generator=g),
        "r1": gm.r1_penalty(lambda z: z.pow(2).sum(-1), x), "l1": gm.l1_penalty([mu, lv]), "l2": gm.l2_penalty([mu]),
    }


@pytest.mark.parametrize("dev", DEVICES)
def test_float64_in_float64_out_on_the_input_device(dev):
    out64 = calls(dev, torch.float64)
    out32 = calls(dev, torch.float32)
    for name, v in out64.items():
        assert v.dtype == torch.float64, f"{name}: float64 input gave {v.dtype}"
        assert v.device.type == dev, f"{name}: result on {v.device}, input on {dev}"
        assert out32[name].dtype == torch.float32, f"{name}: float32 input gave {out32[name].dtype}"
        assert torch.isfinite(v).all(), name
    # the float32 path computes the same deterministic quantities (random draws differ across dtypes)
    for name in ("entropy", "cross_entropy", "kl", "js", "mi", "capacity", "gaussian_kl", "gaussian_kl_p",
                 "gaussian_entropy", "gaussian_log_prob", "log_mean_exp", "ess", "elbo", "mmd", "mmd_imq", "kid",
                 "median_bandwidth", "w1", "w2", "knn_kl", "bpd", "r1", "l1", "l2"):
        torch.testing.assert_close(out32[name].double(), out64[name], rtol=1e-4, atol=1e-5, msg=name)
    # the other side: float64 carries digits that a float32 step would have lost
    assert (out64["gaussian_log_prob"] - out64["gaussian_log_prob"].float().double()).abs().max() > 0

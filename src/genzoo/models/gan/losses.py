"""GAN losses as pure functions of discriminator outputs (logits / critic values), plus the theory of the game.

Notation: `real`, `fake` are the discriminator's raw outputs l (logits for the probabilistic losses, critic
values for the Wasserstein and hinge losses) on data and on generated samples, D = sigmoid(l). In logits,
log D = -softplus(-l) and log(1 - D) = -softplus(l), which are computed stably.

    minimax / ns discriminator  -E_data log D(x) - E_z log(1 - D(G(z)))        (Goodfellow et al. 2014, eq. 1)
    minimax generator           E_z log(1 - D(G(z)))          saturating: d/dl = -D -> 0 as D(G(z)) -> 0
    ns generator                -E_z log D(G(z))              non-saturating: d/dl = -(1 - D) -> -1
    wgan critic                 E_z f(G(z)) - E_data f(x)     (Arjovsky et al. 2017), f 1-Lipschitz by
                                                              weight clipping or the gradient penalty
    wgan generator              -E_z f(G(z))
    hinge discriminator         E relu(1 - f(x)) + E relu(1 + f(G(z)))          (Lim & Ye 2017; Miyato et al. 2018)
    hinge generator             -E_z f(G(z))

The theory (`optimal_discriminator`, `value_function`) works on densities tabulated on a grid and is what the
tests check numerically: D* = p_data / (p_data + p_g) maximises V(D, G), and V(D*, G) = -log 4 + 2 JSD.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LOSSES = ("minimax", "ns", "wgan", "wgan-gp", "hinge")


# ---- discriminator losses -------------------------------------------------------------------------------------
def d_loss_bce(real: Tensor, fake: Tensor) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z))) from logits (the minimax and non-saturating GANs share it)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def d_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """E f(G(z)) - E f(x): the negated Kantorovich-Rubinstein dual objective (critic minimises it)."""
    return fake.mean() - real.mean()


def d_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """E relu(1 - f(x)) + E relu(1 + f(G(z)))."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


# ---- generator losses -----------------------------------------------------------------------------------------
def g_loss_minimax(fake: Tensor) -> Tensor:
    """Saturating: E log(1 - D(G(z))) = -E softplus(l). Its gradient in l is -D(G(z)), which vanishes as the
    discriminator becomes confident (D -> 0), i.e. exactly early in training."""
    return -F.softplus(fake).mean()


def g_loss_ns(fake: Tensor) -> Tensor:
    """Non-saturating: -E log D(G(z)) = E softplus(-l); gradient in l is -(1 - D(G(z))) -> -1 as D -> 0."""
    return F.softplus(-fake).mean()


def g_loss_wasserstein(fake: Tensor) -> Tensor:
    """-E f(G(z)) (the WGAN, WGAN-GP and hinge generators)."""
    return -fake.mean()


def discriminator_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """The discriminator (critic) loss of `kind` in LOSSES (the WGAN-GP penalty is added by the model)."""
    if kind in ("minimax", "ns"):
        return d_loss_bce(real, fake)
    if kind in ("wgan", "wgan-gp"):
        return d_loss_wasserstein(real, fake)
    if kind == "hinge":
        return d_loss_hinge(real, fake)
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {', '.join(LOSSES)}")


def generator_loss(kind: str, fake: Tensor) -> Tensor:
    """The generator loss of `kind` in LOSSES."""
    if kind == "minimax":
        return g_loss_minimax(fake)
    if kind == "ns":
        return g_loss_ns(fake)
    if kind in ("wgan", "wgan-gp", "hinge"):
        return g_loss_wasserstein(fake)
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {', '.join(LOSSES)}")


def generator_grad_wrt_logit(kind: str, logit: Tensor) -> Tensor:
    """Analytic d(per-sample generator loss)/dl: minimax -sigmoid(l) (= -D), ns -(1 - sigmoid(l)) (= -(1 - D))."""
    if kind == "minimax":
        return -torch.sigmoid(logit)
    if kind == "ns":
        return -torch.sigmoid(-logit)
    if kind in ("wgan", "wgan-gp", "hinge"):
        return -torch.ones_like(logit)
    raise ValueError(f"unknown GAN loss {kind!r}")


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """|| E f(x) - E f(G(z)) ||_2^2 over a discriminator's intermediate features (Salimans et al. 2016, 3.1)."""
    return (real_features.detach().mean(0) - fake_features.mean(0)).pow(2).sum()


# ---- the theory of the game (densities on a grid) ---------------------------------------------------------------
def optimal_discriminator(p_data: Tensor, p_g: Tensor) -> Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Prop. 1); 1/2 where both are 0."""
    s = p_data + p_g
    return torch.where(s > 0, p_data / s.clamp_min(torch.finfo(s.dtype).tiny), torch.full_like(s, 0.5))


def value_function(d: Tensor, p_data: Tensor, p_g: Tensor, dx: float | Tensor = 1.0) -> Tensor:
    """V(D, G) = int p_data log D + p_g log(1 - D) dx, by the rectangle rule on a grid (0 log 0 = 0). D is kept
    inside [tiny, 1 - eps] so that a density underflowing to ~1e-300 times log 0 adds ~0, not -inf."""
    fi = torch.finfo(d.dtype)
    d = d.clamp(fi.tiny, 1.0 - fi.eps)
    a = torch.where(p_data > 0, p_data * torch.log(d), torch.zeros_like(d))
    b = torch.where(p_g > 0, p_g * torch.log1p(-d), torch.zeros_like(d))
    return ((a + b) * dx).sum(-1)

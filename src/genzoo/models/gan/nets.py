"""Generators and discriminators: an MLP pair for points (or flattened images) and the DCGAN pair for 28x28 and
32x32 images, each optionally conditional on labels (concatenated embedding / projection discriminator)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from genzoo.models.gan.layers import MinibatchDiscrimination, MinibatchStdDev, apply_spectral_norm

DCGAN_SIZES = {28: 7, 32: 4}  # image side -> side of the first feature map


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. (2016): conv / linear weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def normal_init(module: nn.Module, std: float) -> None:
    """Linear weights ~ N(0, std), biases 0; batch-norm scales 1, shifts 0 (the PacGAN toy code's
    IsotropicGaussian(0.02) / Constant(0) initialisation, Lin et al. 2018)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): h_j = max_k a_{j,k} over `pieces` linear pieces; the input holds
    the pieces of unit j at positions j * pieces ... j * pieces + pieces - 1 (N, units * pieces) -> (N, units)."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], -1, self.pieces).amax(-1)


def _norm2d(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":
        return nn.GroupNorm(1, ch)  # layer norm over (C, H, W), per sample (safe with the gradient penalty)
    return nn.Identity()


# ---- generators -------------------------------------------------------------------------------------------------
class MLPGenerator(nn.Module):
    """z [+ label embedding] -> Linear/ReLU (batch norm optional) x len(hidden) -> Linear -> data shape."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], hidden: tuple[int, ...], num_classes: int = 0,
                 embed_dim: int = 16, batch_norm: bool = False, out_act: str = "none"):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        d = latent_dim + (embed_dim if num_classes else 0)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(d, h)] + ([nn.BatchNorm1d(h)] if batch_norm else []) + [nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, math.prod(self.data_shape)))
        if out_act == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(z).view(-1, *self.data_shape)


class DCGANGenerator(nn.Module):
    """Radford et al. (2016): Linear -> (C0, s, s), then stride-2 transposed 4x4 convolutions with batch norm and
    ReLU, doubling the side each time, tanh output. 28x28: 7 -> 14 -> 28; 32x32: 4 -> 8 -> 16 -> 32."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], width: int = 64, num_classes: int = 0,
                 embed_dim: int = 16, batch_norm: bool = True):
        super().__init__()
        c, h, _ = data_shape
        s0 = DCGAN_SIZES[h]
        n_up = int(math.log2(h // s0))
        chans = [width * 2 ** (n_up - 1 - i) for i in range(n_up)] + [c]  # e.g. 28: [128, 64, 1]
        self.c0, self.s0 = chans[0], s0
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        d = latent_dim + (embed_dim if num_classes else 0)
        self.fc = nn.Sequential(nn.Linear(d, chans[0] * s0 * s0), nn.BatchNorm1d(chans[0] * s0 * s0)
                                if batch_norm else nn.Identity(), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(n_up):
            layers.append(nn.ConvTranspose2d(chans[i], chans[i + 1], 4, 2, 1, bias=i == n_up - 1 or not batch_norm))
            if i < n_up - 1:
                layers += ([nn.BatchNorm2d(chans[i + 1])] if batch_norm else []) + [nn.ReLU()]
        layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.net(self.fc(z).view(-1, self.c0, self.s0, self.s0))


# ---- discriminators ---------------------------------------------------------------------------------------------
class _Head(nn.Module):
    """features -> [minibatch stddev] [minibatch discrimination] -> Linear(1) [+ <embed(y), features>]."""

    def __init__(self, d: int, num_classes: int, cond: str, minibatch_std: bool, mbstd_group: int,
                 minibatch_disc: int):
        super().__init__()
        self.mbstd = MinibatchStdDev(mbstd_group) if minibatch_std else None
        d_out = d + (1 if minibatch_std else 0)
        self.mbdisc = MinibatchDiscrimination(d_out, minibatch_disc) if minibatch_disc else None
        d_out += minibatch_disc
        self.out = nn.Linear(d_out, 1)
        self.proj = nn.Embedding(num_classes, d) if (num_classes and cond == "projection") else None

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        f = h
        if self.mbstd is not None:
            f = self.mbstd(f)
        if self.mbdisc is not None:
            f = self.mbdisc(f)
        out = self.out(f).squeeze(1)
        if self.proj is not None:  # projection discriminator (Miyato & Koyama 2018): psi(phi(x)) + y^T V phi(x)
            out = out + (self.proj(y) * h).sum(1)
        return out


class MLPDiscriminator(nn.Module):
    """Flattened input [+ one-hot label (concat)] -> Linear/LeakyReLU(0.2) x len(hidden) -> head; with
    act="maxout" each hidden layer is Linear(d, h * pieces) -> Maxout(pieces) instead (the PacGAN toy
    discriminator: 3 x 200 maxout units of 5 pieces). forward returns (logits (N,), penultimate features)."""

    def __init__(self, in_shape: tuple[int, ...], hidden: tuple[int, ...], num_classes: int = 0, cond: str = "concat",
                 minibatch_std: bool = False, mbstd_group: int = 4, minibatch_disc: int = 0, norm: str = "none",
                 sn: bool = False, act: str = "lrelu", pieces: int = 5):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        d = math.prod(in_shape) + (num_classes if (num_classes and cond == "concat") else 0)
        layers: list[nn.Module] = []
        k = pieces if act == "maxout" else 1
        for h in hidden:
            layers.append(nn.Linear(d, h * k))
            if norm == "layer":
                layers.append(nn.LayerNorm(h * k))
            elif norm == "batch":
                layers.append(nn.BatchNorm1d(h * k))
            layers.append(Maxout(k) if act == "maxout" else nn.LeakyReLU(0.2))
            d = h
        self.body = nn.Sequential(*layers)
        self.head = _Head(d, num_classes, cond, minibatch_std, mbstd_group, minibatch_disc)
        if sn:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = x.flatten(1)
        if self.num_classes and self.cond == "concat":
            h = torch.cat([h, nn.functional.one_hot(y, self.num_classes).to(h.dtype)], 1)
        h = self.body(h)
        return self.head(h, y), h


class DCGANDiscriminator(nn.Module):
    """Stride-2 4x4 convolutions with LeakyReLU(0.2) (norm after all but the first), 28: 28 -> 14 -> 7,
    32: 32 -> 16 -> 8 -> 4, flattened, then the head. A concatenated condition enters as one-hot channels."""

    def __init__(self, in_shape: tuple[int, ...], width: int = 64, num_classes: int = 0, cond: str = "concat",
                 minibatch_std: bool = False, mbstd_group: int = 4, minibatch_disc: int = 0, norm: str = "batch",
                 sn: bool = False):
        super().__init__()
        c, h, _ = in_shape
        s_end = DCGAN_SIZES[h]
        n_down = int(math.log2(h // s_end))
        self.num_classes, self.cond = num_classes, cond
        cin = c + (num_classes if (num_classes and cond == "concat") else 0)
        layers: list[nn.Module] = []
        for i in range(n_down):
            cout = width * 2**i
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=i == 0 or norm != "batch"))
            if i > 0:
                layers.append(_norm2d(norm, cout))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.mbstd = MinibatchStdDev(mbstd_group) if minibatch_std else None
        d = (cin + (1 if minibatch_std else 0)) * s_end * s_end
        self.head = _Head(d, num_classes, cond, False, mbstd_group, minibatch_disc)
        dcgan_init(self)
        if sn:
            apply_spectral_norm(self)

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.num_classes and self.cond == "concat":
            onehot = nn.functional.one_hot(y, self.num_classes).to(x.dtype)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.body(x)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = h.flatten(1)
        return self.head(h, y), h

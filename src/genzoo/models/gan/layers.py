"""GAN building blocks: spectral normalisation (genzoo.nn.spectral, extended to the equalised layers), minibatch
discrimination and standard deviation, packing, pixel norm and equalised-learning-rate layers (docs/models/gans.md)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.spectral import apply_spectral_norm as _apply_spectral_norm


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018; genzoo.nn.spectral) on every Linear / Conv / ConvTranspose /
    Embedding weight of `module` and on the equalised-learning-rate layers below, whose run-time constant c is
    set to 1 under spectral norm, so their effective weight is W / sigma_max(W)."""
    return _apply_spectral_norm(module, n_power_iterations, extra_kinds=(EqualizedLinear, EqualizedConv2d))


def minibatch_stddev(x: Tensor, group_size: int = 0, eps: float = 1e-8) -> Tensor:
    """Karras et al. (2018, sec. 3) minibatch standard deviation: within each group of `group_size` samples
    (0: the whole batch), the standard deviation of every feature over the group (population, ddof = 0,
    sqrt(var + eps)), averaged over features; one scalar per group, returned per sample with shape (N,)."""
    n = x.shape[0]
    g = n if group_size <= 0 else min(group_size, n)
    if n % g:
        g = n  # a batch that does not split into groups uses one group
    y = x.reshape(g, n // g, -1)  # sample i belongs to group i % (n // g), as in the reference implementation
    std = torch.sqrt(y.var(dim=0, unbiased=False) + eps)  # (n // g, features)
    s = std.mean(dim=1)  # (n // g,)
    return s.repeat(g)


class MinibatchStdDev(nn.Module):
    """Appends the minibatch-stddev statistic as one extra feature (vectors) or one constant channel (maps)."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        s = minibatch_stddev(x, self.group_size)
        if x.dim() == 2:
            return torch.cat([x, s[:, None]], 1)
        return torch.cat([x, s.view(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])], 1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016, sec. 3.2): M_i = f(x_i) T in R^{B x C}; c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1);
    o(x_i)_b = sum_{j != i} c_b(i, j); returns [f(x_i), o(x_i)] with B extra features."""

    def __init__(self, in_features: int, n_kernels: int = 32, kernel_dim: int = 8):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.1)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(-1, self.n_kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m[:, None] - m[None, :]).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # exclude j = i (exp(0) = 1)
        return torch.cat([f, o], 1)


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN (Lin et al. 2018): m consecutive samples concatenated along features/channels: (N, C, ...) ->
    (N // m, m C, ...). N must be a multiple of m."""
    if m == 1:
        return x
    n = x.shape[0]
    if n % m:
        from genzoo.errors import ConfigError  # a ValueError too: the CLI prints it as one line

        raise ConfigError(f"PacGAN packing (pack = {m}) needs a batch size divisible by {m}, got {n}; "
                          f"set train.batch_size to a multiple of {m}")
    return x.reshape(n // m, m * x.shape[1], *x.shape[2:])


class PixelNorm(nn.Module):
    """Karras et al. (2018, sec. 4.2): b = a / sqrt(mean_c a_c^2 + eps), per pixel over channels (dim 1)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class EqualizedLinear(nn.Module):
    """Equalised learning rate (Karras et al. 2018, sec. 4.1): w ~ N(0, 1) stored, used as w * c at run time with
    c = gain / sqrt(fan_in) (He's constant, gain = sqrt(2)), so Adam's update is scale-invariant per layer."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2.0), lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualizedConv2d(nn.Module):
    """Equalised-learning-rate convolution: c = gain / sqrt(in_channels * k * k)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, padding: int = 0, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = gain / math.sqrt(in_ch * kernel_size * kernel_size)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

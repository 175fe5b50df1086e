"""Invertible transforms with log-determinants: the building blocks of every flow (docs/models/flows.md).

Convention (as zuko and `genzoo.data.transforms`): a transform maps data towards the base space,

    y, ladj = t(x, c)            ladj = log |det dy/dx|, shape (N,), summed over every non-batch dim
    x, ladj_inv = t.inverse(y, c)    ladj_inv = log |det dx/dy| = -ladj at the same pair (x, y)

so that log p_X(x) = log p_Y(t(x)) + ladj (change of variables). `c` is an optional condition (N, K) float
tensor (an embedded label); transforms that ignore it accept it. Vectors are (N, D); images (N, C, H, W), and
"channel" means dim 1 for both. Every log-det here is checked against autograd in tests/models/flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.conv import NORMS, ConvNet  # noqa: F401  (the conditioner lived here; re-exported)
from genzoo.nn.masked import MADE
from genzoo.nn.mlp import mlp
from genzoo.nn.norm import ActNormLayer


def _sum(v: Tensor) -> Tensor:
    """Sum over every non-batch dimension -> (N,)."""
    return v.flatten(1).sum(1)


def _spatial(x: Tensor) -> int:
    """Number of positions per channel: H * W for images, 1 for vectors."""
    return math.prod(x.shape[2:]) if x.dim() > 2 else 1


def _per_channel(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a (C,) vector to broadcast against x's channel dim (1)."""
    return v.view(1, -1, *([1] * (x.dim() - 2)))


class Transform(nn.Module):
    """Base class: `forward(x, c=None) -> (y, ladj)` and `inverse(y, c=None) -> (x, ladj_inv)`."""

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Compose(Transform):
    """t_n o ... o t_1: forward applies the transforms in order and adds their log-dets; inverse in reverse."""

    def __init__(self, *transforms: Transform):
        super().__init__()
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x, c=None):
        ladj = None
        for t in self.transforms:
            x, ld = t(x, c)
            ladj = ld if ladj is None else ladj + ld
        return x, x.new_zeros(x.shape[0]) if ladj is None else ladj

    def inverse(self, y, c=None):
        ladj = None
        for t in reversed(self.transforms):
            y, ld = t.inverse(y, c)
            ladj = ld if ladj is None else ladj + ld
        return y, y.new_zeros(y.shape[0]) if ladj is None else ladj

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, i):
        return self.transforms[i]


class Inverse(Transform):
    """The inverse of a transform as a transform (IAF = Inverse(MAF block): its cheap direction becomes inverse)."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, x, c=None):
        return self.transform.inverse(x, c)

    def inverse(self, y, c=None):
        return self.transform(y, c)


class Identity(Transform):
    def forward(self, x, c=None):
        return x, x.new_zeros(x.shape[0])

    def inverse(self, y, c=None):
        return y, y.new_zeros(y.shape[0])


# ---- elementwise ---------------------------------------------------------------------------------------------
class ElementwiseAffine(Transform):
    """y = (x - loc) * exp(-log_scale), elementwise (parameters of the event shape, learnable or fixed).

    ladj = -sum log_scale. Flow(ElementwiseAffine(m, log s), N(0, I)) is the distribution of m + s z, i.e.
    torch's TransformedDistribution(N(0, I), AffineTransform(m, s)). NICE's final diagonal scaling layer.
    """

    def __init__(self, shape: Sequence[int] | int, loc: Tensor | None = None, log_scale: Tensor | None = None,
                 learnable: bool = True):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        loc = torch.zeros(shape) if loc is None else torch.as_tensor(loc, dtype=torch.get_default_dtype())
        log_scale = torch.zeros(shape) if log_scale is None else torch.as_tensor(log_scale,
                                                                                 dtype=torch.get_default_dtype())
        if learnable:
            self.loc, self.log_scale = nn.Parameter(loc.clone()), nn.Parameter(log_scale.clone())
        else:
            self.register_buffer("loc", loc.clone())
            self.register_buffer("log_scale", log_scale.clone())

    def _ladj(self, x: Tensor) -> Tensor:
        return self.log_scale.sum().expand(x.shape[0]).to(x.dtype)

    def forward(self, x, c=None):
        return (x - self.loc) * torch.exp(-self.log_scale), -self._ladj(x)

    def inverse(self, y, c=None):
        return y * torch.exp(self.log_scale) + self.loc, self._ladj(y)


class Logit(Transform):
    """Logit pre-processing (RealNVP, Dinh et al. 2017, sec. 4.1): x in [0, 1] -> y = logit(s),
    s = alpha + (1 - 2 alpha) x.  dy/dx = (1 - 2 alpha) / (s (1 - s)), so

        ladj = sum_i [ ln(1 - 2 alpha) - ln s_i - ln(1 - s_i) ]

    and the inverse x = (sigmoid(y) - alpha) / (1 - 2 alpha) has ladj = sum_i [ln s + ln(1 - s) - ln(1 - 2 alpha)]
    with ln s = -softplus(-y), ln(1 - s) = -softplus(y) (stable for large |y|).
    """

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"Logit: alpha must lie in (0, 0.5), got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x, c=None):
        s = self.alpha + (1.0 - 2.0 * self.alpha) * x
        log_s, log_1ms = torch.log(s), torch.log1p(-s)
        return log_s - log_1ms, _sum(math.log(1.0 - 2.0 * self.alpha) - log_s - log_1ms)

    def inverse(self, y, c=None):
        x = (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha)
        return x, _sum(-F.softplus(-y) - F.softplus(y) - math.log(1.0 - 2.0 * self.alpha))


# ---- volume-preserving reshapes and permutations -----------------------------------------------------------
class Permute(Transform):
    """y[:, i] = x[:, perm[i]] along the channel/feature dim (a permutation matrix: ladj = 0). The permutation
    is a buffer, saved with the weights."""

    def __init__(self, perm: Sequence[int] | Tensor):
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if sorted(perm.tolist()) != list(range(len(perm))):
            raise ValueError("Permute: perm must be a permutation of 0..n-1")
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x, c=None):
        return x.index_select(1, self.perm), x.new_zeros(x.shape[0])

    def inverse(self, y, c=None):
        return y.index_select(1, self.inv_perm), y.new_zeros(y.shape[0])


class Reverse(Permute):
    """Reverse the order of the features/channels (MAF, RealNVP between couplings)."""

    def __init__(self, features: int):
        super().__init__(torch.arange(features - 1, -1, -1))


class RandomPermute(Permute):
    """A random permutation, fixed at construction (seeded) and saved as a buffer (Glow's shuffle)."""

    def __init__(self, features: int, seed: int | None = None):
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        super().__init__(torch.randperm(features, generator=g))


class Squeeze(Transform):
    """Space-to-depth (RealNVP, Glow): (N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 block into channels. ladj = 0."""

    def forward(self, x, c=None):
        n, ch, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"Squeeze needs even height and width, got {h}x{w}")
        y = x.view(n, ch, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, ch * 4, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y, c=None):
        n, ch, h, w = y.shape
        x = y.view(n, ch // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, ch // 4, h * 2, w * 2)
        return x, y.new_zeros(n)


class Flatten(Transform):
    """(N, *shape) -> (N, prod(shape)); ladj = 0. `shape` is stored to unflatten in the inverse."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x, c=None):
        return x.reshape(x.shape[0], -1), x.new_zeros(x.shape[0])

    def inverse(self, y, c=None):
        return y.reshape(y.shape[0], *self.shape), y.new_zeros(y.shape[0])


# ---- normalisation and linear mixing ------------------------------------------------------------------------
class ActNorm(ActNormLayer, Transform):
    """Per-channel affine y = (x - loc) * exp(log_scale) with data-dependent initialisation (Glow, Kingma &
    Dhariwal 2018, sec. 3.1): the first forward call sets loc = mean, log_scale = -log std (per channel, over the
    batch and positions), so that batch has zero mean and unit variance per channel.

    ladj = (H * W) * sum_c log_scale_c  (1 per channel for vectors). The "initialised" flag is a registered
    buffer, so it is saved with the weights: a loaded model does not re-initialise on its first batch (the bug
    of libraries that keep the flag as a Python attribute).
    The parameters, the buffer and `initialize` are those of `genzoo.nn.ActNormLayer` (one implementation, the
    same state_dict keys); this class adds the log-determinant and the inverse.
    """

    def _ladj(self, x: Tensor) -> Tensor:
        return (self.log_scale.sum() * _spatial(x)).expand(x.shape[0])

    def forward(self, x, c=None):
        if not bool(self.initialized):
            self.initialize(x)
        y = (x - _per_channel(self.loc, x)) * _per_channel(torch.exp(self.log_scale), x)
        return y, self._ladj(x)

    def inverse(self, y, c=None):
        x = y * _per_channel(torch.exp(-self.log_scale), y) + _per_channel(self.loc, y)
        return x, -self._ladj(y)


def _mix(w: Tensor, x: Tensor) -> Tensor:
    """Apply a (C, C) matrix along the channel dim: a 1x1 convolution for images, a linear map for vectors."""
    if x.dim() == 2:
        return x @ w.T
    return F.conv2d(x, w.view(*w.shape, 1, 1)) if x.dim() == 4 else torch.einsum("ij,nj...->ni...", w, x)


class InvConv1x1(Transform):
    """Invertible 1x1 convolution (Glow, sec. 3.2): y = W x at every position, W (C, C) initialised to a random
    rotation.  ladj = H * W * log |det W|.

    With `lu=True`, W = P L (U + diag(sign_s * exp(log_s))) (P a fixed permutation, L unit lower-triangular,
    U strictly upper-triangular), so log |det W| = sum log_s costs O(C) instead of O(C^3).
    """

    def __init__(self, channels: int, lu: bool = False, seed: int | None = None):
        super().__init__()
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        w = torch.linalg.qr(torch.randn(channels, channels, generator=g, dtype=torch.float64))[0]
        self.lu = lu
        if not lu:
            self.weight = nn.Parameter(w.float())
        else:
            p, lower, upper = torch.linalg.lu(w)
            s = torch.diagonal(upper)
            self.register_buffer("p", p.float())
            self.register_buffer("sign_s", torch.sign(s).float())
            self.register_buffer("l_mask", torch.tril(torch.ones(channels, channels), -1))
            self.register_buffer("eye", torch.eye(channels))
            self.lower = nn.Parameter(lower.float())
            self.upper = nn.Parameter(torch.triu(upper, 1).float())
            self.log_s = nn.Parameter(torch.log(s.abs()).float())

    def weight_matrix(self) -> Tensor:
        """W (reconstructed from its LU factors when lu=True)."""
        if not self.lu:
            return self.weight
        lower = self.lower * self.l_mask + self.eye
        upper = self.upper * self.l_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ lower @ upper

    def logabsdet(self) -> Tensor:
        """log |det W|: sum log_s (LU) or slogdet (plain)."""
        return self.log_s.sum() if self.lu else torch.linalg.slogdet(self.weight)[1]

    def forward(self, x, c=None):
        w = self.weight_matrix().to(x.dtype)
        return _mix(w, x), (self.logabsdet().to(x.dtype) * _spatial(x)).expand(x.shape[0])

    def inverse(self, y, c=None):
        w = self.weight_matrix().to(y.dtype)
        return _mix(torch.linalg.inv(w), y), (-self.logabsdet().to(y.dtype) * _spatial(y)).expand(y.shape[0])


# ---- couplings -----------------------------------------------------------------------------------------------
SCALES = ("tanh", "sigmoid", "exp", "none")


def bounded_log_scale(raw: Tensor, kind: str, bound: float = 2.0) -> Tensor:
    """log s from a conditioner output: "tanh" bound * tanh(raw / bound) (|log s| < bound, soft-clamped as in
    RealNVP's tanh-scaled s), "sigmoid" log sigmoid(raw + 2) (Glow: s in (0, 1), s = 0.88 at raw = 0),
    "exp" raw (unbounded), "none" 0 (additive)."""
    if kind == "tanh":
        return bound * torch.tanh(raw / bound)
    if kind == "sigmoid":
        return F.logsigmoid(raw + 2.0)
    if kind == "exp":
        return raw
    if kind == "none":
        return torch.zeros_like(raw)
    raise ValueError(f"unknown scale {kind!r}; valid: {', '.join(SCALES)}")


def _as_slice(idx: Tensor) -> slice | None:
    """idx as a Python slice when it is an arithmetic progression (alternating or half masks), else None."""
    i = idx.tolist()
    if len(i) == 1:
        return slice(i[0], i[0] + 1)
    step = i[1] - i[0]
    if step > 0 and all(b - a == step for a, b in zip(i, i[1:])):
        return slice(i[0], i[-1] + 1, step)
    return None


class VectorCoupling(Transform):
    """Affine coupling on vectors (N, D) (Dinh et al. 2017): with a binary mask m splitting x into x_a (m = 1,
    kept) and x_b (transformed),

        y_a = x_a,   y_b = x_b * exp(s(x_a, c)) + t(x_a, c),   ladj = sum_j s_j

    `scale="none"` is NICE's additive coupling (ladj = 0). The conditioner is an MLP on [x_a, c]; `zero_last`
    makes the coupling the identity at initialisation. Masks whose kept/transformed features are arithmetic
    progressions (alternating, halves) are split and reassembled with strided views instead of gathers.
    """

    def __init__(self, mask: Sequence[bool] | Tensor, hidden: Sequence[int] = (64, 64), context: int = 0,
                 scale: str = "tanh", act: str = "relu", zero_last: bool = True, bound: float = 2.0):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.all() or not mask.any():
            raise ValueError("coupling mask must keep at least one feature and transform at least one")
        bounded_log_scale(torch.zeros(1), scale)
        self.scale, self.bound = scale, bound
        self.register_buffer("idx_a", torch.nonzero(mask).flatten())
        self.register_buffer("idx_b", torch.nonzero(~mask).flatten())
        self.sl_a, self.sl_b = _as_slice(self.idx_a), _as_slice(self.idx_b)
        self.fast = self.sl_a is not None and self.sl_b is not None
        na, nb = len(self.idx_a), len(self.idx_b)
        # contiguous halves reassemble with one cat: "ab" (kept first), "ba" (transformed first)
        self.cat = None
        if self.fast and self.sl_a.step in (None, 1) and self.sl_b.step in (None, 1):
            self.cat = "ab" if self.sl_a.start == 0 else "ba"
        self.net = mlp(na + context, hidden, nb * (1 if scale == "none" else 2), act=act, zero_last=zero_last)
        for m in self.net:  # ReLU after a Linear may overwrite its input (autograd keeps the output)
            if isinstance(m, nn.ReLU):
                m.inplace = True

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.cat is not None:  # contiguous halves: one split (its backward is one cat)
            na = len(self.idx_a)
            if self.cat == "ab":
                return x.split([na, x.shape[1] - na], 1)
            xb, xa = x.split([x.shape[1] - na, na], 1)
            return xa, xb
        if self.fast:
            return x[:, self.sl_a], x[:, self.sl_b]
        return x.index_select(1, self.idx_a), x.index_select(1, self.idx_b)

    def _merge(self, a: Tensor, b: Tensor) -> Tensor:
        if self.cat is not None:
            return torch.cat([a, b] if self.cat == "ab" else [b, a], 1)
        out = a.new_empty(a.shape[0], a.shape[1] + b.shape[1])
        if self.fast:
            out[:, self.sl_a] = a
            out[:, self.sl_b] = b
            return out
        return out.index_copy(1, self.idx_a, a).index_copy(1, self.idx_b, b)

    def _params(self, xa: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.net(xa if c is None else torch.cat([xa, c.to(xa.dtype)], 1))
        if self.scale == "none":
            return torch.zeros_like(h), h
        raw, t = h.chunk(2, 1)
        return bounded_log_scale(raw, self.scale, self.bound), t

    def forward(self, x, c=None):
        xa, xb = self._split(x)
        if self.scale == "none":
            yb = xb + self.net(xa if c is None else torch.cat([xa, c.to(xa.dtype)], 1))
            return self._merge(xa, yb), x.new_zeros(x.shape[0])
        log_s, t = self._params(xa, c)
        return self._merge(xa, torch.addcmul(t, xb, log_s.exp())), log_s.sum(1)

    def inverse(self, y, c=None):
        ya, yb = self._split(y)
        log_s, t = self._params(ya, c)
        return self._merge(ya, (yb - t) * torch.exp(-log_s)), -log_s.sum(1)


def alternating_mask(features: int, parity: int) -> Tensor:
    """Vector mask keeping features i with i % 2 == parity (for D = 1 there is nothing to couple)."""
    return torch.arange(features) % 2 == parity


def checkerboard_mask(h: int, w: int, parity: int) -> Tensor:
    """(1, 1, H, W) float mask, 1 where (i + j) % 2 == parity (RealNVP's spatial checkerboard)."""
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((i + j) % 2) == parity).float().view(1, 1, h, w)


def channel_mask(channels: int, parity: int) -> Tensor:
    """(1, C, 1, 1) float mask, 1 on the first half of the channels (parity 0) or the second half (parity 1)."""
    m = (torch.arange(channels) < channels // 2).float()
    return (m if parity == 0 else 1.0 - m).view(1, channels, 1, 1)


class ImageCoupling(Transform):
    """Affine coupling on images with a fixed mask m (checkerboard or channel), RealNVP eq. (9):

        y = m * x + (1 - m) * (x * exp(s(m * x, c)) + t(m * x, c)),   ladj = sum (1 - m) * s

    s and t come from one `ConvNet` (`hidden`, `layers`, `kernel`, `residual`, `norm` as there); the scale is bounded as
    in `bounded_log_scale` ("none": additive). A channel mask (shape (1, C, 1, 1), one contiguous block of kept
    channels, as `channel_mask`) is applied by splitting: the conditioner sees only the C_a kept channels and
    outputs 2 C_b channels for the C_b transformed ones (the same map as the masked form, without computing
    parameters the mask would discard). A custom `net` maps the conditioner input (the kept channels for a
    split channel mask, m * x otherwise) to 2 x (transformed channels) channels (1 x for "none").
    """

    def __init__(self, mask: Tensor, channels: int, hidden: int = 64, context: int = 0, scale: str = "tanh",
                 act: str = "relu", zero_last: bool = True, bound: float = 2.0, net: Callable | None = None,
                 layers: int = 1, kernel: int = 1, residual: bool = False, norm: str = "none"):
        super().__init__()
        bounded_log_scale(torch.zeros(1), scale)
        self.scale, self.bound = scale, bound
        mask = mask.float()
        if mask.dim() != 4 or mask.shape[0] != 1 or mask.shape[1] not in (1, channels):
            raise ValueError(f"ImageCoupling: mask must have shape (1, C or 1, H or 1, W or 1), "
                             f"got {tuple(mask.shape)}")
        self.register_buffer("mask", mask)
        keep = mask.flatten()
        self.split = None
        if mask.shape[2:] == (1, 1) and mask.shape[1] == channels:
            a, b = torch.nonzero(keep).flatten(), torch.nonzero(keep == 0).flatten()
            if len(a) == 0 or len(b) == 0:
                raise ValueError("ImageCoupling: a channel mask must keep and transform at least one channel each")
            sa, sb = _as_slice(a), _as_slice(b)
            if sa is not None and sb is not None and sa.step in (None, 1) and sb.step in (None, 1):
                self.split = (sa, sb, "ab" if sa.start == 0 else "ba")
        n_in, n_out = (len(a), len(b)) if self.split else (channels, channels)
        per = 1 if scale == "none" else 2
        self.net = net if net is not None else ConvNet(n_in, hidden, n_out * per, context, act, zero_last,
                                                       layers, kernel, residual, norm)

    def _raw(self, h: Tensor) -> tuple[Tensor, Tensor]:
        if self.scale == "none":
            return torch.zeros_like(h), h
        raw, t = h.chunk(2, 1)
        return bounded_log_scale(raw, self.scale, self.bound), t

    def _masked_params(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        m = self.mask.to(x.dtype)
        log_s, t = self._raw(self.net(x * m, c))
        inv = 1.0 - m  # zero on the kept positions: there y = x exactly (x e^0 + 0)
        return log_s * inv, t * inv

    def _cat(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat([a, b] if self.split[2] == "ab" else [b, a], 1)

    def forward(self, x, c=None):
        if self.split:
            sa, sb, _ = self.split
            xa, xb = x[:, sa], x[:, sb]
            log_s, t = self._raw(self.net(xa, c))
            return self._cat(xa, torch.addcmul(t, xb, log_s.exp())), _sum(log_s)
        log_s, t = self._masked_params(x, c)
        return torch.addcmul(t, x, log_s.exp()), _sum(log_s)

    def inverse(self, y, c=None):
        if self.split:
            sa, sb, _ = self.split
            ya, yb = y[:, sa], y[:, sb]
            log_s, t = self._raw(self.net(ya, c))
            return self._cat(ya, (yb - t) * torch.exp(-log_s)), -_sum(log_s)
        log_s, t = self._masked_params(y, c)
        return (y - t) * torch.exp(-log_s), -_sum(log_s)


# ---- multi-scale ---------------------------------------------------------------------------------------------
class MultiScale(Transform):
    """One level of a multi-scale architecture (RealNVP sec. 3.6, Glow sec. 3) with a learned prior on the
    factored-out half:

        h = pre(x);  h = [h1, h2] (channel halves);  y1 = inner(h1)  (flat);
        eps2 = (h2 - mu(h1, c)) * exp(-log_sigma(h1, c)),  output [y1, eps2.flatten]  (N, D)

    so a standard normal on eps2 is the conditional Gaussian prior N(h2; mu(h1), sigma(h1)^2) on the remaining
    half: ladj = ladj_pre + ladj_inner - sum log_sigma. mu, log_sigma come from a zero-initialised ConvNet
    (the prior starts at N(0, I)). `shape` is h's (C, H, W), for the inverse; `inner` must output (N, D1).
    """

    def __init__(self, pre: Transform, inner: Transform, shape: Sequence[int], hidden: int = 64, context: int = 0,
                 act: str = "relu", zero_last: bool = True):
        super().__init__()
        ch, h, w = shape
        if ch < 2:
            raise ValueError("MultiScale needs at least 2 channels after `pre` to split")
        self.pre, self.inner = pre, inner
        self.c1 = ch // 2
        self.shape2 = (ch - self.c1, h, w)
        self.d1 = self.c1 * h * w
        self.prior = ConvNet(self.c1, hidden, 2 * (ch - self.c1), context, act, zero_last)

    def _prior(self, h1: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        mu, log_sigma = self.prior(h1, c).chunk(2, 1)
        return mu, log_sigma

    def forward(self, x, c=None):
        h, ladj = self.pre(x, c)
        h1, h2 = h[:, : self.c1], h[:, self.c1:]
        mu, log_sigma = self._prior(h1, c)
        eps2 = (h2 - mu) * torch.exp(-log_sigma)
        y1, ld1 = self.inner(h1, c)
        return torch.cat([y1, eps2.flatten(1)], 1), ladj + ld1 - _sum(log_sigma)

    def inverse(self, y, c=None):
        y1, eps2 = y[:, : self.d1], y[:, self.d1:].reshape(y.shape[0], *self.shape2)
        h1, ld1 = self.inner.inverse(y1, c)
        mu, log_sigma = self._prior(h1, c)
        h2 = eps2 * torch.exp(log_sigma) + mu
        x, ld0 = self.pre.inverse(torch.cat([h1, h2], 1), c)
        return x, ld0 + ld1 + _sum(log_sigma)


# ---- autoregressive ------------------------------------------------------------------------------------------
class MaskedAutoregressive(Transform):
    """Masked autoregressive transform (MAF, Papamakarios et al. 2017) with a MADE conditioner:

        forward (density, one pass):   u_i = (x_i - mu_i(x_<i, c)) * exp(-alpha_i(x_<i, c)),  ladj = -sum alpha_i
        inverse (sampling, D passes):  x_i = u_i * exp(alpha_i(x_<i, c)) + mu_i(x_<i, c),     ladj = +sum alpha_i

    alpha = bound * tanh(raw / bound). `Inverse(MaskedAutoregressive(...))` is an IAF block (Kingma et al.
    2016): its density evaluation is sequential, its sampling one pass.
    """

    def __init__(self, features: int, hidden: Sequence[int] = (64, 64), context: int = 0, act: str = "relu",
                 order: Sequence[int] | None = None, zero_last: bool = True, bound: float = 3.0):
        super().__init__()
        self.features, self.bound = features, bound
        self.made = MADE(features, hidden, params=2, context=context, order=order, act=act, zero_last=zero_last)

    def _params(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        out = self.made(x, None if c is None else c.to(x.dtype))
        mu, raw = out[:, 0], out[:, 1]
        return mu, self.bound * torch.tanh(raw / self.bound)

    def forward(self, x, c=None):
        mu, alpha = self._params(x, c)
        return (x - mu) * torch.exp(-alpha), -alpha.sum(1)

    def inverse(self, y, c=None):
        x = torch.zeros_like(y)
        alpha = torch.zeros_like(y)
        for _ in range(self.features):
            mu, alpha = self._params(x, c)
            x = y * torch.exp(alpha) + mu
        return x, alpha.sum(1)

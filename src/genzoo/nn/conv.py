"""The convolutional conditioner of image couplings (RealNVP, Dinh et al. 2017; Glow, Kingma & Dhariwal 2018):
a small fully convolutional network that maps the kept half of an image (and a condition) to the coupling's
scale and shift maps. Used by the flows family's ImageCoupling and MultiScale prior."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genzoo.nn.mlp import activation
from genzoo.nn.norm import ActNormLayer

NORMS = ("none", "actnorm")


class _NetActNorm(nn.Module):
    """ActNorm inside a conditioner (Glow's NN). The layer sits under `.norm`, so saved weights keep their keys
    (`...norm.loc`, `...norm.log_scale`, `...norm.initialized`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = ActNormLayer(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)


class ConvNet(nn.Module):
    """Conditioner for image couplings, `hidden` channels wide, with `layers` hidden convolutions of kernel
    `kernel` (a condition vector (N, K) enters as K constant extra channels; the output conv is zero-initialised,
    Glow's Conv2dZeros, when `zero_last`):

        plain      conv3x3 -> [norm] -> act -> layers x (conv k x k -> [norm] -> act) -> conv3x3
                   (default: one 1x1 layer, the RealNVP / Glow conditioner; norm="actnorm" is Glow's NN)
        residual   conv3x3 -> layers x (h <- h + conv k x k(act([norm](h)))) -> act([norm](h)) -> conv3x3
                   (pre-activation residual blocks, as the ResNet conditioners of RealNVP)

    norm: "none" or "actnorm" (per-channel affine with data-dependent initialisation, saved with the weights).
    """

    def __init__(self, in_ch: int, hidden: int, out_ch: int, context: int = 0, act: str = "relu",
                 zero_last: bool = True, layers: int = 1, kernel: int = 1, residual: bool = False,
                 norm: str = "none"):
        super().__init__()
        if layers < 0 or kernel % 2 == 0:
            raise ValueError(f"ConvNet: layers must be >= 0 and kernel odd, got layers={layers}, kernel={kernel}")
        if norm not in NORMS:
            raise ValueError(f"ConvNet: unknown norm {norm!r}; valid: {', '.join(NORMS)}")
        self.residual = residual

        def norm_act() -> list[nn.Module]:
            return ([_NetActNorm(hidden)] if norm == "actnorm" else []) + [activation(act)]

        conv_in = nn.Conv2d(in_ch + context, hidden, 3, padding=1)
        if residual:
            self.inp = conv_in
            self.hidden = nn.ModuleList(nn.Sequential(*norm_act(), nn.Conv2d(hidden, hidden, kernel,
                                                                               padding=kernel // 2))
                                        for _ in range(layers))
            self.head = nn.Sequential(*norm_act())
        else:
            self.inp = nn.Sequential(conv_in, *norm_act())
            self.hidden = nn.ModuleList(nn.Sequential(nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2),
                                                      *norm_act()) for _ in range(layers))
            self.head = nn.Identity()
        self.out = nn.Conv2d(hidden, out_ch, 3, padding=1)
        if zero_last:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            x = torch.cat([x, c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.inp(x)
        for layer in self.hidden:
            h = h + layer(h) if self.residual else layer(h)
        return self.out(self.head(h))

"""Shared layers, used by more than one family or ready for the next one:

mlp          `mlp`, `activation`
masked       `MaskedLinear`, `MADE` (Germain et al. 2015); `MaskedConv2d` (PixelCNN masks A / B with colour groups)
conv         `ConvNet`, the convolutional conditioner of image couplings (RealNVP / Glow)
attention    `AttnBlock`, residual multi-head self-attention over a feature map
embedding    `timestep_embedding` (sinusoidal) and `TimeEmbedding` (its MLP, plus a class embedding)
spectral     `apply_spectral_norm` (Miyato et al. 2018) on every weight layer of a module
norm         `group_norm` (default group count), `ActNormLayer` (data-initialised per-channel affine)
unet         `UNet`, the DDPM noise-prediction network built from the blocks above

Family-only layers stay in their family (e.g. the GANs' equalised-learning-rate layers, the flows' invertible
transforms).
"""

from genzoo.nn.attention import AttnBlock
from genzoo.nn.conv import ConvNet
from genzoo.nn.embedding import TimeEmbedding, timestep_embedding
from genzoo.nn.masked import MADE, MaskedConv2d, MaskedLinear, made_degrees, made_masks, pixelcnn_mask
from genzoo.nn.mlp import activation, mlp
from genzoo.nn.norm import ActNormLayer, group_norm
from genzoo.nn.spectral import apply_spectral_norm
from genzoo.nn.unet import UNet

__all__ = [
    "MADE",
    "ActNormLayer",
    "AttnBlock",
    "ConvNet",
    "MaskedConv2d",
    "MaskedLinear",
    "TimeEmbedding",
    "UNet",
    "activation",
    "apply_spectral_norm",
    "group_norm",
    "made_degrees",
    "made_masks",
    "mlp",
    "pixelcnn_mask",
    "timestep_embedding",
]

"""The autoregressive family: p(x) = prod_i p(x_i | x_<i) over sub-pixels (docs/models/autoregressive.md).

    outputs   per-sub-pixel output distributions (Bernoulli, categorical, discretised logistic mixture)
    base      the shared config, exact log p(x) by the chain rule, sampling sub-pixel by sub-pixel, receptive_field
    made      `made` (Germain et al. 2015): a masked MLP, order-agnostic training and an order ensemble
    pixelcnn  `pixelcnn` (van den Oord et al. 2016a) and `gated-pixelcnn` (van den Oord et al. 2016b)
    pixelrnn  `pixelrnn` (Row LSTM) and `pixelrnn-diag` (Diagonal BiLSTM) (van den Oord et al. 2016a)
"""

from genzoo.models.autoregressive.base import AutoregressiveConfig, AutoregressiveImageModel, receptive_field
from genzoo.models.autoregressive.made import MADEConfig, MADEModel
from genzoo.models.autoregressive.outputs import (
    Bernoulli,
    Categorical,
    DiscretizedLogisticMixture,
    PixelOutput,
    make_output,
    split_channels,
)
from genzoo.models.autoregressive.pixelcnn import GatedPixelCNN, GatedPixelCNNConfig, PixelCNN, PixelCNNConfig
from genzoo.models.autoregressive.pixelrnn import (
    DiagonalBiLSTM,
    DiagonalLSTM,
    DiagonalPixelRNN,
    DiagonalPixelRNNConfig,
    MaskedRowConv,
    PixelRNN,
    PixelRNNConfig,
    RowLSTM,
    skew,
    unskew,
)

__all__ = [
    "AutoregressiveConfig",
    "AutoregressiveImageModel",
    "Bernoulli",
    "Categorical",
    "DiagonalBiLSTM",
    "DiagonalLSTM",
    "DiagonalPixelRNN",
    "DiagonalPixelRNNConfig",
    "DiscretizedLogisticMixture",
    "GatedPixelCNN",
    "GatedPixelCNNConfig",
    "MADEConfig",
    "MADEModel",
    "MaskedRowConv",
    "PixelCNN",
    "PixelCNNConfig",
    "PixelOutput",
    "PixelRNN",
    "PixelRNNConfig",
    "RowLSTM",
    "make_output",
    "receptive_field",
    "skew",
    "split_channels",
    "unskew",
]

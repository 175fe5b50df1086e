"""The autoregressive family: p(x) = prod_i p(x_i | x_<i) over sub-pixels (docs/models/autoregressive.md).

    outputs   per-sub-pixel output distributions (Bernoulli, categorical, discretised logistic mixture)
    pixelrnn  PixelRNN: Row LSTM (`pixelrnn`) and Diagonal BiLSTM (`pixelrnn-diag`) layers (van den Oord et al. 2016)
"""

from genzoo.models.autoregressive.outputs import (
    Bernoulli,
    Categorical,
    DiscretizedLogisticMixture,
    PixelOutput,
    make_output,
    split_channels,
)
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
    "Bernoulli",
    "Categorical",
    "DiagonalBiLSTM",
    "DiagonalLSTM",
    "DiagonalPixelRNN",
    "DiagonalPixelRNNConfig",
    "DiscretizedLogisticMixture",
    "MaskedRowConv",
    "PixelOutput",
    "PixelRNN",
    "PixelRNNConfig",
    "RowLSTM",
    "make_output",
    "skew",
    "split_channels",
    "unskew",
]

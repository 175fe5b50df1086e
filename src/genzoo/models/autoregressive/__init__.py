"""The autoregressive family: p(x) = prod_i p(x_i | x_<i) over sub-pixels (docs/models/autoregressive.md).

    outputs   per-sub-pixel output distributions (Bernoulli, categorical, discretised logistic mixture)
"""

from genzoo.models.autoregressive.outputs import (
    Bernoulli,
    Categorical,
    DiscretizedLogisticMixture,
    PixelOutput,
    make_output,
    split_channels,
)

__all__ = [
    "Bernoulli",
    "Categorical",
    "DiscretizedLogisticMixture",
    "PixelOutput",
    "make_output",
    "split_channels",
]

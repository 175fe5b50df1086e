"""Normalizing flows: transforms with log-determinants, RealNVP, Glow, MAF, NICE (docs/models/flows.md).

    from genzoo.models.flows import Flow, Compose, VectorCoupling, StandardNormal, alternating_mask
    flow = Flow(Compose(*[VectorCoupling(alternating_mask(2, i % 2)) for i in range(4)]), StandardNormal(2))
    flow.log_prob(x); flow.sample(100); flow.rsample(100)

Registered models (family "flow"): `realnvp`, `glow`, `maf`, `nice`.
"""

from genzoo.models.flows.distribution import Flow, StandardNormal
from genzoo.models.flows.models import (
    MAF,
    NICE,
    FlowConfig,
    FlowModel,
    Glow,
    GlowConfig,
    MAFConfig,
    NICEConfig,
    RealNVP,
    RealNVPConfig,
)
from genzoo.models.flows.transforms import (
    ActNorm,
    Compose,
    ConvNet,
    ElementwiseAffine,
    Flatten,
    Identity,
    ImageCoupling,
    InvConv1x1,
    Inverse,
    Logit,
    MaskedAutoregressive,
    MultiScale,
    Permute,
    RandomPermute,
    Reverse,
    Squeeze,
    Transform,
    VectorCoupling,
    alternating_mask,
    bounded_log_scale,
    channel_mask,
    checkerboard_mask,
)

__all__ = [
    "MAF",
    "NICE",
    "ActNorm",
    "Compose",
    "ConvNet",
    "ElementwiseAffine",
    "Flatten",
    "Flow",
    "FlowConfig",
    "FlowModel",
    "Glow",
    "GlowConfig",
    "Identity",
    "ImageCoupling",
    "InvConv1x1",
    "Inverse",
    "Logit",
    "MAFConfig",
    "MaskedAutoregressive",
    "MultiScale",
    "NICEConfig",
    "Permute",
    "RandomPermute",
    "RealNVP",
    "RealNVPConfig",
    "Reverse",
    "Squeeze",
    "StandardNormal",
    "Transform",
    "VectorCoupling",
    "alternating_mask",
    "bounded_log_scale",
    "channel_mask",
    "checkerboard_mask",
]

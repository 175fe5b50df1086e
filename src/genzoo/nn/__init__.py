"""Shared layers: MLPs, masked linear/conv, UNet, attention, spectral-norm helpers."""

from genzoo.nn.mlp import activation, mlp

__all__ = ["activation", "mlp"]

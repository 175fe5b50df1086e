"""Shared layers: MLPs, masked linear/conv, UNet, attention, spectral-norm helpers."""

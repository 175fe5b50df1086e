"""Normalizing flows: transforms with log-determinants, RealNVP, Glow, MAF, NICE (docs/models/flows.md)."""

"""`genzoo lab` (not yet implemented)."""

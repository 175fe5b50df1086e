"""`genzoo evaluate` (not yet implemented)."""

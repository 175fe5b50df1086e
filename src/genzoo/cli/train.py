"""`genzoo train` (not yet implemented)."""

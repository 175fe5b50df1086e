"""`genzoo sample` (not yet implemented)."""

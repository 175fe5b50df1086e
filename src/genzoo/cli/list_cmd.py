"""`genzoo list_cmd` (not yet implemented)."""

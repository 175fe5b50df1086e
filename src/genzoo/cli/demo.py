"""`genzoo demo` (not yet implemented)."""

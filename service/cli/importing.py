"""`onemap import` (being written)."""

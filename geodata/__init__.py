"""Where data comes from: base geography, demonstration data, importers, the database."""

"""Bronze: raw partner files landed as append-only Delta tables, one per source."""

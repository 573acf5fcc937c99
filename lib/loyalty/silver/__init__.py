"""Silver: conformed, validated, privacy-safe tables built from bronze."""

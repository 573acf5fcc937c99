"""Gold layer: point-in-time member features and KPI marts (docs/gold.md)."""

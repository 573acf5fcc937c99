"""Product and category recommendations: implicit-feedback ALS on member x product purchases.
Jobs call ``run.train`` and ``run.score``; the other modules are pure (no table names, no MLflow)."""

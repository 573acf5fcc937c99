"""Member segments: KMeans on gold.member_features, named by conf rules, tracked in MLflow.
Jobs call ``run.train`` and ``run.score``; the other modules are pure (no table names, no MLflow)."""

"""Machine learning on the lake: MLflow tracking and registry (``tracking``), ranking metrics
(``metrics``) and the ALS recommender (``recommend``). See docs/models.md."""

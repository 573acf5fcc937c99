"""Machine learning on the lake: MLflow tracking, registry and the promotion gate (``tracking``),
ranking metrics (``metrics``), and one package per model (``segments``, ``recommend``). See docs/models.md."""

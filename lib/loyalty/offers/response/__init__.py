"""The offer response model: who converts on an offer because of it (uplift), learned from past
issues with their random control, against the marketer's propensity baseline. Pure modules
(settings, training, features, model, evaluate, serve) plus ``run``, the only one that touches
tables and MLflow. Docs: docs/offers.md, "Response model"."""

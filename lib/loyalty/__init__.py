"""Loyalty Lakehouse: partner feeds -> Delta lakehouse -> personalization."""

__version__ = "0.1.0"

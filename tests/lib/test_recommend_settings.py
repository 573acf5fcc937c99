"""conf ml.recommender is checked; the default as_of."""

from datetime import date

import pytest

from loyalty import conf
from loyalty.ml.recommend import settings


def d(text):
    return date.fromisoformat(text)


def test_params_reject_bad_settings():
    with pytest.raises(conf.ConfigError, match="ml.recommender.confidence"):
        settings.from_conf(conf.load("test", ["ml.recommender.confidence=visits"]))
    with pytest.raises(conf.ConfigError, match="ml.recommender.rank"):
        settings.from_conf(conf.load("test", ["ml.recommender.rank=0"]))
    with pytest.raises(conf.ConfigError, match="cutoff_days"):
        settings.from_conf(conf.load("test", ["ml.recommender.cutoff_days=500"]))


def test_resolve_as_of():
    cfg = conf.load("test")
    assert settings.resolve_as_of(cfg, "2026-09-30") == d("2026-09-30")
    assert settings.resolve_as_of(cfg, None) == d("2026-11-01")          # silver.run_date (generator.end_date) + 1
    assert settings.resolve_as_of(conf.load("test", ["gold.as_of=2026-10-15"]), None) == d("2026-10-15")
    with pytest.raises(conf.ConfigError, match="--as-of"):
        settings.resolve_as_of(cfg, "yesterday")

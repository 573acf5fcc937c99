"""Segments: conf ml.segments is checked."""

import pytest

from loyalty import conf
from loyalty.conf import ConfigError
from loyalty.ml.segments import settings


def test_settings_refuse_log_features_outside_the_feature_list():
    cfg = conf.load("test", ["ml.segments.log_features=[tenure_days]"])
    with pytest.raises(ConfigError, match="ml.segments.log_features"):
        settings.from_conf(cfg)
    with pytest.raises(ConfigError, match="k_min"):
        settings.from_conf(conf.load("test", ["ml.segments.k_min=1"]))

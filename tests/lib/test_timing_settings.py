"""conf timing -> Params, and bad settings as one clear ConfigError (lib/loyalty/timing/settings.py)."""

import pytest

from loyalty import conf
from loyalty.timing import settings


def load(*overrides):
    return settings.from_conf(conf.load("test", list(overrides)))


def test_defaults_from_base_yaml():
    p = load()
    assert p.channels == ("EMAIL", "SMS", "PUSH", "APP", "MAIL") and p.consent_free_channels == ("APP",)
    assert p.consent_column("SMS") == "consent_sms" and p.consent_column("APP") is None
    assert p.prior_strength == 5.0 and p.hour_window == 1


@pytest.mark.parametrize("override, words", [
    ("timing.prior_strength=0", "'timing.prior_strength'"),
    ("timing.channels=[EMAIL, FAX]", "FAX"),
    ("timing.channels=[APP]", "no consent column"),                   # with consent_free_channels=[] below
    ("timing.eval_days=400", "smaller than timing.lookback_days"),
    ("timing.hour_window=12", "at most 11"),
    ("timing.channels=[EMAIL, EMAIL]", "distinct"),
])
def test_bad_settings_name_the_key(override, words):
    extra = ["timing.consent_free_channels=[]"] if "[APP]" in override else []
    with pytest.raises(conf.ConfigError, match=words):
        load(override, *extra)


def test_a_wrong_type_is_refused_at_load():
    with pytest.raises(conf.ConfigError, match="timing.lookback_days"):
        conf.load("test", ["timing.lookback_days=soon"])

"""Candidate pairs: offer activity in the week, SCD2 consent at the plan date, status and enrollment,
global holdout (decided here by the plain-Python reference), eligibility rules, recent redemptions, caps."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from loyalty import conf
from loyalty.conf import ConfigError
from loyalty.offers import candidates as C
from loyalty.offers import settings as S
from loyalty.offers.holdout import python_in_global_holdout

WEEK = date(2026, 11, 2)              # a Monday
SALT, SHARE = "t", 0.3
T0, HIGH = datetime(2026, 1, 1), datetime(9999, 12, 31)
MEMBER_COLS = ["member_id", "home_banner", "province", "age_band", "enrollment_date", "status", "consent_email",
               "consent_sms", "consent_push", "consent_mail", "valid_from", "valid_to", "is_current"]
OFFER_COLS = ["offer_id", "offer_type", "banner", "target_category", "funding_partner", "reward_cost", "margin_rate",
              "min_spend", "campaign_budget", "start_date", "end_date"]


def member(mid, banner, consents, *, since=T0, until=HIGH, status="ACTIVE", enrolled=date(2025, 1, 1)):
    e, s, p, m = (c in consents for c in ("E", "S", "P", "M"))
    return (mid, banner, "ON", "35-44", enrolled, status, e, s, p, m, since, until, until == HIGH)


@pytest.fixture
def settings():
    base = S.from_conf(conf.load("test"))
    rules = base.rules + (S.Rule("O2 for deal seekers", "offer_id = 'O2'", "segment_name = 'Deal seekers'"),)
    return replace(base, rules=rules, per_member_week=2, per_channel_week=1, no_repeat_days=90, no_repeat_by="offer_id")


@pytest.fixture
def inputs(spark):
    from decimal import Decimal as D
    assert python_in_global_holdout("M001", SALT, SHARE)
    assert not any(python_in_global_holdout(m, SALT, SHARE) for m in ("M002", "M003", "M005", "M006", "M007", "M008",
                                                                     "M009", "M013"))
    members = spark.createDataFrame([
        member("M001", "FRESHMART", "ESPM"),                                          # global holdout
        member("M002", "FRESHMART", "E", until=datetime(2026, 11, 1)),                 # consent withdrawn ...
        member("M002", "FRESHMART", "", since=datetime(2026, 11, 1)),                  # ... before the plan date
        member("M003", "VALUMART", "", until=datetime(2026, 10, 15)),                  # push consent from 10-15,
        member("M003", "VALUMART", "P", since=datetime(2026, 10, 15), until=datetime(2026, 11, 5)),
        member("M003", "VALUMART", "", since=datetime(2026, 11, 5)),                   # withdrawn after the plan date
        member("M005", "FRESHMART", "E", status="INACTIVE"),
        member("M006", "FRESHMART", "E", enrolled=date(2026, 11, 3)),                  # enrolls during the week
        member("M007", "FRESHMART", "ES"),
        member("M008", "VALUMART", "E"),
        member("M009", "FRESHMART", "EP"),
        member("M013", "FRESHMART", "E"),                                              # no features, no segment
    ], MEMBER_COLS)
    offers = spark.createDataFrame([
        ("O1", "BONUS_POINTS", "FRESHMART", "FRUIT", "FRESHMART", D("2.00"), 0.3, D("20.00"), D("1000.00"),
         date(2026, 10, 29), date(2026, 11, 11)),
        ("O2", "MULTIPLIER", "VALUMART", "CHIPS", "BANK", D("1.00"), 0.25, D("10.00"), D("2100.00"),
         date(2026, 11, 5), date(2026, 11, 25)),
        ("O3", "BONUS_POINTS", "FRESHMART", "FRUIT", "FRESHMART", D("1.00"), 0.3, D("10.00"), D("100.00"),
         date(2026, 10, 1), date(2026, 11, 1)),                                        # ended
        ("O4", "BONUS_POINTS", "FRESHMART", "FRUIT", "FRESHMART", D("1.00"), 0.3, D("10.00"), D("100.00"),
         date(2026, 11, 9), date(2026, 11, 30)),                                       # not started
        ("O5", "BONUS_POINTS", "FRESHMART", "DIAPERS & WIPES", "FRESHMART", D("3.00"), 0.2, D("30.00"),
         D("700.00"), date(2026, 11, 1), date(2026, 11, 7)),
    ], OFFER_COLS)
    features = spark.createDataFrame([
        ("M003", date(2026, 11, 1), "VALUMART", 0.0, 1.0, 0.0),
        ("M007", date(2026, 11, 1), "FRESHMART", 1.0, 0.0, 0.0),
        ("M008", date(2026, 11, 1), "VALUMART", 0.0, 1.0, 0.3),
        ("M009", date(2026, 11, 1), "FRESHMART", 0.8, 0.2, 0.1),
    ], ["member_id", "as_of", "home_banner", "spend_share_freshmart", "spend_share_valumart", "dept_share_baby"])
    segments = spark.createDataFrame([("M003", 1, "Deal seekers"), ("M007", 2, "Core shoppers"),
                                      ("M008", 1, "Deal seekers"), ("M009", 1, "Deal seekers")],
                                     ["member_id", "segment_id", "segment_name"])
    events = spark.createDataFrame([
        ("M009", "O1", "REDEEMED", date(2026, 10, 20)),     # 13 days before: O1 is not offered again
        ("M009", "O2", "REDEEMED", date(2026, 7, 1)),       # 124 days before: outside the 90-day lookback
        ("M007", "O1", "ISSUED", date(2026, 10, 30)),       # issued, not redeemed: no effect
    ], ["member_id", "offer_id", "event_type", "event_date"])
    return members, offers, features, segments, events


def pairs_of(df):
    return sorted((r["member_id"], r["offer_id"]) for r in df.select("member_id", "offer_id").collect())


def test_candidate_pairs_hand_computed(spark, settings, inputs):
    members, offers, features, segments, events = inputs
    out = C.candidate_pairs(members, offers, WEEK, settings, salt=SALT, holdout_share=SHARE, segments=segments,
                            features=features, redemptions=events)
    # M001 holdout, M002 no consent at the plan date, M005 inactive, M006 not yet enrolled; O3/O4 not active.
    # M003: O2 (Valumart home, deal seeker; push consent valid at the plan date). M007: O1 only (no Valumart
    # spend, no baby buys). M008: O2. M009: O1 redeemed 13 days ago; O2 (Valumart spend, deal seeker, old
    # redemption) and O5 (baby buyer). M013 (no features): O1 by home banner; O5 needs baby spend, O2 a segment.
    assert pairs_of(out) == [("M003", "O2"), ("M007", "O1"), ("M008", "O2"), ("M009", "O2"), ("M009", "O5"),
                             ("M013", "O1")]
    by = {r["member_id"]: (list(r["channels"]), r["capacity"]) for r in out.select("member_id", "channels", "capacity")
          .distinct().collect()}
    assert by == {"M003": (["PUSH"], 1), "M007": (["EMAIL", "SMS"], 2), "M008": (["EMAIL"], 1),
                  "M009": (["EMAIL", "PUSH"], 2), "M013": (["EMAIL"], 1)}
    budgets = {r["offer_id"]: r["weekly_budget"] for r in out.select("offer_id", "weekly_budget").distinct().collect()}
    # pro rata: O1 7 of its 14 days are in the week, O2 4 of 21, O5 6 of 7
    assert budgets == pytest.approx({"O1": 500.0, "O2": 400.0, "O5": 600.0})


def test_no_repeat_by_category_and_caps(spark, settings, inputs):
    members, offers, features, segments, events = inputs
    s = replace(settings, no_repeat_by="category", per_member_week=1)
    extra = offers.unionByName(spark.createDataFrame(
        [("O6", "BONUS_POINTS", "FRESHMART", "FRUIT", "FRESHMART", 1.0, 0.3, 10.0, 100.0, date(2026, 11, 1),
          date(2026, 11, 30))], OFFER_COLS).selectExpr(*[f"cast({c} as {t})" for c, t in offers.dtypes]))
    out = C.candidate_pairs(members, extra, WEEK, s, salt=SALT, holdout_share=SHARE, segments=segments,
                            features=features, redemptions=events)
    # M009 redeemed O1 (Freshmart FRUIT): O6, the same banner and category, is left out too
    assert ("M009", "O6") not in pairs_of(out) and ("M007", "O6") in pairs_of(out)
    assert {r["capacity"] for r in out.select("capacity").collect()} == {1}


def test_a_bad_rule_names_the_setting(spark, settings, inputs):
    members, offers, features, segments, events = inputs
    s = replace(settings, rules=(S.Rule("typo", "true", "no_such_column > 0"),))
    with pytest.raises(ConfigError, match=r"offers.eligibility.rules\[0\].*typo"):
        C.candidate_pairs(members, offers, WEEK, s, salt=SALT, holdout_share=SHARE, features=features)


def test_settings_and_week_are_checked():
    cfg = conf.load("test", ["offers.caps.no_repeat_by=banner"])
    with pytest.raises(ConfigError, match="offers.caps.no_repeat_by"):
        S.from_conf(cfg)
    with pytest.raises(ConfigError, match="offers.plan.control_share"):
        S.from_conf(conf.load("test", ["offers.plan.control_share=1.5"]))
    with pytest.raises(ConfigError, match="partner_caps.BANK"):
        S.from_conf(conf.load("test", ["offers.plan.partner_caps.BANK=lots"]))
    assert S.from_conf(conf.load("test", ["offers.plan.partner_caps.BANK=5000"])).partner_caps["BANK"] == 5000.0
    assert S.parse_week("2026-11-02") == WEEK
    with pytest.raises(ValueError, match="starts on 2026-11-02"):
        S.parse_week("2026-11-04")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        S.parse_week("next week")

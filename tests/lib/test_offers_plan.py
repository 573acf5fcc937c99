"""Plan assembly: channels by timing rank within consent and the per-channel cap, send times in local
time and UTC (zones, DST, offer validity), seeded campaign controls, the per-offer summary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from loyalty import conf
from loyalty.offers import plan as P
from loyalty.offers import settings as S

WEEK = date(2026, 11, 2)
ZONES = {"ON": "America/Toronto", "BC": "America/Vancouver"}


@pytest.fixture
def s():
    return replace(S.from_conf(conf.load("test")), per_channel_week=1, default_dow=2, default_hour=10, seed=7,
                   control_share=0.1)


def selected(spark, rows):
    cols = ["member_id", "offer_id", "value", "expected_uplift", "expected_margin", "expected_cost", "channels",
            "start_date", "end_date"]
    return spark.createDataFrame(rows, cols)


def test_channels_follow_timing_rank_within_consent(spark, s):
    sel = selected(spark, [
        ("A", "O1", 5.0, 0.1, 6.0, 1.0, ["EMAIL", "PUSH", "SMS"], WEEK, date(2026, 11, 30)),
        ("A", "O2", 7.0, 0.1, 8.0, 1.0, ["EMAIL", "PUSH", "SMS"], WEEK, date(2026, 11, 30)),
        ("B", "O1", 1.0, 0.1, 2.0, 1.0, ["SMS", "MAIL"], WEEK, date(2026, 11, 30)),
    ])
    timing = spark.createDataFrame([
        ("A", "APP", 1, 4, 20),       # not a consented (planned) channel: ignored
        ("A", "PUSH", 2, 3, 9),
        ("A", "EMAIL", 3, 5, 18),
        ("A", "SMS", 4, 1, 8),
        ("B", "MAIL", 1, 6, 11),      # B: SMS has no row, so it comes after MAIL
    ], ["member_id", "channel", "channel_rank", "best_dow", "best_hour"])
    out = {(r["member_id"], r["offer_id"]): (r["channel"], r["dow"], r["hour"])
           for r in P.assign_channels(sel, timing, s).collect()}
    # A's best offer (O2) on its top consented channel PUSH, the next on EMAIL (one per channel)
    assert out == {("A", "O2"): ("PUSH", 3, 9), ("A", "O1"): ("EMAIL", 5, 18), ("B", "O1"): ("MAIL", 6, 11)}
    # without timing: conf channel_order (EMAIL, PUSH, SMS, MAIL) and the default day and hour
    out = {(r["member_id"], r["offer_id"]): (r["channel"], r["dow"], r["hour"])
           for r in P.assign_channels(sel, None, s).collect()}
    assert out == {("A", "O2"): ("EMAIL", 2, 10), ("A", "O1"): ("PUSH", 2, 10), ("B", "O1"): ("SMS", 2, 10)}


def test_send_times_local_and_utc(spark, s):
    df = spark.createDataFrame([
        ("A", "O1", 3, 9, "BC", WEEK, date(2026, 11, 30)),               # Wed 09:00 Vancouver (PST, UTC-8)
        ("B", "O1", 1, 23, "ON", WEEK, date(2026, 11, 30)),              # Mon 23:00 Toronto (EST, UTC-5) -> Tue UTC
        ("C", "O2", 2, 10, "ON", date(2026, 11, 5), date(2026, 11, 30)), # offer starts Thursday: moved there
        ("D", "O3", 7, 10, "XX", WEEK, date(2026, 11, 4)),               # ends Wednesday; unknown province
    ], ["member_id", "offer_id", "dow", "hour", "province", "start_date", "end_date"])
    zone = P.zone_of(df["province"], ZONES, "America/Toronto")
    got = {r["member_id"]: (r["send_at_local"], r["send_at_utc"]) for r in P.with_send_times(df, WEEK, zone).collect()}
    assert got == {"A": (datetime(2026, 11, 4, 9), datetime(2026, 11, 4, 17)),
                   "B": (datetime(2026, 11, 2, 23), datetime(2026, 11, 3, 4)),
                   "C": (datetime(2026, 11, 5, 10), datetime(2026, 11, 5, 15)),
                   "D": (datetime(2026, 11, 4, 10), datetime(2026, 11, 4, 15))}


def test_controls_are_a_seeded_share_per_offer(spark):
    df = spark.createDataFrame([(f"M{i:03d}", o) for i in range(100) for o in ("O1", "O2")] +
                               [(f"M{i:03d}", "O3") for i in range(4)], ["member_id", "offer_id"])
    a = P.with_controls(df, WEEK, 7, 0.1)
    counts = {r["offer_id"]: r["n"] for r in a.where("is_control").groupBy("offer_id").count()
              .withColumnRenamed("count", "n").collect()}
    assert counts == {"O1": 10, "O2": 10}                 # round(0.1 x 4) = 0 for O3
    ids = lambda df, o: sorted(r["member_id"] for r in df.where(f"is_control and offer_id = '{o}'").collect())  # noqa: E731
    assert ids(a, "O1") == ids(P.with_controls(df, WEEK, 7, 0.1), "O1")          # a re-run draws the same
    assert ids(a, "O1") != ids(a, "O2")                                          # offers draw independently
    assert ids(a, "O1") != ids(P.with_controls(df, WEEK, 8, 0.1), "O1")          # another seed, another draw


def test_summary_hand_computed(spark):
    plan = spark.createDataFrame([
        (WEEK, "A", "O1", 2.0, 1.0, False), (WEEK, "B", "O1", 3.0, 0.5, False), (WEEK, "C", "O1", 1.0, 0.25, True),
    ], ["plan_week", "member_id", "offer_id", "expected_margin", "expected_cost", "is_control"])
    offers = spark.createDataFrame([("O1", "BANK", 2.0), ("O2", "FRESHMART", None)],
                                   "offer_id string, funding_partner string, weekly_budget double")
    got = {r["offer_id"]: r.asDict() for r in P.summary(plan, offers, WEEK).collect()}
    assert got["O1"]["selected_cost"] == pytest.approx(1.75) and got["O1"]["planned_cost"] == pytest.approx(1.5)
    assert (got["O1"]["contacts"], got["O1"]["controls"]) == (2, 1)
    assert got["O1"]["expected_incremental_margin"] == pytest.approx(5.0)
    assert got["O1"]["expected_net_value"] == pytest.approx(3.5)
    assert got["O1"]["budget_use"] == pytest.approx(0.875)
    assert (got["O2"]["contacts"], got["O2"]["budget_use"]) == (0, None)       # an offer nobody got is listed

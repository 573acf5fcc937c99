"""Held-out targets and hit rates against the baseline (lib/loyalty/timing/evaluate.py)."""

import pytest

from loyalty.timing import evaluate

EVENTS = "member_id string, kind string, channel string, local_dow int, local_hour int, w_channel double, " \
         "w_dow double, w_hour double"


def test_holdout_targets_modes_and_minimum(spark):
    rows = [("M1", "digital", "EMAIL", 1, 9, 1.0, 1.0, 1.0), ("M1", "digital", "EMAIL", 2, 9, 1.0, 1.0, 1.0),
            ("M1", "digital", "PUSH", 3, 10, 1.0, 1.0, 1.0), ("M1", "offer", "SMS", 3, 15, 1.0, 0.0, 0.0),
            ("M1", "shopping", None, 3, 15, 0.0, 1.0, 0.0), ("M1", "shopping", None, 3, 15, 0.0, 1.0, 0.0),
            ("M2", "digital", "PUSH", 1, 8, 1.0, 1.0, 1.0), ("M2", "digital", "PUSH", 1, 8, 1.0, 1.0, 1.0),
            ("M3", "shopping", None, 1, 8, 0.0, 1.0, 1.0),
            ("M4", "offer", "APP", 1, 8, 1.0, 0.0, 0.0), ("M4", "offer", "APP", 1, 8, 1.0, 0.0, 0.0),
            ("M4", "offer", "MAIL", 1, 8, 1.0, 0.0, 0.0),
            ("M6", "digital", None, 1, 7, 1.0, 1.0, 1.0), ("M6", "digital", None, 1, 7, 1.0, 1.0, 1.0),
            ("M6", "digital", "APP", 1, 7, 1.0, 1.0, 1.0)]
    got = {r["member_id"]: (r["target_channel"], r["target_hour"])
           for r in evaluate.holdout_targets(spark.createDataFrame(rows, EVENTS), 3).collect()}
    # M2 has two events, M3 only shopping: no target; M4 has no digital engagement: no hour; M6: web sessions
    # count for the hour, not for the channel
    assert got == {"M1": ("EMAIL", 9), "M4": ("APP", None), "M6": (None, 7)}


def test_hit_rates_by_hand(spark):
    choice = "member_id string, channel string, best_hour int"
    model = spark.createDataFrame([("M1", "EMAIL", 8), ("M4", "APP", 5), ("M5", "SMS", 23), ("M7", "SMS", 1)], choice)
    base = spark.createDataFrame([("M1", "PUSH", 9), ("M4", "APP", 5), ("M5", "EMAIL", 2), ("M7", "SMS", 1)], choice)
    targets = spark.createDataFrame([("M1", "EMAIL", 9), ("M4", "APP", None), ("M5", "EMAIL", 0), ("M8", "APP", 3)],
                                    "member_id string, target_channel string, target_hour int")
    m = evaluate.hit_rates(model, base, targets)
    # channel on M1, M4, M5: model 1, 1, 0; baseline 0, 1, 1
    assert m["channel_members"] == 3
    assert m["channel_hit"] == pytest.approx(2 / 3) and m["channel_hit_baseline"] == pytest.approx(2 / 3)
    assert m["channel_hit_lift"] == pytest.approx(0.0) and m["channel_hit_lift_se"] == pytest.approx(1 / 3 ** 0.5)
    assert m["channel_hit_se"] == pytest.approx((2 / 9 / 3) ** 0.5)
    # hour on M1 (8 vs 9: hit; 9: hit) and M5 (23 vs 0: hit across midnight; 2 vs 0: miss)
    assert m["hour_members"] == 2 and m["hour_hit"] == 1.0 and m["hour_hit_baseline"] == 0.5
    assert m["hour_hit_lift"] == 0.5 and m["hour_hit_lift_se"] == pytest.approx(0.5)


def test_top_choice_and_truth_targets(spark):
    timing = spark.createDataFrame([("A", "SMS", 1, 20), ("A", "EMAIL", 2, 20), ("C", None, None, 7)],
                                   "member_id string, channel string, channel_rank int, best_hour int")
    assert {tuple(r) for r in evaluate.top_choice(timing).collect()} == {("A", "SMS", 20), ("C", None, 7)}
    truth = spark.createDataFrame([(" m01 ", "PUSH", 19)], "member_id string, preferred_channel string, "
                                                           "engagement_hour int")
    assert [tuple(r) for r in evaluate.truth_targets(truth).collect()] == [("M01", "PUSH", 19)]

"""From smoothed patterns to gold.member_timing rows (lib/loyalty/timing/ranking.py)."""

from datetime import date

import pytest

from loyalty.timing import ranking
from loyalty.timing.settings import TIMING_COLUMNS

SCHEMA = "member_id string, dim string, key string, theta double, n_dim double, prior_source string"


def hours_a():
    theta = {h: 0.004 for h in range(24)}
    theta.update({12: 0.35, 23: 0.30, 0: 0.25, 1: 0.05})
    return theta


def post_rows():
    rows = []
    for ch, t in (("EMAIL", .2), ("SMS", .5), ("PUSH", .3)):
        rows.append(("A", "channel", ch, t, 10.0, "segment"))
    for d in range(1, 8):
        rows.append(("A", "dow", str(d), .4 if d == 3 else .1, 10.0, "segment"))
    rows += [("A", "hour", str(h), t, 0.0, "segment") for h, t in hours_a().items()]
    for member, n, src in (("B", 20.0, "segment"), ("C", 0.0, "population")):
        rows += [(member, "channel", ch, 0.0, n, src) for ch in ("EMAIL", "SMS", "PUSH", "APP", "MAIL")]
        rows += [(member, "dow", str(d), 1 / 7, n, src) for d in range(1, 8)]      # a tie: the smallest day
        rows += [(member, "hour", str(h), {19: .1, 20: .5, 21: .3}.get(h, .02), n, src) for h in range(24)]
    return rows


def test_best_key_with_and_without_the_circular_hour_window(spark):
    post = spark.createDataFrame(post_rows(), SCHEMA)
    assert {r[0]: r[1] for r in ranking.best_key(post, "hour", 0).collect()} == {"A": 12, "B": 20, "C": 20}
    # window +-1: 23 + 0 + 1 = .60 beats 22 + 23 + 0 = .554 and 11 + 12 + 13 = .358
    assert {r[0]: r[1] for r in ranking.best_key(post, "hour", 1).collect()}["A"] == 0
    assert {r[0]: r[1] for r in ranking.best_key(post, "dow", 0).collect()} == {"A": 3, "B": 1, "C": 1}
    # days are circular too: with +-1, Sunday (7) neighbours Monday (1)
    days = spark.createDataFrame([("X", "dow", str(d), t, 1.0, "member") for d, t in
                                  ((1, .3), (2, 0.0), (3, .1), (4, .1), (5, .1), (6, 0.0), (7, .25))], SCHEMA)
    assert ranking.best_key(days, "dow", 1).first()[1] == 1     # 7 + 1 + 2 = .55 vs 3 + 4 + 5 = .3


def test_member_timing_rows(spark):
    post = spark.createDataFrame(post_rows(), SCHEMA)
    members = spark.createDataFrame([("A",), ("B",), ("C",)], "member_id string")
    consent = spark.createDataFrame([("A", "EMAIL", 0), ("A", "SMS", 1), ("B", "SMS", 1), ("B", "MAIL", 4)],
                                    "member_id string, channel string, channel_order int")
    out = ranking.member_timing(post, members, consent, date(2026, 11, 1), alpha=5.0, hour_window=1)
    assert out.columns == TIMING_COLUMNS
    rows = {(r["member_id"], r["channel"]): r for r in out.collect()}
    assert set(rows) == {("A", "SMS"), ("A", "EMAIL"), ("B", "SMS"), ("B", "MAIL"), ("C", None)}
    a1, a2 = rows[("A", "SMS")], rows[("A", "EMAIL")]
    # A: PUSH not consented, so SMS .5 / .7 and EMAIL .2 / .7
    assert (a1["channel_rank"], a2["channel_rank"]) == (1, 2)
    assert a1["channel_score"] == pytest.approx(5 / 7) and a2["channel_score"] == pytest.approx(2 / 7)
    assert (a1["best_dow"], a1["best_hour"], a1["as_of"]) == (3, 0, date(2026, 11, 1))
    # A: (10/15 + 10/15 + 0/5) / 3 < .5: the segment's answer dominates
    assert a1["confidence"] == pytest.approx(4 / 9) and a1["source"] == "segment"
    # B: no consented channel ever seen: uniform scores, order of conf timing.channels; 20/25 = .8: member
    b1, b2 = rows[("B", "SMS")], rows[("B", "MAIL")]
    assert (b1["channel_rank"], b2["channel_rank"]) == (1, 2) and b1["channel_score"] == pytest.approx(0.5)
    assert b1["confidence"] == pytest.approx(0.8) and b1["source"] == "member" and b1["best_hour"] == 20
    # C: no consented channel: one row, channel/rank/score null, still day and hour
    c = rows[("C", None)]
    assert c["channel_rank"] is None and c["channel_score"] is None
    assert (c["best_dow"], c["best_hour"], c["confidence"], c["source"]) == (1, 20, 0.0, "population")

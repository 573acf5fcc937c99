"""Training rows of the response model: issues, outcomes from purchases (not redemptions), the
point-in-time features join and the leakage split, on tiny hand-made tables."""

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from loyalty.offers.response import training as T

ISSUE = datetime(2026, 10, 1, 9, 0)
EVENTS = "event_id string, offer_id string, member_id string, event_type string, channel string, " \
         "event_ts timestamp, is_holdout boolean"
OFFERS = "offer_id string, offer_type string, banner string, target_category string, reward_value decimal(10,2), " \
         "min_spend decimal(12,2), start_date date, end_date date"
LINES = "receipt_id string, line_no int, banner string, member_id string, txn_ts timestamp, business_date date, " \
        "upc string, line_amount decimal(12,2)"
PRODUCTS = "product_id string, upc string, category string, valid_from timestamp, valid_to timestamp"
HIGH = datetime(9999, 12, 31)


def offers(spark):
    return spark.createDataFrame([
        ("O1", "BONUS_POINTS", "FRESHMART", "DAIRY", Decimal("500"), Decimal("10.00"), date(2026, 10, 1),
         date(2026, 10, 14))], OFFERS)


def products(spark):
    return spark.createDataFrame([
        ("P1", "U1", "DAIRY", datetime(2025, 1, 1), HIGH),
        ("P2", "U2", "SNACKS", datetime(2025, 1, 1), HIGH),
        # P9 was a snack until 2026-10-03, then dairy (SCD2)
        ("P9", "U9", "SNACKS", datetime(2025, 1, 1), datetime(2026, 10, 3)),
        ("P9", "U9", "DAIRY", datetime(2026, 10, 3), HIGH)], PRODUCTS)


def test_outcome_is_a_qualifying_purchase_in_the_window_for_treated_and_control(spark):
    members = ["m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09", "m10", "m11"]
    events = [(f"E{i}", "O1", m, "ISSUED", "EMAIL", ISSUE, m == "m02") for i, m in enumerate(members)]
    events += [("E90", "O1", "m01", "ISSUED", "EMAIL", datetime(2026, 10, 2), False),   # a re-sent issue: one row
               ("E91", "O1", "m04", "REDEEMED", "EMAIL", datetime(2026, 10, 5, 12), False),   # redeemed, yet no purchase
               ("E92", "O1", None, "ISSUED", "EMAIL", ISSUE, False)]
    d = lambda day, h=12: datetime(2026, 10, day, h)          # noqa: E731
    lines = [
        ("R1", 1, "FRESHMART", "m01", d(5), date(2026, 10, 5), "U1", Decimal("6.00")),    # 6 + 5 in one receipt
        ("R1", 2, "FRESHMART", "m01", d(5), date(2026, 10, 5), "U1", Decimal("5.00")),
        ("R1", 3, "FRESHMART", "m01", d(5), date(2026, 10, 5), "U2", Decimal("50.00")),   # not the category
        ("R2", 1, "FRESHMART", "m02", d(7), date(2026, 10, 7), "U1", Decimal("12.00")),   # control member converts
        ("R3", 1, "FRESHMART", "m03", d(15), date(2026, 10, 15), "U1", Decimal("20.00")),  # a day after the window
        ("R4", 1, "FRESHMART", "m04", d(5), date(2026, 10, 5), "U1", Decimal("9.99")),    # below min_spend
        ("R5", 1, "FRESHMART", "m05", d(5), date(2026, 10, 5), "U1", Decimal("6.00")),    # 6 + 6 on two receipts
        ("R6", 1, "FRESHMART", "m05", d(6), date(2026, 10, 6), "U1", Decimal("6.00")),
        ("R7", 1, "VALUMART", "m06", d(5), date(2026, 10, 5), "U1", Decimal("20.00")),    # other banner
        ("R8", 1, "FRESHMART", "m07", d(1, 8), date(2026, 10, 1), "U1", Decimal("20.00")),  # before the issue
        ("R9", 1, "FRESHMART", "m08", d(2), date(2026, 10, 2), "U9", Decimal("20.00")),   # P9 still a snack
        ("R10", 1, "FRESHMART", "m09", d(6), date(2026, 10, 6), "U9", Decimal("20.00")),  # P9 dairy by then
        ("R11", 1, "FRESHMART", "m10", d(14, 20), date(2026, 10, 14), "U1", Decimal("10.00")),  # last day, = min
    ]
    issued = T.issues(spark.createDataFrame(events, EVENTS))
    out = T.with_outcome(issued, offers(spark), spark.createDataFrame(lines, LINES), products(spark))
    got = out.select("member_id", "offer_id", "treated", "converted", "issue_ts", "issue_date")
    expected = spark.createDataFrame(
        [(m, "O1", 0 if m == "m02" else 1, 1 if m in ("m01", "m02", "m09", "m10") else 0, ISSUE, date(2026, 10, 1))
         for m in members], "member_id string, offer_id string, treated int, converted int, issue_ts timestamp, "
                            "issue_date date")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_issues_before_as_of_only(spark):
    events = [("E1", "O1", "m01", "ISSUED", "SMS", datetime(2026, 9, 30, 23), False),
              ("E2", "O1", "m02", "ISSUED", "SMS", datetime(2026, 10, 1, 0), True)]
    got = T.issues(spark.createDataFrame(events, EVENTS), before=date(2026, 10, 1))
    assert [r["member_id"] for r in got.collect()] == ["m01"]


def test_features_are_the_latest_snapshot_at_or_before_the_issue_within_the_age_limit(spark):
    rows = spark.createDataFrame([
        ("m1", "O1", date(2026, 10, 1)),     # snapshot of that very day (built from data before it)
        ("m1", "O2", date(2026, 9, 30)),     # the 09-20 snapshot: 10 days old
        ("m1", "O3", date(2026, 10, 8)),     # 10-01 snapshot, 7 days old
        ("m1", "O4", date(2026, 9, 19)),     # no snapshot before it
        ("m2", "O1", date(2026, 10, 1))],    # member not in the 10-01 snapshot
        "member_id string, offer_id string, issue_date date")
    feats = spark.createDataFrame([("m1", date(2026, 9, 20), 1.0), ("m2", date(2026, 9, 20), 2.0),
                                   ("m1", date(2026, 10, 1), 3.0), ("m1", date(2026, 10, 15), 4.0)],
                                  "member_id string, as_of date, trips_90d double")
    got = T.attach_features(rows, feats, max_age_days=10).select("member_id", "offer_id", "features_as_of", "trips_90d")
    expected = spark.createDataFrame([("m1", "O1", date(2026, 10, 1), 3.0), ("m1", "O2", date(2026, 9, 20), 1.0),
                                      ("m1", "O3", date(2026, 10, 1), 3.0)],
                                     "member_id string, offer_id string, features_as_of date, trips_90d double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # a tighter age limit drops the 10-day-old snapshot
    strict = T.attach_features(rows, feats, max_age_days=9).select("offer_id").where(F.col("member_id") == "m1")
    assert sorted(r[0] for r in strict.collect()) == ["O1", "O3"]


def test_split_keeps_training_outcomes_before_the_split_and_evaluation_after(spark):
    rows = spark.createDataFrame([
        ("a", date(2026, 9, 1), date(2026, 9, 30)),    # closed before the split: train
        ("b", date(2026, 9, 20), date(2026, 10, 1)),   # ends on the split day: straddles, neither
        ("c", date(2026, 10, 1), date(2026, 10, 20)),  # issued on the split: evaluation
        ("d", date(2026, 10, 10), date(2026, 11, 1)),  # window not closed before as_of: neither
        ("e", date(2026, 10, 10), date(2026, 10, 31))],
        "offer_id string, issue_date date, end_date date")
    train, evaluation = T.split(rows, date(2026, 10, 1), date(2026, 11, 1))
    assert [r[0] for r in train.collect()] == ["a"]
    assert sorted(r[0] for r in evaluation.collect()) == ["c", "e"]
    assert sorted(r[0] for r in T.closed_before(rows, date(2026, 11, 1)).collect()) == ["a", "b", "c", "e"]

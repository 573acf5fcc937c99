"""Pair features, the S- and T-learners and scoring: hand-checked pair columns, and a fit on synthetic issues
with a planted heterogeneous uplift that the model must recover (and the propensity ranking not)."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from loyalty.conf import load
from loyalty.offers.response import evaluate as E
from loyalty.offers.response import features as FT
from loyalty.offers.response import model as M
from loyalty.offers.response import serve
from loyalty.offers.response.settings import ResponseError, from_conf

OFFERS = "offer_id string, offer_type string, banner string, target_category string, reward_value decimal(10,2), " \
         "min_spend decimal(12,2), start_date date, end_date date"


def offers(spark):
    return spark.createDataFrame([
        ("O1", "BONUS_POINTS", "FRESHMART", "DAIRY", Decimal("1000"), Decimal("20.00"), date(2026, 10, 1),
         date(2026, 10, 14)),
        ("O2", "MULTIPLIER", "VALUMART", "SNACKS", Decimal("3"), Decimal("10.00"), date(2026, 10, 1),
         date(2026, 10, 14))], OFFERS)


LINES = "member_id string, receipt_id string, banner string, txn_ts timestamp, business_date date, upc string, " \
        "line_amount decimal(12,2)"
PRODUCTS = "upc string, category string, valid_from timestamp, valid_to timestamp"


def no_lines(spark):
    return spark.createDataFrame([], LINES), spark.createDataFrame([], PRODUCTS)


def member_features(spark, n=2, digital=None, trips=None):
    """gold.member_features-like rows: every model column 0 except a few."""
    cols = {c: F.lit(0.0) for c in FT.MEMBER_FEATURES + FT.DEPT_SHARES}
    cols.update({"recency_days": F.lit(5.0), "avg_basket_365d": F.lit(40.0), "home_banner": F.lit("FRESHMART"),
                 "spend_share_freshmart": F.lit(0.75), "spend_share_valumart": F.lit(0.25),
                 "as_of": F.lit(date(2026, 10, 1))})
    if digital is not None:
        cols["digital_sessions_90d"] = digital
    if trips is not None:
        cols["trips_90d"] = trips
    return (spark.range(n).withColumn("member_id", F.concat(F.lit("m"), F.col("id").cast("string")))
            .withColumns(cols).drop("id"))


def test_pair_features_relate_member_and_offer(spark):
    pairs = spark.createDataFrame([("m0", "O1", 7), ("m0", "O2", 8), ("m9", "O1", 9)],
                                  "member_id string, offer_id string, tag int")
    rows = {(r["member_id"], r["offer_id"]): r for r in
            FT.pair_features(pairs, member_features(spark, 1), offers(spark), *no_lines(spark)).collect()}
    a, b, missing = rows[("m0", "O1")], rows[("m0", "O2")], rows[("m9", "O1")]
    assert a["tag"] == 7 and a["has_features"] == 1.0 and a["at_home_banner"] == 1.0 and b["at_home_banner"] == 0.0
    assert a["banner_spend_share"] == 0.75 and b["banner_spend_share"] == 0.25
    assert a["min_spend_to_basket"] == pytest.approx(0.5) and b["min_spend_to_basket"] == pytest.approx(0.25)
    assert a["log_reward_value"] == pytest.approx(6.908754779)        # log1p(1000)
    assert a["recency_days"] == 5.0 and a["trips_90d"] == 0.0
    assert a["log_target_receipts"] == 0.0 and a["target_receipt_share"] == 0.0
    # a member without a features row: fill values, flagged
    assert missing["has_features"] == 0.0 and missing["recency_days"] == 365.0 and missing["banner_spend_share"] == 0.0
    assert missing["min_spend_to_basket"] == 20.0 and missing["at_home_banner"] == 0.0
    assert all(missing[c] is not None for c in FT.INPUT_COLUMNS)


def test_target_history_counts_receipts_of_the_target_category_before_the_snapshot(spark):
    """m0 as of 2026-10-01: receipts r1 (two DAIRY lines: counted once), r2 (DAIRY, 2025-10-01: the first
    day of the 365-day window), r3 (on as_of itself: not before it), r4 (2025-09-30: outside), r5 (a
    product that was SNACKS until 2026-09-01 and DAIRY after: bought in August, so SNACKS then), r6
    (SNACKS). So 2 DAIRY receipts; with trips_365d = 8 the share is 0.25; O2 (SNACKS) sees r5 and r6."""
    ts = datetime.fromisoformat
    lines = spark.createDataFrame([
        ("m0", "r1", "FRESHMART", ts("2026-09-20 10:00"), date(2026, 9, 20), "u1", Decimal("3.00")),
        ("m0", "r1", "FRESHMART", ts("2026-09-20 10:00"), date(2026, 9, 20), "u2", Decimal("4.00")),
        ("m0", "r2", "FRESHMART", ts("2025-10-01 10:00"), date(2025, 10, 1), "u1", Decimal("3.00")),
        ("m0", "r3", "FRESHMART", ts("2026-10-01 10:00"), date(2026, 10, 1), "u1", Decimal("3.00")),
        ("m0", "r4", "FRESHMART", ts("2025-09-30 10:00"), date(2025, 9, 30), "u1", Decimal("3.00")),
        ("m0", "r5", "VALUMART", ts("2026-08-10 10:00"), date(2026, 8, 10), "u3", Decimal("3.00")),
        ("m0", "r6", "VALUMART", ts("2026-08-11 10:00"), date(2026, 8, 11), "u4", Decimal("3.00"))], LINES)
    products = spark.createDataFrame([
        ("u1", "DAIRY", ts("2020-01-01 00:00"), None), ("u2", "DAIRY", ts("2020-01-01 00:00"), None),
        ("u3", "SNACKS", ts("2020-01-01 00:00"), ts("2026-09-01 00:00")),
        ("u3", "DAIRY", ts("2026-09-01 00:00"), None), ("u4", "SNACKS", ts("2020-01-01 00:00"), None)], PRODUCTS)
    feats = member_features(spark, 1).withColumn("trips_365d", F.lit(8.0))
    pairs = spark.createDataFrame([("m0", "O1"), ("m0", "O2"), ("m9", "O1")], "member_id string, offer_id string")
    got = {r["offer_id"] + r["member_id"]: r for r in FT.pair_features(pairs, feats, offers(spark), lines, products).collect()}
    assert got["O1m0"]["target_receipts_365d"] == 2 and got["O1m0"]["target_receipt_share"] == pytest.approx(0.25)
    assert got["O1m0"]["log_target_receipts"] == pytest.approx(1.0986122887)    # log1p(2)
    assert got["O2m0"]["target_receipts_365d"] == 2 and got["O2m0"]["target_receipt_share"] == pytest.approx(0.25)
    assert got["O1m9"]["target_receipts_365d"] == 0 and got["O1m9"]["target_receipt_share"] == 0.0


def planted(spark, n):
    """n issues of O1/O2; uplift +0.35 for digital members on O1 only, 0 otherwise; the baseline
    (trips) is high for members who do not respond to the offer, so propensity ranks them first."""
    feats = member_features(spark, n, digital=(F.col("id") % 2).cast("double") * 10.0,
                            trips=(F.col("id") % 4 >= 2).cast("double") * 30.0)
    pairs = (spark.range(n).withColumn("member_id", F.concat(F.lit("m"), F.col("id").cast("string")))
             .withColumn("offer_id", F.when(F.col("id") % 3 == 0, "O2").otherwise("O1")).drop("id"))
    rows = FT.pair_features(pairs, feats, offers(spark), *no_lines(spark))
    u_t, u_y = E.hash_uniform(["member_id"], "t", 1), E.hash_uniform(["member_id"], "y", 1)
    tau = F.when((F.col("digital_sessions_90d") > 0) & (F.col("offer_id") == "O1"), 0.35).otherwise(0.0)
    base = F.when(F.col("trips_90d") > 0, 0.4).otherwise(0.05)
    return (rows.withColumn("treated", (u_t < 0.6).cast("int")).withColumn("tau", tau)
            .withColumn("converted", (u_y < base + F.col("treated") * tau).cast("int")))


@pytest.mark.parametrize("learner", ["s_logistic", "logistic"])
def test_learner_recovers_a_planted_uplift(spark, learner):
    """S-learner (the default) and T-learner alike."""
    cfg = load("test", ["offers.response.min_rows_per_arm=50", f"offers.response.learner={learner}"])
    p = from_conf(cfg)
    rows = planted(spark, 4000).persist()
    train, test = rows.where(F.col("member_id").substr(-1, 1) != "7"), rows.where(F.col("member_id").substr(-1, 1) == "7")
    fitted = M.fit(train, p)
    assert fitted.treated + fitted.control == fitted.rows == train.count()
    scored = serve.score(fitted.model, test).persist()
    assert set(test.columns) < set(scored.columns) and scored.count() == test.count()
    diff = scored.agg(F.max(F.abs(F.col("uplift") - (F.col("p_treated") - F.col("p_control"))))).first()[0]
    assert diff < 1e-12
    means = {r["tau"]: r["u"] for r in scored.groupBy("tau").agg(F.avg("uplift").alias("u")).collect()}
    assert means[0.35] == pytest.approx(0.35, abs=0.1) and means[0.0] == pytest.approx(0.0, abs=0.08)
    assert scored.stat.corr("uplift", "tau") > 0.7
    ev = E.evaluate(scored, {"uplift": "uplift", "propensity": "p_treated"}, bins=5, rel_err=0.0, replicates=30,
                    level=0.95, seed=1)
    assert ev.metrics["uplift_qini"] > ev.metrics["propensity_qini"]
    rows.unpersist()
    scored.unpersist()


def test_too_few_control_rows_is_a_clear_error(spark):
    p = from_conf(load("test", ["offers.response.min_rows_per_arm=50"]))
    rows = planted(spark, 200).withColumn("treated", F.when(F.col("member_id") == "m1", 0).otherwise(1))
    with pytest.raises(ResponseError, match="only 1 control training rows"):
        M.fit(rows, p)

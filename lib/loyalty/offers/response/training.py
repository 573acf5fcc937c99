"""Training rows of the response model (pure: DataFrames in, DataFrames out).

One row per past issue of an offer to a member (the first ISSUED event of that pair in
silver.offer_events): ``treated`` = 1 when the offer was sent, 0 when the member was drawn
into the offer's random control (``is_holdout``). The outcome comes from purchases, not from
REDEEMED events, so a control member's purchase counts exactly as a treated member's:

    converted = 1 when the member has a receipt at the offer's banner, at or after the issue
    moment and on a business date up to the offer's end_date (inclusive), whose lines of the
    offer's target category add up to at least min_spend. A line's category is that of the
    silver.products version valid at the purchase (valid_from <= txn_ts < valid_to; SCD2), so a
    product recategorized later does not rewrite past outcomes.

Features are point-in-time: an issue takes the latest gold.member_features snapshot at or before
its issue date (a snapshot at as_of uses only data before as_of), at most ``max_age_days`` old.
An issue with no such snapshot, or whose member is not in it, is left out (``attach_features``
says how many): imputing features there would teach the model about members it cannot see.

The pair's purchase history (``target_history``): the member's receipts holding a line of the
offer's target category in the 365 days before the snapshot's as_of (the window of the snapshot's
trips_365d), the product version valid at each purchase. Department shares say where a member
shops; this says whether the member already buys what the offer promotes, which moves both the
chance to buy it anyway and what the offer adds.

Leakage rules (``split``): a training row's outcome window closed before the split date
(end_date < split), so training knows nothing that happened after the split; an evaluation row
was issued on or after the split and its window closed before as_of. Issues that straddle the
split belong to neither.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from loyalty.offers.response.settings import CONVERTED, FEATURES_AS_OF, ISSUE_DATE, ISSUE_TS, MEMBER, OFFER, TREATED

TARGET_RECEIPTS = "target_receipts_365d"
HISTORY_DAYS = 365
OFFER_COLUMNS = [OFFER, "offer_type", "banner", "target_category", "reward_value", "min_spend", "start_date",
                 "end_date"]


def issues(offer_events: DataFrame, before: date | None = None) -> DataFrame:
    """(member_id, offer_id, issue_ts, issue_date, treated): the first ISSUED event of each pair with a
    known holdout flag (issued before ``before`` when given). issue_date is the UTC date of issue_ts."""
    ev = offer_events.where((F.col("event_type") == "ISSUED") & F.col(MEMBER).isNotNull()
                            & F.col(OFFER).isNotNull() & F.col("event_ts").isNotNull()
                            & F.col("is_holdout").isNotNull())
    if before is not None:
        ev = ev.where(F.col("event_ts") < F.to_timestamp(F.lit(before.isoformat())))
    first = Window.partitionBy(MEMBER, OFFER).orderBy("event_ts", "event_id")
    return (ev.withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1)
            .select(MEMBER, OFFER, F.col("event_ts").alias(ISSUE_TS), F.to_date("event_ts").alias(ISSUE_DATE),
                    F.when(F.col("is_holdout"), 0).otherwise(1).alias(TREATED)))


def offer_terms(offers: DataFrame) -> DataFrame:
    """The catalog columns the model uses, one row per offer_id, amounts as doubles."""
    return (offers.dropDuplicates([OFFER])
            .select(OFFER, "offer_type", "banner", "target_category",
                    F.col("reward_value").cast("double").alias("reward_value"),
                    F.col("min_spend").cast("double").alias("min_spend"), "start_date", "end_date"))


def category_lines(lines: DataFrame, products: DataFrame, categories: DataFrame) -> DataFrame:
    """(member_id, receipt_id, banner, txn_ts, business_date, category, amount): member lines whose
    product, as valid at the purchase (SCD2 on upc), is in one of ``categories`` (category)."""
    prod = (products.where(F.col("upc").isNotNull())
            .join(F.broadcast(categories.select(F.col("target_category").alias("category")).distinct()), "category")
            .select("upc", "category", "valid_from", "valid_to"))
    ln = lines.where(F.col(MEMBER).isNotNull() & F.col("upc").isNotNull()).select(
        MEMBER, "receipt_id", "banner", "txn_ts", "business_date", "upc",
        F.col("line_amount").cast("double").alias("amount"))
    valid = ((F.col("valid_from") <= F.col("txn_ts"))
             & (F.col("valid_to").isNull() | (F.col("txn_ts") < F.col("valid_to"))))
    return (ln.join(F.broadcast(prod), "upc").where(valid)
            .select(MEMBER, "receipt_id", "banner", "txn_ts", "business_date", "category", "amount"))


def with_outcome(issued: DataFrame, offers: DataFrame, lines: DataFrame, products: DataFrame) -> DataFrame:
    """``issued`` (issues()) with the offer's terms and ``converted`` (0/1), see the module doc. Issues of
    offers missing from the catalog are dropped."""
    terms = offer_terms(offers)
    rows = issued.join(F.broadcast(terms), OFFER)
    cat = category_lines(lines, products, terms)
    hits = (rows.select(MEMBER, OFFER, ISSUE_TS, "banner", "target_category", "min_spend", "end_date")
            .join(cat.withColumnRenamed("category", "target_category"), [MEMBER, "banner", "target_category"])
            .where((F.col("txn_ts") >= F.col(ISSUE_TS)) & (F.col("business_date") <= F.col("end_date")))
            .groupBy(MEMBER, OFFER, "receipt_id").agg(F.sum("amount").alias("_spend"), F.first("min_spend").alias("_min"))
            .where(F.col("_spend") >= F.col("_min") - 1e-9)
            .select(MEMBER, OFFER).distinct().withColumn("_hit", F.lit(1)))
    return (rows.join(hits, [MEMBER, OFFER], "left")
            .withColumn(CONVERTED, F.coalesce(F.col("_hit"), F.lit(0)).cast("int")).drop("_hit"))


def target_history(keys: DataFrame, lines: DataFrame, products: DataFrame, days: int = HISTORY_DAYS) -> DataFrame:
    """``keys`` (member_id, target_category, as_of) -> the same distinct keys with ``target_receipts_365d``:
    the member's receipts with a line of that category (product version valid at the purchase) and a
    business date in [as_of - days, as_of); 0 when none."""
    keys = keys.select(MEMBER, "target_category", "as_of").where(F.col(MEMBER).isNotNull()).distinct()
    cat = category_lines(lines, products, keys.select("target_category").distinct())
    counts = (keys.join(cat.withColumnRenamed("category", "target_category"), [MEMBER, "target_category"])
              .where((F.col("business_date") < F.col("as_of"))
                     & (F.col("business_date") >= F.date_sub(F.col("as_of"), days)))
              .groupBy(MEMBER, "target_category", "as_of")
              .agg(F.countDistinct("receipt_id").alias(TARGET_RECEIPTS)))
    return (keys.join(counts, [MEMBER, "target_category", "as_of"], "left")
            .withColumn(TARGET_RECEIPTS, F.coalesce(F.col(TARGET_RECEIPTS), F.lit(0)).cast("long")))


def with_target_history(rows: DataFrame, as_of_col: str, lines: DataFrame, products: DataFrame) -> DataFrame:
    """``rows`` (member_id, target_category, ``as_of_col``) + ``target_receipts_365d`` as of that column
    (``target_history``); a row whose as_of is null gets 0."""
    hist = target_history(rows.select(MEMBER, "target_category", F.col(as_of_col).alias("as_of")), lines, products)
    hist = hist.withColumnRenamed("as_of", as_of_col)
    return (rows.drop(TARGET_RECEIPTS).join(hist, [MEMBER, "target_category", as_of_col], "left")
            .withColumn(TARGET_RECEIPTS, F.coalesce(F.col(TARGET_RECEIPTS), F.lit(0)).cast("long")))


def attach_features(rows: DataFrame, features: DataFrame, max_age_days: int) -> DataFrame:
    """``rows`` (with issue_date) joined to the member's gold.member_features row of the latest snapshot
    at or before issue_date and at most ``max_age_days`` older (``features_as_of``). Rows without one are
    dropped: count ``rows`` minus the result to report them."""
    snaps = features.select(F.col("as_of").alias(FEATURES_AS_OF)).distinct()
    keys = rows.select(ISSUE_DATE).distinct()
    pick = (keys.join(F.broadcast(snaps), (F.col(FEATURES_AS_OF) <= F.col(ISSUE_DATE))
                      & (F.datediff(F.col(ISSUE_DATE), F.col(FEATURES_AS_OF)) <= max_age_days))
            .groupBy(ISSUE_DATE).agg(F.max(FEATURES_AS_OF).alias(FEATURES_AS_OF)))
    feats = features.withColumnRenamed("as_of", FEATURES_AS_OF)
    return rows.join(F.broadcast(pick), ISSUE_DATE).join(feats, [MEMBER, FEATURES_AS_OF])


def split(rows: DataFrame, split_date: date, as_of: date) -> tuple[DataFrame, DataFrame]:
    """(train, evaluation) under the leakage rules of the module doc."""
    train = rows.where(F.col("end_date") < F.lit(split_date))
    evaluation = rows.where((F.col(ISSUE_DATE) >= F.lit(split_date)) & (F.col("end_date") < F.lit(as_of)))
    return train, evaluation


def closed_before(rows: DataFrame, as_of: date) -> DataFrame:
    """Rows whose outcome window closed before as_of: what a refitted model may learn from."""
    return rows.where(F.col("end_date") < F.lit(as_of))

"""Points ledger, offers, offer events and digital events."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import lineage, malformed_flag


def _member_id(col: str = "member_id"):
    return F.upper(F.trim(col)).alias("member_id")


def conform_points_ledger(bronze: DataFrame) -> DataFrame:
    ts = P.utc_from_iso("entry_ts")
    return bronze.select(
        F.trim("entry_id").alias("entry_id"), _member_id(), ts.alias("entry_ts"),
        F.to_date(ts).alias("entry_date"), P.code("partner").alias("partner"),
        P.code("entry_type").alias("entry_type"), P.to_long("points").alias("points"),
        F.col("points").alias("chk_points_raw"), F.col("entry_ts").alias("chk_ts_raw"),
        F.trim("source_ref").alias("source_ref"), *lineage(), malformed_flag())


OFFER_ECONOMICS = ("reward_cost", "margin_rate", "funding_partner", "campaign_budget")


def late_column(bronze: DataFrame, name: str) -> Column:
    """A column a partner added part-way through a feed: the bronze column once conf declares
    it, else (files delivered before and after, columns beyond conf) bronze's _rescued_data."""
    rescued = F.get_json_object("_rescued_data", f"$.{name}")
    return F.coalesce(F.col(name), rescued) if name in bronze.columns else rescued


def conform_offers(bronze: DataFrame) -> DataFrame:
    """One row per catalog delivery of an offer. The economics (reward_cost and campaign_budget in
    dollars, margin_rate of the target category as a fraction, funding_partner: the banner or a
    partner) arrived part-way, in a restatement of the whole catalog; a delivery without them
    keeps nulls (rule economics_known in conf/dq.yaml counts them; the latest delivery wins)."""
    raw = {c: late_column(bronze, c) for c in OFFER_ECONOMICS}
    return bronze.select(
        F.trim("offer_id").alias("offer_id"), F.trim("offer_name").alias("offer_name"),
        P.code("offer_type").alias("offer_type"), P.code("banner").alias("banner"),
        P.code("target_category").alias("target_category"),
        F.trim("reward_value").try_cast("decimal(10,2)").alias("reward_value"),
        P.money_from_dollars("min_spend").alias("min_spend"), P.to_date("start_date").alias("start_date"),
        P.to_date("end_date").alias("end_date"), P.utc_from_iso("created_at").alias("created_at"),
        P.money_from_dollars(raw["reward_cost"]).alias("reward_cost"),
        F.trim(raw["margin_rate"]).try_cast("decimal(18,6)").try_cast("decimal(5,3)").alias("margin_rate"),
        P.code(raw["funding_partner"]).alias("funding_partner"),
        P.money_from_dollars(raw["campaign_budget"]).alias("campaign_budget"),
        *[raw[c].alias(f"chk_{c}_raw") for c in ("reward_cost", "margin_rate", "campaign_budget")],
        *lineage(), malformed_flag())


def conform_offer_events(bronze: DataFrame) -> DataFrame:
    ts = P.utc_from_iso("event_ts")
    return bronze.select(
        F.trim("event_id").alias("event_id"), F.trim("offer_id").alias("offer_id"), _member_id(),
        P.code("event_type").alias("event_type"), P.code("channel").alias("channel"), ts.alias("event_ts"),
        F.to_date(ts).alias("event_date"), P.yes_no("holdout_flag").alias("is_holdout"),
        F.col("holdout_flag").alias("chk_holdout_raw"), F.col("event_ts").alias("chk_ts_raw"),
        F.trim("redemption_ref").alias("redemption_ref"), *lineage(), malformed_flag())


def conform_digital_events(bronze: DataFrame, members: DataFrame, province_tz: dict[str, str]) -> DataFrame:
    """Engagement time is read in the member's local zone (from the member's province)."""
    from loyalty.transforms.silver.common import map_column

    ts = P.utc_from_iso("event_ts")
    df = bronze.select(
        F.trim("event_id").alias("event_id"), _member_id(), P.code("channel").alias("channel"),
        P.code("event_type").alias("event_type"), ts.alias("event_ts"), F.col("event_ts").alias("chk_ts_raw"),
        P.code("device").alias("device"), F.trim("campaign_id").alias("campaign_id"),
        F.trim("session_id").alias("session_id"), *lineage(), malformed_flag())
    tz = members.select(F.col("member_id").alias("_mid"),
                        map_column(F.col("province"), province_tz).alias("_tz"))
    df = df.join(tz, df["member_id"] == tz["_mid"], "left").drop("_mid")
    zone = F.coalesce(F.col("_tz"), F.lit("America/Toronto"))
    return (df.withColumn("event_date", P.local_date("event_ts", zone))
            .withColumn("local_hour", P.local_hour("event_ts", zone)).drop("_tz"))

"""Pure: who shops one banner or skips a partner in a window, and who started there in a later window.

A *place* is a grocery banner (``silver.transactions.banner``) or a partner
(``silver.partner_transactions.partner``). ``visits`` counts a member's receipts and partner
transactions per place in [start, end); ``targets`` turns them into (member, target) pairs:

- a member with at least ``min_trips`` grocery trips, all at one banner, is a target of every other
  banner (kind BANNER);
- a member with at least ``min_trips`` grocery trips and no transaction with a partner is a target
  of that partner (kind PARTNER).

``adoption`` marks the pairs whose member then visited the target in the outcome window, and
``adoption_rates`` counts them per target and segment, shrunk toward the population.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.crossbanner.settings import ALL_SEGMENTS, KIND_BANNER, KIND_PARTNER, MEMBER, SEGMENT, TARGET

PLACE = "place"


def _between(date_col: str, start: date, end: date) -> Column:
    return (F.col(date_col) >= F.lit(start)) & (F.col(date_col) < F.lit(end))


def visits(transactions: DataFrame, partner_txns: DataFrame, start: date, end: date,
           banners: tuple[str, ...], partners: tuple[str, ...]) -> DataFrame:
    """member_id, place, visits, spend: receipts per banner and partner transactions per partner with a
    business_date in [start, end). Rows without a member, and places not listed, are left out."""
    retail = (transactions.where(F.col(MEMBER).isNotNull() & _between("business_date", start, end)
                                 & F.col("banner").isin(list(banners)))
              .select(MEMBER, F.col("banner").alias(PLACE), F.col("total_amount").cast("double").alias("amount")))
    partner = (partner_txns.where(F.col(MEMBER).isNotNull() & _between("business_date", start, end)
                                  & F.col("partner").isin(list(partners)))
               .select(MEMBER, F.col("partner").alias(PLACE), F.col("amount").cast("double").alias("amount")))
    return (retail.unionByName(partner).groupBy(MEMBER, PLACE)
            .agg(F.count("*").alias("visits"), F.sum("amount").alias("spend")))


def targets(visits_df: DataFrame, banners: tuple[str, ...], partners: tuple[str, ...], min_trips: int) -> DataFrame:
    """member_id, home_banner, target_banner, kind for members with >= min_trips grocery trips in the
    window: every banner they did not shop when they shopped exactly one (BANNER), every partner they
    had no transaction with (PARTNER). home_banner is the banner of most trips (ties: the first in
    ``banners``)."""
    order = F.array_position(F.lit(list(banners)).cast("array<string>"), F.col(PLACE))
    grocery = (visits_df.where(F.col(PLACE).isin(list(banners)) & (F.col("visits") > 0))
               .groupBy(MEMBER)
               .agg(F.sum("visits").alias("_trips"), F.collect_set(PLACE).alias("_shopped"),
                    F.max(F.struct(F.col("visits"), -order, F.col(PLACE)))[PLACE].alias("home_banner"))
               .where(F.col("_trips") >= min_trips))
    used = (visits_df.where(F.col(PLACE).isin(list(partners)) & (F.col("visits") > 0))
            .groupBy(MEMBER).agg(F.collect_set(PLACE).alias("_used")))
    all_banners = F.lit(list(banners)).cast("array<string>")
    all_partners = F.lit(list(partners)).cast("array<string>")
    empty = F.array().cast("array<string>")
    pairs = (grocery.join(used, MEMBER, "left")
             .withColumn("_b", F.when(F.size("_shopped") == 1, F.array_except(all_banners, F.col("_shopped")))
                         .otherwise(empty))
             .withColumn("_p", F.array_except(all_partners, F.coalesce(F.col("_used"), empty))))
    banner_rows = pairs.select(MEMBER, "home_banner", F.explode("_b").alias(TARGET), F.lit(KIND_BANNER).alias("kind"))
    partner_rows = pairs.select(MEMBER, "home_banner", F.explode("_p").alias(TARGET),
                                F.lit(KIND_PARTNER).alias("kind"))
    return banner_rows.unionByName(partner_rows)


def adoption(base_targets: DataFrame, outcome_visits: DataFrame) -> DataFrame:
    """base_targets plus ``adopted`` (a visit to the target in the outcome window) and ``outcome_visits``
    (their count there, 0 when none)."""
    later = outcome_visits.select(MEMBER, F.col(PLACE).alias(TARGET), F.col("visits").alias("outcome_visits"))
    return (base_targets.join(later, [MEMBER, TARGET], "left")
            .withColumn("outcome_visits", F.coalesce(F.col("outcome_visits"), F.lit(0)).cast("long"))
            .withColumn("adopted", F.col("outcome_visits") > 0))


def with_segment(df: DataFrame, segments: DataFrame | None) -> DataFrame:
    """df plus segment_name from ``segments`` (member_id, segment_name; null when none or no table)."""
    if segments is None:
        return df.withColumn(SEGMENT, F.lit(None).cast("string"))
    return df.join(segments.select(MEMBER, SEGMENT).dropDuplicates([MEMBER]), MEMBER, "left")


def adoption_rates(adopted: DataFrame, prior_strength: float) -> DataFrame:
    """target_banner, kind, segment_name, members, adopters, adoption_rate, adoption_rate_se, shrunk_rate
    per target and segment of ``adopted`` (``adoption`` + ``with_segment``), plus one row per target with
    segment_name 'ALL' (every member, also those without a segment). The segment's rate is shrunk toward
    its target's population rate with ``prior_strength`` pseudo-members:
    (adopters + k x population_rate) / (members + k); the population row is not shrunk. SE is the
    binomial sqrt(p (1 - p) / n)."""
    counts = [F.count("*").alias("members"), F.sum(F.col("adopted").cast("long")).alias("adopters")]
    seg = (adopted.where(F.col(SEGMENT).isNotNull()).groupBy(TARGET, "kind", SEGMENT).agg(*counts))
    pop = adopted.groupBy(TARGET, "kind").agg(*counts).withColumn(SEGMENT, F.lit(ALL_SEGMENTS))
    prior = pop.select(TARGET, "kind", (F.col("adopters") / F.col("members")).alias("_pop"))
    k = F.lit(float(prior_strength))
    rate = F.col("adopters") / F.col("members")
    return (seg.unionByName(pop).join(prior, [TARGET, "kind"])
            .withColumn("adoption_rate", rate)
            .withColumn("adoption_rate_se", F.sqrt(rate * (1 - rate) / F.col("members")))
            .withColumn("shrunk_rate", F.when(F.col(SEGMENT) == ALL_SEGMENTS, rate)
                        .otherwise((F.col("adopters") + k * F.col("_pop")) / (F.col("members") + k)))
            .select(TARGET, "kind", SEGMENT, "members", "adopters", "adoption_rate", "adoption_rate_se",
                    "shrunk_rate"))

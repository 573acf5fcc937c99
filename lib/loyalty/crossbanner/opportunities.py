"""Pure: which categories a single-banner (partner-skipping) member is likely to buy at the target, and
the expected incremental value of a cross-banner offer for each.

Score (ranking within a member and target, in [0, 1]):

- target a banner: ``mix_weight x share of the member's own line spend in the category`` (lookback
  window, the product version valid at as_of) ``+ (1 - mix_weight) x rank score`` of the category in
  gold.category_recommendations (1 for rank 1 down to 1/depth for the last; 0 when not recommended),
  over the categories the target banner sold in the lookback window;
- target a partner: the member has no history there, so the category's share of the spend that members
  who started with the partner spent there (the same for every member).

Expected value (dollars of margin per member, target and category, over the outcome horizon)::

    expected_value = shrunk_rate(segment, target) x assumed_uplift_ratio
                     x spend_per_adopter(target, category) x margin_rate(category)

- ``shrunk_rate``: how often comparable members (same segment, single-banner or partner-skipping at
  the history cutoff) started at the target within the horizon on their own (activity.adoption_rates);
  members without a segment take the population rate.
- ``assumed_uplift_ratio`` (conf, default 1.0): the ASSUMPTION that an offer adds as many starters as
  start without one. No CROSS_BANNER offer has run, so no campaign control has measured it; until one
  does, read expected_value as "worth one organic adoption rate", and rank by it, rather than as a
  forecast of dollars.
- ``spend_per_adopter``: what those starters spent in the category at the target in the outcome
  window, divided by all starters (buyers and non-buyers), so it folds in how many buy the category.
  It counts the target's spend as gained; for the grocer as a whole part of it moves from the home
  banner (not measured here).
- ``margin_rate``: the mean margin_rate silver.offers states for the category (``default_margin_rate``
  when none does); for a partner ``partner_margin_rate``, what the program earns per partner dollar.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from loyalty.crossbanner.activity import PLACE
from loyalty.crossbanner.settings import (ALL_SEGMENTS, CATEGORY, KIND_BANNER, KIND_PARTNER, MEMBER,
                                          OPPORTUNITY_COLUMNS, SEGMENT, TARGET)
from loyalty.transforms.gold.features import products_as_of


def category_lines(lines: DataFrame, products: DataFrame, start: date, end: date,
                   banners: tuple[str, ...], catalog_as_of: date) -> DataFrame:
    """member_id, place (banner), category, amount: silver.transaction_lines with a business_date in
    [start, end) at the listed banners, with the category of the upc's product version valid at
    ``catalog_as_of`` (lines of an unknown upc are left out)."""
    prod = products_as_of(products, catalog_as_of).where(F.col(CATEGORY).isNotNull()).select("upc", CATEGORY)
    return (lines.where(F.col(MEMBER).isNotNull() & (F.col("business_date") >= F.lit(start))
                        & (F.col("business_date") < F.lit(end)) & F.col("banner").isin(list(banners)))
            .join(F.broadcast(prod), "upc")
            .select(MEMBER, F.col("banner").alias(PLACE), CATEGORY, F.col("line_amount").cast("double").alias("amount")))


def partner_category_lines(partner_txns: DataFrame, start: date, end: date, partners: tuple[str, ...]) -> DataFrame:
    """member_id, place (partner), category, amount of partner transactions in [start, end)."""
    return (partner_txns.where(F.col(MEMBER).isNotNull() & (F.col("business_date") >= F.lit(start))
                               & (F.col("business_date") < F.lit(end)) & F.col("partner").isin(list(partners))
                               & F.col(CATEGORY).isNotNull())
            .select(MEMBER, F.col("partner").alias(PLACE), CATEGORY, F.col("amount").cast("double").alias("amount")))


def category_mix(cat_lines: DataFrame) -> DataFrame:
    """member_id, category, mix_share: the category's share of the member's line spend (all places);
    members with no positive spend have no rows."""
    per = cat_lines.groupBy(MEMBER, CATEGORY).agg(F.sum("amount").alias("_amt"))
    total = F.sum("_amt").over(Window.partitionBy(MEMBER))
    return (per.withColumn("_total", total).where((F.col("_total") > 0) & (F.col("_amt") > 0))
            .select(MEMBER, CATEGORY, (F.col("_amt") / F.col("_total")).alias("mix_share")))


def sold_categories(cat_lines: DataFrame) -> DataFrame:
    """target_banner, category: what each place sold (positive spend) in the window."""
    return (cat_lines.groupBy(F.col(PLACE).alias(TARGET), CATEGORY).agg(F.sum("amount").alias("_amt"))
            .where(F.col("_amt") > 0).select(TARGET, CATEGORY))


def adopter_spend(adopted: DataFrame, outcome_cat_lines: DataFrame) -> DataFrame:
    """target_banner, category, adopters, buyers, spend_per_adopter: per target, the outcome-window
    spend in each category at the target by the members who started there (``adopted`` rows with
    adopted true), divided by all of them; buyers = those of them who bought the category there."""
    starters = adopted.where("adopted").select(MEMBER, TARGET).distinct()
    n = starters.groupBy(TARGET).agg(F.count("*").alias("adopters"))
    spend = (outcome_cat_lines.withColumnRenamed(PLACE, TARGET).join(starters, [MEMBER, TARGET])
             .groupBy(TARGET, CATEGORY)
             .agg(F.sum("amount").alias("_amt"), F.countDistinct(MEMBER).alias("buyers")))
    return (spend.join(n, TARGET)
            .select(TARGET, CATEGORY, "adopters", "buyers", (F.col("_amt") / F.col("adopters")).alias("spend_per_adopter")))


def category_margins(offers: DataFrame) -> DataFrame:
    """category, margin_rate: the mean margin_rate silver.offers states per target_category."""
    return (offers.where(F.col("target_category").isNotNull() & F.col("margin_rate").isNotNull())
            .groupBy(F.col("target_category").alias(CATEGORY))
            .agg(F.avg(F.col("margin_rate").cast("double")).alias("margin_rate")))


def banner_scores(targets: DataFrame, mix: DataFrame, recs: DataFrame | None, sold: DataFrame,
                  mix_weight: float, rec_depth: int) -> DataFrame:
    """member_id, target_banner, category, score for the BANNER targets: candidates are the member's own
    categories and recommended ones (``recs``: member_id, category, rank; None when there are none),
    kept when the target sold them (``sold``)."""
    t = targets.where(F.col("kind") == KIND_BANNER).select(MEMBER, TARGET)
    own = mix.select(MEMBER, CATEGORY, "mix_share", F.lit(0.0).alias("rec_score"))
    cands = own
    if recs is not None:
        depth = float(max(1, rec_depth))
        rec = recs.select(MEMBER, CATEGORY, F.lit(0.0).alias("mix_share"),
                          F.greatest(F.lit(0.0), (F.lit(depth + 1) - F.col("rank")) / F.lit(depth)).alias("rec_score"))
        cands = own.unionByName(rec)
    cands = cands.groupBy(MEMBER, CATEGORY).agg(F.max("mix_share").alias("mix_share"), F.max("rec_score").alias("rec_score"))
    score = F.lit(mix_weight) * F.col("mix_share") + F.lit(1.0 - mix_weight) * F.col("rec_score")
    return (t.join(cands, MEMBER).join(sold, [TARGET, CATEGORY])
            .select(MEMBER, TARGET, CATEGORY, score.alias("score")).where(F.col("score") > 0))


def partner_scores(targets: DataFrame, spend: DataFrame) -> DataFrame:
    """member_id, target_banner, category, score for the PARTNER targets: the category's share of the
    starters' spend at the partner (``adopter_spend`` rows), the same for every member."""
    share = (spend.withColumn("_t", F.sum("spend_per_adopter").over(Window.partitionBy(TARGET)))
             .where(F.col("_t") > 0).select(TARGET, CATEGORY, (F.col("spend_per_adopter") / F.col("_t")).alias("score")))
    return (targets.where(F.col("kind") == KIND_PARTNER).select(MEMBER, TARGET)
            .join(F.broadcast(share), TARGET).select(MEMBER, TARGET, CATEGORY, "score"))


def top_categories(scored: DataFrame, n: int) -> DataFrame:
    """The ``n`` best categories per member and target (by score, then category name)."""
    w = Window.partitionBy(MEMBER, TARGET).orderBy(F.desc("score"), F.asc(CATEGORY))
    return scored.withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= n).drop("_r")


def with_expected_value(scored: DataFrame, targets: DataFrame, segments: DataFrame, rates: DataFrame,
                        spend: DataFrame, margins: DataFrame, as_of: date, *, assumed_uplift_ratio: float,
                        default_margin_rate: float, partner_margin_rate: float) -> DataFrame:
    """gold.cross_banner_opportunities rows: ``scored`` (member_id, target_banner, category, score) with
    expected_value (module doc). ``targets`` gives each pair's kind, ``segments`` (member_id,
    segment_name, null allowed) the member's segment, ``rates`` (activity.adoption_rates) the shrunk
    rate per target and segment (the 'ALL' row for a member without one or a segment not measured)."""
    r = rates.select(TARGET, SEGMENT, "shrunk_rate")
    pop = rates.where(F.col(SEGMENT) == ALL_SEGMENTS).select(TARGET, F.col("shrunk_rate").alias("_pop_rate"))
    kinds = targets.select(MEMBER, TARGET, "kind").dropDuplicates([MEMBER, TARGET])
    margin = F.when(F.col("kind") == KIND_PARTNER, F.lit(partner_margin_rate)).otherwise(
        F.coalesce(F.col("margin_rate"), F.lit(default_margin_rate)))
    rate = F.coalesce(F.col("shrunk_rate"), F.col("_pop_rate"), F.lit(0.0))
    ev = rate * F.lit(float(assumed_uplift_ratio)) * F.coalesce(F.col("spend_per_adopter"), F.lit(0.0)) * margin
    return (scored.join(kinds, [MEMBER, TARGET])
            .join(segments.select(MEMBER, SEGMENT).dropDuplicates([MEMBER]), MEMBER, "left")
            .join(F.broadcast(r), [TARGET, SEGMENT], "left")
            .join(F.broadcast(pop), TARGET, "left")
            .join(F.broadcast(spend.select(TARGET, CATEGORY, "spend_per_adopter")), [TARGET, CATEGORY], "left")
            .join(F.broadcast(margins), CATEGORY, "left")
            .select(MEMBER, F.lit(as_of).alias("as_of"), TARGET, CATEGORY, F.col("score").cast("double").alias("score"),
                    ev.cast("double").alias("expected_value"))
            .select(*OPPORTUNITY_COLUMNS))

"""What a member is served (pure): the model's top items without the member's routine products, then
their segment's popular items, then the overall popular items. ``run.score`` writes these lists and
``evaluate`` scores the same lists, so what is measured is what members receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.ml.recommend.als import Stages, als_top
from loyalty.ml.recommend.interactions import in_window
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, MEMBER_IDX, PRODUCT, Params


def routine_items(plines: DataFrame, as_of: date, *, min_weeks: int, lookback_weeks: int,
                  item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item) the member buys routinely: in >= ``min_weeks`` distinct weeks of the
    ``lookback_weeks`` weeks before as_of (week 0 = the 7 days before as_of)."""
    week = F.floor((F.datediff(F.lit(as_of), F.col("business_date")) - 1) / 7)
    return (in_window(plines, as_of - timedelta(days=7 * lookback_weeks), as_of)
            .groupBy(MEMBER, item_col).agg(F.countDistinct(week).alias("weeks"))
            .where(F.col("weeks") >= min_weeks).select(MEMBER, item_col))


def popularity(plines: DataFrame, as_of: date, days: int, item_col: str = PRODUCT) -> DataFrame:
    """(item, buyers, score): distinct buyers per item in [as_of - days, as_of); score = the share of
    the window's buyers (members with any purchase) who bought it."""
    window = in_window(plines, as_of - timedelta(days=days), as_of)
    total = window.agg(F.countDistinct(MEMBER).alias("_total"))
    return (window.groupBy(item_col).agg(F.countDistinct(MEMBER).alias("buyers"))
            .crossJoin(total).select(item_col, "buyers", (F.col("buyers") / F.col("_total")).alias("score")))


def segment_popularity(plines: DataFrame, segments: DataFrame, as_of: date, days: int, n: int,
                       item_col: str = PRODUCT) -> DataFrame:
    """(segment_id, item, rank, score): the ``n`` items bought by most members of each segment in
    [as_of - days, as_of); score = share of the segment's buyers in the window."""
    window = in_window(plines, as_of - timedelta(days=days), as_of).join(segments.select(MEMBER, "segment_id"), MEMBER)
    totals = window.groupBy("segment_id").agg(F.countDistinct(MEMBER).alias("_total"))
    order = Window.partitionBy("segment_id").orderBy(F.desc("score"), F.asc(item_col))
    return (window.groupBy("segment_id", item_col).agg(F.countDistinct(MEMBER).alias("buyers"))
            .join(totals, "segment_id")
            .withColumn("score", F.col("buyers") / F.col("_total"))
            .withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select("segment_id", item_col, "rank", "score"))


def top_items(spark: SparkSession, pop: DataFrame, n: int, item_col: str = PRODUCT) -> DataFrame:
    """The ``n`` best items of a popularity table as (item, rank, score); bounded by n, so it goes
    through the driver and comes back as a small DataFrame (broadcast on joins)."""
    rows = pop.orderBy(F.desc("score"), F.asc(item_col)).limit(n).select(item_col, "score").collect()
    schema = T.StructType([T.StructField(item_col, T.StringType()), T.StructField("rank", T.IntegerType()),
                           T.StructField("score", T.DoubleType())])
    return spark.createDataFrame([(r[0], i + 1, float(r[1])) for i, r in enumerate(rows)], schema)


def members_at(members: DataFrame, as_of: date) -> DataFrame:
    """(member_id) of members whose record valid at as_of is ACTIVE and who enrolled before as_of."""
    ts = F.to_timestamp(F.lit(as_of.isoformat()))
    return (members.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))
            .where((F.col("status") == "ACTIVE") & (F.col("enrollment_date") < F.lit(as_of)))
            .select(MEMBER).distinct())


def assemble(members: DataFrame, n: int, *, als: DataFrame | None, popular: DataFrame,
             segment_top: DataFrame | None = None, exclude: DataFrame | None = None,
             item_col: str = PRODUCT) -> DataFrame:
    """Top-``n`` per member of ``members`` as (member_id, item, rank, score, source).

    ALS candidates (member_id, item, score) come first; members left with fewer than n (no factors:
    cold start, or too few after exclusion) are filled from their segment's list (``segment_top``:
    segment_id, item, score, joined on ``members.segment_id``) and then the overall list (``popular``:
    item, score). Items in ``exclude`` (member_id, item) and items already listed are skipped."""
    def shaped(df: DataFrame, priority: int, source: str) -> DataFrame:
        return df.select(MEMBER, item_col, F.col("score").cast("double").alias("score"),
                         F.lit(priority).alias("_prio"), F.lit(source).alias("source"))

    ids = members.select(MEMBER)
    parts = []
    if als is not None:
        parts.append(shaped(als.join(ids, MEMBER, "left_semi"), 0, "als"))
    have = (parts[0].join(exclude, [MEMBER, item_col], "left_anti") if parts and exclude is not None
            else parts[0] if parts else None)
    needy = members
    if have is not None:
        counts = have.groupBy(MEMBER).agg(F.count(F.lit(1)).alias("_n"))
        needy = members.join(counts, MEMBER, "left").where(F.coalesce(F.col("_n"), F.lit(0)) < n).drop("_n")
    if segment_top is not None and "segment_id" in members.columns:
        seg = needy.where(F.col("segment_id").isNotNull()).select(MEMBER, "segment_id")
        parts.append(shaped(seg.join(segment_top.select("segment_id", item_col, "score"), "segment_id"),
                            1, "segment_popularity"))
    parts.append(shaped(needy.select(MEMBER).crossJoin(F.broadcast(popular.select(item_col, "score"))),
                        2, "popularity"))
    cands = parts[0]
    for part in parts[1:]:
        cands = cands.unionByName(part)
    if exclude is not None:
        cands = cands.join(exclude.select(MEMBER, item_col), [MEMBER, item_col], "left_anti")
    first = Window.partitionBy(MEMBER, item_col).orderBy("_prio", F.desc("score"))
    order = Window.partitionBy(MEMBER).orderBy("_prio", F.desc("score"), F.asc(item_col))
    return (cands.withColumn("_k", F.row_number().over(first)).where(F.col("_k") == 1)
            .withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select(MEMBER, item_col, "rank", "score", "source"))


@dataclass
class Served:
    """Lists for one as_of (``recs``: member_id, item, rank, score, source); ``unpersist`` frees what
    was cached to build them once ``recs`` has been consumed."""
    recs: DataFrame
    cached: list = field(default_factory=list)

    def unpersist(self) -> None:
        for df in self.cached:
            df.unpersist()


Ranker = Callable[[DataFrame, int], DataFrame]
"""A model as the lists see it: (members: member_id, k) -> (member_id, item, rank, score), the top ``k``
items for those of the members it knows (``als_ranker``; tests pass hand-made ones)."""


def als_ranker(spark: SparkSession, stages: Stages, index: DataFrame, item_col: str = PRODUCT) -> Ranker:
    """The product (or category) ALS of a recommender pipeline as a ``Ranker``, for the members in
    ``index`` (member_id, member_idx: the model's member index)."""
    model, indexer = ((stages.product_als, stages.product_indexer) if item_col == PRODUCT
                      else (stages.category_als, stages.category_indexer))

    def rank(members: DataFrame, k: int) -> DataFrame:
        users = members.select(MEMBER).join(index.select(MEMBER, MEMBER_IDX), MEMBER)
        return als_top(spark, model, indexer, users, k)
    return rank


def popularity_ranker(spark: SparkSession, plines: DataFrame, as_of: date, days: int,
                      item_col: str = PRODUCT) -> Ranker:
    """The popularity baseline as a ``Ranker``: for every member the same top list, the items with the
    most distinct buyers in the ``days`` before as_of."""
    pop = popularity(plines, as_of, days, item_col)

    def rank(members: DataFrame, k: int) -> DataFrame:
        return members.select(MEMBER).crossJoin(F.broadcast(top_items(spark, pop, k, item_col)))
    return rank


def product_lists(spark: SparkSession, plines: DataFrame, catalog: DataFrame, members: DataFrame, as_of: date,
                  p: Params, *, ranker: Ranker | None, segments: DataFrame | None = None) -> Served:
    """``top_n`` products for each of ``members`` (member_id[, segment_id]) from data before ``as_of``:
    what ``recommend`` writes, and what evaluation scores.

    The ranker's candidates restricted to ``catalog`` (product_id); with ``exclude_routine`` the member's
    routine products are left out, and the ranker is asked for ``top_n`` + the largest routine count so
    exclusion never leaves a list short. Members left short (cold start: unknown to the ranker) are
    filled from their segment's list (``segments`` given: members carry segment_id), then the overall
    popularity list. ``ranker=None``: the fallbacks alone (what members get without a model)."""
    routine, extra, cached = None, 0, []
    if p.exclude_routine:
        routine = routine_items(plines, as_of, min_weeks=p.routine_min_weeks,
                                lookback_weeks=p.routine_lookback_weeks).persist()
        cached.append(routine)
        extra = int(routine.groupBy(MEMBER).count().agg(F.max("count")).first()[0] or 0)
    als = None
    if ranker is not None:
        als = ranker(members, p.top_n + extra).join(catalog.select(PRODUCT), PRODUCT, "left_semi")
    pop = top_items(spark, popularity(plines, as_of, p.popularity_days), 2 * p.top_n + extra)
    seg_top = (segment_popularity(plines, segments, as_of, p.segment_popularity_days, 2 * p.top_n + extra)
               if segments is not None else None)
    recs = assemble(members, p.top_n, als=als, popular=pop, segment_top=seg_top, exclude=routine)
    return Served(recs, cached)


def category_lists(spark: SparkSession, plines: DataFrame, members: DataFrame, as_of: date, p: Params, *,
                   ranker: Ranker | None, segments: DataFrame | None = None) -> Served:
    """``category_top_n`` categories for each of ``members``: the category ranker, then segment and
    overall category popularity (no routine exclusion: a category is for cross-banner promotion)."""
    als = ranker(members, p.category_top_n) if ranker is not None else None
    pop = top_items(spark, popularity(plines, as_of, p.popularity_days, CATEGORY), 2 * p.category_top_n, CATEGORY)
    seg = (segment_popularity(plines, segments, as_of, p.segment_popularity_days, 2 * p.category_top_n, CATEGORY)
           if segments is not None else None)
    return Served(assemble(members, p.category_top_n, als=als, popular=pop, segment_top=seg, item_col=CATEGORY))

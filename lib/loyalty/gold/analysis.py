"""Small, bounded summaries of gold tables for notebooks and reports: each returns a Spark
DataFrame whose size depends only on its parameters (scores, buckets, banners), never on the
number of members, so it is safe to bring to pandas with ``loyalty.notebook.small``."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ACTIVITY_FLAGS = {"CINEMA": "cinema_visits_365d", "BANK": "bank_txns_365d"}


def rfm_heatmap(features: DataFrame) -> DataFrame:
    """Members and average yearly spend per (recency score, frequency score): at most 25 rows."""
    return (features.where(F.col("rfm_recency_score") > 0)
            .groupBy("rfm_recency_score", "rfm_frequency_score")
            .agg(F.count("*").alias("members"), F.avg("spend_365d").alias("avg_spend_365d"))
            .orderBy("rfm_recency_score", "rfm_frequency_score"))


def rfm_labels(features: DataFrame) -> DataFrame:
    """Members, share of members and of spend, average trips and spend per RFM label."""
    total = features.agg(F.count("*").alias("n"), F.sum("spend_365d").alias("s"))
    return (features.groupBy("rfm_label")
            .agg(F.count("*").alias("members"), F.sum("spend_365d").alias("spend"),
                 F.avg("trips_365d").alias("avg_trips_365d"), F.avg("spend_365d").alias("avg_spend_365d"))
            .crossJoin(total)
            .select("rfm_label", "members", (F.col("members") / F.col("n")).alias("member_share"),
                    F.when(F.col("s") > 0, F.col("spend") / F.col("s")).otherwise(0.0).alias("spend_share"),
                    "avg_trips_365d", "avg_spend_365d")
            .orderBy(F.desc("members")))


def histogram(features: DataFrame, column: str, edges: list[float]) -> DataFrame:
    """Members per bucket [edges[i], edges[i+1]) of ``column``; the last bucket is open-ended."""
    if sorted(edges) != list(edges) or len(edges) < 2:
        raise ValueError(f"edges must be at least two increasing numbers, got {edges}")
    v = F.col(column)
    bucket = F.lit(None).cast("int")
    for i in range(len(edges)):                   # the outermost test is the highest edge
        bucket = F.when(v >= F.lit(edges[i]), F.lit(i)).otherwise(bucket)
    lows = F.array(*[F.lit(float(e)) for e in edges])
    return (features.where(v.isNotNull()).groupBy(bucket.alias("bucket")).count()
            .where(F.col("bucket").isNotNull())
            .select("bucket", F.element_at(lows, F.col("bucket") + 1).alias("from"),
                    F.col("count").alias("members")).orderBy("bucket"))


def activity_flags(features: DataFrame, banners: list[str]) -> DataFrame:
    """member_id plus one boolean per retail banner and partner: active in the feature year."""
    cols = [(F.col(f"spend_share_{b.lower()}") > 0).alias(b.upper()) for b in banners]
    cols += [(F.col(c) > 0).alias(name) for name, c in ACTIVITY_FLAGS.items()]
    return features.select("member_id", *cols)


def overlap_matrix(features: DataFrame, banners: list[str]) -> DataFrame:
    """Members active in both of each pair of banners/partners (diagonal: active in that one),
    as rows (a, b, members): at most (banners + partners)^2 rows."""
    names = [b.upper() for b in banners] + list(ACTIVITY_FLAGS)
    flags = activity_flags(features, banners)
    sums = flags.agg(*[F.sum((F.col(a) & F.col(b)).cast("long")).alias(f"{a}|{b}") for a in names for b in names])
    stacked = F.explode(F.array(*[F.struct(F.lit(a).alias("a"), F.lit(b).alias("b"),
                                           F.coalesce(F.col(f"`{a}|{b}`"), F.lit(0)).alias("members"))
                                  for a in names for b in names]))
    return sums.select(stacked.alias("x")).select("x.a", "x.b", "x.members")


def banner_count(features: DataFrame) -> DataFrame:
    """Members by the number of retail banners and partners they were active with in the year."""
    return features.groupBy("partners_active_365d").count().withColumnRenamed("count", "members") \
        .orderBy("partners_active_365d")

"""Pure: Dirichlet smoothing of each member's channel, day-of-week and hour counts toward the
segment's pattern, itself smoothed toward the population's.

For a dimension d (channel, dow, hour) with keys k, member m of segment s:

    population  p_k    = n_k / N                                  (uniform when N = 0)
    segment     p_s,k  = (n_s,k + beta * p_k) / (N_s + beta)       beta  = segment_prior_strength
    member      t_m,k  = (n_m,k + alpha * q_k) / (N_m + alpha)     alpha = prior_strength,
                                                                   q = p_s (p when m has no segment)

the posterior mean of a multinomial under a Dirichlet(alpha * q) prior: a member with no events gets
exactly the prior, and many events dominate it (the member's weight is N_m / (N_m + alpha)).
Counts are weighted sums (``engagement.events`` weights). Rows are long: (dim, key) with key text.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from loyalty.timing.settings import CHANNEL, DOW, DOW_KEYS, HOUR, HOUR_KEYS, MEMBER, SEGMENT

_DIM_SOURCES = (("channel", CHANNEL, "w_channel"), ("dow", DOW, "w_dow"), ("hour", HOUR, "w_hour"))


def key_grid(spark: SparkSession, channels: tuple[str, ...]) -> DataFrame:
    """Every (dim, key): the contact channels, days 1..7, hours 0..23 (a few dozen rows)."""
    rows = ([("channel", c) for c in channels] + [("dow", d) for d in DOW_KEYS] + [("hour", h) for h in HOUR_KEYS])
    return spark.createDataFrame(rows, StructType([StructField("dim", StringType(), False),
                                                   StructField("key", StringType(), False)]))


def member_counts(events: DataFrame) -> DataFrame:
    """(member_id, dim, key, n): the weighted count of each member's events per key."""
    parts = [events.where(F.col(col).isNotNull() & (F.col(w) > 0))
             .select(MEMBER, F.lit(dim).alias("dim"), F.col(col).cast("string").alias("key"), F.col(w).alias("_w"))
             for dim, col, w in _DIM_SOURCES]
    out = parts[0].unionByName(parts[1]).unionByName(parts[2])
    return out.groupBy(MEMBER, "dim", "key").agg(F.sum("_w").cast("double").alias("n"))


def population_pattern(counts: DataFrame, grid: DataFrame) -> DataFrame:
    """(dim, key, p): the share of all members' counts per key, uniform over a dim without counts."""
    per_key = counts.groupBy("dim", "key").agg(F.sum("n").alias("n_k"))
    full = grid.join(per_key, ["dim", "key"], "left").fillna(0.0, ["n_k"])
    totals = full.groupBy("dim").agg(F.sum("n_k").alias("n_dim"), F.count("*").alias("keys"))
    return (full.join(totals, "dim")
            .select("dim", "key", F.when(F.col("n_dim") > 0, F.col("n_k") / F.col("n_dim"))
                    .otherwise(1.0 / F.col("keys")).alias("p")))


def segment_pattern(counts: DataFrame, segments: DataFrame, population: DataFrame, beta: float) -> DataFrame:
    """(segment_id, dim, key, p): each segment's counts smoothed toward ``population`` with strength
    ``beta``, for every segment in ``segments`` (member_id, segment_id) and every key."""
    seg_counts = (counts.join(segments.select(MEMBER, SEGMENT), MEMBER, "inner")
                  .groupBy(SEGMENT, "dim", "key").agg(F.sum("n").alias("n_sk")))
    ids = segments.select(SEGMENT).where(F.col(SEGMENT).isNotNull()).distinct()
    full = (ids.crossJoin(population).join(seg_counts, [SEGMENT, "dim", "key"], "left").fillna(0.0, ["n_sk"]))
    totals = full.groupBy(SEGMENT, "dim").agg(F.sum("n_sk").alias("n_s"))
    b = F.lit(float(beta))
    return (full.join(totals, [SEGMENT, "dim"])
            .select(SEGMENT, "dim", "key", ((F.col("n_sk") + b * F.col("p")) / (F.col("n_s") + b)).alias("p")))


def posterior(members: DataFrame, counts: DataFrame, population: DataFrame, segments: DataFrame | None,
              alpha: float) -> DataFrame:
    """(member_id, dim, key, theta, n_dim, prior_source) for every member of ``members`` (member_id,
    segment_id or null) and every key: the member's counts smoothed toward its segment's pattern
    (``segment_pattern``; ``population`` when it has no segment or its segment has no pattern) with
    strength ``alpha``. ``n_dim`` is the member's total count in the dim; ``prior_source`` is
    "segment" or "population"."""
    m = members.select(MEMBER, SEGMENT)
    rows = m.crossJoin(F.broadcast(population.withColumnRenamed("p", "p_pop")))
    if segments is not None:
        rows = rows.join(F.broadcast(segments.withColumnRenamed("p", "p_seg")), [SEGMENT, "dim", "key"], "left")
    else:
        rows = rows.withColumn("p_seg", F.lit(None).cast("double"))
    rows = (rows.join(counts, [MEMBER, "dim", "key"], "left").fillna(0.0, ["n"])
            .withColumn("prior", F.coalesce("p_seg", "p_pop"))
            .withColumn("prior_source", F.when(F.col("p_seg").isNotNull(), "segment").otherwise("population")))
    totals = counts.groupBy(MEMBER, "dim").agg(F.sum("n").alias("n_dim"))
    a = F.lit(float(alpha))
    return (rows.join(totals, [MEMBER, "dim"], "left").fillna(0.0, ["n_dim"])
            .select(MEMBER, "dim", "key", ((F.col("n") + a * F.col("prior")) / (F.col("n_dim") + a)).alias("theta"),
                    "n_dim", "prior_source"))

"""Pure: from smoothed patterns (``smoothing.posterior``) to gold.member_timing rows.

- channel_score: the channel's smoothed share among the channels the member consents to (they sum
  to 1 per member; uniform when none of them was ever seen), channel_rank 1 = best (ties: the order
  of conf timing.channels);
- best_dow: the day of highest smoothed share; best_hour: the centre of the (2w+1)-hour window of
  highest smoothed share, circular (23 and 0 are neighbours), ``w`` = conf timing.hour_window
  (ties: the earliest);
- confidence: the member's own weight in the answer, mean over channel, day and hour of
  N_m / (N_m + alpha); source: "member" when that is at least one half, else where the prior came
  from ("segment" or "population");
- a member without any consented channel gets one row with channel, channel_rank and
  channel_score null (still best_dow/best_hour): never a contact channel.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from loyalty.timing.settings import CHANNEL, MEMBER, TIMING_COLUMNS


def best_key(post: DataFrame, dim: str, window: int = 0, name: str = "best") -> DataFrame:
    """(member_id, <name>) with the key of ``dim`` whose circular window of +-``window`` neighbours
    (keys are 0..23 hours or 1..7 days) holds the highest summed theta; ties go to the key of highest
    theta itself (a lone peak wins over its neighbours), then to the smallest key."""
    rows = post.where(F.col("dim") == dim).select(MEMBER, F.col("key").cast("int").alias("k"), "theta")
    rows = rows.withColumn("_own", F.col("theta"))
    if window > 0:
        size, low = (24, 0) if dim == "hour" else (7, 1)
        offsets = F.array(*[F.lit(d) for d in range(-window, window + 1)])
        rows = (rows.withColumn("_d", F.explode(offsets))
                .withColumn("k", F.pmod(F.col("k") - F.lit(low) + F.col("_d"), F.lit(size)) + F.lit(low))
                .groupBy(MEMBER, "k").agg(F.sum("theta").alias("theta"),
                                          F.sum(F.when(F.col("_d") == 0, F.col("_own"))).alias("_own")))
    w = Window.partitionBy(MEMBER).orderBy(F.col("theta").desc(), F.col("_own").desc(), F.col("k").asc())
    return (rows.withColumn("_r", F.row_number().over(w)).where(F.col("_r") == 1)
            .select(MEMBER, F.col("k").cast("int").alias(name)))


def member_weight(post: DataFrame, alpha: float) -> DataFrame:
    """(member_id, confidence, prior_source): mean over dims of n_dim / (n_dim + alpha)."""
    per_dim = post.groupBy(MEMBER, "dim").agg(F.first("n_dim").alias("n_dim"), F.first("prior_source").alias("ps"))
    return (per_dim.groupBy(MEMBER)
            .agg(F.avg(F.col("n_dim") / (F.col("n_dim") + F.lit(float(alpha)))).alias("confidence"),
                 F.first("ps").alias("prior_source")))


def channel_ranks(post: DataFrame, consent: DataFrame) -> DataFrame:
    """(member_id, channel, channel_rank, channel_score) over the channels in ``consent`` (member_id,
    channel, channel_order)."""
    theta = post.where(F.col("dim") == "channel").select(MEMBER, F.col("key").alias(CHANNEL), "theta")
    rows = consent.join(theta, [MEMBER, CHANNEL], "left").fillna(0.0, ["theta"])
    per = Window.partitionBy(MEMBER)
    total, count = F.sum("theta").over(per), F.count("*").over(per)
    score = F.when(total > 0, F.col("theta") / total).otherwise(1.0 / count)
    order = Window.partitionBy(MEMBER).orderBy(F.col("channel_score").desc(), F.col("channel_order").asc())
    return (rows.withColumn("channel_score", score.cast("double"))
            .withColumn("channel_rank", F.row_number().over(order).cast("int"))
            .select(MEMBER, CHANNEL, "channel_rank", "channel_score"))


def member_timing(post: DataFrame, members: DataFrame, consent: DataFrame, as_of: date, alpha: float,
                  hour_window: int) -> DataFrame:
    """gold.member_timing rows (``TIMING_COLUMNS``) for every member of ``members`` (member_id): one
    per consented channel, or one with a null channel for a member without any."""
    ids = members.select(MEMBER)
    when = (best_key(post, "dow", 0, "best_dow").join(best_key(post, "hour", hour_window, "best_hour"), MEMBER))
    weight = member_weight(post, alpha)
    ranks = channel_ranks(post, consent.join(ids, MEMBER, "left_semi"))
    out = ids.join(ranks, MEMBER, "left").join(when, MEMBER, "left").join(weight, MEMBER, "left")
    source = F.when(F.col("confidence") >= 0.5, F.lit("member")).otherwise(F.col("prior_source"))
    return out.select(MEMBER, F.lit(as_of).cast("date").alias("as_of"), CHANNEL, "channel_rank", "channel_score",
                      "best_dow", "best_hour", F.col("confidence").cast("double").alias("confidence"),
                      source.alias("source")).select(*TIMING_COLUMNS)

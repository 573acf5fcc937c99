"""Pure: how often the served channel and hour match what members did (held-out days) or what the
generator planted (tests and benchmarks only), against the population's best channel and hour.

    top-1 channel hit   the rank-1 channel equals the target channel
    hour within one     the circular distance between best_hour and the target hour is at most 1

Each rate comes with its standard error, and the model-minus-baseline difference with the standard
error of the paired per-member differences (same members, same targets). One row reaches the driver.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from loyalty.timing.settings import CHANNEL, HOUR, MEMBER


def top_choice(timing: DataFrame) -> DataFrame:
    """(member_id, channel, best_hour): what a planner picks from gold.member_timing rows (rank 1;
    the null-channel row of a member without a consented channel)."""
    return (timing.where((F.col("channel_rank") == 1) | F.col(CHANNEL).isNull())
            .select(MEMBER, CHANNEL, "best_hour").dropDuplicates([MEMBER]))


def _mode(df: DataFrame, col: str, weight: str, name: str, min_events: int) -> DataFrame:
    counts = df.groupBy(MEMBER, col).agg(F.sum(weight).alias("_n"))
    w = Window.partitionBy(MEMBER).orderBy(F.col("_n").desc(), F.col(col).asc())
    total = F.sum("_n").over(Window.partitionBy(MEMBER))
    return (counts.withColumn("_t", total).withColumn("_r", F.row_number().over(w))
            .where((F.col("_r") == 1) & (F.col("_t") >= min_events)).select(MEMBER, F.col(col).alias(name)))


def holdout_targets(events: DataFrame, min_events: int) -> DataFrame:
    """(member_id, target_channel, target_hour) from the held-out days' events (``engagement.events``):
    the channel of most engagement (digital events and offer responses on a contact channel) and the
    hour of most digital engagement, each for members with at least ``min_events`` such events (else
    null). Members with neither have no row."""
    chan = _mode(events.where(F.col(CHANNEL).isNotNull() & F.col("kind").isin("digital", "offer")
                              & (F.col("w_channel") > 0)), CHANNEL, "w_channel", "target_channel", min_events)
    hour = _mode(events.where(F.col("kind") == "digital").withColumn("_one", F.lit(1.0)), HOUR, "_one",
                 "target_hour", min_events)
    return chan.join(hour, MEMBER, "full")


def truth_targets(truth: DataFrame) -> DataFrame:
    """(member_id, target_channel, target_hour) from truth/members.parquet (preferred_channel,
    engagement_hour); the silver member_id is the CRM id upper-cased and trimmed."""
    return truth.select(F.upper(F.trim("member_id")).alias(MEMBER), F.col("preferred_channel").alias("target_channel"),
                        F.col("engagement_hour").cast("int").alias("target_hour"))


def _hour_hit(pred: str, target: str):
    d = F.abs(F.col(pred) - F.col(target))
    return F.when(F.least(d, F.lit(24) - d) <= 1, 1.0).otherwise(0.0)


def hit_rates(model: DataFrame, baseline: DataFrame, targets: DataFrame) -> dict:
    """Hit rates of ``model`` and ``baseline`` choices (``top_choice`` shape) on the members of
    ``targets`` they both cover: channel_hit, channel_hit_baseline, hour_hit, hour_hit_baseline, the
    differences (*_lift), standard errors (*_se) and member counts (channel_members, hour_members)."""
    m = model.select(MEMBER, F.col(CHANNEL).alias("m_ch"), F.col("best_hour").alias("m_h"))
    b = baseline.select(MEMBER, F.col(CHANNEL).alias("b_ch"), F.col("best_hour").alias("b_h"))
    rows = targets.join(m, MEMBER, "inner").join(b, MEMBER, "inner")
    ch_ok = F.col("target_channel").isNotNull()
    h_ok = F.col("target_hour").isNotNull() & F.col("m_h").isNotNull() & F.col("b_h").isNotNull()
    rows = rows.select(
        F.when(ch_ok, F.when(F.col("m_ch") == F.col("target_channel"), 1.0).otherwise(0.0)).alias("ch"),
        F.when(ch_ok, F.when(F.col("b_ch") == F.col("target_channel"), 1.0).otherwise(0.0)).alias("ch_b"),
        F.when(h_ok, _hour_hit("m_h", "target_hour")).alias("h"),
        F.when(h_ok, _hour_hit("b_h", "target_hour")).alias("h_b"))
    aggs = []
    for name, a, b_ in (("channel", "ch", "ch_b"), ("hour", "h", "h_b")):
        d = F.col(a) - F.col(b_)
        aggs += [F.count(a).alias(f"{name}_members"), F.avg(a).alias(f"{name}_hit"),
                 F.avg(b_).alias(f"{name}_hit_baseline"), F.avg(d).alias(f"{name}_hit_lift"),
                 F.stddev_samp(d).alias(f"_{name}_sd")]
    r = rows.agg(*aggs).first().asDict()
    out = {}
    for name in ("channel", "hour"):
        n = int(r[f"{name}_members"] or 0)
        out[f"{name}_members"] = n
        for key in (f"{name}_hit", f"{name}_hit_baseline", f"{name}_hit_lift"):
            out[key] = float(r[key]) if r[key] is not None else float("nan")
        for key in (f"{name}_hit", f"{name}_hit_baseline"):
            v = out[key]
            out[f"{key}_se"] = (v * (1 - v) / n) ** 0.5 if n > 0 else float("nan")
        sd = r[f"_{name}_sd"]
        out[f"{name}_hit_lift_se"] = float(sd) / n ** 0.5 if sd is not None and n > 1 else float("nan")
    return out

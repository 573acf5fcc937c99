"""Deduplication and slowly-changing history (SCD2), as pure transforms."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

DUP_RANK = "_dup_rank"
HIGH_DATE = "9999-12-31 00:00:00"


def with_duplicate_rank(df: DataFrame, keys: list[str], latest_first: list[Column]) -> DataFrame:
    """Rank rows within each business key, 1 = the one to keep (latest ingested first)."""
    w = Window.partitionBy(*keys).orderBy(*latest_first)
    return df.withColumn(DUP_RANK, F.row_number().over(w))


def record_hash(cols: list[str]) -> Column:
    """A change-detection hash over the tracked attributes (null-safe)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in cols])), 256)


def scd2_changes(current: DataFrame, incoming: DataFrame, keys: list[str], tracked: list[str],
                 effective: str, carry: list[str] | None = None) -> DataFrame:
    """Rows to upsert on (keys, valid_from) so the history table reflects ``incoming``.

    ``current``: the table's open rows (is_current) with keys, tracked, valid_from, valid_to,
    is_current, record_hash. ``incoming``: versions of records (several per key allowed) with
    keys + tracked + ``effective`` (when the version took effect). Per key, the open row and the
    newer incoming versions form a chain ordered by time; a version equal to its predecessor is
    no change and dropped. Each surviving version is valid until the next one starts; the last
    stays open. The open row is re-emitted only when it gets closed. So an unchanged record
    yields nothing (re-runs write nothing) and versions older than the open row are ignored.
    ``carry`` columns (lineage) travel with each version but are not part of the change hash."""
    carry = list(carry or [])
    inc = (incoming.select(*keys, *tracked, *carry, F.col(effective).cast("timestamp").alias("valid_from"))
           .withColumn("record_hash", record_hash(tracked)).withColumn("_src", F.lit(1)))
    touched = current.join(inc.select(*keys).distinct(), keys, "left_semi")
    opened_at = touched.select(*keys, F.col("valid_from").alias("_open_from"))
    inc = (inc.join(opened_at, keys, "left")
           .where(F.col("_open_from").isNull() | (F.col("valid_from") > F.col("_open_from")))
           .drop("_open_from").dropDuplicates(keys + ["valid_from", "record_hash"]))
    chain = touched.select(*keys, *tracked, *carry, "valid_from", "record_hash").withColumn("_src", F.lit(0)).unionByName(inc)
    order = Window.partitionBy(*keys).orderBy("valid_from", "_src", "record_hash")
    chain = chain.withColumn("_prev", F.lag("record_hash").over(order))
    chain = chain.where((F.col("_src") == 0) | F.col("_prev").isNull() | (F.col("_prev") != F.col("record_hash")))
    chain = chain.withColumn("_next", F.lead("valid_from").over(order))
    out = (chain.where((F.col("_src") == 1) | F.col("_next").isNotNull())
           .withColumn("valid_to", F.coalesce(F.col("_next"), F.lit(HIGH_DATE).cast("timestamp")))
           .withColumn("is_current", F.col("_next").isNull()))
    return out.select(*keys, *tracked, *carry, "valid_from", "valid_to", "is_current", "record_hash")

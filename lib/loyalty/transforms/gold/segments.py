"""Segment history transforms (gold.member_segments -> gold.segment_migration): DataFrame in,
DataFrame out; no reads, writes or clocks."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SEGMENT_COLUMNS = ["member_id", "as_of", "segment_id", "segment_name", "distance", "segment_probability",
                   "segment_probabilities", "model_version"]
MIGRATION_COLUMNS = ["from_as_of", "to_as_of", "from_segment", "to_segment", "members"]
VERSION_COLUMNS = ["from_model_version", "to_model_version"]
NEW, GONE = "NEW", "GONE"


def migration_counts(before: DataFrame, after: DataFrame, from_as_of: date, to_as_of: date, *,
                     member_col: str = "member_id", segment_col: str = "segment_name",
                     version_col: str | None = None, new_label: str = NEW, gone_label: str = GONE) -> DataFrame:
    """Members per (from_segment, to_segment) between two snapshots of segment assignments (one
    row per member in each). A member only in ``after`` comes from ``new_label``; one only in
    ``before`` goes to ``gone_label``. Counts are conserved: the rows with a from_segment other
    than ``new_label`` sum to the members of ``before``, those with a to_segment other than
    ``gone_label`` to the members of ``after``. With ``version_col`` the model version of each
    side is kept too (``from_model_version``, ``to_model_version``; null for NEW / GONE)."""
    versions = [version_col] if version_col else []
    a = before.select(F.col(member_col).alias("_m"), F.col(segment_col).alias("_from"),
                      *[F.col(c).alias("from_model_version") for c in versions])
    b = after.select(F.col(member_col).alias("_m"), F.col(segment_col).alias("_to"),
                     *[F.col(c).alias("to_model_version") for c in versions])
    keep = VERSION_COLUMNS if version_col else []
    return (a.join(b, "_m", "full")
            .groupBy(F.coalesce("_from", F.lit(new_label)).alias("from_segment"),
                     F.coalesce("_to", F.lit(gone_label)).alias("to_segment"), *keep)
            .agg(F.count(F.lit(1)).alias("members"))
            .select(F.lit(from_as_of.isoformat()).cast("date").alias("from_as_of"),
                    F.lit(to_as_of.isoformat()).cast("date").alias("to_as_of"),
                    "from_segment", "to_segment", "members", *keep))

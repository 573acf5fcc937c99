"""Pieces shared by the silver conformers."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.privacy import tokenize

LINEAGE = ["_source_file", "_batch_id", "_ingested_at"]
MALFORMED = "chk_malformed"


def lineage() -> list[Column]:
    return [F.col(c) for c in LINEAGE]


def malformed_flag() -> Column:
    """True when bronze could not parse the line (kept raw in _corrupt_record)."""
    return F.col("_corrupt_record").isNotNull().alias(MALFORMED)


def postal_prefix(col: Column) -> Column:
    """Canadian forward sortation area (first three characters): coarse, not identifying."""
    return F.upper(F.substring(F.regexp_replace(col, r"\s", ""), 1, 3))


def map_column(col: Column, mapping: dict[str, str]) -> Column:
    m = F.create_map(*[x for k, v in mapping.items() for x in (F.lit(str(k).upper()), F.lit(v))])
    return m[F.upper(F.trim(col))]


def resolve_member(df: DataFrame, links: DataFrame, partner: str, account_token: Column) -> DataFrame:
    """Adds member_id by the partner account's token (links: partner, account_token, member_id,
    unique per partner and token, so every input row is kept exactly once)."""
    known = (links.where(F.col("partner") == partner)
             .select(F.col("account_token").alias("_acct"), F.col("member_id").alias("_resolved")))
    out = df.withColumn("_acct", account_token).join(known, "_acct", "left").drop("_acct")
    return out.withColumn("member_id", F.col("_resolved")).drop("_resolved")


def card_token(col: Column, key: bytes) -> Column:
    return tokenize(col, key, "digits", "card")

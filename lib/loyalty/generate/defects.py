"""Planted defects: which rows get one (hash-selected at a rate, mutually exclusive kinds
at one granularity) and how each kind damages a row. The feeds record the kind in
``_kind`` so defects.json is an aggregation over the generated rows."""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.generate.rand import Rng

MALFORMED, DUPLICATE, UNKNOWN, BAD_AMOUNT, FUTURE = (
    "malformed_line", "duplicate", "unknown_member", "bad_amount", "future_timestamp")
LATE_FILE, NEW_COLUMN, TEST_STORE = "late_file", "new_column", "test_store_rows"


def pick_kind(rng: Rng, salt: str, rate: float, kinds: Sequence[str], *keys) -> Column:
    """One of ``kinds`` (each with probability ``rate``) or null, from one hash uniform."""
    if rate <= 0 or not kinds:
        return F.lit(None).cast("string")
    u = rng.u(f"defect:{salt}", *keys)
    expr = None
    for i, kind in enumerate(kinds):
        cond = u < F.lit(rate * (i + 1))
        expr = F.when(cond, F.lit(kind)) if expr is None else expr.when(cond, F.lit(kind))
    return expr.otherwise(F.lit(None).cast("string"))


def with_duplicates(df: DataFrame, kind: str = "_kind") -> DataFrame:
    """Rows marked 'duplicate' are sent twice: the original is clean (``_copy`` 0), the copy
    carries the kind (``_copy`` 1). Callers may move the copy to another file or month.
    (An explode, not a union: the input is read once.)"""
    marked = F.col(kind) == DUPLICATE
    copies = F.when(marked, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))
    return (df.withColumn("_copy", F.explode(copies))
            .withColumn(kind, F.when(marked & (F.col("_copy") == 0), F.lit(None).cast("string")).otherwise(F.col(kind))))


def move_copies(df: DataFrame, rng: Rng, salt: str, tags: Sequence[str], share: float = 0.5) -> DataFrame:
    """Duplicate copies (``_copy`` 1) go to the next month's files with probability
    ``share`` (a resend), and are spread over files independently of their originals."""
    tag_array = F.array(*[F.lit(t) for t in tags])
    pos = F.array_position(tag_array, F.col("_tag")).cast("int")
    nxt = F.when((pos > 0) & (pos < len(tags)), F.element_at(tag_array, pos + 1))   # not from a late file
    is_copy = F.col("_copy") == 1
    moved = is_copy & (rng.u(f"resend:{salt}", F.col("_key")) < share) & nxt.isNotNull()
    return (df.withColumn("_tag", F.when(moved, nxt).otherwise(F.col("_tag")))
            .withColumn("_key", F.when(is_copy, rng.hash(f"copy:{salt}", F.col("_key"))).otherwise(F.col("_key"))))


def malform_csv(line: Column, sep: str, u: Column) -> Column:
    """Truncated somewhere between the first and the last separator (the row's id, its first
    field, stays readable), or separators garbled: fewer fields either way."""
    first_sep = F.instr(line, sep)
    last_sep = F.length(line) - F.length(F.substring_index(line, sep, -1))
    cut = (first_sep + F.floor((u * 2) * (last_sep - 1 - first_sep))).cast("int")
    garbled = F.regexp_replace(line, sep, "|")        # "," and ";" are plain in a regex
    return F.when(u < 0.5, line.substr(F.lit(1), cut)).otherwise(garbled)


def malform_json(line: Column, u: Column) -> Column:
    """Truncated mid-object, or key/value colons garbled: never valid JSON."""
    cut = F.floor(F.length(line) * (F.lit(0.3) + u * 0.6)).cast("int")
    return F.when(u < 0.5, line.substr(F.lit(1), cut)).otherwise(F.regexp_replace(line, '":', '" '))


def bad_number(value: Column, u: Column) -> Column:
    """A positive amount text made negative or non-numeric."""
    return (F.when(u < 0.5, F.concat(F.lit("-"), value))
            .when(u < 0.75, F.lit("N/A"))
            .otherwise(F.lit("#VALUE!")))


def bad_json_number(line: Column, key: str, u: Column) -> Column:
    """The same damage applied to a number inside a JSON line: "key":-12.3 or "key":"N/A"."""
    pattern = f'"{key}":([0-9.]+)'
    return (F.when(u < 0.5, F.regexp_replace(line, pattern, f'"{key}":-$1'))
            .when(u < 0.75, F.regexp_replace(line, pattern, f'"{key}":"N/A"'))
            .otherwise(F.regexp_replace(line, pattern, f'"{key}":"#VALUE!"')))


def future_day(rng: Rng, days: int, salt: str, *keys) -> Column:
    """A day index 2 to 121 days after the window's last day (clearly in the future in any time zone)."""
    return (F.lit(days + 1) + rng.below(120, f"future:{salt}", *keys)).cast("int")

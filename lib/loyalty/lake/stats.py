"""Per-file Delta statistics from a Parquet footer: numRecords, minValues, maxValues, nullCount.

Only bounds that are exactly right are written (a reader skips a file whose bounds exclude a
predicate, so a wrong bound silently loses rows):
- integers, dates: always; decimals: when they have at most 15 significant digits (so any
  JSON reader that parses numbers as doubles gets the same value back);
- timestamps: when both bounds are whole milliseconds (Delta stores them at ms precision);
- strings: when both bounds are at most 32 characters (longer ones would need truncation);
- floats (NaN ordering), booleans, binary, arrays and maps: no bounds; nullCount where it is
  a top-level or struct-field count.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pyspark.sql import types as T

MAX_STRING_STAT = 32
_NO_BOUNDS = (T.FloatType, T.DoubleType, T.BooleanType, T.BinaryType)


def _leaves(schema: T.StructType, skip: set[str]) -> dict[str, tuple[tuple[str, ...], T.DataType]]:
    """Parquet dotted column path -> (nested keys, type) for top-level and struct-field leaves.
    Paths that two fields would share (names with dots) are dropped."""
    out: dict[str, tuple[tuple[str, ...], T.DataType]] = {}
    clashes: set[str] = set()

    def walk(struct: T.StructType, prefix: tuple[str, ...]) -> None:
        for f in struct.fields:
            keys = prefix + (f.name,)
            if not prefix and f.name in skip:
                continue
            if isinstance(f.dataType, T.StructType):
                walk(f.dataType, keys)
            elif not isinstance(f.dataType, (T.ArrayType, T.MapType)):
                path = ".".join(keys)
                if path in out:
                    clashes.add(path)
                out[path] = (keys, f.dataType)

    walk(schema, ())
    for path in clashes:
        out.pop(path, None)
    return out


def _bound(value: Any, dtype: T.DataType) -> Any:
    """A Parquet statistic -> its Delta JSON form, or None when it cannot be stated exactly."""
    if value is None or isinstance(dtype, _NO_BOUNDS):
        return None
    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return int(value)
    if isinstance(dtype, T.DecimalType) and isinstance(value, Decimal):
        return float(value) if len(value.as_tuple().digits) <= 15 and value.is_finite() else None
    if isinstance(dtype, T.DateType) and isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(dtype, T.TimestampType) and isinstance(value, datetime):
        if value.tzinfo is None or value.microsecond % 1000:
            return None
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(dtype, T.StringType) and isinstance(value, str):
        return value if len(value) <= MAX_STRING_STAT else None
    return None


def _put(tree: dict, keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def file_stats(meta, schema: T.StructType, partition_by: list[str]) -> tuple[int, str]:
    """(row count, Delta stats JSON) for one Parquet file's ``pyarrow.parquet.FileMetaData``."""
    leaves = _leaves(schema, set(partition_by))
    mins: dict = {}
    maxs: dict = {}
    nulls: dict = {}
    groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
    for j in range(meta.num_columns):
        path = meta.schema.column(j).path
        if path not in leaves:
            continue
        keys, dtype = leaves[path]
        null_total: int | None = 0
        low = high = None
        bounds_ok = True
        for rg in groups:
            stats = rg.column(j).statistics
            if stats is None or not stats.has_null_count:
                null_total, bounds_ok = None, False
                break
            null_total += stats.null_count
            if stats.has_min_max:
                lo, hi = _bound(stats.min, dtype), _bound(stats.max, dtype)
                if lo is None or hi is None:
                    bounds_ok = False
                    continue
                low = lo if low is None or _key(lo, dtype) < _key(low, dtype) else low
                high = hi if high is None or _key(hi, dtype) > _key(high, dtype) else high
            elif stats.null_count < rg.num_rows:
                bounds_ok = False  # values present but no bounds recorded
        if null_total is not None:
            _put(nulls, keys, null_total)
        if bounds_ok and low is not None:
            _put(mins, keys, low)
            _put(maxs, keys, high)
    stats_json = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    return meta.num_rows, json.dumps(stats_json, separators=(",", ":"))


def _key(value: Any, dtype: T.DataType) -> Any:
    """Order of the JSON bound values: strings compare as UTF-8 bytes (Parquet's order);
    ISO dates/timestamps compare as strings; numbers as numbers."""
    if isinstance(dtype, T.StringType):
        return value.encode("utf-8")
    return value

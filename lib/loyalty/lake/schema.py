"""Schemas: Spark StructType <-> Delta schemaString (the same JSON), schema enforcement and
evolution, and typed partition values."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.lake.core import LakeError, SchemaMismatchError

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def nullable(dtype: T.DataType) -> T.DataType:
    """The same type with every level nullable (Delta tables written here accept nulls anywhere)."""
    if isinstance(dtype, T.StructType):
        return T.StructType([T.StructField(f.name, nullable(f.dataType), True, f.metadata) for f in dtype.fields])
    if isinstance(dtype, T.ArrayType):
        return T.ArrayType(nullable(dtype.elementType), True)
    if isinstance(dtype, T.MapType):
        return T.MapType(nullable(dtype.keyType), nullable(dtype.valueType), True)
    return dtype


def type_key(dtype: T.DataType) -> str:
    """A comparable form of a type: nullability and field metadata ignored."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if k not in ("nullable", "containsNull", "valueContainsNull", "metadata")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return json.dumps(strip(dtype.jsonValue()), sort_keys=True)


def type_name(dtype: T.DataType) -> str:
    return dtype.simpleString()


def to_delta(schema: T.StructType, table: str):
    """Spark schema -> deltalake.Schema. Types Delta cannot store are a SchemaMismatchError."""
    from deltalake import Schema

    for f in schema.fields:
        if isinstance(f.dataType, T.NullType):
            raise SchemaMismatchError(
                f"{table}: column '{f.name}' has no type (void, e.g. lit(None)); cast it to a concrete type")
    try:
        return Schema.from_json(nullable(schema).json())
    except Exception as exc:  # deltalake raises its own exception types for unknown types
        raise SchemaMismatchError(f"{table}: schema cannot be stored in Delta: {exc}") from None


def from_delta(delta_schema) -> T.StructType:
    return T.StructType.fromJson(json.loads(delta_schema.to_json()))


def diff(table: T.StructType, data: T.StructType) -> tuple[list[str], list[str], list[str]]:
    """(missing from data, unexpected in data, 'col (table t, data d)' type mismatches)."""
    have = {f.name: f.dataType for f in data.fields}
    want = {f.name: f.dataType for f in table.fields}
    missing = [n for n in want if n not in have]
    unexpected = [n for n in have if n not in want]
    mismatched = [f"{n} (table {type_name(want[n])}, data {type_name(have[n])})"
                  for n in want if n in have and type_key(want[n]) != type_key(have[n])]
    return missing, unexpected, mismatched


def conform(df: DataFrame, table: T.StructType, name: str, path: str, evolve: bool) -> tuple[DataFrame, T.StructType]:
    """The data with the table's columns in the table's order, and the schema to commit.

    Without ``evolve`` any difference is a SchemaMismatchError naming the columns. With it, new
    columns are added at the end of the table schema and missing ones are filled with nulls;
    a type change is still an error."""
    data = nullable(df.schema)
    dupes = sorted({n for n in data.names if data.names.count(n) > 1})
    if dupes:
        raise SchemaMismatchError(f"{name}: data has duplicate columns: {', '.join(dupes)}")
    missing, unexpected, mismatched = diff(table, data)
    if mismatched or ((missing or unexpected) and not evolve):
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected columns: " + ", ".join(unexpected))
        if mismatched:
            parts.append("type mismatches: " + ", ".join(mismatched))
        hint = "" if mismatched else " (pass schema_evolution=True to add new columns and fill missing ones)"
        raise SchemaMismatchError(f"schema mismatch writing {name} at {path}: " + "; ".join(parts) + hint)
    target = T.StructType(list(table.fields) + [f for f in data.fields if f.name in unexpected])
    cols: list[Column] = [qcol(f.name) if f.name in data.names
                          else F.lit(None).cast(f.dataType).alias(f.name) for f in target.fields]
    return df.select(*cols), target


def qcol(name: str) -> Column:
    """A top-level column by its exact name (dots and backticks in names are not parsed)."""
    return F.col("`" + name.replace("`", "``") + "`")


def partition_types(schema: T.StructType, partition_by: list[str], name: str) -> dict[str, T.DataType]:
    fields = {f.name: f.dataType for f in schema.fields}
    unknown = [c for c in partition_by if c not in fields]
    if unknown:
        raise LakeError(f"{name}: partition columns not in the data: {', '.join(unknown)}")
    bad = [c for c in partition_by if isinstance(fields[c], (T.StructType, T.ArrayType, T.MapType,
                                                             T.BinaryType, T.FloatType, T.DoubleType,
                                                             T.TimestampNTZType))]
    if bad:
        raise LakeError(f"{name}: cannot partition by {', '.join(bad)} (nested, binary, floating or "
                        "timestamp_ntz type)")
    return {c: fields[c] for c in partition_by}


def typed_value(text: str | None, dtype: T.DataType) -> Any:
    """A partition value string (as Spark writes it in a directory name, or as Delta stores it)
    -> a Python value comparable with the values deltalake reports."""
    if text is None or text == HIVE_NULL:
        return None
    if isinstance(dtype, T.StringType):
        return text
    if isinstance(dtype, (T.IntegerType, T.LongType, T.ShortType, T.ByteType)):
        return int(text)
    if isinstance(dtype, T.DecimalType):
        return Decimal(text)
    if isinstance(dtype, T.BooleanType):
        return text.strip().lower() == "true"
    if isinstance(dtype, T.DateType):
        return date.fromisoformat(text[:10])
    if isinstance(dtype, T.TimestampType):
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return text


def user_value(value: Any, dtype: T.DataType) -> Any:
    """A partition value given by a caller (str, date, datetime, int, ...) -> typed like typed_value."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if isinstance(dtype, T.DateType):
            return value.date()
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return value if isinstance(dtype, T.DateType) else typed_value(value.isoformat(), dtype)
    if isinstance(value, bool):
        return value
    return typed_value(str(value), dtype)


def delta_partition_string(value: Any) -> str | None:
    """A typed partition value -> the string a Delta add/remove action carries."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)

"""Argument checks and small helpers both backends share (txn pairs, partition specs, merge keys)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from loyalty.lake.core import LakeError
from loyalty.lake.schema import user_value


def check_txn(txn, name: str) -> tuple[str, int] | None:
    if txn is None:
        return None
    if (not isinstance(txn, tuple) or len(txn) != 2 or not isinstance(txn[0], str) or not txn[0]
            or isinstance(txn[1], bool) or not isinstance(txn[1], int) or txn[1] < 0):
        raise LakeError(f"{name}: txn must be (app_id: str, version: int >= 0), got {txn!r}")
    return txn


def partition_specs(partitions: list[dict], types: dict[str, T.DataType], name: str) -> list[dict]:
    """``[{"as_of": "2026-10-01"}, ...]`` -> typed values, checked against the partition columns."""
    if not isinstance(partitions, list) or not partitions or not all(isinstance(p, dict) and p for p in partitions):
        raise LakeError(f"{name}: partitions must be a non-empty list of non-empty dicts, got {partitions!r}")
    specs = []
    for spec in partitions:
        unknown = [k for k in spec if k not in types]
        if unknown:
            raise LakeError(f"{name}: {', '.join(unknown)} not partition columns (table is partitioned by "
                            f"{', '.join(types) or 'nothing'})")
        try:
            specs.append({k: user_value(v, types[k]) for k, v in spec.items()})
        except (ValueError, ArithmeticError) as exc:
            raise LakeError(f"{name}: bad partition value in {spec}: {exc}") from None
    return specs


def check_merge(df: DataFrame, name: str, keys, when_matched: str, when_not_matched: str) -> None:
    if when_matched not in ("update", "ignore"):
        raise LakeError(f"{name}: when_matched must be 'update' or 'ignore', got {when_matched!r}")
    if when_not_matched not in ("insert", "ignore"):
        raise LakeError(f"{name}: when_not_matched must be 'insert' or 'ignore', got {when_not_matched!r}")
    if not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) for k in keys):
        raise LakeError(f"{name}: merge keys must be a non-empty list of column names, got {keys!r}")
    missing = [k for k in keys if k not in df.columns]
    if missing or len(set(keys)) != len(keys):
        raise LakeError(f"{name}: merge keys {list(keys)} must be distinct source columns "
                        f"(missing: {', '.join(missing) or 'none'})")


def matches(values: dict, spec: dict) -> bool:
    return all(values.get(k) == v for k, v in spec.items())


def show(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())

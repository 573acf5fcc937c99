"""Copy-on-write upsert by key for the delta-rs backend.

1. One aggregate over the source: its row count and the largest number of rows per key
   (duplicates are an error naming the key).
2. Candidate files: the snapshot's files, pruned by partition values when keys include
   partition columns (the source's distinct partition values are collected: bounded by the
   number of partitions).
3. Affected files: a Spark semi-join of the candidates' keys (with ``_metadata.file_path``)
   with the source keys; only the list of file paths and per-file match counts reaches the driver.
4. One Spark write of: the affected files' rows without a match, the matched source rows (or
   the matched target rows for ``when_matched="ignore"``: then no file is rewritten at all),
   and the unmatched source rows; one commit of remove(affected) + add(new files).

Keys match null-safely (a null key part matches a null), so merging the same source twice
leaves the table as it was.
"""

from __future__ import annotations

import os
import time
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.conf import Config
from loyalty.lake import delta_rs as rs
from loyalty.lake.args import check_merge
from loyalty.lake.core import CommitInfo, LakeError, local_path, table_path
from loyalty.lake.log import Snapshot, maybe_open, remove_actions
from loyalty.lake.schema import conform, qcol, typed_value

_FILE = "__lake_file"
_COUNT = "__lake_rows"


def merge(backend, df: DataFrame, cfg: Config, name: str, keys: list[str], *, when_matched: str = "update",
          when_not_matched: str = "insert", schema_evolution: bool = False) -> CommitInfo:
    started = time.monotonic()
    root = table_path(cfg, name)
    check_merge(df, name, keys, when_matched, when_not_matched)
    dt = maybe_open(root, name)
    snap = Snapshot(dt, root, name) if dt is not None else None
    if snap is not None:   # schema errors before any Spark job
        source, schema = conform(df, snap.schema, name, root, schema_evolution)
    else:
        schema, parts = rs._new_table(df, name, None)
        source = df.select(*[qcol(n) for n in schema.names])
    rows, most, example = source_profile(source, keys)
    if rows == 0:
        return CommitInfo(name, snap.version if snap else None, 0, 0, rows_inserted=0, rows_updated=0,
                          seconds=time.monotonic() - started)
    if most > 1:
        shown = ", ".join(f"{k}={example[k]!r}" for k in keys)
        raise LakeError(f"{name}: merge source has {most} rows for key ({shown}); keys {keys} must be unique "
                        "in the source")
    spark = df.sparkSession
    meta = {"loyalty.keys": ",".join(keys)}
    if snap is None:
        if when_not_matched == "ignore":
            return CommitInfo(name, None, 0, 0, rows_inserted=0, rows_updated=0, seconds=time.monotonic() - started)
        written = rs._write(source, cfg, root, schema, parts)
        props = rs._properties(spark, "merge", name, {**meta, **rs._write_meta(written, 0),
                                                     "loyalty.rows_inserted": written.rows})
        version = rs._commit(None, root, name, schema, parts, rs._adds(written, schema, parts), props)
        return CommitInfo(name, version, written.rows, len(written.files), rows_inserted=written.rows, rows_updated=0,
                          seconds=time.monotonic() - started)

    candidates = _candidates(snap, source, keys)
    source_keys = source.select(*[qcol(k) for k in keys])
    affected: list = []
    updated = 0
    if when_matched == "update" and candidates:
        by_file = _matched_files(spark, snap, candidates, source_keys, keys)
        affected = [f for f in candidates if by_file.get(_abs(root, f.path))]
        updated = sum(by_file.values())
    pieces: list[DataFrame] = []
    if affected:
        old = rs.scan(spark, snap, affected)
        old_keys = old.select(*[qcol(k) for k in keys])
        pieces.append(_anti(old, source_keys, keys).select(*[qcol(n) for n in snap.schema.names]))
        pieces.append(_semi(source, old_keys, keys))
    if when_not_matched == "insert":
        if candidates:
            pieces.append(_anti(source, rs.scan(spark, snap, candidates).select(*[qcol(k) for k in keys]), keys))
        else:
            pieces.append(source)
    if not pieces:
        return CommitInfo(name, snap.version, 0, 0, rows_inserted=0, rows_updated=0,
                          seconds=time.monotonic() - started)
    out = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), pieces).select(
        *[qcol(n) for n in schema.names])
    written = rs._write(out, cfg, root, schema, snap.partition_by)
    inserted = 0 if when_not_matched == "ignore" else (
        written.rows if when_matched == "ignore" else max(rows - updated, 0))
    if not written.files and not affected:
        return CommitInfo(name, snap.version, 0, 0, rows_inserted=0, rows_updated=0,
                          seconds=time.monotonic() - started)
    meta.update(rs._write_meta(written, len(affected)))
    meta.update({"loyalty.rows_inserted": inserted, "loyalty.rows_updated": updated})
    props = rs._properties(spark, "merge", name, meta)
    rs._evolve(snap, schema, spark, name)
    actions = remove_actions(affected, snap.partition_types) + rs._adds(written, schema, snap.partition_by)
    pruned = len(candidates) < len(snap.files()) or bool([k for k in keys if k in snap.partition_by])
    version = rs._commit(snap, root, name, schema, snap.partition_by, actions, props,
                         scope=("files", candidates if pruned else None))
    return CommitInfo(name, version, written.rows, len(written.files), len(affected), rows_inserted=inserted,
                      rows_updated=updated, seconds=time.monotonic() - started)


def source_profile(df: DataFrame, keys: list[str]) -> tuple[int, int, dict | None]:
    """(rows, largest rows per key, one duplicated key) in one aggregate (a second only on error)."""
    per_key = df.groupBy(*[qcol(k) for k in keys]).agg(F.count(F.lit(1)).alias(_COUNT))
    agg = per_key.agg(F.sum(_COUNT).alias("rows"), F.max(_COUNT).alias("most")).first()
    rows, most = int(agg["rows"] or 0), int(agg["most"] or 0)
    example = None
    if most > 1:
        example = per_key.where(F.col(_COUNT) > 1).first().asDict()
    return rows, most, example


def _candidates(snap: Snapshot, source: DataFrame, keys: list[str]) -> list:
    files = snap.files()
    pkeys = [k for k in keys if k in snap.partition_by]
    if not pkeys or not files:
        return files
    types = snap.partition_types
    if any(isinstance(types[k], T.TimestampType) for k in pkeys):
        rs._require_utc(source.sparkSession, snap.name)   # the cast to string below is in session time
    rows = source.select(*[qcol(k).cast("string").alias(k) for k in pkeys]).distinct().collect()
    wanted = {tuple(typed_value(r[k], types[k]) for k in pkeys) for r in rows}
    return [f for f in files if tuple(f.partition.get(k) for k in pkeys) in wanted]


def _matched_files(spark, snap: Snapshot, candidates: list, source_keys: DataFrame, keys: list[str]) -> dict:
    """Absolute local path of each candidate file holding a source key -> matched rows in it."""
    target = rs.scan(spark, snap, candidates, with_file=_FILE)
    hits = (_semi(target.select(*[qcol(k) for k in keys], qcol(_FILE)), source_keys, keys)
            .groupBy(_FILE).agg(F.count(F.lit(1)).alias(_COUNT)).collect())
    return {_normal(local_path(r[_FILE])): int(r[_COUNT]) for r in hits}


def _abs(root: str, path: str) -> str:
    return _normal(path if "://" in path else f"{root.rstrip('/')}/{path}")


def _normal(path: str) -> str:
    return path if "://" in path else os.path.normpath(path)


def _cond(left: DataFrame, right: DataFrame, keys: list[str]) -> Column:
    return reduce(lambda a, b: a & b, [left[f"`{k}`"].eqNullSafe(right[f"`{k}`"]) for k in keys])


def _semi(left: DataFrame, right: DataFrame, keys: list[str]) -> DataFrame:
    right = right.select(*[qcol(k) for k in keys]).distinct()
    return left.join(right, _cond(left, right, keys), "left_semi")


def _anti(left: DataFrame, right: DataFrame, keys: list[str]) -> DataFrame:
    right = right.select(*[qcol(k) for k in keys]).distinct()
    return left.join(right, _cond(left, right, keys), "left_anti")

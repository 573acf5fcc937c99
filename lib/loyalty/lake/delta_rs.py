"""The delta-rs backend: Spark writes and reads the Parquet data files, delta-rs commits them.

Every write: Spark writes the rows into a new ``write-<uuid>`` directory under the table root
(partitioned writes in ``k=v`` directories below it); the driver lists those files, reads their
footers for row counts and statistics, and commits add (and remove) actions as ONE Delta
transaction. If Spark fails, nothing reaches the log; files of a write that never got committed
are invisible to readers and removed by ``vacuum``."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.conf import Config
from loyalty.lake import files as lake_files
from loyalty.lake.args import check_txn, matches, partition_specs, show
from loyalty.lake.core import CommitInfo, ConcurrentCommitError, LakeError, spark_uri, table_path
from loyalty.lake.log import Snapshot, TableFile, commit, maybe_open, open_table, remove_actions, vacuum
from loyalty.lake.schema import conform, nullable, partition_types, qcol, type_key

_UTC_ZONES = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "UCT", "Zulu"}


class DeltaRsBackend:
    name = "delta-rs"

    # -- reading --------------------------------------------------------------------------
    def read(self, spark: SparkSession, cfg: Config, name: str, version: int | None = None,
             timestamp: str | datetime | None = None) -> DataFrame:
        root = table_path(cfg, name)
        snap = Snapshot(open_table(root, name, version, timestamp), root, name)
        return scan(spark, snap, snap.files())

    # -- writing --------------------------------------------------------------------------
    def append(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
               schema_evolution: bool = False, txn: tuple[str, int] | None = None,
               metadata: dict | None = None) -> CommitInfo:
        started = time.monotonic()
        root = table_path(cfg, name)
        app = check_txn(txn, name)
        dt = maybe_open(root, name)
        if app is not None and dt is not None:
            done = dt.transaction_version(app[0])
            if done is not None and int(done) >= app[1]:
                return CommitInfo(name, dt.version(), 0, 0, skipped=True, seconds=time.monotonic() - started)
        if dt is None:
            schema, parts = _new_table(df, name, partition_by)
            data, snap = df.select(*[qcol(n) for n in schema.names]), None
        else:
            snap = Snapshot(dt, root, name)
            parts = _same_partitioning(snap, partition_by)
            data, schema = conform(df, snap.schema, name, root, schema_evolution)
        written = _write(data, cfg, root, schema, parts)
        extra = _write_meta(written, 0)
        props = _properties(df.sparkSession, "append", name, extra, metadata, app)
        if snap is not None:
            _evolve(snap, schema, df.sparkSession, name)
        try:
            version = _commit(snap, root, name, schema, parts, _adds(written, schema, parts), props, txn=app)
        except _AlreadyCommitted:
            return CommitInfo(name, maybe_open(root, name).version(), 0, 0, skipped=True,
                              seconds=time.monotonic() - started)
        return CommitInfo(name, version, written.rows, len(written.files), seconds=time.monotonic() - started)

    def overwrite(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
                  partitions: list[dict] | None = None, dynamic: bool = False,
                  schema_evolution: bool = False) -> CommitInfo:
        started = time.monotonic()
        if partitions is not None and dynamic:
            raise LakeError(f"{name}: overwrite takes partitions=... or dynamic=True, not both")
        root = table_path(cfg, name)
        dt = maybe_open(root, name)
        snap = Snapshot(dt, root, name) if dt is not None else None
        if partitions is None and not dynamic:
            return self._replace(df, cfg, name, root, snap, partition_by, started)
        if snap is None:
            if not partition_by:
                raise LakeError(f"{name}: a partition overwrite creating the table needs partition_by")
            schema, parts = _new_table(df, name, partition_by)
            data = df.select(*[qcol(n) for n in schema.names])
        else:
            parts = _same_partitioning(snap, partition_by)
            if not parts:
                raise LakeError(f"{name}: partition overwrite on a table that is not partitioned")
            data, schema = conform(df, snap.schema, name, root, schema_evolution)
        types = partition_types(schema, parts, name)
        specs = partition_specs(partitions, types, name) if partitions is not None else None
        written = _write(data, cfg, root, schema, parts)
        if specs is not None:
            stray = [f for f in written.files if not any(matches(f.partition, s) for s in specs)]
            if stray:
                lake_files.delete_tree(root, written.stage)
                raise LakeError(f"{name}: overwrite(partitions={partitions}) got rows outside those partitions, "
                                f"e.g. {show(stray[0].partition)}; nothing was written")
        else:
            specs = [dict(p) for p in {_freeze(f.partition) for f in written.files}]
            if not specs and snap is not None:   # nothing to replace (an empty first write still creates)
                return CommitInfo(name, snap.version, 0, 0, seconds=time.monotonic() - started)
        old = [f for f in snap.files() if any(matches(f.partition, s) for s in specs)] if snap else []
        extra = _write_meta(written, len(old))
        extra["loyalty.partitions"] = json.dumps([show(s) for s in specs])
        props = _properties(df.sparkSession, "overwrite_partitions", name, extra)
        if snap is not None:
            _evolve(snap, schema, df.sparkSession, name)
        actions = remove_actions(old, types) + _adds(written, schema, parts)
        version = _commit(snap, root, name, schema, parts, actions, props, scope=("partitions", specs))
        return CommitInfo(name, version, written.rows, len(written.files), len(old),
                          seconds=time.monotonic() - started)

    def _replace(self, df, cfg, name, root, snap, partition_by, started) -> CommitInfo:
        schema = nullable(df.schema)
        conform(df, schema, name, root, False)   # duplicate column check
        parts = list(partition_by) if partition_by is not None else (
            [c for c in snap.partition_by] if snap and all(c in schema.names for c in snap.partition_by) else [])
        partition_types(schema, parts, name)
        written = _write(df.select(*[qcol(n) for n in schema.names]), cfg, root, schema, parts)
        old = snap.files() if snap else []
        props = _properties(df.sparkSession, "overwrite", name, _write_meta(written, len(old)))
        adds = _adds(written, schema, parts)
        same = snap is not None and snap.partition_by == parts and _same_schema(snap.schema, schema)
        if same:
            version = _commit(snap, root, name, schema, parts, adds, props, mode="overwrite", scope=("table",))
        else:
            version = _commit(snap, root, name, schema, parts, adds, props, replace=snap is not None)
        return CommitInfo(name, version, written.rows, len(written.files), len(old),
                          seconds=time.monotonic() - started)

    def merge(self, df: DataFrame, cfg: Config, name: str, keys: list[str], *, when_matched: str = "update",
              when_not_matched: str = "insert", schema_evolution: bool = False) -> CommitInfo:
        from loyalty.lake.upsert import merge

        return merge(self, df, cfg, name, keys, when_matched=when_matched, when_not_matched=when_not_matched,
                     schema_evolution=schema_evolution)

    def vacuum(self, spark: SparkSession, cfg: Config, name: str, retention_hours: float | None = None,
               dry_run: bool = False) -> list[str]:
        hours = retention_hours if retention_hours is not None else cfg.typed("lake.vacuum_retention_hours", float)
        if hours < 0:
            raise LakeError(f"{name}: retention_hours must be >= 0, got {hours}")
        return vacuum(table_path(cfg, name), name, hours, dry_run)


    def optimize(self, spark: SparkSession, cfg: Config, name: str) -> dict:
        """delta-rs' bin-packing compaction (it rewrites the small files itself)."""
        root = table_path(cfg, name)
        dt = open_table(root, name)
        props = _properties(spark, "optimize", name, {}, checked=False)
        metrics = dt.optimize.compact(commit_properties=props)
        return {"files_added": int(metrics.get("numFilesAdded") or 0),
                "files_removed": int(metrics.get("numFilesRemoved") or 0)}

    def checkpoint(self, spark: SparkSession, cfg: Config, name: str) -> None:
        open_table(table_path(cfg, name), name).create_checkpoint()


# -- helpers shared with merge ----------------------------------------------------------------
def scan(spark: SparkSession, snap: Snapshot, files: list[TableFile], with_file: str | None = None) -> DataFrame:
    """The rows of ``files`` (a snapshot's, or a subset) with the table schema; partition values
    come from the ``k=v`` directories, which are checked against the log first. ``with_file``
    names an extra column holding each row's file URI."""
    if not files:
        empty = spark.createDataFrame([], snap.schema)
        return empty.withColumn(with_file, F.lit(None).cast("string")) if with_file else empty
    types = snap.partition_types
    if any(isinstance(t, T.TimestampType) for t in types.values()):
        _require_utc(spark, snap.name)
    for f in files:
        if types and lake_files.partition_of(f.path.split("://")[-1], list(types), types) != f.partition:
            raise LakeError(f"{snap.name}: file {f.path} sits in directories that disagree with its "
                            f"partition values in the log ({show(f.partition)})")
    paths = [file_uri(snap.root, f.path) for f in files]
    df = (spark.read.schema(snap.schema).option("basePath", spark_uri(snap.root))
          .option("ignoreInvalidPartitionPaths", "true").parquet(*paths))
    extra = [F.col("_metadata.file_path").alias(with_file)] if with_file else []
    return df.select(*[qcol(n) for n in snap.schema.names], *extra)


def file_uri(root: str, path: str) -> str:
    return path if "://" in path else spark_uri(f"{root.rstrip('/')}/{path}")


def _write(data: DataFrame, cfg: Config, root: str, schema: T.StructType, parts: list[str]) -> lake_files.Written:
    if any(isinstance(t, T.TimestampType) for t in partition_types(schema, parts, root).values()):
        _require_utc(data.sparkSession, root)
    return lake_files.write(data, root, schema, parts, cfg.typed("lake.max_records_per_file", int, 0))


def _adds(written: lake_files.Written, schema: T.StructType, parts: list[str]) -> list:
    types = {f.name: f.dataType for f in schema.fields}
    return [f.add_action({c: types[c] for c in parts}) for f in written.files]


class _AlreadyCommitted(Exception):
    """A concurrent run committed this very app transaction first."""


def _commit(snap, root, name, schema, parts, actions, props, mode="append", replace=False, scope=None,
            txn: tuple[str, int] | None = None) -> int:
    """One conflict-checked commit. delta-rs is told not to retry on its own
    (``max_commit_retries=0``); when another commit landed since ``snap``, the files it added or
    removed are compared with what this write replaces (``scope``):

    - ``None``: a blind append; only a removal of a file this commit also removes conflicts;
    - ``("table",)``: a whole-table overwrite; any concurrent change conflicts;
    - ``("partitions", specs)``: files added to (or removed from) those partitions conflict;
    - ``("files", candidates)``: a merge; a file added where the merge looked for keys
      (``candidates`` None = anywhere) conflicts, as does the removal of a candidate.

    No conflict: the commit is retried on the fresh snapshot. A conflict: ConcurrentCommitError,
    nothing committed (this write's new files stay invisible until vacuum)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import CommitFailedError

    if snap is None or replace:
        before = snap.version if snap else None
        try:
            return commit(snap, root, schema, parts, actions, props, mode=mode, replace=replace)
        except Exception as exc:
            now = maybe_open(root, name)
            if now is not None and (before is None or now.version() != before):
                raise ConcurrentCommitError(f"{name}: a concurrent commit (version {now.version()}) changed the table "
                                            "while this write replaced or created it; nothing was committed. "
                                            "Re-run the job: it starts from a fresh snapshot") from None
            raise LakeError(f"commit to {name} at {root} failed (its new files stay uncommitted until vacuum): "
                            f"{exc}") from exc
    current = snap
    for _ in range(20):
        try:
            return commit(current, root, schema, parts, actions, props, mode=mode)
        except CommitFailedError:
            latest = Snapshot(DeltaTable(root), root, name)
            if txn is not None:
                done = latest.dt.transaction_version(txn[0])
                if done is not None and int(done) >= txn[1]:
                    raise _AlreadyCommitted() from None
            reason = _conflict(scope, snap, latest, actions)
            if reason:
                raise ConcurrentCommitError(
                    f"{name}: {reason} (concurrent commit up to version {latest.version}); nothing was committed. "
                    "Re-run the job: it starts from a fresh snapshot") from None
            if mode == "overwrite":
                raise ConcurrentCommitError(f"{name}: the table changed during an overwrite (version "
                                            f"{latest.version}); nothing was committed. Re-run the job") from None
            current = latest
        except LakeError:
            raise
        except Exception as exc:
            raise LakeError(f"commit to {name} at {root} failed (its new files stay uncommitted until vacuum): "
                            f"{exc}") from exc
    raise ConcurrentCommitError(f"{name}: the table keeps moving under this commit (20 attempts); nothing was "
                                "committed. Re-run the job")


def _conflict(scope, start: Snapshot, latest: Snapshot, actions: list) -> str | None:
    before = {f.path: f for f in start.files()}
    after = {f.path: f for f in latest.files()}
    added = [f for p, f in after.items() if p not in before]
    removed = [f for p, f in before.items() if p not in after]
    ours = {a.path for a in actions if type(a).__name__ == "RemoveAction"}
    lost = [f for f in removed if f.path in ours]
    if lost:
        return f"a concurrent commit removed {len(lost)} file(s) this write replaces, e.g. {lost[0].path}"
    if scope is None:
        return None
    if scope[0] == "table":
        return "a concurrent commit changed the table this write replaces" if added or removed else None
    if scope[0] == "partitions":
        hit = [f for f in added + removed if any(matches(f.partition, spec) for spec in scope[1])]
        return (f"a concurrent commit wrote into partitions this write replaces ({show(hit[0].partition)})"
                if hit else None)
    if scope[0] == "files":
        candidates = scope[1]
        if candidates is None:
            return f"a concurrent commit added {len(added)} file(s) where this merge looks for keys" if added else None
        parts = {tuple(sorted(f.partition.items())) for f in candidates}
        hit = [f for f in added if tuple(sorted(f.partition.items())) in parts]
        gone = [f for f in removed if f.path in {c.path for c in candidates}]
        if hit or gone:
            return "a concurrent commit changed files in the partitions this merge reads"
    return None


def _evolve(snap: Snapshot, schema: T.StructType, spark: SparkSession, name: str) -> None:
    """Add the new columns of ``schema`` to the table (a metadata commit of its own)."""
    from deltalake import Field

    new = [f for f in schema.fields if f.name not in snap.schema.names]
    if not new:
        return
    fields = [Field.from_json(json.dumps(nullable(T.StructType([f])).fields[0].jsonValue())) for f in new]
    props = _properties(spark, "add_columns", name, {"loyalty.columns": ",".join(f.name for f in new)},
                        checked=False)
    snap.dt.alter.add_columns(fields, commit_properties=props)


def _new_table(df: DataFrame, name: str, partition_by: list[str] | None) -> tuple[T.StructType, list[str]]:
    schema = nullable(df.schema)
    conform(df, schema, name, "", False)   # duplicate column check
    parts = list(partition_by or [])
    partition_types(schema, parts, name)
    return schema, parts


def _same_partitioning(snap: Snapshot, partition_by: list[str] | None) -> list[str]:
    if partition_by is not None and list(partition_by) != snap.partition_by:
        raise LakeError(f"{snap.name} is partitioned by {snap.partition_by or 'nothing'}, not {list(partition_by)}; "
                        "use overwrite() of the whole table to change partitioning")
    return snap.partition_by


def _same_schema(a: T.StructType, b: T.StructType) -> bool:
    return a.names == b.names and all(type_key(x.dataType) == type_key(y.dataType) for x, y in zip(a.fields, b.fields))


def _properties(spark: SparkSession, op: str, name: str, extra: dict, user: dict | None = None,
                txn: tuple[str, int] | None = None, checked: bool = True):
    """Commit properties; ``checked`` commits fail instead of letting delta-rs retry on a newer
    version by itself, so ``_commit`` can check what landed meanwhile."""
    from deltalake.transaction import CommitProperties, Transaction

    meta: dict[str, Any] = {"loyalty.operation": op, "loyalty.table": name,
                            "loyalty.job": spark.conf.get("spark.app.name", "")}
    meta.update(extra)
    meta.update(user or {})
    meta["loyalty.operation"] = op
    return CommitProperties(custom_metadata=meta, max_commit_retries=0 if checked else None,
                            app_transactions=[Transaction(txn[0], txn[1])] if txn else None)


def _write_meta(written: lake_files.Written, removed: int) -> dict:
    return {"loyalty.rows": written.rows, "loyalty.files_added": len(written.files),
            "loyalty.files_removed": removed}


def _freeze(values: dict) -> tuple:
    return tuple(sorted(values.items()))


def _require_utc(spark: SparkSession, name: str) -> None:
    zone = spark.conf.get("spark.sql.session.timeZone")
    if zone not in _UTC_ZONES:
        raise LakeError(f"{name}: timestamp partition values are UTC in Delta; set spark.sql.session.timeZone=UTC "
                        f"(it is {zone})")

"""The delta-spark backend (the default): Delta Lake's own JVM writer does every write.

Appends, whole-table and partition overwrites (``replaceWhere``, dynamic partition overwrite),
MERGE, VACUUM, OPTIMIZE and time travel are Delta's, and every commit goes through Delta's
optimistic concurrency control: a commit that conflicts with one that landed since its snapshot
raises one of Delta's concurrent-modification exceptions. An append (a blind insert) is retried
on a conflict; an overwrite or merge is not (its source may have been computed from the old
snapshot) and stops with a ``ConcurrentCommitError`` naming the table: nothing was committed.

What this layer still adds on top of Delta: the same checks and messages as the delta-rs backend
(schema differences named before any Spark job, duplicate merge keys named, partition specs
typed), commit metadata as JSON in Delta's ``userMetadata`` (``loyalty.operation``,
``loyalty.table``, ``loyalty.job``, the caller's ``metadata=``), and a ``CommitInfo`` read from
the commit's own ``operationMetrics``. The log-level calls (history, version, batch_version)
read the log with delta-rs, which needs no Spark job."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from loyalty.conf import Config
from loyalty.lake import log as lake_log
from loyalty.lake.args import check_merge, check_txn, partition_specs, show
from loyalty.lake.core import ConcurrentCommitError, CommitInfo, LakeError, TableNotFoundError, spark_uri, table_path
from loyalty.lake.schema import conform, nullable, partition_types, qcol
from loyalty.lake.upsert import source_profile

log = logging.getLogger(__name__)

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
_CONF_LOCK = threading.Lock()   # session confs set around one command (merge metadata, vacuum)

# Delta's commit-conflict exceptions (io.delta.exceptions / org.apache.spark.sql.delta.*)
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DeltaConcurrentModificationException")


class DeltaSparkBackend:
    name = "delta-spark"

    # -- reading --------------------------------------------------------------------------
    def read(self, spark: SparkSession, cfg: Config, name: str, version: int | None = None,
             timestamp: str | datetime | None = None) -> DataFrame:
        root = table_path(cfg, name)
        if version is not None and timestamp is not None:
            raise LakeError(f"{name}: give version or timestamp, not both")
        if not lake_log.is_table(root):
            raise TableNotFoundError(f"table {name} not found: no Delta log at {root}")
        if timestamp is not None:
            version = lake_log.version_at(root, name, timestamp)
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        try:
            return reader.load(spark_uri(root))
        except Exception as exc:
            raise LakeError(f"{name} at {root}: cannot load version {version}: {_first_line(exc)}") from None

    # -- writing --------------------------------------------------------------------------
    def append(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
               schema_evolution: bool = False, txn: tuple[str, int] | None = None,
               metadata: dict | None = None) -> CommitInfo:
        started = time.monotonic()
        root = table_path(cfg, name)
        app = check_txn(txn, name)
        table = _existing(root, name)
        if app is not None and table is not None:
            done = table.dt.transaction_version(app[0])
            if done is not None and int(done) >= app[1]:
                return CommitInfo(name, table.version, 0, 0, skipped=True, seconds=time.monotonic() - started)
        if table is None:
            schema, parts = _new_table(df, name, partition_by)
            data = df.select(*[qcol(n) for n in schema.names])
        else:
            parts = _same_partitioning(table, partition_by)
            data, schema = conform(df, table.schema, name, root, schema_evolution)
        write_id = uuid.uuid4().hex
        meta = _metadata(df.sparkSession, "append", name, write_id, metadata)
        writer = _writer(data, cfg, "append", meta)
        if table is None and parts:
            writer = writer.partitionBy(*parts)
        if schema_evolution:
            writer = writer.option("mergeSchema", "true")
        if app is not None:
            writer = writer.option("txnAppId", app[0]).option("txnVersion", app[1])
        _run(name, "append", lambda: writer.save(spark_uri(root)), retries=cfg.typed("lake.commit_retries", int, 3))
        return _info(root, name, write_id, table.version if table else -1, started)

    def overwrite(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
                  partitions: list[dict] | None = None, dynamic: bool = False,
                  schema_evolution: bool = False) -> CommitInfo:
        started = time.monotonic()
        if partitions is not None and dynamic:
            raise LakeError(f"{name}: overwrite takes partitions=... or dynamic=True, not both")
        root = table_path(cfg, name)
        table = _existing(root, name)
        write_id = uuid.uuid4().hex
        spark = df.sparkSession
        if partitions is None and not dynamic:   # the whole table; schema and partitioning may change
            schema = nullable(df.schema)
            conform(df, schema, name, root, False)   # duplicate column check
            parts = list(partition_by) if partition_by is not None else (
                list(table.partition_by) if table and all(c in schema.names for c in table.partition_by) else [])
            partition_types(schema, parts, name)
            meta = _metadata(spark, "overwrite", name, write_id)
            writer = (_writer(df.select(*[qcol(n) for n in schema.names]), cfg, "overwrite", meta)
                      .option("overwriteSchema", "true").partitionBy(*parts))
            _run(name, "overwrite", lambda: writer.save(spark_uri(root)))
            return _info(root, name, write_id, table.version if table else -1, started)

        if table is None:
            if not partition_by:
                raise LakeError(f"{name}: a partition overwrite creating the table needs partition_by")
            schema, parts = _new_table(df, name, partition_by)
            data = df.select(*[qcol(n) for n in schema.names])
        else:
            parts = _same_partitioning(table, partition_by)
            if not parts:
                raise LakeError(f"{name}: partition overwrite on a table that is not partitioned")
            data, schema = conform(df, table.schema, name, root, schema_evolution)
        types = partition_types(schema, parts, name)
        extra: dict[str, Any] = {}
        meta_op = "overwrite_partitions"
        if partitions is not None:
            specs = partition_specs(partitions, types, name)
            extra["loyalty.partitions"] = json.dumps([show(s) for s in specs])
            meta = _metadata(spark, meta_op, name, write_id, extra)
            writer = _writer(data, cfg, "overwrite", meta).option("replaceWhere", _predicate(specs, types))
        else:
            meta = _metadata(spark, meta_op, name, write_id, extra)
            writer = _writer(data, cfg, "overwrite", meta).option("partitionOverwriteMode", "dynamic")
        if table is None:
            writer = writer.partitionBy(*parts)
        if schema_evolution:
            writer = writer.option("mergeSchema", "true")
        try:
            _run(name, "partition overwrite", lambda: writer.save(spark_uri(root)))
        except Exception as exc:
            if "DELTA_REPLACE_WHERE_MISMATCH" in str(exc):
                raise LakeError(f"{name}: overwrite(partitions={partitions}) got rows outside those partitions "
                                f"({_violating_row(exc)}); nothing was written") from None
            raise
        return _info(root, name, write_id, table.version if table else -1, started)

    def merge(self, df: DataFrame, cfg: Config, name: str, keys: list[str], *, when_matched: str = "update",
              when_not_matched: str = "insert", schema_evolution: bool = False) -> CommitInfo:
        started = time.monotonic()
        root = table_path(cfg, name)
        check_merge(df, name, keys, when_matched, when_not_matched)
        table = _existing(root, name)
        if table is not None:   # schema errors before any Spark job
            source, _schema = conform(df, table.schema, name, root, schema_evolution)
        else:
            schema, _parts = _new_table(df, name, None)
            source = df.select(*[qcol(n) for n in schema.names])
        rows, most, example = source_profile(source, keys)
        if rows == 0:
            return CommitInfo(name, table.version if table else None, 0, 0, rows_inserted=0, rows_updated=0,
                              seconds=time.monotonic() - started)
        if most > 1:
            shown = ", ".join(f"{k}={example[k]!r}" for k in keys)
            raise LakeError(f"{name}: merge source has {most} rows for key ({shown}); keys {keys} must be unique "
                            "in the source")
        spark = df.sparkSession
        write_id = uuid.uuid4().hex
        meta = _metadata(spark, "merge", name, write_id, {"loyalty.keys": ",".join(keys)})
        if table is None:
            if when_not_matched == "ignore":
                return CommitInfo(name, None, 0, 0, rows_inserted=0, rows_updated=0,
                                  seconds=time.monotonic() - started)
            writer = _writer(source, cfg, "append", meta)
            _run(name, "merge", lambda: writer.save(spark_uri(root)))
            info = _info(root, name, write_id, -1, started)
            info.rows_inserted, info.rows_updated = info.rows, 0
            return info
        if when_matched == "ignore" and when_not_matched == "ignore":
            return CommitInfo(name, table.version, 0, 0, rows_inserted=0, rows_updated=0,
                              seconds=time.monotonic() - started)
        from delta.tables import DeltaTable

        cond = " AND ".join(f"t.{_sql_name(k)} <=> s.{_sql_name(k)}" for k in keys)

        def execute() -> None:
            builder = DeltaTable.forPath(spark, spark_uri(root)).alias("t").merge(source.alias("s"), cond)
            if when_matched == "update":
                builder = builder.whenMatchedUpdateAll()
            if when_not_matched == "insert":
                builder = builder.whenNotMatchedInsertAll()
            if schema_evolution:
                builder = builder.withSchemaEvolution()
            with _session_conf(spark, {USER_METADATA_CONF: json.dumps(meta)}):
                builder.execute()

        _run(name, "merge", execute)
        return _info(root, name, write_id, table.version, started)

    # -- housekeeping ---------------------------------------------------------------------
    def vacuum(self, spark: SparkSession, cfg: Config, name: str, retention_hours: float,
               dry_run: bool = False) -> list[str]:
        """Delta's VACUUM (full: unreferenced files and orphans older than the retention). The
        retention floor and the leases are enforced by ``lake.vacuum`` before this is called."""
        root = table_path(cfg, name)
        if not lake_log.is_table(root):
            raise TableNotFoundError(f"table {name} not found: no Delta log at {root}")
        hours = int(math.ceil(float(retention_hours)))   # Delta rounds to whole hours: round up, keep more
        target = "delta.`" + spark_uri(root).replace("`", "``") + "`"
        with _session_conf(spark, {RETENTION_CHECK_CONF: "false"}):
            listed = spark.sql(f"VACUUM {target} RETAIN {hours} HOURS DRY RUN").collect()
            if not dry_run and listed:
                spark.sql(f"VACUUM {target} RETAIN {hours} HOURS").collect()
        base = lake_log.local_root(root)
        return sorted(_relative(r[0], base) for r in listed)

    def optimize(self, spark: SparkSession, cfg: Config, name: str) -> dict:
        """Delta's OPTIMIZE (bin-packing compaction of small files)."""
        from delta.tables import DeltaTable

        root = table_path(cfg, name)
        table = DeltaTable.forPath(spark, spark_uri(root))
        write_id = uuid.uuid4().hex
        meta = _metadata(spark, "optimize", name, write_id)
        with _session_conf(spark, {USER_METADATA_CONF: json.dumps(meta)}):
            row = _run(name, "optimize", lambda: table.optimize().executeCompaction().first())
        metrics = row["metrics"].asDict() if row is not None else {}
        return {"files_added": int(metrics.get("numFilesAdded") or 0),
                "files_removed": int(metrics.get("numFilesRemoved") or 0)}

    def checkpoint(self, spark: SparkSession, cfg: Config, name: str) -> None:
        """A checkpoint of the log at the current version, by Delta's own writer. Delta has no
        public API for it (it checkpoints every ``delta.checkpointInterval`` = 10 commits by
        itself), so this calls ``DeltaLog.checkpoint()``; if that internal API is not there (another
        Delta version), delta-rs writes the checkpoint instead (the format is the same)."""
        root = table_path(cfg, name)
        jvm = spark.sparkContext._jvm
        try:
            delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, spark_uri(root))
            delta_log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
            delta_log.checkpoint()
        except Exception as exc:   # py4j: the internal API changed
            log.warning("%s: Delta's DeltaLog.checkpoint() failed (%s); writing the checkpoint with delta-rs",
                        name, _first_line(exc))
            lake_log.open_table(root, name).create_checkpoint()


# -- helpers ------------------------------------------------------------------------------------
class _Table:
    def __init__(self, dt, root: str, name: str):
        from loyalty.lake.schema import from_delta

        self.dt, self.root, self.name = dt, root, name
        self.version = dt.version()
        self.schema = from_delta(dt.schema())
        self.partition_by = list(dt.metadata().partition_columns)


def _existing(root: str, name: str) -> _Table | None:
    dt = lake_log.maybe_open(root, name, without_files=True)
    return _Table(dt, root, name) if dt is not None else None


def _new_table(df: DataFrame, name: str, partition_by: list[str] | None) -> tuple[T.StructType, list[str]]:
    schema = nullable(df.schema)
    conform(df, schema, name, "", False)   # duplicate column check
    parts = list(partition_by or [])
    partition_types(schema, parts, name)
    return schema, parts


def _same_partitioning(table: _Table, partition_by: list[str] | None) -> list[str]:
    if partition_by is not None and list(partition_by) != table.partition_by:
        raise LakeError(f"{table.name} is partitioned by {table.partition_by or 'nothing'}, not {list(partition_by)}; "
                        "use overwrite() of the whole table to change partitioning")
    return table.partition_by


def _writer(data: DataFrame, cfg: Config, mode: str, meta: dict):
    writer = data.write.format("delta").mode(mode).option("userMetadata", json.dumps(meta))
    records = cfg.typed("lake.max_records_per_file", int, 0)
    return writer.option("maxRecordsPerFile", int(records)) if records else writer


def _metadata(spark: SparkSession, op: str, name: str, write_id: str, user: dict | None = None) -> dict:
    meta: dict[str, Any] = {"loyalty.operation": op, "loyalty.table": name,
                            "loyalty.job": spark.conf.get("spark.app.name", ""), "loyalty.write_id": write_id}
    meta.update({k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
                 for k, v in (user or {}).items()})
    meta["loyalty.operation"], meta["loyalty.write_id"] = op, write_id
    return meta


def _info(root: str, name: str, write_id: str, before: int, started: float) -> CommitInfo:
    """The CommitInfo of the commit carrying ``write_id`` (skipped if Delta wrote none, e.g. an
    app transaction it had already seen)."""
    commit = lake_log.find_commit(root, name, "loyalty.write_id", write_id, after=before)
    seconds = time.monotonic() - started
    if commit is None:
        return CommitInfo(name, lake_log.current_version(root, name), 0, 0, skipped=True, seconds=seconds)
    m = {k: int(v) for k, v in (commit.get("operationMetrics") or {}).items() if str(v).lstrip("-").isdigit()}
    version = int(commit["version"])
    if commit.get("operation") == "MERGE":
        return CommitInfo(name, version, m.get("numOutputRows", 0), m.get("numTargetFilesAdded", 0),
                          m.get("numTargetFilesRemoved", 0), seconds=seconds,
                          rows_inserted=m.get("numTargetRowsInserted", 0), rows_updated=m.get("numTargetRowsUpdated", 0))
    return CommitInfo(name, version, m.get("numOutputRows", 0), m.get("numFiles", m.get("numAddedFiles", 0)),
                      m.get("numRemovedFiles", 0), seconds=seconds)


def _run(name: str, op: str, fn: Callable[[], Any], retries: int = 0) -> Any:
    """Run one Delta command; a commit conflict is retried (appends) or becomes one line."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            kind = conflict_kind(exc)
            if kind is None:
                raise
            if attempt < retries:
                log.warning("%s: %s conflicted with a concurrent commit (%s); retrying from a fresh snapshot "
                            "(%d of %d)", name, op, kind, attempt + 1, retries)
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ConcurrentCommitError(
                f"{name}: the {op} conflicted with a concurrent commit ({kind}: {_first_line(exc, kind)}); nothing "
                "was committed. Re-run the job: it starts from a fresh snapshot") from None
    return None


def conflict_kind(exc: BaseException) -> str | None:
    """The name of Delta's concurrent-modification exception behind ``exc``, or None."""
    names = [type(e).__name__ for e in type(exc).__mro__]
    for kind in _CONFLICTS:
        if kind in names:
            return kind
    text = str(exc)
    for kind in _CONFLICTS:
        if kind in text:
            return kind
    if "DELTA_CONCURRENT_" in text:
        return "DeltaConcurrentModificationException"
    return None


@contextmanager
def _session_conf(spark: SparkSession, values: dict[str, str]):
    with _CONF_LOCK:
        before = {k: spark.conf.get(k, None) for k in values}
        for k, v in values.items():
            spark.conf.set(k, v)
        try:
            yield
        finally:
            for k, v in before.items():
                if v is None:
                    spark.conf.unset(k)
                else:
                    spark.conf.set(k, v)


def _sql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: Any, dtype: T.DataType) -> str:
    if isinstance(dtype, T.StringType):
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(dtype, T.DateType):
        return f"DATE'{value.isoformat() if isinstance(value, date) else value}'"
    if isinstance(dtype, T.TimestampType):
        stamp = value.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(value, datetime) else value
        return f"TIMESTAMP'{stamp.isoformat(sep=' ')}+00:00'"
    if isinstance(dtype, T.BooleanType):
        return "true" if value else "false"
    if isinstance(dtype, T.DecimalType):
        return f"CAST('{Decimal(value)}' AS {dtype.simpleString().upper()})"
    return f"CAST({int(value)} AS {dtype.simpleString().upper()})"


def _predicate(specs: list[dict], types: dict[str, T.DataType]) -> str:
    clauses = []
    for spec in specs:
        parts = [f"{_sql_name(k)} IS NULL" if v is None else f"{_sql_name(k)} = {_literal(v, types[k])}"
                 for k, v in spec.items()]
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses)


def _violating_row(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("- ")]
    return "e.g. " + ", ".join(ln[2:] for ln in lines[:4]) if lines else "see the partition values"


def _first_line(exc: BaseException, strip: str = "") -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(strip, "").strip(" :") if strip else text


def _relative(path: str, base: str) -> str:
    from loyalty.lake.core import local_path

    local = local_path(path)
    return local[len(base):].lstrip("/") if local.startswith(base) else local

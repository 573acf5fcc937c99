"""The lake: Delta tables by name. The one place that touches storage.

    from loyalty import lake
    df = lake.read(spark, cfg, "silver.transactions", version=None)
    info = lake.append(df, cfg, "bronze.pos", txn=("ingest_pos", batch_id))

Tables are named ``"<layer>.<table>"`` and live at ``<paths.lake>/<layer>/<table>`` (or
``tables.<layer>.<table>.path``). How writes work: docs/lake.md.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession

from loyalty.conf import Config
from loyalty.lake import log as _log
from loyalty.lake.backend import choose as _choose
from loyalty.lake import leases as _lease
from loyalty.lake.backend import resolve as _resolve
from loyalty.lake.core import CommitInfo, ConcurrentCommitError, LakeError, SchemaMismatchError, TableNotFoundError
from loyalty.lake.core import table_path as _table_path
from loyalty.lake.leases import LeaseTakenError

__all__ = [
    "CommitInfo", "ConcurrentCommitError", "LakeError", "LeaseTakenError", "SchemaMismatchError",
    "TableNotFoundError", "append", "backend_name", "batch_version", "checkpoint", "delta_table", "exists",
    "history", "lease", "merge", "optimize", "overwrite", "read", "table_path", "tables", "vacuum", "version",
]


def table_path(cfg: Config, name: str) -> str:
    """Absolute path (or URI) of table ``"<layer>.<table>"``; a bad name is a LakeError."""
    return _table_path(cfg, name)


def exists(cfg: Config, name: str) -> bool:
    return _log.is_table(table_path(cfg, name))


def read(spark: SparkSession, cfg: Config, name: str, version: int | None = None,
         timestamp: str | datetime | None = None) -> DataFrame:
    """The table (at ``version``, or as of ``timestamp``: ISO string or datetime, naive = UTC)."""
    return _choose(spark, cfg).read(spark, cfg, name, version=version, timestamp=timestamp)


def append(df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
           schema_evolution: bool = False, txn: tuple[str, int] | None = None,
           metadata: dict | None = None) -> CommitInfo:
    """Add ``df``'s rows (creating the table on first write). ``txn=(app_id, version)`` makes the
    append exactly-once: a version at or below the last committed one for ``app_id`` is skipped."""
    return _choose(df.sparkSession, cfg).append(df, cfg, name, partition_by=partition_by,
                                                schema_evolution=schema_evolution, txn=txn, metadata=metadata)


def overwrite(df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
              partitions: list[dict] | None = None, dynamic: bool = False,
              schema_evolution: bool = False) -> CommitInfo:
    """Replace the whole table (schema may change), only ``partitions`` (``[{"as_of": "2026-10-01"}]``;
    every row must belong to one of them), or with ``dynamic=True`` the partitions present in ``df``."""
    return _choose(df.sparkSession, cfg).overwrite(df, cfg, name, partition_by=partition_by, partitions=partitions,
                                                   dynamic=dynamic, schema_evolution=schema_evolution)


def merge(df: DataFrame, cfg: Config, name: str, keys: list[str], *, when_matched: str = "update",
          when_not_matched: str = "insert", schema_evolution: bool = False) -> CommitInfo:
    """Upsert by ``keys`` (copy-on-write: only files holding matching keys are rewritten)."""
    return _choose(df.sparkSession, cfg).merge(df, cfg, name, list(keys), when_matched=when_matched,
                                               when_not_matched=when_not_matched, schema_evolution=schema_evolution)


def history(cfg: Config, name: str) -> list[dict]:
    """Commits, newest first: version, timestamp, operation, delta_operation, metadata."""
    return _log.history(table_path(cfg, name), name)


def version(cfg: Config, name: str) -> int | None:
    """Current version, or None when the table does not exist."""
    root = table_path(cfg, name)
    return _log.open_table(root, name).version() if _log.is_table(root) else None


def batch_version(cfg: Config, name: str, app_id: str) -> int | None:
    """The last batch version committed with ``txn=(app_id, ...)``; None if none (or no table)."""
    return _log.batch_version(table_path(cfg, name), name, app_id)


def vacuum(spark: SparkSession, cfg: Config, name: str, retention_hours: float | None = None,
           dry_run: bool = False, allow_deleting_in_flight_writes: bool = False) -> list[str]:
    """Delete files the log no longer references (and orphans of failed writes) that are older than
    the retention; returns their paths relative to the table.

    The retention has a floor: the table's ``delta.deletedFileRetentionDuration`` if set, else
    ``lake.vacuum_retention_hours`` (7 days). A shorter one can delete the files of a write that
    is still running, or that a reader of an older snapshot still needs, so it is refused unless
    ``allow_deleting_in_flight_writes=True``. Whatever the retention, files younger than the start
    of the oldest live lease (a writing job running now) are never deleted."""
    floor = _retention_floor(cfg, name)
    hours = floor if retention_hours is None else float(retention_hours)
    if hours < 0:
        raise LakeError(f"{name}: retention_hours must be >= 0, got {hours}")
    if hours < floor and not allow_deleting_in_flight_writes:
        raise LakeError(f"{name}: vacuum retention {hours:g} h is below the floor of {floor:g} h (the table's "
                        "retention, or lake.vacuum_retention_hours): it could delete files of writes in flight or "
                        "still read by older snapshots; pass allow_deleting_in_flight_writes=True to do it anyway")
    oldest = _lease.oldest_start(cfg)
    if oldest is not None:
        import time

        hours = max(hours, (time.time() - oldest) / 3600.0 + 1.0 / 60)   # + 1 min for clock granularity
    return _choose(spark, cfg).vacuum(spark, cfg, name, retention_hours=hours, dry_run=dry_run)


def _retention_floor(cfg: Config, name: str) -> float:
    default = float(cfg.typed("lake.vacuum_retention_hours", (int, float)))
    if not exists(cfg, name):
        raise TableNotFoundError(f"table {name} not found: no Delta log at {table_path(cfg, name)}")
    configured = (delta_table(cfg, name).metadata().configuration or {}).get("delta.deletedFileRetentionDuration")
    parsed = _interval_hours(configured) if configured else None
    return parsed if parsed is not None else default


def _interval_hours(text: str) -> float | None:
    """``'interval 7 days'`` / ``'interval 36 hours'`` -> hours (None if unreadable)."""
    import re

    match = re.fullmatch(r"\s*(?:interval\s+)?(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*", str(text).lower())
    if not match:
        return None
    per = {"second": 1 / 3600, "minute": 1 / 60, "hour": 1, "day": 24, "week": 168}[match.group(2)]
    return float(match.group(1)) * per


def optimize(spark: SparkSession, cfg: Config, name: str) -> dict:
    """Compact small files (Delta's OPTIMIZE, or delta-rs' compact): ``{"files_added", "files_removed"}``."""
    return _choose(spark, cfg).optimize(spark, cfg, name)


def checkpoint(spark: SparkSession, cfg: Config, name: str) -> None:
    """Write a log checkpoint at the current version (readers then skip replaying the JSON commits)."""
    _choose(spark, cfg).checkpoint(spark, cfg, name)


def tables(cfg: Config) -> list[str]:
    """Every table under ``paths.lake`` (``<layer>.<table>`` names with a Delta log), sorted."""
    import os

    root = cfg.typed("paths.lake", str)
    out = []
    if "://" in root or not os.path.isdir(root):
        return out
    for layer in sorted(os.listdir(root)):
        if layer.startswith(("_", ".")) or not os.path.isdir(os.path.join(root, layer)):
            continue
        for table in sorted(os.listdir(os.path.join(root, layer))):
            name = f"{layer}.{table}"
            try:
                if exists(cfg, name):
                    out.append(name)
            except LakeError:
                continue
    return out


def lease(cfg: Config, job: str):
    """Context manager: hold ``job``'s lease on this lake (``LeaseTakenError`` if a live run has it)."""
    return _lease.hold(cfg, job)


def backend_name(spark: SparkSession | None, cfg: Config) -> str:
    """The backend this config uses in this session (``delta-spark`` or ``delta-rs``)."""
    return _resolve(cfg, spark)


def delta_table(cfg: Config, name: str, version: int | None = None):
    """The ``deltalake.DeltaTable`` (for notebooks and tests)."""
    return _log.open_table(table_path(cfg, name), name, version=version)

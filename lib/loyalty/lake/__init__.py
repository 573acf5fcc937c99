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
from loyalty.lake.core import CommitInfo, LakeError, SchemaMismatchError, TableNotFoundError
from loyalty.lake.core import table_path as _table_path

__all__ = [
    "CommitInfo", "LakeError", "SchemaMismatchError", "TableNotFoundError", "append", "batch_version",
    "delta_table", "exists", "history", "merge", "overwrite", "read", "table_path", "vacuum", "version",
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
           dry_run: bool = False) -> list[str]:
    """Delete files the log does not reference that are older than the retention
    (default ``lake.vacuum_retention_hours``); returns their paths relative to the table."""
    return _choose(spark, cfg).vacuum(spark, cfg, name, retention_hours=retention_hours, dry_run=dry_run)


def delta_table(cfg: Config, name: str, version: int | None = None):
    """The ``deltalake.DeltaTable`` (for notebooks and tests)."""
    return _log.open_table(table_path(cfg, name), name, version=version)

"""Which engine writes the lake: ``lake.backend`` = auto | delta-rs | delta-spark.

Both produce standard Delta tables; the log-level calls (history, version, batch_version,
delta_table) always go through delta-rs, which reads any Delta table."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession

from loyalty.conf import Config
from loyalty.lake.core import CommitInfo, LakeError

BACKENDS = ("auto", "delta-rs", "delta-spark")
DELTA_JVM_CLASS = "io.delta.tables.DeltaTable"
NO_JARS = "Delta Lake JVM jars not on the classpath"


class Backend(Protocol):
    name: str

    def read(self, spark: SparkSession, cfg: Config, name: str, version: int | None = None,
             timestamp: str | datetime | None = None) -> DataFrame: ...

    def append(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
               schema_evolution: bool = False, txn: tuple[str, int] | None = None,
               metadata: dict | None = None) -> CommitInfo: ...

    def overwrite(self, df: DataFrame, cfg: Config, name: str, *, partition_by: list[str] | None = None,
                  partitions: list[dict] | None = None, dynamic: bool = False,
                  schema_evolution: bool = False) -> CommitInfo: ...

    def merge(self, df: DataFrame, cfg: Config, name: str, keys: list[str], *, when_matched: str = "update",
              when_not_matched: str = "insert", schema_evolution: bool = False) -> CommitInfo: ...

    def vacuum(self, spark: SparkSession, cfg: Config, name: str, retention_hours: float | None = None,
               dry_run: bool = False) -> list[str]: ...


def delta_jars_available(spark: SparkSession) -> bool:
    """True when the JVM can load ``io.delta.tables.DeltaTable`` (delta-spark jars present)."""
    try:
        jvm = spark.sparkContext._jvm
        return bool(jvm.org.apache.spark.util.Utils.classIsLoadable(DELTA_JVM_CLASS))
    except Exception:   # Spark Connect or no JVM access: treat as absent
        return False


def choose(spark: SparkSession, cfg: Config) -> Backend:
    """``auto`` and ``delta-rs`` give the delta-rs committer, which works everywhere (its tables are
    standard Delta, readable by delta-spark too). ``delta-spark`` is refused with the reason: the
    JVM writer is not implemented yet, because no machine here has the jars to test it against."""
    wanted = cfg.get("lake.backend", "auto")
    if wanted not in BACKENDS:
        raise LakeError(f"setting 'lake.backend' in {cfg.where('lake.backend')} must be one of "
                        f"{', '.join(BACKENDS)}, got {wanted!r}")
    if wanted == "delta-spark":
        why = "is not implemented yet" if delta_jars_available(spark) else f"needs the {NO_JARS.lower()}"
        raise LakeError(f"lake.backend is delta-spark (set in {cfg.where('lake.backend')}), which {why}; "
                        "set lake.backend=auto or delta-rs (tables are standard Delta either way)")
    from loyalty.lake.delta_rs import DeltaRsBackend
    return DeltaRsBackend()

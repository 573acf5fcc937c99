"""Which engine writes the lake: ``lake.backend`` = delta-spark (default) | delta-rs | auto.

Both produce standard Delta tables and each reads the other's; the log-level calls (history,
version, batch_version, delta_table) always go through delta-rs, which reads any Delta table
without a Spark job."""

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


def resolve(cfg: Config, spark: SparkSession | None = None) -> str:
    """The backend ``lake.backend`` names: ``delta-spark`` (the default), ``delta-rs``, or
    ``auto`` (delta-spark when its jars are already on the running JVM's classpath, else delta-rs)."""
    wanted = cfg.get("lake.backend", "delta-spark")
    if wanted not in BACKENDS:
        raise LakeError(f"setting 'lake.backend' in {cfg.where('lake.backend')} must be one of "
                        f"{', '.join(BACKENDS)}, got {wanted!r}")
    if wanted == "auto":
        return "delta-spark" if spark is not None and delta_jars_available(spark) else "delta-rs"
    return wanted


def choose(spark: SparkSession, cfg: Config) -> Backend:
    """The backend object for this session. delta-spark without its jars on the classpath is a
    LakeError that says how to get them (or to choose delta-rs)."""
    name = resolve(cfg, spark)
    if name == "delta-spark":
        if not _checked_jars(spark):
            raise LakeError(
                f"lake.backend is delta-spark (set in {cfg.where('lake.backend')}) but the {NO_JARS}: start the "
                "session through loyalty.spark.build_session or ./spark-submit.sh (they add Delta's Maven package), "
                "or set lake.backend=delta-rs")
        from loyalty.lake.delta_spark import DeltaSparkBackend
        return DeltaSparkBackend()
    from loyalty.lake.delta_rs import DeltaRsBackend
    return DeltaRsBackend()


_JARS_SEEN: dict[int, bool] = {}


def _checked_jars(spark: SparkSession) -> bool:
    key = id(spark.sparkContext)
    if key not in _JARS_SEEN:
        _JARS_SEEN[key] = delta_jars_available(spark)
    return _JARS_SEEN[key]

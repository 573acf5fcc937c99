"""Gold snapshots: what each one was built from.

A build pins every silver input at its current Delta version before it starts (``pin``) and
reads only those versions, so the versions it records in ``ops.gold_snapshots`` (one row per gold
table and as_of written) are exactly what it read, even if silver is written meanwhile:
``lake.read(spark, cfg, table, version=input_versions[table])`` gives the same input again.
Contract: docs/gold.md, "Snapshots and their inputs".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from loyalty import lake
from loyalty.conf import Config

TABLE = "ops.gold_snapshots"
SCHEMA = T.StructType([
    T.StructField("table_name", T.StringType()), T.StructField("as_of", T.DateType()),
    T.StructField("gold_version", T.LongType()), T.StructField("rows", T.LongType()),
    T.StructField("input_versions", T.MapType(T.StringType(), T.LongType())),
    T.StructField("run_id", T.StringType()), T.StructField("built_at", T.TimestampType()),
])


@dataclass
class Inputs:
    """Silver tables pinned at one Delta version each; a build reads them only through ``read``."""
    versions: dict[str, int]

    def read(self, spark: SparkSession, cfg: Config, name: str) -> DataFrame:
        if name not in self.versions:
            raise lake.LakeError(f"{name} is not among the pinned inputs of this build: {', '.join(self.versions)}")
        return lake.read(spark, cfg, name, version=self.versions[name])

    def of(self, names: list[str]) -> dict[str, int]:
        """The pinned versions of ``names`` (what a snapshot built from them records)."""
        return {n: self.versions[n] for n in names}


def pin(cfg: Config, tables: list[str], what: str) -> Inputs:
    """Each of ``tables`` at its current version; missing tables are one LakeError naming them."""
    versions = {t: lake.version(cfg, t) for t in dict.fromkeys(tables)}
    missing = [t for t, v in versions.items() if v is None]
    if missing:
        raise lake.LakeError(f"cannot build {what}: silver table(s) missing: {', '.join(missing)} "
                             "(run ingest_bronze and build_silver first)")
    return Inputs({t: int(v) for t, v in versions.items()})


def record(spark: SparkSession, cfg: Config, table: str, as_of: date, info: lake.CommitInfo,
           input_versions: dict[str, int], run_id: str) -> None:
    """Append what the ``as_of`` snapshot of ``table`` was built from to ops.gold_snapshots."""
    row = (table, as_of, info.version, info.rows, dict(input_versions), run_id,
           datetime.now(timezone.utc).replace(tzinfo=None))
    lake.append(spark.createDataFrame([row], SCHEMA), cfg, TABLE,
                metadata={"loyalty.job": "build_gold", "loyalty.run_id": run_id})


def new_run_id() -> str:
    import uuid

    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"

"""Gold snapshots: what each one was built from, whether an as_of has data, and reading one back.

A build pins every silver input at its current Delta version before it starts (``pin``) and
reads only those versions, so the versions it records in ``ops.gold_snapshots`` (one row per gold
table and as_of written) are exactly what it read, even if silver is written meanwhile:
``lake.read(spark, cfg, table, version=input_versions[table])`` gives the same input again.
Contract: docs/gold.md, "Snapshots and their inputs".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import lake
from loyalty.conf import Config

log = logging.getLogger("loyalty")

TABLE = "ops.gold_snapshots"
SCHEMA = T.StructType([
    T.StructField("table_name", T.StringType()), T.StructField("as_of", T.DateType()),
    T.StructField("gold_version", T.LongType()), T.StructField("rows", T.LongType()),
    T.StructField("input_versions", T.MapType(T.StringType(), T.LongType())),
    T.StructField("run_id", T.StringType()), T.StructField("built_at", T.TimestampType()),
])
# The dated silver facts: an as_of has data when one of them has a row in the window before it.
DATED = {"silver.transactions": "business_date", "silver.partner_transactions": "business_date",
         "silver.points_ledger": "entry_date", "silver.offer_events": "event_date",
         "silver.digital_events": "event_date"}


class NoDataError(ValueError):
    """An as_of with no silver data in the window before it: nothing is built."""


@dataclass
class Inputs:
    """Silver tables pinned at one Delta version each; a build reads them only through ``read``."""
    versions: dict[str, int]
    _dates: list[date] | None = field(default=None, repr=False)
    _checked: set = field(default_factory=set, repr=False)

    def read(self, spark: SparkSession, cfg: Config, name: str) -> DataFrame:
        if name not in self.versions:
            raise lake.LakeError(f"{name} is not among the pinned inputs of this build: {', '.join(self.versions)}")
        return lake.read(spark, cfg, name, version=self.versions[name])

    def of(self, names: list[str]) -> dict[str, int]:
        """The pinned versions of ``names`` (what a snapshot built from them records)."""
        return {n: self.versions[n] for n in names}

    def activity_dates(self, spark: SparkSession, cfg: Config) -> list[date]:
        """The distinct dates of the pinned dated facts, sorted (one small row per calendar day)."""
        if self._dates is None:
            parts = [self.read(spark, cfg, t).select(F.col(c).alias("d")) for t, c in DATED.items()
                     if t in self.versions]
            if not parts:
                self._dates = []
            else:
                union = parts[0]
                for p in parts[1:]:
                    union = union.unionByName(p)
                rows = union.where(F.col("d").isNotNull()).distinct().collect()
                self._dates = sorted(r["d"] for r in rows)
        return self._dates

    def require_data(self, spark: SparkSession, cfg: Config, as_of: date) -> None:
        """``require_data`` for ``as_of`` over these inputs (checked, and warned about, once)."""
        if as_of not in self._checked:
            require_data(self.activity_dates(spark, cfg), as_of, window_days(cfg))
            self._checked.add(as_of)


def pin(cfg: Config, tables: list[str], what: str) -> Inputs:
    """Each of ``tables`` at its current version; missing tables are one LakeError naming them."""
    versions = {t: lake.version(cfg, t) for t in dict.fromkeys(tables)}
    missing = [t for t, v in versions.items() if v is None]
    if missing:
        raise lake.LakeError(f"cannot build {what}: silver table(s) missing: {', '.join(missing)} "
                             "(run ingest_bronze and build_silver first)")
    return Inputs({t: int(v) for t, v in versions.items()})


def window_days(cfg: Config) -> int:
    """How far back an as_of must have data: the shortest feature window (30 days by default)."""
    return min(int(w) for w in cfg.get("gold.member_features.windows", [30, 90, 365]))


def require_data(activity: list[date], as_of: date, window_days: int) -> None:
    """Refuse an as_of whose ``window_days`` before it hold no dated silver row (before the data
    starts, or long after it ends): one NoDataError that says which as_of would work. A gap of
    a few days between the data's end and as_of only warns."""
    start = as_of - timedelta(days=window_days)
    before = [d for d in activity if d < as_of]
    if not before or before[-1] < start:
        span = (f"silver has activity from {activity[0]} to {activity[-1]}, so as_of can be "
                f"{activity[0] + timedelta(days=1)} to {activity[-1] + timedelta(days=window_days)}"
                if activity else "silver has no dated rows at all (run build_silver)")
        raise NoDataError(f"no data for as_of {as_of}: no transaction, partner transaction, ledger entry or "
                          f"event in silver is dated in [{start}, {as_of}) ({span}); nothing was written")
    gap = (as_of - before[-1]).days - 1
    if gap > 0:
        log.warning("as_of %s: silver has no activity on the %d day(s) before it (latest %s); "
                    "the snapshot counts them as days without activity", as_of, gap, before[-1])


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


def as_of_dates(spark: SparkSession, cfg: Config, table: str) -> list[date]:
    """The as_of snapshots present in a gold table, oldest first (one small row per snapshot)."""
    rows = lake.read(spark, cfg, table).select("as_of").distinct().orderBy("as_of").collect()
    return [r["as_of"] for r in rows]


def read(spark: SparkSession, cfg: Config, table: str, as_of: date | str | None = None) -> DataFrame:
    """One as_of snapshot of a gold table: the latest by default."""
    if as_of is None:
        dates = as_of_dates(spark, cfg, table)
        if not dates:
            raise lake.LakeError(f"{table} has no snapshot yet: run build_gold")
        as_of = dates[-1]
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return lake.read(spark, cfg, table).where(F.col("as_of") == F.lit(as_of))

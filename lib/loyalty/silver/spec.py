"""What a silver entity is: one bronze source conformed into one primary silver table (one row
per kept bronze row), plus tables derived from its valid rows (receipts from lines, lines from
receipts). The runner in ``build.py`` does the rest the same way for every entity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import Config

CHECK_PREFIX = "chk_"      # conform may add chk_* columns for DQ rules; they never reach silver
LINEAGE = ["_source_file", "_batch_id", "_ingested_at"]


@dataclass(frozen=True)
class Output:
    table: str
    keys: tuple[str, ...]
    mode: str = "merge"                    # merge (upsert by key, latest wins) | scd2 (history)
    tracked: tuple[str, ...] = ()          # scd2: attributes whose change opens a new version
    effective: str = ""                    # scd2: column holding when a version took effect
    partition_by: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()          # columns written (default: all but chk_* checks)


@dataclass
class Ctx:
    """What conform functions may use: settings and reference tables, all passed in."""
    spark: SparkSession
    cfg: Config
    pii_key: bytes = field(repr=False)     # never in a repr, a log line or an error message
    run_date: date
    _refs: dict = field(default_factory=dict)

    def ref(self, table: str) -> DataFrame:
        """A silver table already built in this run (dimensions before facts), current rows only."""
        if table not in self._refs:
            df = lake.read(self.spark, self.cfg, table)
            if "is_current" in df.columns:
                df = df.where(F.col("is_current"))
            self._refs[table] = df
        return self._refs[table]

    def forget(self, table: str) -> None:
        self._refs.pop(table, None)


Conform = Callable[[Ctx, DataFrame], DataFrame]
Derive = Callable[[Ctx, DataFrame], DataFrame]


@dataclass(frozen=True)
class Entity:
    source: str                            # bronze source (conf sources.<name>)
    primary: Output
    conform: Conform                       # bronze rows -> typed rows; MUST keep every row (left joins only)
    derived: tuple[tuple[Output, Derive], ...] = ()
    refs: tuple[str, ...] = ()             # silver tables the DQ ref rules need, by ref name = table

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.source}"

    @property
    def app_id(self) -> str:
        return f"build_silver:{self.source}"

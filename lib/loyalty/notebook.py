"""What the notebooks share: a session and config from the environment, and safe ways to bring
small results to pandas. Notebooks hold presentation only; the logic lives in lib/loyalty.

Environment: LOYALTY_ENV (default ``local``) and LOYALTY_SET (``key=value`` overrides separated
by ``;``, e.g. ``data_root=/tmp/demo``), so the same notebook runs on the demo lake, on a
cluster, and in the test suite. The default ``data_root: ./data`` is the project's ``data/``
whatever the working directory (Jupyter and VS Code start notebooks in ``notebooks/``); a
relative path in LOYALTY_SET is taken from the working directory.
"""

from __future__ import annotations

import os

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from loyalty import conf, lake
from loyalty.conf import Config
from loyalty.gold import snapshots
from loyalty.spark import build_session

MAX_PANDAS_ROWS = 100_000


class TooLarge(ValueError):
    """A result too big to bring to the driver."""


def setup(app: str = "notebook") -> tuple[SparkSession, Config]:
    """(spark, cfg) for a notebook; reuses a running session."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    cfg = load_conf()
    active = SparkSession.getActiveSession()
    return (active or build_session(app, cfg)), cfg


def load_conf() -> Config:
    """The notebook's config: LOYALTY_ENV (default ``local``) with the LOYALTY_SET overrides."""
    overrides = [s.strip() for s in os.environ.get("LOYALTY_SET", "").split(";") if s.strip()]
    return conf.load(os.environ.get("LOYALTY_ENV", "local"), overrides, overrides_from="LOYALTY_SET")


def small(df: DataFrame, max_rows: int = MAX_PANDAS_ROWS) -> pd.DataFrame:
    """``df`` as pandas, refusing (without collecting) when it has more than ``max_rows`` rows.
    Use it for aggregates and samples, never for member-level tables."""
    n = df.limit(max_rows + 1).count()
    if n > max_rows:
        raise TooLarge(f"{n:,}+ rows is more than {max_rows:,}: aggregate or sample first")
    return df.toPandas()


def as_of_dates(spark: SparkSession, cfg: Config, table: str = "gold.member_features") -> list:
    """The as_of snapshots present in a gold table (one small row per snapshot), oldest first."""
    return snapshots.as_of_dates(spark, cfg, table)


def latest(spark: SparkSession, cfg: Config, table: str = "gold.member_features", as_of=None) -> DataFrame:
    """One as_of snapshot of a gold table (features, KPI marts, segments...): the latest by default."""
    return snapshots.read(spark, cfg, table, as_of)


def delta_to_pandas(cfg: Config, table: str, sql: str = "SELECT * FROM t", version: int | None = None,
                    max_rows: int = MAX_PANDAS_ROWS) -> pd.DataFrame:
    """Run ``sql`` over a gold table with delta-rs (no Spark) and return pandas; the table is
    registered as ``t``. For small results: the row count is checked before conversion."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    dt = lake.delta_table(cfg, table, version=version)
    bounded = f"SELECT * FROM ({sql}) AS q LIMIT {max_rows + 1}"
    result = pa.table(QueryBuilder().register("t", dt).execute(bounded).read_all())
    if result.num_rows > max_rows:
        raise TooLarge(f"more than {max_rows:,} rows: aggregate in the SQL first")
    return result.to_pandas()

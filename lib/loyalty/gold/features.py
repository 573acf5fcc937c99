"""Build gold.member_features for one as_of date: read pinned silver versions, compute, overwrite that
as_of's partition, record the inputs in ops.gold_snapshots."""

from __future__ import annotations

import logging
import time
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from loyalty import lake
from loyalty.conf import Config, ConfigError
from loyalty.gold import snapshots
from loyalty.transforms.gold import features as T

log = logging.getLogger("loyalty")

TABLE = "gold.member_features"
INPUTS = ["silver.members", "silver.transactions", "silver.transaction_lines", "silver.products",
          "silver.partner_transactions", "silver.points_ledger", "silver.digital_events", "silver.offer_events"]
QUANTILES = [0.2, 0.4, 0.6, 0.8]


def params(cfg: Config) -> T.FeatureParams:
    windows = tuple(int(w) for w in cfg.get("gold.member_features.windows", [30, 90, 365]))
    if not {90, 365} <= set(windows):
        raise ConfigError("gold.member_features.windows must include 90 and 365 (columns are named after them), "
                          f"got {list(windows)}")
    return T.FeatureParams(windows=windows,
                           banners=tuple(str(b).upper() for b in cfg.get("generator.banners")),
                           departments={str(k).upper(): str(v) for k, v in
                                        (cfg.get("gold.member_features.departments", {}) or {}).items()},
                           expiry_days=int(cfg.get("gold.points.expiry_days", 730)),
                           expiring_window_days=int(cfg.get("gold.points.expiring_window_days", 90)))


def compute(spark: SparkSession, cfg: Config, as_of: date, *, inputs: snapshots.Inputs | None = None,
            relative_error: float = 0.001) -> tuple[DataFrame, DataFrame]:
    """gold.member_features rows for ``as_of`` from the pinned silver ``inputs`` (default: the
    current versions), and the persisted frame under them (the caller unpersists it). RFM cut
    points are four quantiles per measure: the only values brought to the driver."""
    p = params(cfg)
    inputs = inputs or snapshots.pin(cfg, INPUTS, TABLE)
    r = lambda name: inputs.read(spark, cfg, name)  # noqa: E731
    tx, members = r("silver.transactions"), r("silver.members")
    base = T.assemble(
        T.member_population(members, as_of), as_of, p,
        retail=T.retail_features(tx, as_of, p),
        mix=T.basket_mix(r("silver.transaction_lines"), r("silver.products"), as_of, p),
        partners=T.partner_features(r("silver.partner_transactions"), as_of, p),
        points=T.points_features(r("silver.points_ledger"), as_of, p),
        digital=T.digital_features(r("silver.digital_events"), as_of),
        times=T.preferred_times(tx, as_of, p),
        offers=T.offer_features(r("silver.offer_events"), as_of, p))
    base = base.persist(StorageLevel.MEMORY_AND_DISK)
    cuts = T.rfm_thresholds_input(base).approxQuantile(["recency_days", "trips_365d", "spend_365d"],
                                                       QUANTILES, relative_error)
    log.info("member_features %s: RFM cut points recency %s, frequency %s, monetary %s", as_of, *cuts)
    return T.with_rfm(base, *cuts).select(*T.column_order(p)), base


def build(spark: SparkSession, cfg: Config, as_of: date, *, inputs: snapshots.Inputs | None = None,
          run_id: str | None = None) -> dict:
    """Overwrite the ``as_of`` partition of gold.member_features (other snapshots stay as they are)
    from the silver ``inputs`` (default: pinned now), and record them in ops.gold_snapshots. An
    as_of without silver data is a NoDataError before anything is written."""
    started = time.time()
    inputs = inputs or snapshots.pin(cfg, INPUTS, TABLE)
    inputs.require_data(spark, cfg, as_of)
    run_id = run_id or snapshots.new_run_id()
    df, persisted = compute(spark, cfg, as_of, inputs=inputs)
    try:
        info = lake.overwrite(df, cfg, TABLE, partition_by=["as_of"], partitions=[{"as_of": as_of.isoformat()}])
    finally:
        persisted.unpersist()
    snapshots.record(spark, cfg, TABLE, as_of, info, inputs.of(INPUTS), run_id)
    seconds = time.time() - started
    log.info("%s as_of %s: %s rows, version %s, %.1fs", TABLE, as_of, f"{info.rows:,}", info.version, seconds)
    return {"table": TABLE, "as_of": as_of.isoformat(), "rows": info.rows, "version": info.version,
            "seconds": round(seconds, 1)}

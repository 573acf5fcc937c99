"""Cross-source check after each silver run: the points the ledger says were earned agree,
per partner and month, with the points implied by the retail, cinema and bank transactions,
within silver.points_reconciliation tolerances. Mismatches go to ops.points_reconciliation."""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from loyalty import dq, lake
from loyalty.conf import Config
from loyalty.transforms.silver.points import implied_points, ledger_earned

log = logging.getLogger(__name__)
NEEDED = ("silver.transactions", "silver.partner_transactions", "silver.points_ledger")


def reconcile_points(spark: SparkSession, cfg: Config, *, run_id: str) -> dict | None:
    if not all(lake.exists(cfg, t) for t in NEEDED):
        log.info("points reconciliation skipped: needs %s", ", ".join(NEEDED))
        return None
    settings = cfg.section("silver.points_reconciliation")
    partners = list(settings.get("partners", ["FRESHMART", "VALUMART", "CINEMA", "BANK"]))
    implied = implied_points(lake.read(spark, cfg, "silver.transactions"),
                             lake.read(spark, cfg, "silver.partner_transactions"),
                             float(settings.get("retail_points_per_dollar", 10)))
    implied = implied.where(F.col("partner").isin(partners))
    ledger = ledger_earned(lake.read(spark, cfg, "silver.points_ledger"), partners)
    result, mismatches = dq.compare_totals(
        ledger, implied, ["partner", "month"], "points", tolerance_abs=float(settings.get("tolerance_points", 0)),
        tolerance_pct=float(settings.get("tolerance_pct", 2.0)), name="points_ledger_vs_transactions",
        table="silver.points_ledger", run_id=run_id, action=settings.get("action", "warn"),
        left_label="ledger", right_label="transactions")
    lake.overwrite(mismatches.withColumn("run_id", F.lit(run_id)), cfg,
                   settings.get("mismatches_table", "ops.points_reconciliation"))
    dq.write_results(spark, cfg, [result])
    dq.log_summary([result], log)
    return result

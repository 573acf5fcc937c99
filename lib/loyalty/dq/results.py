"""Data quality results: one small dict per rule (and per conservation/reconciliation check), the
``dq_results`` Delta table they are appended to, and a readable summary for the job log."""

from __future__ import annotations

import logging
from typing import Iterable

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from loyalty import lake
from loyalty.conf import Config

log = logging.getLogger("loyalty.dq")

DEFAULT_RESULTS_TABLE = "ops.dq_results"
PASS, WARN, QUARANTINED, FAILED = "pass", "warn", "quarantined", "failed"
STATUS_BY_ACTION = {"warn": WARN, "quarantine": QUARANTINED, "fail": FAILED}

RESULTS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("table_name", T.StringType()),
    T.StructField("batch_id", T.LongType()),
    T.StructField("rule", T.StringType()),
    T.StructField("rule_type", T.StringType()),
    T.StructField("column", T.StringType()),
    T.StructField("action", T.StringType()),
    T.StructField("rows_checked", T.LongType()),
    T.StructField("rows_failed", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("message", T.StringType()),
])
FIELDS = tuple(f.name for f in RESULTS_SCHEMA.fields)


def status_for(action: str, rows_failed: int) -> str:
    """'pass' when nothing failed, else what the action did: 'warn' | 'quarantined' | 'failed'."""
    return PASS if not rows_failed else STATUS_BY_ACTION[action]


def make_result(*, run_id: str | None, table: str, batch_id: int | None, rule: str, rule_type: str,
                column: str | None, action: str, rows_checked: int, rows_failed: int, message: str,
                status: str | None = None) -> dict:
    """One result in the shape of the dq_results table (status derived from action and failures)."""
    return {
        "run_id": run_id, "table_name": table, "batch_id": None if batch_id is None else int(batch_id),
        "rule": rule, "rule_type": rule_type, "column": column, "action": action,
        "rows_checked": int(rows_checked), "rows_failed": int(rows_failed),
        "status": status or status_for(action, rows_failed), "message": message,
    }


def results_table(cfg: Config) -> str:
    return cfg.typed("dq.results_table", str, DEFAULT_RESULTS_TABLE)


def write_results(spark: SparkSession, cfg: Config, results: Iterable[dict], *,
                  txn: tuple[str, int] | None = None) -> lake.CommitInfo | None:
    """Append ``results`` to the ``dq.results_table`` Delta table (default ops.dq_results).
    ``txn=(app_id, version)`` makes the append exactly-once. Nothing to write -> None."""
    rows = [tuple(r.get(k) for k in FIELDS) for r in results]
    if not rows:
        return None
    run_ids = sorted({str(r[0]) for r in rows if r[0] is not None})
    metadata = {"loyalty.writer": "dq"}
    if len(run_ids) == 1:
        metadata["loyalty.run_id"] = run_ids[0]
    return lake.append(spark.createDataFrame(rows, RESULTS_SCHEMA), cfg, results_table(cfg), txn=txn,
                       metadata=metadata)


def summary_lines(results: Iterable[dict]) -> list[str]:
    """The results as an aligned text table: table, rule, type, action, checked, failed, status."""
    header = ("table", "rule", "type", "action", "checked", "failed", "status")
    rows = [(str(r.get("table_name") or "-"), str(r.get("rule")), str(r.get("rule_type")), str(r.get("action")),
             f"{r.get('rows_checked', 0):,}", f"{r.get('rows_failed', 0):,}", str(r.get("status")))
            for r in results]
    if not rows:
        return []
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    numeric = {4, 5}

    def fmt(row) -> str:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return [fmt(header)] + [fmt(row) for row in rows]


def log_summary(results: Iterable[dict], logger: logging.Logger | None = None) -> list[str]:
    """Log the results table (INFO) and each rule that did not pass with its message (WARNING);
    returns the logged table lines."""
    results = list(results)
    logger = logger or log
    lines = summary_lines(results)
    if not lines:
        logger.info("data quality: no rules checked")
        return lines
    logger.info("data quality results:")
    for line in lines:
        logger.info("  %s", line)
    for r in results:
        if r.get("status") != PASS:
            level = logging.ERROR if r.get("status") == FAILED else logging.WARNING
            logger.log(level, "dq %s %s: %s", r.get("table_name"), r.get("rule"), r.get("message"))
    return lines

"""Counting checks: every input row is accounted for (conservation), row counts agree between layers
(reconcile), and numeric totals per key agree within a tolerance (compare_totals). Each returns a
result dict in the shape of the dq_results table, so it is written and summarised with the rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.dq.checks import qcol
from loyalty.dq.results import FAILED, make_result
from loyalty.dq.rules import ACTIONS, DQError

_SIDE_COLUMNS = ("left_value", "right_value", "diff", "pct_diff", "side")


class ConservationError(DQError):
    """Rows were lost or invented: rows_in != rows_out + quarantined + duplicates. ``result`` holds
    the failed result dict (write it before stopping)."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


class ReconciliationError(DQError):
    """A reconciliation beyond its tolerance (raised only when asked to)."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def check_conservation(*, table: str, rows_in: int, rows_out: int, quarantined: int, duplicates: int = 0,
                       batch_id: int | None = None, run_id: str | None = None,
                       raise_on_failure: bool = True) -> dict:
    """Every input row ends in the output, the quarantine or the dropped duplicates. Returns the result
    (rule 'conservation', action 'fail'); raises ConservationError (message with all four numbers)
    when the counts do not add up, unless ``raise_on_failure=False``."""
    counts = {"rows_in": rows_in, "rows_out": rows_out, "quarantined": quarantined, "duplicates": duplicates}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DQError(f"conservation check of {table}: {key} must be a count (int >= 0), got {value!r}")
    accounted = rows_out + quarantined + duplicates
    missing = rows_in - accounted
    equation = (f"rows_in {rows_in:,} {'=' if not missing else '!='} rows_out {rows_out:,} + quarantined "
                f"{quarantined:,} + duplicates {duplicates:,}")
    if missing > 0:
        message = f"{equation} (= {accounted:,}): {missing:,} row{'s' if missing != 1 else ''} lost"
    elif missing < 0:
        message = f"{equation} (= {accounted:,}): {-missing:,} row{'s' if missing != -1 else ''} too many"
    else:
        message = equation
    result = make_result(run_id=run_id, table=table, batch_id=batch_id, rule="conservation",
                         rule_type="conservation", column=None, action="fail", rows_checked=rows_in,
                         rows_failed=abs(missing), message=message)
    if missing and raise_on_failure:
        raise ConservationError(f"{table}{_batch(batch_id)}: {message}", result)
    return result


def reconcile(*, table: str, source: str, rows_source: int | DataFrame, rows_target: int | DataFrame,
              excluded: int = 0, tolerance_abs: int = 0, tolerance_pct: float = 0.0,
              batch_id: int | None = None, run_id: str | None = None, action: str = "fail",
              name: str | None = None, raise_on_failure: bool = False) -> dict:
    """Row counts between layers: ``rows_target`` should equal ``rows_source - excluded`` (rows the
    target drops on purpose: quarantined, deduplicated, filtered) within ``tolerance_abs`` rows or
    ``tolerance_pct`` percent of the expected count. Counts may be given as DataFrames (counted
    here). Returns the result (rule ``name``, default ``reconcile_<source>``); with
    ``raise_on_failure`` a 'fail' action beyond tolerance raises ReconciliationError."""
    _check_action(action, "reconcile")
    n_source = rows_source.count() if isinstance(rows_source, DataFrame) else int(rows_source)
    n_target = rows_target.count() if isinstance(rows_target, DataFrame) else int(rows_target)
    expected = n_source - excluded
    diff = n_target - expected
    allowed = max(float(tolerance_abs), abs(expected) * float(tolerance_pct) / 100.0)
    beyond = abs(diff) > allowed
    message = (f"{source} {n_source:,} rows - excluded {excluded:,} = {expected:,} expected, {table} has "
               f"{n_target:,} (difference {diff:+,}; tolerance {_tolerance(tolerance_abs, tolerance_pct)})")
    result = make_result(run_id=run_id, table=table, batch_id=batch_id, rule=name or f"reconcile_{source}",
                         rule_type="reconcile", column=None, action=action, rows_checked=n_source,
                         rows_failed=abs(diff) if beyond else 0, message=message)
    if raise_on_failure and result["status"] == FAILED:
        raise ReconciliationError(f"{table}{_batch(batch_id)}: {message}", result)
    return result


def compare_totals(left_df: DataFrame, right_df: DataFrame, keys: str | Sequence[str], value_col: str,
                   tolerance_abs: float = 0.0, tolerance_pct: float = 0.0, name: str = "compare_totals", *,
                   right_value_col: str | None = None, table: str | None = None, batch_id: int | None = None,
                   run_id: str | None = None, action: str = "fail", left_label: str = "left",
                   right_label: str = "right") -> tuple[dict, DataFrame]:
    """Compare ``sum(value_col)`` per key between two DataFrames (e.g. ledger points vs points computed
    from transactions). A key is a mismatch when |right - left| exceeds BOTH ``tolerance_abs`` and
    ``tolerance_pct`` percent of max(|left|, |right|); a key missing on one side counts as 0 there
    (null keys match null keys; both sides are summed per key in one shuffle). Returns (result,
    mismatches): the mismatches DataFrame (lazy) has the keys, left_value, right_value, diff
    (right - left), pct_diff and side (both | left_only | right_only). Runs one Spark job (the counts)."""
    _check_action(action, "compare_totals")
    keys = [keys] if isinstance(keys, str) else list(keys)
    right_value_col = right_value_col or value_col
    if not keys:
        raise DQError(f"compare_totals {name}: needs at least one key column")
    for label, df, col in ((left_label, left_df, value_col), (right_label, right_df, right_value_col)):
        missing = [c for c in [*keys, col] if c not in df.columns]
        if missing:
            raise DQError(f"compare_totals {name}: the {label} side has no column(s) {missing} "
                          f"(columns: {', '.join(df.columns)})")
    clash = sorted(set(keys) & set(_SIDE_COLUMNS))
    if clash:
        raise DQError(f"compare_totals {name}: key column(s) {clash} clash with output columns")

    # one shuffle: both sides unioned and summed per key (null keys group together, so they match)
    left = left_df.select(*[qcol(k).alias(k) for k in keys], qcol(value_col).alias("__dq_l"),
                          F.lit(1).alias("__dq_in_left"))
    right = right_df.select(*[qcol(k).alias(k) for k in keys], qcol(right_value_col).alias("__dq_r"),
                            F.lit(1).alias("__dq_in_right"))
    grouped = (left.unionByName(right, allowMissingColumns=True).groupBy(*[qcol(k) for k in keys])
               .agg(F.sum("__dq_l").alias("__dq_l"), F.sum("__dq_r").alias("__dq_r"),
                    (F.count("__dq_in_left") > 0).alias("__dq_in_left"),
                    (F.count("__dq_in_right") > 0).alias("__dq_in_right")))
    in_left, in_right = F.col("__dq_in_left"), F.col("__dq_in_right")
    lv = F.coalesce(F.col("__dq_l"), F.lit(0))
    rv = F.coalesce(F.col("__dq_r"), F.lit(0))
    scale = F.greatest(F.abs(lv), F.abs(rv))
    compared = grouped.select(
        *[qcol(k) for k in keys],
        lv.alias("left_value"), rv.alias("right_value"), (rv - lv).alias("diff"),
        F.when(scale != 0, F.abs(rv - lv).cast("double") / scale.cast("double") * 100).alias("pct_diff"),
        F.when(in_left & in_right, "both").when(in_left, "left_only").otherwise("right_only").alias("side"),
    )
    abs_diff = F.abs(F.col("diff")).cast("double")
    allowed_pct = F.coalesce(F.greatest(F.abs(F.col("left_value")), F.abs(F.col("right_value"))).cast("double")
                             * F.lit(float(tolerance_pct) / 100.0), F.lit(0.0))
    mismatch = (abs_diff > F.lit(float(tolerance_abs))) & (abs_diff > allowed_pct)
    compared = compared.withColumn("__dq_mismatch", F.coalesce(mismatch, F.lit(False)))
    stats = compared.agg(F.count(F.lit(1)).alias("keys"), F.count(F.when(F.col("__dq_mismatch"), 1)).alias("bad"),
                         F.sum("left_value").alias("left_total"), F.sum("right_value").alias("right_total"),
                         F.max(F.when(F.col("__dq_mismatch"), F.abs(F.col("diff")))).alias("max_diff")).first()
    bad = int(stats["bad"])
    message = (f"{bad:,} of {int(stats['keys']):,} keys ({', '.join(keys)}) differ by more than "
               f"{_tolerance(tolerance_abs, tolerance_pct)}; totals {left_label} {_n(stats['left_total'])}, "
               f"{right_label} {_n(stats['right_total'])}")
    if bad:
        message += f"; largest difference {_n(stats['max_diff'])}"
    column = value_col if right_value_col == value_col else f"{value_col} vs {right_value_col}"
    result = make_result(run_id=run_id, table=table, batch_id=batch_id, rule=name, rule_type="compare_totals",
                         column=column, action=action, rows_checked=int(stats["keys"]), rows_failed=bad,
                         message=message)
    mismatches = compared.where(F.col("__dq_mismatch")).drop("__dq_mismatch")
    return result, mismatches


def _check_action(action: str, what: str) -> None:
    if action not in ACTIONS:
        raise DQError(f"{what}: unknown action {action!r} (known: {', '.join(ACTIONS)})")


def _tolerance(tolerance_abs, tolerance_pct) -> str:
    return f"{_n(tolerance_abs)} or {_n(tolerance_pct)}%"


def _n(value) -> str:
    if value is None:
        return "0"
    if isinstance(value, Decimal):
        return f"{value:,f}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) < 1e15 else f"{value:g}"
    return f"{value:,}"


def _batch(batch_id) -> str:
    return "" if batch_id is None else f" batch {batch_id}"

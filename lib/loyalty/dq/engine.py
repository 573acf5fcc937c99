"""Apply rules to a DataFrame: split it into valid rows and quarantined rows (with the failing rules
and readable reasons) and count failures per rule.

All row-level rules are evaluated as boolean columns in one projection (after the joins that ``ref``
rules and the window that ``unique`` rules need); the per-rule counts come from one aggregation, so
only a single row of counts (bounded by the number of rules) reaches the driver. ``valid`` and
``quarantine`` are lazy and partition the input exactly: every input row is in one of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.dq import checks
from loyalty.dq.checks import HELPER, qcol
from loyalty.dq.results import FAILED, make_result
from loyalty.dq.rules import Rule, RuleError, parse_rules

log = logging.getLogger("loyalty.dq")

# columns added to quarantined rows
DQ_RULE, DQ_REASON, DQ_RULES = "_dq_rule", "_dq_reason", "_dq_rules"
DQ_RUN_ID, DQ_BATCH_ID = "_dq_run_id", "_dq_batch_id"
QUARANTINE_COLUMNS = (DQ_RULE, DQ_REASON, DQ_RULES, DQ_RUN_ID, DQ_BATCH_ID)
_QUARANTINED = f"{HELPER}quarantined"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class Outcome:
    """What ``apply`` found. ``valid`` and ``quarantine`` are lazy DataFrames; the counts are known."""
    table: str
    valid: DataFrame
    quarantine: DataFrame
    results: list[dict]
    failed: bool  # a 'fail' rule had failures: commit nothing for this table
    rows_in: int
    rows_quarantined: int
    _persisted: list[DataFrame] = field(default_factory=list, repr=False)

    @property
    def rows_valid(self) -> int:
        return self.rows_in - self.rows_quarantined

    def release(self) -> None:
        """Drop the cached checked rows (only held with ``apply(..., persist=True)``)."""
        for df in self._persisted:
            df.unpersist()
        self._persisted.clear()


def apply(df: DataFrame, rules: Iterable[Rule | dict], *, table: str, run_id: str | None = None,
          batch_id: int | None = None, refs: Mapping[str, DataFrame] | None = None,
          as_of: datetime | date | None = None, persist: bool = False) -> Outcome:
    """Check ``df`` against ``rules`` (Rules from ``rules_for``, or rule mappings as in conf).

    ``refs`` names the DataFrames that ``ref`` rules look keys up in; ``as_of`` is the reference time
    of ``freshness`` rules and of ``{as_of}`` in expr/where (naive = UTC). ``persist=True`` caches the
    checked rows (memory and disk) so writing ``valid`` and ``quarantine`` does not recompute the
    input; call ``outcome.release()`` after the writes. Runs one Spark job (the counts)."""
    rules = parse_rules(list(rules), table, source="apply(rules=...)")  # Rules pass through; names unique
    refs = dict(refs or {})
    taken = sorted(set(QUARANTINE_COLUMNS) & set(df.columns))
    if taken:
        raise RuleError(f"{table}: input already has column(s) {taken}, reserved for quarantine metadata")
    checks.validate(df, rules, refs, as_of)

    annotated = df
    built: list[checks.Check] = []
    for i, rule in enumerate(rules):
        annotated, check = checks.build(annotated, rule, i, refs, as_of)
        built.append(check)
    flags: dict[str, Column] = {}
    for c in built:
        flags[_applies(c)] = c.applies
        if c.fails is not None:
            flags[_fails(c)] = F.coalesce(c.fails, F.lit(False))
    blocking = [c for c in built if c.fails is not None and c.rule.blocking]
    quarantined = F.lit(False)
    for c in blocking:
        quarantined = quarantined | F.col(_fails(c))
    flags[_QUARANTINED] = quarantined
    annotated = annotated.withColumns(flags)
    if persist:
        annotated = annotated.persist(StorageLevel.MEMORY_AND_DISK)

    counts = annotated.agg(*_aggregations(built)).first().asDict()
    results = [_result(c, counts, table, run_id, batch_id, as_of) for c in built]
    failed = any(r["status"] == FAILED for r in results)
    original = [qcol(name) for name in df.columns]
    valid = annotated.where(~F.col(_QUARANTINED)).select(*original)
    quarantine = annotated.where(F.col(_QUARANTINED)).select(*original, *_quarantine_columns(blocking, run_id,
                                                                                           batch_id))
    outcome = Outcome(table, valid, quarantine, results, failed, int(counts["rows"]), int(counts["quarantined"]),
                      [annotated] if persist else [])
    not_passed = [r["rule"] for r in results if r["status"] != "pass"]
    log.info("dq %s: %d rows, %d quarantined, %d valid%s%s", table, outcome.rows_in, outcome.rows_quarantined,
             outcome.rows_valid, f"; rules not passed: {', '.join(not_passed)}" if not_passed else "",
             " (FAILED)" if failed else "")
    return outcome


def _applies(c: checks.Check) -> str:
    return f"{HELPER}a{c.index}"


def _fails(c: checks.Check) -> str:
    return f"{HELPER}f{c.index}"


def _aggregations(built: list[checks.Check]) -> list[Column]:
    aggs = [F.count(F.lit(1)).alias("rows"), F.count(F.when(F.col(_QUARANTINED), 1)).alias("quarantined")]
    for c in built:
        aggs.append(F.count(F.when(F.col(_applies(c)), 1)).alias(f"checked_{c.index}"))
        if c.fails is not None:
            aggs.append(F.count(F.when(F.col(_fails(c)), 1)).alias(f"failed_{c.index}"))
        if c.dup_weight is not None:
            aggs.append(F.sum(c.dup_weight).alias(f"keys_{c.index}"))
        if c.max_micros is not None:
            aggs.append(F.max(c.max_micros).alias(f"max_{c.index}"))
    return aggs


def _result(c: checks.Check, counts: dict, table: str, run_id, batch_id, as_of) -> dict:
    rule = c.rule
    checked = int(counts[f"checked_{c.index}"])
    if rule.type == "freshness":
        failed, message = _freshness(rule, counts[f"max_{c.index}"], as_of)
    else:
        failed = int(counts[f"failed_{c.index}"])
        if failed:
            message = f"{failed:,} of {checked:,} rows: {rule.describe()}"
            if rule.type == "unique":
                keys = int(round(counts[f"keys_{c.index}"] or 0))
                message += f" ({keys:,} duplicated key{'s' if keys != 1 else ''})"
            if rule.action == "fail":
                message += "; fail rule: nothing may be committed"
        else:
            message = f"{checked:,} rows checked, all pass"
    return make_result(run_id=run_id, table=table, batch_id=batch_id, rule=rule.name, rule_type=rule.type,
                       column=rule.column, action=rule.action, rows_checked=checked, rows_failed=failed,
                       message=message)


def _freshness(rule: Rule, max_micros: int | None, as_of) -> tuple[int, str]:
    """Table-level: 1 failure when the newest value is older than ``max_age_hours`` before ``as_of``."""
    limit = f"limit {rule.max_age_hours:g} h"
    reference = _EPOCH + timedelta(microseconds=checks.as_of_micros(as_of))
    if max_micros is None:
        return 1, f"no {rule.column} values to judge freshness by (as_of {_iso(reference)}, {limit})"
    newest = _EPOCH + timedelta(microseconds=int(max_micros))
    age_hours = (reference - newest).total_seconds() / 3600
    stale = age_hours > rule.max_age_hours
    text = f"max({rule.column}) = {_iso(newest)} is {age_hours:.1f} h before as_of {_iso(reference)}, {limit}"
    if stale and rule.reason:
        text = f"{rule.reason}: {text}"
    return (1 if stale else 0), text


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quarantine_columns(blocking: list[checks.Check], run_id, batch_id) -> list[Column]:
    if blocking:
        first = F.coalesce(*[F.when(F.col(_fails(c)), F.lit(c.rule.name)) for c in blocking])
        names = F.array_compact(F.array(*[F.when(F.col(_fails(c)), F.lit(c.rule.name)) for c in blocking]))
        reasons = F.array_join(F.array_compact(F.array(*[F.when(F.col(_fails(c)), c.reason()) for c in blocking])),
                               "; ")
    else:
        first = F.lit(None).cast("string")
        names = F.array().cast("array<string>")
        reasons = F.lit(None).cast("string")
    return [first.alias(DQ_RULE), reasons.alias(DQ_REASON), names.alias(DQ_RULES),
            F.lit(run_id).cast("string").alias(DQ_RUN_ID), F.lit(batch_id).cast("long").alias(DQ_BATCH_ID)]

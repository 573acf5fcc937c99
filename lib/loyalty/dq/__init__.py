"""Data quality: rules from conf, applied as Spark expressions, with quarantine, results and counts.

    from loyalty import dq
    rules = dq.rules_for(cfg, "silver.transactions")            # dq.tables."silver.transactions" in conf
    outcome = dq.apply(df, rules, table="silver.transactions", run_id=run_id, batch_id=7,
                       refs={"member": members_df}, as_of=cutoff)
    outcome.valid, outcome.quarantine                             # lazy DataFrames; together: every input row
    outcome.results, outcome.failed                               # one result dict per rule; a 'fail' rule failed
    dq.write_results(spark, cfg, outcome.results)                 # -> dq.results_table (ops.dq_results)
    dq.log_summary(outcome.results)
    dq.check_conservation(table=..., batch_id=7, rows_in=..., rows_out=..., quarantined=..., duplicates=...)

Modules: ``rules`` (the rule model, parsed and validated from conf), ``checks`` (rule -> Spark
expressions), ``engine`` (apply), ``results`` (the results table and the log summary),
``conservation`` (conservation, row-count reconciliation, tolerance comparison of totals).
"""

from loyalty.conf import ConfigError
from loyalty.dq.conservation import (ConservationError, ReconciliationError, check_conservation, compare_totals,
                                     reconcile)
from loyalty.dq.engine import QUARANTINE_COLUMNS, Outcome, apply
from loyalty.dq.results import RESULTS_SCHEMA, log_summary, results_table, summary_lines, write_results
from loyalty.dq.rules import ACTIONS, TYPES, DQError, Rule, RuleError, parse_rules, rules_for

__all__ = [
    "ACTIONS", "QUARANTINE_COLUMNS", "RESULTS_SCHEMA", "TYPES", "ConfigError", "ConservationError", "DQError",
    "Outcome", "ReconciliationError", "Rule", "RuleError", "apply", "check_conservation", "compare_totals",
    "log_summary", "parse_rules", "reconcile", "results_table", "rules_for", "summary_lines", "write_results",
]

"""Data quality framework: rules from conf, apply (valid / quarantine / results), conservation,
reconciliation and the results table. Tiny inline DataFrames; each test plants the bad rows it expects
the rules to catch."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from loyalty import conf, dq, lake

AS_OF = datetime(2026, 11, 1)
TXN_SCHEMA = T.StructType([
    T.StructField("id", T.IntegerType()),
    T.StructField("receipt_id", T.StringType()),
    T.StructField("total_raw", T.StringType()),
    T.StructField("total_amount", T.DecimalType(10, 2)),
    T.StructField("txn_ts", T.TimestampType()),
    T.StructField("banner", T.StringType()),
    T.StructField("member_id", T.LongType()),
])
TS = datetime(2026, 10, 30, 12, 0)


def txn(i, receipt="R{i}", raw="10.00", amount="10.00", ts=TS, banner="FRESHMART", member=1):
    return (i, receipt.format(i=i) if receipt else None, raw, Decimal(amount) if amount is not None else None, ts,
            banner, member)


# one planted defect per rule (ids 2..9, 11, 12), plus rows that must pass: nulls where nulls are allowed (10),
# an amount above the VALUMART cap at a FRESHMART store (1)
TXNS = [
    txn(1, amount="500.00", raw="500.00"),
    txn(2, receipt=None),                                # receipt_id_present
    txn(3, raw="12,5"),                                  # amount_numeric
    txn(4, amount="-12.50", raw="-12.50"),               # amount_non_negative
    txn(5, ts=datetime(2026, 11, 2, 8, 0)),              # ts_not_future
    txn(6, banner="MEGAMART"),                           # banner_known
    txn(7, member=999),                                  # member_exists
    txn(8, receipt="R8"),                                # receipt_unique (with 9)
    txn(9, receipt="R8"),                                # receipt_unique (with 8)
    txn(10, amount=None, banner=None, member=None),      # nulls pass range/accepted_values/ref; fail expr
    txn(11, amount="150.00", raw="150.00", banner="VALUMART"),  # valumart_cap (where)
    txn(12, receipt=None),                               # receipt_id_present; null keys are not duplicates
]
RULES = [
    {"name": "receipt_id_present", "type": "not_null", "column": "receipt_id", "action": "quarantine"},
    {"name": "amount_numeric", "type": "regex", "column": "total_raw", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
     "action": "quarantine"},
    {"name": "amount_non_negative", "type": "range", "column": "total_amount", "min": 0, "action": "quarantine"},
    {"name": "ts_not_future", "type": "expr", "expr": "txn_ts <= {as_of}", "action": "quarantine",
     "reason": "timestamp in the future"},
    {"name": "banner_known", "type": "accepted_values", "column": "banner", "values": ["FRESHMART", "VALUMART"],
     "action": "quarantine"},
    {"name": "member_exists", "type": "ref", "column": "member_id", "ref": "member", "ref_column": "member_id",
     "action": "quarantine"},
    {"name": "receipt_unique", "type": "unique", "columns": ["receipt_id"], "action": "quarantine"},
    {"name": "receipt_banner_unique", "type": "unique", "columns": ["receipt_id", "banner"], "action": "quarantine"},
    {"name": "valumart_cap", "type": "range", "column": "total_amount", "max": 100, "where": "banner = 'VALUMART'",
     "action": "quarantine"},
    {"name": "amount_known", "type": "expr", "expr": "total_amount < 1000", "action": "warn"},
    {"name": "amount_known_or_null", "type": "expr", "expr": "total_amount < 1000", "null_ok": True,
     "action": "warn"},
    {"name": "fresh", "type": "freshness", "column": "txn_ts", "max_age_hours": 72, "action": "warn"},
]
EXPECTED_FAILING = {
    "receipt_id_present": {2, 12}, "amount_numeric": {3}, "amount_non_negative": {4}, "ts_not_future": {5},
    "banner_known": {6}, "member_exists": {7}, "receipt_unique": {8, 9}, "receipt_banner_unique": {8, 9},
    "valumart_cap": {11},
}


@pytest.fixture(scope="module")
def txns(spark):
    return spark.createDataFrame(TXNS, TXN_SCHEMA)


@pytest.fixture(scope="module")
def checked(spark, txns):
    """RULES applied to TXNS once (cached) for the tests that read its outputs."""
    members = spark.createDataFrame([(1,), (2,), (2,)], "member_id long")
    out = dq.apply(txns, RULES, table="silver.transactions", run_id="run-1", batch_id=7, refs={"member": members},
                   as_of=AS_OF, persist=True)
    yield out
    out.release()


def by_id(results):
    return {r["rule"]: r for r in results}


# -- each rule type --------------------------------------------------------------------------------
def test_each_rule_type_catches_exactly_the_planted_rows(txns, checked):
    quarantined = checked.quarantine.collect()
    failing: dict[str, set] = {}
    for row in quarantined:
        for rule in row["_dq_rules"]:
            failing.setdefault(rule, set()).add(row["id"])
    assert failing == EXPECTED_FAILING
    results = by_id(checked.results)
    assert [r["rule"] for r in checked.results] == [r["name"] for r in RULES]  # config order
    for rule, ids in EXPECTED_FAILING.items():
        assert results[rule]["rows_failed"] == len(ids), rule
        assert results[rule]["status"] == "quarantined"
    assert results["valumart_cap"]["rows_checked"] == 1  # only rows matching its `where`
    assert results["receipt_id_present"]["rows_checked"] == len(TXNS)
    assert "1 duplicated key" in results["receipt_unique"]["message"]
    # expr: null fails unless null_ok; warn rules keep rows
    assert (results["amount_known"]["rows_failed"], results["amount_known"]["status"]) == (1, "warn")
    assert results["amount_known_or_null"]["rows_failed"] == 0
    assert results["fresh"]["status"] == "pass"
    assert "max(txn_ts) = 2026-11-02T08:00:00Z" in results["fresh"]["message"]
    valid = checked.valid.collect()
    assert sorted(r.id for r in valid) == [1, 10] and not checked.failed
    assert checked.valid.columns == txns.columns
    # valid + quarantine is exactly the input, and the counts say so
    assert len(valid) + len(quarantined) == len(TXNS)
    assert (checked.rows_in, checked.rows_quarantined, checked.rows_valid) == (12, 10, 2)


def test_quarantine_rows_carry_rule_reason_and_run(txns, checked):
    rows = checked.quarantine.where("id in (4, 5, 6, 7, 9)").collect()
    meta = {r.id: tuple(r[c] for c in dq.QUARANTINE_COLUMNS) for r in rows}
    assert meta == {
        4: ("amount_non_negative", "amount_non_negative: total_amount=-12.50 outside [0, +inf]",
            ["amount_non_negative"], "run-1", 7),
        5: ("ts_not_future", "ts_not_future: timestamp in the future", ["ts_not_future"], "run-1", 7),
        6: ("banner_known", "banner_known: banner=MEGAMART not in [FRESHMART, VALUMART]", ["banner_known"],
            "run-1", 7),
        7: ("member_exists", "member_exists: member_id=999 not found in member.member_id", ["member_exists"],
            "run-1", 7),
        9: ("receipt_unique", "receipt_unique: receipt_id=R8 occurs 2 times; "
            "receipt_banner_unique: (receipt_id, banner)=(R8, FRESHMART) occurs 2 times",
            ["receipt_unique", "receipt_banner_unique"], "run-1", 7),
    }
    assert checked.quarantine.columns == txns.columns + list(dq.QUARANTINE_COLUMNS)
    assert [f.dataType.simpleString() for f in checked.quarantine.schema.fields[-5:]] == \
        ["string", "string", "array<string>", "string", "bigint"]


# -- actions ---------------------------------------------------------------------------------------
def test_actions_warn_keeps_rows_quarantine_moves_them_fail_fails(spark):
    df = spark.createDataFrame([(1, None, 5), (2, "b", -1), (3, "c", 7), (3, "d", 8)], "id int, name string, qty int")
    rules = [
        {"name": "name_present", "type": "not_null", "column": "name", "action": "warn"},
        {"name": "qty_positive", "type": "range", "column": "qty", "min": 1, "action": "quarantine",
         "reason": "quantity must be positive"},
        {"name": "id_unique", "type": "unique", "column": "id", "action": "fail"},
    ]
    out = dq.apply(df, rules, table="t.items", run_id="r", batch_id=1)
    status = {r["rule"]: (r["rows_failed"], r["status"]) for r in out.results}
    assert status == {"name_present": (1, "warn"), "qty_positive": (1, "quarantined"), "id_unique": (2, "failed")}
    assert out.failed
    assert sorted(r.id for r in out.valid.collect()) == [1]  # the warned row stays
    reasons = {(r.id, r.name): r._dq_reason for r in out.quarantine.collect()}
    assert reasons == {(2, "b"): "qty_positive: quantity must be positive (qty=-1)",
                       (3, "c"): "id_unique: id=3 occurs 2 times", (3, "d"): "id_unique: id=3 occurs 2 times"}
    assert (out.rows_in, out.rows_quarantined) == (4, 3)


def test_row_failing_several_rules_is_quarantined_once(spark):
    df = spark.createDataFrame([(1, None, -5.0, "??"), (2, "ok", 3.0, "A")],
                               "id int, name string, x double, code string")
    rules = [
        {"name": "r_name", "type": "not_null", "column": "name", "action": "quarantine"},
        {"name": "r_x", "type": "range", "column": "x", "min": 0, "max": 10, "action": "fail"},
        {"name": "r_warn", "type": "expr", "expr": "x > 100", "action": "warn"},
        {"name": "r_code", "type": "regex", "column": "code", "pattern": "^[A-Z]$", "action": "quarantine"},
    ]
    out = dq.apply(df, rules, table="t.multi", run_id="r", batch_id=3, persist=True)
    rows = out.quarantine.collect()
    out.release()
    assert len(rows) == 1
    row = rows[0]
    assert (row.id, row._dq_rule, row._dq_rules) == (1, "r_name", ["r_name", "r_x", "r_code"])
    assert row._dq_reason == ("r_name: name is null; r_x: x=-5.0 outside [0, 10]; "
                              "r_code: code=?? does not match ^[A-Z]$")
    assert [r["rows_failed"] for r in out.results] == [1, 1, 2, 1]
    assert out.rows_in == 2 and out.rows_quarantined == 1 and out.failed


def test_freshness_is_table_level_against_as_of(spark):
    df = spark.createDataFrame([(datetime(2026, 10, 31, 12, 0),), (datetime(2026, 10, 20),)], "ts timestamp")
    rules = [{"name": "fresh_72h", "type": "freshness", "column": "ts", "max_age_hours": 72, "action": "fail"},
             {"name": "fresh_6h", "type": "freshness", "column": "ts", "max_age_hours": 6, "action": "warn"}]
    out = dq.apply(df, rules, table="t.f", as_of=AS_OF)
    assert [(r["rows_failed"], r["status"]) for r in out.results] == [(0, "pass"), (1, "warn")]
    assert "12.0 h before as_of 2026-11-01T00:00:00Z, limit 6 h" in out.results[1]["message"]
    assert out.rows_quarantined == 0 and not out.failed
    with pytest.raises(dq.RuleError, match="fresh_72h.*as_of"):
        dq.apply(df, rules, table="t.f")


def test_empty_input_and_no_rules(spark):
    empty = spark.createDataFrame([], "id int, code string, ts timestamp")
    rules = [{"name": "id_present", "type": "not_null", "column": "id", "action": "quarantine"},
             {"name": "id_unique", "type": "unique", "column": "id", "action": "fail"},
             {"name": "code_known", "type": "accepted_values", "column": "code", "values": ["01", 2],
              "action": "warn"},
             {"name": "fresh", "type": "freshness", "column": "ts", "max_age_hours": 24, "action": "warn"}]
    out = dq.apply(empty, rules, table="t.empty", as_of=AS_OF)
    assert [(r["rows_checked"], r["rows_failed"], r["status"]) for r in out.results] == \
        [(0, 0, "pass"), (0, 0, "pass"), (0, 0, "pass"), (0, 1, "warn")]
    assert "no ts values" in out.results[3]["message"] and not out.failed and out.rows_in == 0
    none = dq.apply(empty, [], table="t.empty")
    assert none.results == [] and none.valid.columns == empty.columns and none.rows_quarantined == 0


# -- errors: rules that do not fit the data --------------------------------------------------------
@pytest.mark.parametrize("rule, refs, message", [
    ({"name": "r", "type": "not_null", "column": "nope", "action": "warn"}, {}, r"rule 'r'.*column 'nope'"),
    ({"name": "r", "type": "ref", "column": "id", "ref": "member", "action": "warn"}, {},
     r"rule 'r'.*reference 'member'"),
    ({"name": "r", "type": "ref", "column": "id", "ref": "member", "ref_column": "mid", "action": "warn"},
     {"member": True}, r"rule 'r'.*no column 'mid'"),
    ({"name": "r", "type": "expr", "expr": "missing_col > 1", "action": "warn"}, {},
     r"rule 'r'.*not valid Spark SQL"),
    ({"name": "r", "type": "not_null", "column": "id", "where": "id = = 1", "action": "warn"}, {},
     r"rule 'r'.*'where'.*not valid Spark SQL"),
    ({"name": "r", "type": "expr", "expr": "id + 1", "action": "warn"}, {}, r"rule 'r'.*must be a boolean.*int"),
    ({"name": "r", "type": "expr", "expr": "ts <= {as_of}", "action": "warn"}, {}, r"rule 'r'.*as_of"),
])
def test_rules_that_do_not_fit_the_data_name_rule_and_column(spark, rule, refs, message):
    df = spark.createDataFrame([(1,)], "id int")
    refs = {name: spark.createDataFrame([(1,)], "member_id int") for name in refs}
    with pytest.raises(dq.RuleError, match=message):
        dq.apply(df, [rule], table="t.e", refs=refs)


# -- rules from conf -------------------------------------------------------------------------------
def conf_with_dq(tmp_path: Path, dq_yaml: str) -> conf.Config:
    """The repo's conf files copied to ``tmp_path`` with ``dq_yaml`` appended to test.yaml."""
    repo_conf = Path(__file__).resolve().parents[2] / "conf"
    target = tmp_path / "conf"
    shutil.copytree(repo_conf, target)
    env = target / "test.yaml"
    env.write_text(env.read_text() + "\n" + dq_yaml)
    return conf.load("test", [f"data_root={tmp_path}/data"], directory=target)


CONF_EXAMPLE = r"""
dq:
  results_table: ops.dq_results
  tables:
    silver.transactions:
      - {name: receipt_id_present, type: not_null, column: receipt_id, action: quarantine}
      - {name: amount_numeric, type: regex, column: total_raw, pattern: '^-?[0-9]+(\.[0-9]+)?$', action: quarantine}
      - {name: amount_non_negative, type: range, column: total_amount, min: 0, action: quarantine}
      - {name: ts_not_future, type: expr, expr: "txn_ts <= {as_of}", action: quarantine,
         reason: "timestamp in the future"}
      - {name: banner_known, type: accepted_values, column: banner, values: [FRESHMART, VALUMART], action: quarantine}
      - {name: member_exists, type: ref, column: member_id, ref: member, ref_column: member_id, action: quarantine}
      - {name: receipt_unique, type: unique, columns: [receipt_id], action: fail}
      - {name: fresh, type: freshness, column: txn_ts, max_age_hours: 72, action: warn}
"""


def test_rules_for_reads_conf(tmp_path):
    cfg = conf_with_dq(tmp_path, CONF_EXAMPLE)
    rules = dq.rules_for(cfg, "silver.transactions")
    assert [(r.name, r.type, r.action) for r in rules][-2:] == [("receipt_unique", "unique", "fail"),
                                                                ("fresh", "freshness", "warn")]
    assert rules[1].pattern == r"^-?[0-9]+(\.[0-9]+)?$" and rules[2].min == 0 and rules[2].max is None
    assert rules[4].values == ("FRESHMART", "VALUMART") and rules[5].ref_column == "member_id"
    assert "dq.tables.silver.transactions[3]" in rules[3].origin and "test.yaml" in rules[3].origin
    assert dq.rules_for(cfg, "silver.nothing") == []
    with pytest.raises(dq.ConfigError, match="silver.nothing"):
        dq.rules_for(cfg, "silver.nothing", required=True)


@pytest.mark.parametrize("bad, message", [
    ("{name: b, type: rnage, column: x, action: warn}", "unknown rule type 'rnage'"),
    ("{name: b, type: range, column: x, min: 0, action: drop}", "unknown or missing action 'drop'"),
    ("{name: b, type: range, column: x, min: 0}", "unknown or missing action None"),
    ("{name: b, type: not_null, action: warn}", "not_null rule needs column"),
    ("{name: b, type: regex, column: x, action: warn}", "regex rule needs pattern"),
    ("{name: b, type: regex, column: x, pattern: '([a-z', action: warn}", "not a valid regular expression"),
    ("{name: b, type: accepted_values, column: x, action: warn}", "accepted_values rule needs values"),
    ("{name: b, type: accepted_values, column: x, values: [], action: warn}", "'values' must be a non-empty list"),
    ("{name: b, type: ref, column: x, action: warn}", "ref rule needs ref"),
    ("{name: b, type: range, column: x, action: warn}", "needs 'min', 'max' or both"),
    ("{name: b, type: range, column: x, min: 5, max: 1, action: warn}", "greater than 'max'"),
    ("{name: b, type: unique, action: fail}", "exactly one of 'column' or 'columns'"),
    ("{name: b, type: freshness, column: ts, max_age_hours: 1, action: quarantine}", "table-level"),
    ("{name: b, type: not_null, colum: x, action: warn}", "unknown key.*colum"),
    ("{name: a, type: not_null, column: x, action: warn}", "already used by dq.tables.test.things\\[0\\]"),
    ("{type: not_null, column: x, action: warn}", "needs a 'name'"),
])
def test_bad_rule_config_names_key_and_file(tmp_path, bad, message):
    cfg = conf_with_dq(tmp_path, "dq:\n  tables:\n    test.things:\n"
                                 "      - {name: a, type: not_null, column: x, action: warn}\n"
                                 f"      - {bad}\n")
    with pytest.raises(dq.ConfigError, match=message) as err:
        dq.rules_for(cfg, "test.things")
    assert "'dq.tables.test.things[1]'" in str(err.value)
    assert str(tmp_path / "conf" / "test.yaml") in str(err.value)


# -- conservation, reconciliation, totals ----------------------------------------------------------
def test_conservation_passes_and_fails_on_purpose():
    ok = dq.check_conservation(table="silver.transactions", batch_id=7, run_id="r", rows_in=100, rows_out=90,
                               quarantined=8, duplicates=2)
    assert (ok["rule"], ok["action"], ok["status"], ok["rows_checked"], ok["rows_failed"]) == \
        ("conservation", "fail", "pass", 100, 0)
    with pytest.raises(dq.ConservationError) as err:
        dq.check_conservation(table="silver.transactions", batch_id=7, rows_in=100, rows_out=89, quarantined=8,
                              duplicates=2)
    text = str(err.value)
    for number in ("100", "89", "8", "2", "1 row lost", "batch 7"):
        assert number in text
    assert err.value.result["status"] == "failed" and err.value.result["rows_failed"] == 1
    too_many = dq.check_conservation(table="t.x", rows_in=5, rows_out=5, quarantined=1, raise_on_failure=False)
    assert too_many["status"] == "failed" and "1 row too many" in too_many["message"]


def test_reconcile_row_counts_between_layers(spark):
    bronze = spark.createDataFrame([(i,) for i in range(10)], "id int")
    ok = dq.reconcile(table="silver.transactions", source="bronze.pos", rows_source=bronze, rows_target=8, excluded=2)
    assert ok["status"] == "pass" and ok["rule"] == "reconcile_bronze.pos" and ok["rows_checked"] == 10
    near = dq.reconcile(table="silver.x", source="bronze.x", rows_source=1000, rows_target=995, tolerance_pct=1)
    assert near["status"] == "pass" and near["rows_failed"] == 0
    off = dq.reconcile(table="silver.x", source="bronze.x", rows_source=1000, rows_target=980, tolerance_pct=1,
                       action="warn")
    assert (off["status"], off["rows_failed"]) == ("warn", 20) and "difference -20" in off["message"]
    with pytest.raises(dq.ReconciliationError, match="980"):
        dq.reconcile(table="silver.x", source="bronze.x", rows_source=1000, rows_target=980, raise_on_failure=True)


def test_compare_totals_flags_only_differences_beyond_tolerance(spark):
    left = spark.createDataFrame([("m1", 100.0), ("m2", 50.0), ("m3", 5.0), ("m3", 5.0), ("m4", 7.0), (None, 1.0)],
                                 "member_id string, points double")
    right = spark.createDataFrame([("m1", 100.5), ("m2", 60.0), ("m3", 10.0), ("m5", 0.0), (None, 1.0)],
                                  "member_id string, balance double")
    result, mismatches = dq.compare_totals(left, right, ["member_id"], "points", tolerance_abs=1.0,
                                           name="points_balance", right_value_col="balance", table="gold.points")
    expected = spark.createDataFrame([("m2", 50.0, 60.0, 10.0, 10 / 60 * 100, "both"),
                                      ("m4", 7.0, 0.0, -7.0, 100.0, "left_only")],
                                     "member_id string, left_value double, right_value double, diff double, "
                                     "pct_diff double, side string")
    assert_df_equality(mismatches, expected, ignore_row_order=True, ignore_nullable=True)
    assert (result["rule"], result["rows_checked"], result["rows_failed"], result["status"]) == \
        ("points_balance", 6, 2, "failed")
    assert "largest difference 10" in result["message"]
    # 20% tolerance: m2 (16.7%) and m1 pass; m4 (left only, 100%) still differs
    result, mismatches = dq.compare_totals(left, right, "member_id", "points", tolerance_pct=20,
                                           right_value_col="balance", action="warn")
    assert (result["rows_failed"], result["status"]) == (1, "warn")  # m4


# -- results table and summary ---------------------------------------------------------------------
def test_write_results_round_trip_and_summary(spark, cfg, caplog, checked):
    results = checked.results + [dq.check_conservation(table="silver.transactions", batch_id=7, run_id="run-1",
                                                       rows_in=checked.rows_in, rows_out=checked.rows_valid,
                                                       quarantined=checked.rows_quarantined)]
    dq.write_results(spark, cfg, results)
    back = lake.read(spark, cfg, "ops.dq_results")
    assert_df_equality(back, spark.createDataFrame(results, dq.RESULTS_SCHEMA), ignore_row_order=True,
                       ignore_nullable=True)
    assert dq.write_results(spark, cfg, []) is None

    with caplog.at_level(logging.INFO, logger="loyalty.dq"):
        lines = dq.log_summary(results)
    assert lines[0].split() == ["table", "rule", "type", "action", "checked", "failed", "status"]
    assert lines[1].split() == ["silver.transactions", "receipt_id_present", "not_null", "quarantine", "12", "2",
                                "quarantined"]
    assert lines[-1].split() == ["silver.transactions", "conservation", "conservation", "fail", "12", "0", "pass"]
    assert "receipt_id_present: 2 of 12 rows: receipt_id is null" in caplog.text

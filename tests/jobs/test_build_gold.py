"""build_gold end to end on the tiny lake: one feature row per active member per as_of, the KPI
marts per as_of, idempotent re-runs, the inputs of every snapshot, and a clear error for a bad date
or a date without data."""

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from jobs import build_gold
from loyalty import lake, notebook
from loyalty.gold import features, kpi, snapshots
from loyalty.gold.features import TABLE

GOLD_AS_OF = ["2026-10-15", "2026-11-01"]      # what the tiny_gold fixture builds (tests/conftest.py)


def test_one_row_per_active_member_per_as_of(spark, tiny_gold):
    cfg, _ = tiny_gold
    feats = lake.read(spark, cfg, TABLE)
    for as_of in (date(2026, 10, 15), date(2026, 11, 1)):
        snap = feats.where(F.col("as_of") == F.lit(as_of))
        ts = datetime(as_of.year, as_of.month, as_of.day)
        members = lake.read(spark, cfg, "silver.members")
        active = (members.where((F.col("valid_from") < F.lit(ts)) & (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(ts))))
                  .where((F.col("status") == "ACTIVE") & (F.col("enrollment_date") < F.lit(as_of)))
                  .select("member_id").distinct())
        assert snap.count() == snap.select("member_id").distinct().count() == active.count() > 0
        assert snap.join(active, "member_id", "left_anti").count() == 0
        # Nothing dated on or after as_of: the latest purchase is before it.
        assert snap.where(F.col("last_purchase_date") >= F.lit(as_of)).count() == 0
    latest = feats.where(F.col("as_of") == F.lit(date(2026, 11, 1)))
    assert latest.where(F.col("trips_30d") > 0).count() > 0
    assert latest.where(F.col("rfm_label").isNull()).count() == 0


def test_kpi_marts_exist(spark, tiny_gold):
    cfg, _ = tiny_gold
    kpi_tables = [h for h in lake.history(cfg, TABLE)]  # the job ran
    assert kpi_tables
    from loyalty.gold import kpi
    for name in kpi.TABLES:
        assert lake.exists(cfg, name), name
        assert lake.read(spark, cfg, name).count() > 0, name


def test_rerun_replaces_only_its_snapshot(spark, tiny_gold):
    cfg, args = tiny_gold
    before = {r["as_of"]: r["count"] for r in lake.read(spark, cfg, TABLE).groupBy("as_of").count().collect()}
    october = sorted(map(tuple, lake.read(spark, cfg, TABLE).where(F.col("as_of") == F.lit(date(2026, 10, 15))).collect()))
    assert build_gold.main(args + ["--as-of", "2026-11-01", "--only", "features"]) == 0
    after = {r["as_of"]: r["count"] for r in lake.read(spark, cfg, TABLE).groupBy("as_of").count().collect()}
    assert after == before
    assert sorted(map(tuple, lake.read(spark, cfg, TABLE).where(F.col("as_of") == F.lit(date(2026, 10, 15))).collect())) == october


def test_bad_as_of_is_one_clear_error(tiny_lake, caplog):
    _, args = tiny_lake
    assert build_gold.main(args + ["--as-of", "2026-13-01"]) == 2   # a bad argument: exit 2, one line
    assert "--as-of must be a date YYYY-MM-DD, got '2026-13-01'" in caplog.text


GOLD_TABLES = [TABLE, *kpi.TABLES, snapshots.TABLE]


def _versions(cfg):
    return {t: lake.version(cfg, t) for t in GOLD_TABLES}


def _errors(caplog):
    return [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("as_of", ["2030-01-01", "2020-01-01", "2026-11-01,2030-01-01"],
                         ids=["after-the-data", "before-the-data", "one-of-two"])
def test_as_of_without_data_fails_in_one_line_and_writes_nothing(spark, tiny_gold, caplog, as_of):
    cfg, args = tiny_gold
    before = _versions(cfg)
    rows = {r["as_of"]: r["count"] for r in lake.read(spark, cfg, TABLE).groupBy("as_of").count().collect()}
    assert build_gold.main(args + ["--as-of", as_of]) == 1
    errors = _errors(caplog)
    bad = as_of.split(",")[-1]
    assert len(errors) == 1 and f"no data for as_of {bad}" in errors[0].getMessage()
    assert "nothing was written" in errors[0].getMessage() and "\n" not in errors[0].getMessage()
    assert "Traceback" not in caplog.text
    assert _versions(cfg) == before
    assert {r["as_of"]: r["count"] for r in lake.read(spark, cfg, TABLE).groupBy("as_of").count().collect()} == rows


def test_kpi_marts_keep_one_snapshot_per_as_of_and_readers_get_the_latest(spark, tiny_gold):
    cfg, args = tiny_gold
    latest = date(2026, 11, 1)
    current = {t: sorted(map(tuple, notebook.latest(spark, cfg, t).collect())) for t in kpi.TABLES}
    for t in kpi.TABLES:
        assert {r["as_of"] for r in lake.read(spark, cfg, t).select("as_of").distinct().collect()} == {
            date(2026, 10, 15), latest}, t
        assert {r[0] for r in current[t]} == {latest}, t          # as_of is the first column of every mart
    # A backfill of an older date replaces that date's snapshot only: the current marts stay.
    assert build_gold.main(args + ["--as-of", "2026-10-15", "--only", "kpi"]) == 0
    for t in kpi.TABLES:
        assert sorted(map(tuple, notebook.latest(spark, cfg, t).collect())) == current[t], t
        old = notebook.latest(spark, cfg, t, as_of="2026-10-15")
        assert old.count() > 0 and {r["as_of"] for r in old.select("as_of").distinct().collect()} == {date(2026, 10, 15)}


def test_every_snapshot_records_the_silver_versions_it_read(spark, tiny_gold):
    cfg, _ = tiny_gold
    log = lake.read(spark, cfg, snapshots.TABLE)
    recorded = {(r["table_name"], r["as_of"]) for r in log.collect()}
    assert {(t, date.fromisoformat(d)) for t in [TABLE, *kpi.TABLES] for d in GOLD_AS_OF} <= recorded
    last = log.where(F.col("table_name") == TABLE).orderBy(F.desc("gold_version")).first()
    assert last["input_versions"] == {t: lake.version(cfg, t) for t in features.INPUTS}
    assert last["gold_version"] == lake.version(cfg, TABLE)
    assert last["rows"] == lake.read(spark, cfg, TABLE).where(F.col("as_of") == F.lit(last["as_of"])).count()

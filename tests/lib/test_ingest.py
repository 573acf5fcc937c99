"""Bronze ingestion: incremental, idempotent, nothing dropped, crash-safe on both sides of the commit."""

from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from loyalty import conf, lake
from loyalty.bronze import ingest as ing
from loyalty.bronze.sources import load_sources

RUN_TS = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
SOURCES = """
sources:
  pos:
    format: csv
    path: pos/*.csv
    options: {sep: ","}
    columns: [receipt_id, card_no, amount_cents]
  events:
    format: json
    path: events/*.jsonl
    columns: [event_id, member_id, event_ts]
"""


@pytest.fixture
def icfg(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    repo = conf.conf_dir()
    (d / "base.yaml").write_text((repo / "base.yaml").read_text())
    (d / "test.yaml").write_text((repo / "test.yaml").read_text())
    (d / "sources.yaml").write_text(SOURCES)
    cfg = conf.load("test", [f"data_root={tmp_path}/data"], directory=d)
    landing = tmp_path / "data" / "landing"
    (landing / "pos").mkdir(parents=True)
    (landing / "events").mkdir(parents=True)
    (landing / "pos" / "pos_001.csv").write_text("receipt_id,card_no,amount_cents\nR1,C1,100\nR2,C2\nR3,C3,300\n")
    (landing / "events" / "ev_001.jsonl").write_text('{"event_id":"E1","member_id":"M1","event_ts":"t"}\n{bad\n')
    cfg.landing = landing
    return cfg


def _run(spark, cfg, run_id="r1", **kw):
    return {r.source: r for r in ing.ingest(spark, cfg, run_id=run_id, run_ts=RUN_TS, **kw)}


def _count(spark, cfg, table):
    return lake.read(spark, cfg, table).count()


def test_first_run_lands_every_row_with_metadata_and_logs_figures(spark, icfg):
    res = _run(spark, icfg)
    assert (res["pos"].status, res["pos"].files, res["pos"].rows, res["pos"].malformed_rows) == ("ingested", 1, 3, 1)
    assert (res["events"].rows, res["events"].malformed_rows) == (2, 1)
    pos = lake.read(spark, icfg, "bronze.pos")
    assert set(pos.columns) >= {"receipt_id", "_rescued_data", "_corrupt_record", "_source_file",
                                "_ingested_at", "_batch_id"}
    bad = pos.where(F.col("_corrupt_record").isNotNull()).collect()
    assert [r["_corrupt_record"] for r in bad] == ["R2,C2"]
    assert {r["_batch_id"] for r in pos.collect()} == {1}
    assert pos.first()["_source_file"].endswith("pos/pos_001.csv")
    logged = {r["source"]: r for r in lake.read(spark, icfg, "ops.ingestion_log").collect()}
    assert logged["pos"]["rows"] == 3 and logged["pos"]["malformed_rows"] == 1 and logged["pos"]["files"] == 1
    assert logged["events"]["status"] == "ingested"


def test_rerun_adds_nothing_and_new_file_is_picked_up(spark, icfg):
    _run(spark, icfg)
    version = lake.version(icfg, "bronze.pos")
    again = _run(spark, icfg, "r2")
    assert again["pos"].status == "no_new_files" and again["pos"].rows == 0
    assert lake.version(icfg, "bronze.pos") == version
    assert _count(spark, icfg, "bronze.pos") == 3
    (icfg.landing / "pos" / "pos_002.csv").write_text("receipt_id,card_no,amount_cents,store\nR4,C4,400,S9\n")
    third = _run(spark, icfg, "r3")
    assert (third["pos"].status, third["pos"].batch_id, third["pos"].rows, third["pos"].rescued_rows) == ("ingested", 2, 1, 1)
    r4 = lake.read(spark, icfg, "bronze.pos").where("receipt_id = 'R4'").first()
    assert r4["_rescued_data"] == '{"store":"S9"}' and r4["_batch_id"] == 2
    assert _count(spark, icfg, "bronze.pos") == 4
    log_rows = lake.read(spark, icfg, "ops.ingestion_log").where("source = 'pos'").collect()
    assert sorted(r["status"] for r in log_rows) == ["ingested", "ingested", "no_new_files"]


def test_crash_after_plan_before_write_ingests_the_planned_files(spark, icfg):
    source = next(s for s in load_sources(icfg) if s.name == "pos")
    files = [{"file_path": f.path, "file_size": f.size} for f in ing.fs.glob(spark, source.glob)]
    ing._record(spark, icfg, source, files, 1, ing.PLANNED, "crashed", RUN_TS)  # the crashed run got this far
    res = _run(spark, icfg, only=["pos"])
    assert res["pos"].status == "recovered" and res["pos"].rows == 3
    assert _count(spark, icfg, "bronze.pos") == 3
    assert _run(spark, icfg, "r2", only=["pos"])["pos"].status == "no_new_files"
    assert _count(spark, icfg, "bronze.pos") == 3


def test_crash_after_write_before_manifest_commit_adds_no_duplicates(spark, icfg):
    source = next(s for s in load_sources(icfg) if s.name == "pos")
    files = [{"file_path": f.path, "file_size": f.size} for f in ing.fs.glob(spark, source.glob)]
    ing._record(spark, icfg, source, files, 1, ing.PLANNED, "crashed", RUN_TS)
    ing._ingest_batch(spark, icfg, source, 1, [f["file_path"] for f in files], "crashed", RUN_TS)
    assert _count(spark, icfg, "bronze.pos") == 3  # data committed, manifest still says "planned"
    res = _run(spark, icfg, only=["pos"])
    assert res["pos"].status == "recovered" and res["pos"].rows == 0
    assert _count(spark, icfg, "bronze.pos") == 3
    states = lake.read(spark, icfg, "ops.ingested_files").groupBy("status").count().collect()
    assert {r["status"]: r["count"] for r in states} == {"planned": 1, "committed": 1}


def test_same_batch_appended_twice_is_skipped_by_the_lake(spark, icfg):
    source = next(s for s in load_sources(icfg) if s.name == "pos")
    paths = [f.path for f in ing.fs.glob(spark, source.glob)]
    first = ing._ingest_batch(spark, icfg, source, 1, paths, "a", RUN_TS)
    second = ing._ingest_batch(spark, icfg, source, 1, paths, "b", RUN_TS)
    assert first.rows == 3 and second.rows == 0 and "already committed" in second.message
    assert _count(spark, icfg, "bronze.pos") == 3


def test_source_without_files_still_gets_an_empty_table(spark, icfg):
    (icfg.landing / "events" / "ev_001.jsonl").unlink()
    res = _run(spark, icfg, only=["events"])
    assert res["events"].status == "no_new_files"
    df = lake.read(spark, icfg, "bronze.events")
    assert df.count() == 0 and "event_id" in df.columns and "_batch_id" in df.columns


def test_unknown_source_name_is_a_clear_error(spark, icfg):
    with pytest.raises(conf.ConfigError, match="unknown source.*nope"):
        _run(spark, icfg, only=["nope"])


# -- a declared source's landing folder must exist; an optional one is skipped --------------------
def test_missing_landing_folder_fails_that_source_naming_the_path(spark, icfg, caplog):
    import shutil

    shutil.rmtree(icfg.landing / "events")
    res = _run(spark, icfg)
    assert res["pos"].status == "ingested"                     # the other sources still run
    assert res["events"].status == "failed" and res["events"].rows == 0
    assert f"landing folder {icfg.landing / 'events'} of source 'events' does not exist" in res["events"].message
    assert "optional: true" in res["events"].message
    assert not lake.exists(icfg, "bronze.events")             # no empty table that looks like "no data yet"
    assert not any(r.exc_info for r in caplog.records)         # one line, no traceback
    logged = {r["source"]: r for r in lake.read(spark, icfg, "ops.ingestion_log").collect()}
    assert logged["events"]["status"] == "failed" and "does not exist" in logged["events"]["message"]


def test_optional_source_without_landing_folder_is_skipped(spark, icfg):
    import shutil

    shutil.rmtree(icfg.landing / "events")
    cfg = icfg.with_overrides(["sources.events.optional=true"])
    res = _run(spark, cfg)
    assert (res["events"].status, res["events"].rows) == ("skipped", 0)
    assert res["pos"].status == "ingested"
    assert lake.exists(cfg, "bronze.events") and _count(spark, cfg, "bronze.events") == 0


def test_landing_dir_is_the_literal_part_of_the_glob(icfg):
    by_name = {s.name: s for s in load_sources(icfg)}
    assert by_name["pos"].landing_dir == f"{icfg.landing}/pos"
    from loyalty.bronze.sources import Source
    assert Source("x", "bronze.x", "csv", "/l/x/2026-*/part[0-9].csv", ("a",)).landing_dir == "/l/x"
    assert Source("x", "bronze.x", "csv", "/l/x/one.csv", ("a",)).landing_dir == "/l/x"

"""Two runs of one job at the same time on one lake (a schedule that overlaps, a retry while the
first still runs), and a run killed half-way: with real processes. One run works, the other exits
EXIT_BUSY at once naming the holder; after one more plain run every table holds exactly the rows
of a single sequential run on the same files, and no landing file is left unaccounted for."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from pyspark.sql import functions as F

from jobs import build_silver, ingest_bronze
from loyalty import cli, conf, lake
from loyalty.bronze.sources import load_sources

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SILVER = ["stores", "products", "members", "member_links", "transactions", "transaction_lines",
          "partner_transactions", "points_ledger", "offers", "offer_events", "digital_events"]


def _args(root):
    return ["--env", "test", "--set", f"data_root={root}"]


@pytest.fixture(scope="module")
def landing(tiny_lake):
    """The landing files of the session's tiny lake (250 members x 40 days)."""
    cfg, _ = tiny_lake
    return cfg["data_root"]


@pytest.fixture(scope="module")
def sequential(tiny_lake):
    """The reference: the session's tiny lake, built from those files by one ingest_bronze and one
    build_silver run (later reruns in other tests add nothing)."""
    return tiny_lake[0]


def _start(job, root):
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": REPO}
    return subprocess.Popen([sys.executable, "-m", f"jobs.{job}", *_args(root)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _together(job, root):
    """Start two runs of ``job`` at once; (exit codes, outputs) in start order."""
    runs = [_start(job, root), _start(job, root)]
    outputs = [r.communicate(timeout=900)[0] for r in runs]
    return [r.returncode for r in runs], outputs


def _counts(spark, cfg, tables):
    return {t: (lake.read(spark, cfg, t).count() if lake.exists(cfg, t) else None) for t in tables}


def _bronze_tables(cfg):
    return [s.table for s in load_sources(cfg)]


def _unaccounted(spark, cfg):
    """Landing files with no committed manifest row, and files whose latest state is planned."""
    manifest = lake.read(spark, cfg, cfg["ingest.manifest_table"])
    committed = {r.file_path for r in manifest.where(F.col("status") == "committed").select("file_path").collect()}
    planned_only = {r.file_path for r in manifest.groupBy("file_path")
                    .agg(F.max(F.when(F.col("status") == "committed", 1).otherwise(0)).alias("c"))
                    .where("c = 0").collect()}
    landed = set()
    for source in load_sources(cfg):
        from loyalty import fs
        landed |= {f.path for f in fs.glob(spark, source.glob)}
    return sorted(landed - committed), sorted(planned_only)


def _rows_per_file(spark, cfg, table):
    landing = cfg["paths.landing"]
    rows = lake.read(spark, cfg, table).groupBy("_source_file").count().collect()
    return sorted((r["_source_file"].split(landing, 1)[-1], r["count"]) for r in rows)


def _copy_landing(landing, root):
    shutil.copytree(os.path.join(landing, "landing"), os.path.join(root, "landing"))
    return conf.load("test", [f"data_root={root}"])


def test_two_ingest_runs_at_once_then_a_plain_run_equal_one_run(spark, landing, sequential, tmp_path):
    cfg = _copy_landing(landing, tmp_path)
    codes, outputs = _together("ingest_bronze", tmp_path)
    assert sorted(codes) == [cli.EXIT_OK, cli.EXIT_BUSY], outputs
    busy = outputs[codes.index(cli.EXIT_BUSY)]
    assert "ingest_bronze is already running on this lake" in busy and "Traceback" not in busy
    assert ingest_bronze.main(_args(tmp_path)) == 0
    tables = _bronze_tables(cfg)
    assert _counts(spark, cfg, tables) == _counts(spark, sequential, tables)
    assert _unaccounted(spark, cfg) == ([], [])
    for table in tables:   # and file by file: each landing file's rows exactly once
        assert _rows_per_file(spark, cfg, table) == _rows_per_file(spark, sequential, table), table


def test_two_silver_runs_at_once_then_a_plain_run_equal_one_run(spark, landing, sequential, tmp_path):
    cfg = _copy_landing(landing, tmp_path)
    assert ingest_bronze.main(_args(tmp_path)) == 0
    codes, outputs = _together("build_silver", tmp_path)
    assert sorted(codes) == [cli.EXIT_OK, cli.EXIT_BUSY], outputs
    assert "Traceback" not in outputs[codes.index(cli.EXIT_BUSY)]
    assert build_silver.main(_args(tmp_path)) == 0
    tables = [f"silver.{t}" for t in SILVER] + [f"silver.{t}_quarantine" for t in SILVER]
    assert _counts(spark, cfg, tables) == _counts(spark, sequential, tables)


def test_an_ingest_run_killed_half_way_is_finished_by_the_next_run(spark, landing, sequential, tmp_path):
    cfg = _copy_landing(landing, tmp_path)
    run = _start("ingest_bronze", tmp_path)
    manifest = lake.table_path(cfg, cfg["ingest.manifest_table"])
    deadline = time.time() + 600
    while time.time() < deadline and run.poll() is None:   # kill it once it has planned some batch
        if os.path.isdir(os.path.join(manifest, "_delta_log")) and len(os.listdir(os.path.join(manifest, "_delta_log"))) >= 3:
            break
        time.sleep(0.2)
    assert run.poll() is None, "the run finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(60)
    assert os.path.exists(os.path.join(cfg["paths.lake"], "_leases", "ingest_bronze.lease"))   # left behind
    assert ingest_bronze.main(_args(tmp_path)) == 0      # takes over the dead run's lease, settles its batch
    tables = _bronze_tables(cfg)
    assert _counts(spark, cfg, tables) == _counts(spark, sequential, tables)
    assert _unaccounted(spark, cfg) == ([], [])

"""Shared fixtures: one local[2] SparkSession for the whole suite, a temporary data root
per test where isolation matters, and MLflow pointed at a temporary store."""

from __future__ import annotations

import os
import shutil

import pytest

from loyalty import conf
from loyalty.spark import build_session

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


@pytest.fixture(scope="session")
def session_root(tmp_path_factory):
    return tmp_path_factory.mktemp("loyalty")


@pytest.fixture(scope="session")
def spark(session_root):
    events = session_root / "spark-events"     # the event log, searched for key material (test_privacy)
    events.mkdir()
    # 4 GB driver heap: this one session lives through the whole suite; with Spark's 1 GB default it ran
    # out of heap (OutOfMemoryError in the event-log listener, SparkContext stopped) ~35 job tests in
    cfg = conf.load("test", [f"data_root={session_root}/spark"],
                    spark_conf=["spark.eventLog.enabled=true", f"spark.eventLog.dir={events.as_uri()}",
                                "spark.eventLog.compress=false", "spark.driver.memory=4g"])
    session = build_session("tests", cfg)
    yield session
    session.stop()
    shutil.rmtree(events, ignore_errors=True)  # a few hundred MB for the whole suite


@pytest.fixture
def cfg(tmp_path):
    """A test-env config whose data root is this test's own temporary directory."""
    return conf.load("test", [f"data_root={tmp_path}/data"])


@pytest.fixture(autouse=True)
def _mlflow_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")


@pytest.fixture(scope="session")
def tiny_lake(spark, tmp_path_factory):
    """generate_feeds -> ingest_bronze -> build_silver through the jobs' entrypoints, once per
    session on a temporary data root (250 members x 40 days): (cfg, job args)."""
    from jobs import build_silver, generate_feeds, ingest_bronze

    root = tmp_path_factory.mktemp("e2e")
    args = ["--env", "test", "--set", f"data_root={root}"]
    assert generate_feeds.main(args + ["--members", "250", "--days", "40"]) == 0
    assert ingest_bronze.main(args) == 0
    assert build_silver.main(args) == 0
    return conf.load("test", [f"data_root={root}"]), args


GOLD_AS_OF = ["2026-10-15", "2026-11-01"]


@pytest.fixture(scope="session")
def tiny_gold(tiny_lake):
    """build_gold on the tiny lake for two snapshots (features and KPI marts for both)."""
    from jobs import build_gold

    cfg, args = tiny_lake
    assert build_gold.main(args + ["--as-of", ",".join(GOLD_AS_OF)]) == 0
    return cfg, args

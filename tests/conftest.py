"""Shared fixtures: one local[2] SparkSession for the whole suite, a temporary data root
per test where isolation matters, and MLflow pointed at a temporary store."""

from __future__ import annotations

import os

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
    cfg = conf.load("test", [f"data_root={session_root}/spark"])
    session = build_session("tests", cfg)
    yield session
    session.stop()


@pytest.fixture
def cfg(tmp_path):
    """A test-env config whose data root is this test's own temporary directory."""
    return conf.load("test", [f"data_root={tmp_path}/data"])


@pytest.fixture(autouse=True)
def _mlflow_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")

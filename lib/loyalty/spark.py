"""The one place a SparkSession is built (jobs' main and tests/conftest.py call this)."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

from pyspark import SparkConf
from pyspark.sql import SparkSession

from loyalty.conf import Config

log = logging.getLogger(__name__)


def build_session(app: str, cfg: Config) -> SparkSession:
    """Get or create a session. spark-submit's --master wins over conf's spark.master."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this interpreter's packages
    builder = SparkSession.builder.appName(f"loyalty-{app}")
    submitted = SparkConf()
    if not submitted.contains("spark.master"):
        builder = builder.master(os.environ.get("SPARK_MASTER") or cfg.typed("spark.master", str))
        memory = cfg.get("spark.driver_memory", None)
        if memory and not submitted.contains("spark.driver.memory"):
            builder = builder.config("spark.driver.memory", str(memory))
    for key, value in cfg.get("spark.conf", {}).items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(cfg.get("spark.log_level", "WARN")))
    log.info("spark %s master=%s app=%s", spark.version, spark.sparkContext.master, app)
    return spark


@contextmanager
def spark_session(app: str, cfg: Config) -> Iterator[SparkSession]:
    """A session for one job; stopped at the end unless it was already running (a test suite's or
    a notebook's session is reused, not stopped)."""
    existing = SparkSession.getActiveSession()
    spark = build_session(app, cfg)
    try:
        yield spark
    finally:
        if existing is None:
            spark.stop()

"""The one place a SparkSession is built (jobs' main and tests/conftest.py call this)."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Iterator

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from loyalty.conf import Config, ConfigError, spark_settings

log = logging.getLogger(__name__)


_LIST_SETTINGS = ("spark.jars.packages", "spark.sql.extensions", "spark.jars.excludes")
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def delta_package(cfg: Config) -> str:
    """Maven coordinate of the Delta Lake jars matching the installed delta-spark wheel (the two
    must agree; setup.py pins the wheel)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        wheel = version("delta-spark")
    except PackageNotFoundError:
        raise ConfigError("lake.backend is delta-spark but the delta-spark package is not installed "
                          "(pip install -e . installs it), or set lake.backend=delta-rs") from None
    return f"{cfg.typed('lake.delta_spark.package', str)}:{wheel}"


def launcher_conf(cfg: Config) -> dict[str, str]:
    """Settings the JVM needs at launch for the chosen lake backend: for delta-spark, Delta's Maven
    package (downloaded by Spark's resolver on first use into its Ivy cache), the libraries Spark
    already ships excluded from it. Empty for delta-rs / auto."""
    if cfg.get("lake.backend", "delta-spark") != "delta-spark":
        return {}
    out = {"spark.jars.packages": delta_package(cfg)}
    excludes = cfg.get("lake.delta_spark.exclude", []) or []
    if excludes:
        out["spark.jars.excludes"] = ",".join(str(e) for e in excludes)
    ivy = cfg.get("lake.delta_spark.ivy_cache", None)
    if ivy:
        out["spark.jars.ivy"] = str(ivy)
    return out


def session_conf(cfg: Config) -> dict[str, str]:
    """SQL settings for the chosen lake backend (the Delta extension and catalog for delta-spark)."""
    if cfg.get("lake.backend", "delta-spark") != "delta-spark":
        return {}
    return {"spark.sql.extensions": DELTA_EXTENSION, "spark.sql.catalog.spark_catalog": DELTA_CATALOG}


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
    settings = spark_settings(cfg)
    lake_settings = dict(session_conf(cfg))
    if SparkContext._active_spark_context is None:   # packages only count before the JVM starts
        lake_settings.update(launcher_conf(cfg))
    for key, value in lake_settings.items():          # the lake backend's, merged with the user's lists
        if key in _LIST_SETTINGS:
            given = [settings.get(key, ""), submitted.get(key, "") if submitted.contains(key) else ""]
            value = ",".join(dict.fromkeys(v for part in given + [value] for v in part.split(",") if v))
        settings[key] = value
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(str(cfg.get("spark.log_level", "WARN")))
    log.info("spark %s master=%s app=%s lake=%s", spark.version, spark.sparkContext.master, app,
             cfg.get("lake.backend", "delta-spark"))
    return spark


@contextmanager
def spark_session(app: str, cfg: Config) -> Iterator[SparkSession]:
    """A session for one job; stopped at the end unless a SparkContext was already running in this
    process (a test suite's or a notebook's session is reused, not stopped). The check is on the
    Python-side context, not SparkSession.getActiveSession(): the JVM keeps the active session per
    thread, so from another thread (or after Py4J recycles a connection) it reports none and the
    shared session would be stopped under its owner."""
    existing = SparkContext._active_spark_context
    spark = build_session(app, cfg)
    try:
        yield spark
    finally:
        if existing is None:
            spark.stop()

"""Finding key material in text Spark and the jobs leave behind (plans, event logs, log lines).

Key material: the key and, for HMAC, the key block XOR 0x36 and XOR 0x5c (the inner and outer
pads; XOR gives the key back), each as raw text, hex (either case) and base64. A leak is any
16 characters of one of those. The pads' zero-padding part (0x36.../0x5c... beyond a short key)
is the same for every key and is not counted; with a 64-byte key the pads are all key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path
from urllib.parse import urlparse

WINDOW = 16
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{16,}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}")


def key_material(key: bytes) -> dict[str, bytes]:
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    out = {"key": key, "inner pad": bytes(b ^ 0x36 for b in block), "outer pad": bytes(b ^ 0x5C for b in block)}
    if block is not key:
        out["hashed key"] = block
    return out


def _windows(text: str) -> set[str]:
    return {text[i:i + WINDOW] for i in range(len(text) - WINDOW + 1)}


class LeakFinder:
    """``find(text)`` -> the names of the key material found in ``text`` (empty: nothing)."""

    def __init__(self, key: bytes):
        self.raw: dict[str, set[str]] = {}
        self.hex: dict[str, set[str]] = {}
        self.b64: dict[str, set[str]] = {}
        for name, value in key_material(key).items():
            self.raw[name] = _windows(value.decode("latin-1"))
            self.hex[name] = _windows(value.hex())
            self.b64[name] = _windows(base64.b64encode(value).decode("ascii").rstrip("="))

    def find(self, text: str) -> list[str]:
        found = set()
        for name, windows in self.raw.items():
            if any(w in text for w in windows):
                found.add(f"{name} (raw)")
        for run in _HEX_RUN.findall(text):
            run = run.lower()
            grams = _windows(run)
            found.update(f"{name} (hex)" for name, windows in self.hex.items() if grams & windows)
        for run in _B64_RUN.findall(text):
            grams = _windows(run)
            found.update(f"{name} (base64)" for name, windows in self.b64.items() if grams & windows)
        return sorted(found)


class JvmLog:
    """Collects the JVM's log lines (driver and local executors) at INFO while open, without
    printing them: a log4j2 appender on the root logger; the console keeps its WARN threshold."""

    def __init__(self, spark):
        self.spark = spark

    def __enter__(self):
        jvm = self.spark.sparkContext._jvm
        log4j = jvm.org.apache.logging.log4j
        self.ctx = log4j.LogManager.getContext(False)
        config = self.ctx.getConfiguration()
        self.writer = jvm.java.io.StringWriter()
        layout = log4j.core.layout.PatternLayout.createDefaultLayout()
        self.appender = log4j.core.appender.WriterAppender.createAppender(layout, None, self.writer,
                                                                          "leak-probe", False, True)
        self.appender.start()
        config.addAppender(self.appender)
        root = config.getRootLogger()
        self.level = root.getLevel()
        Result = log4j.core.Filter.Result
        self.quiet = log4j.core.filter.ThresholdFilter.createFilter(self.level, Result.NEUTRAL, Result.DENY)
        self.muted = [a for a in root.getAppenders().values()]
        for appender in self.muted:
            appender.addFilter(self.quiet)
        root.addAppender(self.appender, log4j.Level.ALL, None)
        root.setLevel(log4j.Level.INFO)
        self.ctx.updateLoggers()
        return self

    def __exit__(self, *exc):
        config = self.ctx.getConfiguration()
        root = config.getRootLogger()
        root.setLevel(self.level)
        root.removeAppender("leak-probe")
        for appender in self.muted:
            appender.removeFilter(self.quiet)
        self.ctx.updateLoggers()
        self.appender.stop()
        self.text = str(self.writer.toString())
        return False


def event_log_text(spark, sentinel: str, timeout: float = 60.0) -> str:
    """This application's event log once the job described ``sentinel`` is in it (the listener
    bus writes in order, so everything before it is there too)."""
    directory = Path(urlparse(spark.conf.get("spark.eventLog.dir")).path)
    app = spark.sparkContext.applicationId
    deadline = time.time() + timeout
    while True:
        text = "".join(p.read_text(errors="replace") for p in sorted(directory.rglob(f"*{app}*")) if p.is_file())
        if sentinel in text or time.time() > deadline:
            assert sentinel in text, f"event log of {app} in {directory} never showed {sentinel}"
            return text
        time.sleep(0.5)


def sentinel_job(spark, name: str) -> None:
    spark.sparkContext.setJobDescription(name)
    try:
        spark.range(1).count()
    finally:
        spark.sparkContext.setJobDescription(None)

"""PII tokenization: direct identifiers become keyed tokens (HMAC-SHA256).

The key never becomes part of a query. Spark writes plans everywhere (explain, the SQL UI, the
event log, INFO logs, py4j debug logs), so a key written into a Column, or anything derived from
it (the HMAC pads, which XOR back to the key; a hash midstate, which forges tokens), would be
readable there. The HMAC therefore runs in a pandas UDF whose only handle on the key is a Spark
broadcast variable: a plan shows ``hmac_sha256_hex(email)``, the key bytes travel as a broadcast
block (executor memory and Spark's local dirs, like the PII itself; ``spark.io.encryption.enabled``
encrypts those on a cluster) and are read by the Python workers. Tokens are standard
HMAC-SHA256, identical to ``python_token`` and to the tokens of earlier runs (computed in the
JVM from literal pads until 2026-12). Cost: benchmarks/tokenization.py, README "Privacy".

Values are normalized first (trimmed, lower-cased; phone and card numbers reduced to digits) so
the same person gets the same token in every feed and every run. The key comes from an
environment variable only; the local demo env may use a fixed demo key, and says so. Never log,
print, raise or put into a DataFrame, conf or MLflow param anything derived from the key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from typing import Iterator

import pandas as pd
from pyspark import SparkContext
from pyspark.sql import Column
from pyspark.sql import functions as F

from loyalty.conf import Config, ConfigError

log = logging.getLogger(__name__)

DEMO_KEY = "loyalty-lakehouse-demo-key-not-secret"


class PrivacyKeyError(ConfigError):
    """No tokenization key available."""


def tokenization_key(cfg: Config) -> bytes:
    var = cfg.get("privacy.key_env", "LOYALTY_PII_KEY")
    value = os.environ.get(var)
    if value:
        if len(value) < 16:
            raise PrivacyKeyError(f"${var} is too short for a tokenization key (need at least 16 characters)")
        return value.encode("utf-8")
    if cfg.get("privacy.allow_demo_key", False):
        log.warning("no $%s set: using the built-in DEMO tokenization key (allowed by privacy.allow_demo_key "
                    "in %s). Tokens are NOT secret; set $%s outside the demo.", var,
                    cfg.where("privacy.allow_demo_key"), var)
        return DEMO_KEY.encode("utf-8")
    raise PrivacyKeyError(f"set the PII tokenization key in ${var} (environment only, never in conf); "
                          f"the {cfg.env} environment does not allow the demo key")


class _KeyedUdf:
    """The HMAC UDF of one key on one SparkContext (the key broadcast once, not once per column)."""

    def __init__(self, sc: SparkContext, key: bytes):
        self.sc, self.key = sc, key
        self.udf = _hmac_udf(sc.broadcast(key))

    def serves(self, sc: SparkContext, key: bytes) -> bool:
        return self.sc is sc and hmac.compare_digest(self.key, key)


_current: _KeyedUdf | None = None


def _hmac_udf(key_broadcast):
    """A pandas UDF that closes over the broadcast handle only: its pickled command holds the
    broadcast's id, never the key."""

    @F.pandas_udf("string")
    def hmac_sha256_hex(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        base = hmac.new(key_broadcast.value, digestmod=hashlib.sha256)
        for values in batches:
            yield pd.Series([_hex(base, v) for v in values], dtype=object)

    return hmac_sha256_hex


def _hex(base: "hmac.HMAC", value) -> str | None:
    if not isinstance(value, str):
        return None
    h = base.copy()
    h.update(value.encode("utf-8"))
    return h.hexdigest()


def hmac_sha256_hex(col: Column, key: bytes) -> Column:
    """HMAC-SHA256 of a string column (UTF-8) as 64 hex chars; null stays null. Needs an active
    SparkSession (the key is broadcast to its executors)."""
    global _current
    sc = SparkContext._active_spark_context
    if sc is None:
        raise RuntimeError("tokenize needs an active SparkSession (the key is broadcast to its executors)")
    if _current is None or not _current.serves(sc, key):
        _current = _KeyedUdf(sc, key)
    return _current.udf(col)


def normalize(col: Column, kind: str = "text") -> Column:
    """Canonical form before tokenizing: 'digits' keeps digits only; 'text' trims and lower-cases."""
    if kind == "digits":
        out = F.regexp_replace(col, r"[^0-9]", "")
    else:
        out = F.lower(F.trim(F.regexp_replace(col, r"\s+", " ")))
    return F.when(out != "", out)


def tokenize(col: Column, key: bytes, kind: str = "text", domain: str = "") -> Column:
    """Token of a normalized value. ``domain`` separates identifier kinds (an email and a name that
    happen to be equal get different tokens)."""
    value = normalize(col, kind)
    return hmac_sha256_hex(F.concat(F.lit(f"{domain}|"), value) if domain else value, key)


def python_token(value: str, key: bytes, domain: str = "") -> str:
    """Reference implementation (tests, ad-hoc lookups of one known value)."""
    message = f"{domain}|{value}" if domain else value
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()

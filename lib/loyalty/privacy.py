"""PII tokenization: direct identifiers become keyed tokens (HMAC-SHA256), computed in the JVM.

HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)); the two padded keys are constants built once
on the driver from the secret, so each token is two ``sha2`` calls per row and no Python UDF.
Values are normalized first (trimmed, lower-cased; phone and card numbers reduced to digits) so
the same person gets the same token in every feed and every run. The key comes from an
environment variable only; the local demo env may use a fixed demo key, and says so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from pyspark.sql import Column
from pyspark.sql import functions as F

from loyalty.conf import Config, ConfigError

log = logging.getLogger(__name__)

DEMO_KEY = "loyalty-lakehouse-demo-key-not-secret"
_BLOCK = 64  # SHA-256 block size


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


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_sha256_hex(col: Column, key: bytes) -> Column:
    """HMAC-SHA256 of a string column (UTF-8) as 64 hex chars; null stays null."""
    inner_pad, outer_pad = _pads(key)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), F.encode(col, "UTF-8")), 256))
    return F.when(col.isNotNull(), F.sha2(F.concat(F.lit(outer_pad), inner), 256))


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

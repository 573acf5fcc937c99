"""Tokenization rows/s: privacy.tokenize (HMAC in a pandas UDF, the key in a broadcast variable)
beside the literal-pad method it replaced, in one run on the same input.

    .venv/bin/python benchmarks/tokenization.py [--env local] [--rows 1000000] [--repeat 3]

The literal-pad method (two ``sha2`` calls per row over ``lit(key ^ ipad)`` / ``lit(key ^ opad)``,
all in the JVM) is kept here only, for comparison: it puts the pads into every plan, and a pad
XOR 0x36 is the key. The benchmark uses a random throwaway key, never $LOYALTY_PII_KEY. Both
methods normalize the same values first; the tokens are compared row by row (they must be
identical: standard HMAC-SHA256). Cases: one tokenized column, six per row as silver.members
has (card, first/last name, email, phone, address), and the HMAC alone on one column (no
normalization: the bare cost of the UDF against two JVM sha2 calls). Prints rows/s of each and
the ratio, best of --repeat runs (absolute times move 2x on shared machines; the ratio holds).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf  # noqa: E402
from loyalty.privacy import hmac_sha256_hex, normalize, python_token, tokenize  # noqa: E402
from loyalty.spark import build_session  # noqa: E402

FIELDS = ["card", "first_name", "last_name", "email", "phone", "address"]


def literal_pad_hmac(col, key: bytes):
    """The replaced implementation (privacy.hmac_sha256_hex before 2026-12). Leaks the key."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner_pad, outer_pad = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), F.encode(col, "UTF-8")), 256))
    return F.when(col.isNotNull(), F.sha2(F.concat(F.lit(outer_pad), inner), 256))


def literal_pad_token(col, key: bytes, domain: str):
    """privacy.tokenize as it was: the same normalization, then the literal-pad HMAC."""
    return literal_pad_hmac(F.concat(F.lit(f"{domain}|"), normalize(col)), key)


def timed(df) -> float:
    started = time.perf_counter()
    df.agg(*[F.max(c) for c in df.columns]).collect()     # every token computed, one row back
    return time.perf_counter() - started


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="local")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    spark = build_session("benchmark_tokenize", cfg)
    key = secrets.token_hex(24).encode()                     # throwaway: the old method leaks it
    try:
        src = (spark.range(args.rows)
               .select("id", *[F.concat(F.lit(f" {f.title()}."), F.col("id").cast("string"), F.lit("@Example.com "))
                               .alias(f) for f in FIELDS])
               .cache())
        src.count()
        cases = {
            "1 column": (lambda f: literal_pad_token(F.col(f), key, f), lambda f: tokenize(F.col(f), key, domain=f),
                         FIELDS[3:4]),
            "6 columns": (lambda f: literal_pad_token(F.col(f), key, f), lambda f: tokenize(F.col(f), key, domain=f),
                          FIELDS),
            "HMAC only": (lambda f: literal_pad_hmac(F.col(f), key), lambda f: hmac_sha256_hex(F.col(f), key),
                          FIELDS[3:4]),
        }
        print(f"tokenize {args.rows:,} rows, master {spark.sparkContext.master}, best of {args.repeat}")
        print(f"{'case':10s} {'literal pads (old) rows/s':>26s} {'broadcast UDF (new) rows/s':>27s} {'new/old':>8s}")
        for case, (old_token, new_token, fields) in cases.items():
            old = src.select(*[old_token(f).alias(f) for f in fields])
            new = src.select(*[new_token(f).alias(f) for f in fields])
            best = {"old": float("inf"), "new": float("inf")}
            for _ in range(args.repeat):
                best["old"] = min(best["old"], timed(old))
                best["new"] = min(best["new"], timed(new))
            rate = {k: args.rows / v for k, v in best.items()}
            print(f"{case:10s} {rate['old']:>26,.0f} {rate['new']:>27,.0f} {rate['new'] / rate['old']:>7.2f}x")
        f = FIELDS[3]
        pair = src.select("id", literal_pad_token(F.col(f), key, f).alias("old"), tokenize(F.col(f), key, domain=f).alias("new"))
        differ = pair.where(~F.col("old").eqNullSafe(F.col("new"))).count()
        first = pair.where("id = 0").first()
        assert first["new"] == python_token(" Email.0@Example.com ".strip().lower(), key, f), "not HMAC-SHA256"
        print(f"tokens identical to the old method: {'yes' if differ == 0 else f'NO ({differ:,} differ)'}")
        return 0 if differ == 0 else 1
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())

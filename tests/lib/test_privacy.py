import base64
import logging

import pytest
from pyspark.sql import functions as F

from loyalty import conf
from loyalty.privacy import PrivacyKeyError, python_token, tokenization_key, tokenize
from tests.leaks import JvmLog, LeakFinder, event_log_text, sentinel_job

KEY = b"unit-test-key-0123456789"


def test_spark_hmac_matches_python_hmac_and_normalizes(spark):
    df = spark.createDataFrame([(" Ana.Silva@Example.com ",), ("ana.silva@example.com",), (None,), ("",)], "email string")
    out = [r["t"] for r in df.select(tokenize(F.col("email"), KEY, domain="email").alias("t")).collect()]
    expected = python_token("ana.silva@example.com", KEY, domain="email")
    assert out[0] == out[1] == expected
    assert out[2] is None and out[3] is None


def test_digits_normalization_and_domains_differ(spark):
    df = spark.createDataFrame([("(416) 555-0101",), ("416.555.0101",)], "phone string")
    phone = [r["t"] for r in df.select(tokenize(F.col("phone"), KEY, "digits", "phone").alias("t")).collect()]
    assert phone[0] == phone[1] == python_token("4165550101", KEY, "phone")
    assert python_token("x", KEY, "email") != python_token("x", KEY, "name")
    long_key = b"k" * 100  # keys longer than a block are hashed first, as HMAC requires
    got = spark.range(1).select(tokenize(F.lit("abc"), long_key).alias("t")).first()["t"]
    assert got == python_token("abc", long_key)


def test_key_comes_from_env_and_is_required_outside_demo(monkeypatch):
    monkeypatch.delenv("LOYALTY_PII_KEY", raising=False)
    with pytest.raises(PrivacyKeyError, match="LOYALTY_PII_KEY"):
        tokenization_key(conf.load("cluster"))
    assert tokenization_key(conf.load("local"))  # demo key, with a warning
    monkeypatch.setenv("LOYALTY_PII_KEY", "short")
    with pytest.raises(PrivacyKeyError, match="too short"):
        tokenization_key(conf.load("cluster"))
    monkeypatch.setenv("LOYALTY_PII_KEY", "a-real-secret-of-enough-length")
    assert tokenization_key(conf.load("cluster")) == b"a-real-secret-of-enough-length"


# -- the key never reaches a plan, the event log or a log line ----------------------------------------
# 64 bytes: the HMAC pads are then key XOR 0x36 / 0x5c over their whole length
LEAK_KEY = b"leak-probe-key:" + b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
assert len(LEAK_KEY) == 64


def test_leak_finder_sees_every_form_of_the_key_material():
    finder = LeakFinder(LEAK_KEY)
    inner = bytes(b ^ 0x36 for b in LEAK_KEY)
    assert finder.find(f"concat(0x{inner.hex().upper()}, encode(email#1, UTF-8))") == ["inner pad (hex)"]
    assert finder.find("x" + bytes(b ^ 0x5C for b in LEAK_KEY)[10:30].hex() + "y") == ["outer pad (hex)"]
    assert finder.find(f"key={LEAK_KEY.decode()[20:40]}") == ["key (raw)"]
    assert finder.find(base64.b64encode(inner).decode()) == ["inner pad (base64)"]
    assert finder.find(python_token("x", LEAK_KEY) + " " + "fedcba9876543210" * 8) == []


def test_key_never_reaches_plans_event_log_or_logs(spark, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    finder = LeakFinder(LEAK_KEY)
    people = spark.createDataFrame([("Ana.Silva@Example.com", "(416) 555-0101"), ("bob@example.com", None)],
                                   "email string, phone string")
    with JvmLog(spark) as jvm:
        spark.sparkContext.setJobDescription("privacy-leak-probe")
        tokens = people.select(tokenize(F.col("email"), LEAK_KEY, domain="email").alias("email_token"),
                               tokenize(F.col("phone"), LEAK_KEY, "digits", "phone").alias("phone_token"))
        bob = python_token("bob@example.com", LEAK_KEY, "email")
        matched = tokens.join(spark.createDataFrame([(bob,)], "email_token string"), "email_token")
        tokens.explain("extended")
        matched.explain("extended")
        plans = "\n".join(df._jdf.queryExecution().toString() for df in (tokens, matched))
        rows = {r["email_token"]: r["phone_token"] for r in tokens.collect()}
        assert matched.count() == 1
        tokens.write.mode("overwrite").parquet(str(tmp_path / "tokens"))
        sentinel_job(spark, "privacy-leak-sentinel")
    assert rows == {python_token("ana.silva@example.com", LEAK_KEY, "email"): python_token("4165550101", LEAK_KEY, "phone"),
                    bob: None}                     # still standard HMAC-SHA256
    captured = capfd.readouterr()
    sinks = {"explain/stdout/stderr": captured.out + captured.err, "plans": plans, "python logs": caplog.text,
             "jvm logs": jvm.text, "event log": event_log_text(spark, "privacy-leak-sentinel")}
    assert "privacy-leak-probe" in sinks["event log"] and "email_token" in sinks["plans"]
    leaks = {sink: found for sink, text in sinks.items() if (found := finder.find(text))}
    assert not leaks, f"key material found: {leaks}"


def test_silver_context_does_not_show_the_key(spark, cfg):
    from datetime import date

    from loyalty.silver.spec import Ctx

    shown = repr(Ctx(spark, cfg, LEAK_KEY, date(2026, 10, 31)))
    assert "2026, 10, 31" in shown and LeakFinder(LEAK_KEY).find(shown) == []

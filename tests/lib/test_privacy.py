import pytest
from pyspark.sql import functions as F

from loyalty import conf
from loyalty.privacy import PrivacyKeyError, python_token, tokenization_key, tokenize

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

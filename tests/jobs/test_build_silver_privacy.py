"""build_silver through its entrypoint leaves no key material in the Spark event log of its run
(the tiny lake is built in the test session, whose event log is on: tests/conftest.py)."""

from loyalty.privacy import tokenization_key
from tests.leaks import LeakFinder, event_log_text, sentinel_job


def test_build_silver_event_log_holds_no_key_material(spark, tiny_lake):
    cfg, _ = tiny_lake
    sentinel_job(spark, "build-silver-privacy-sentinel")
    events = event_log_text(spark, "build-silver-privacy-sentinel")
    assert "loyalty-tests" in events and "email_token" in events      # build_silver's plans are in it
    assert LeakFinder(tokenization_key(cfg)).find(events) == []
    assert "hmac_sha256_hex(" in events                                # the tokens came from the UDF

"""run.fit_at / run.build on a small temporary lake: consent at as_of end to end, no leakage from
after as_of, a re-run replaces only its as_of, the MLflow run (lib/loyalty/timing/run.py)."""

from datetime import date, datetime, timedelta

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from loyalty import cli, lake
from loyalty.timing import run
from loyalty.timing.settings import TIMING_COLUMNS, TimingError

HIGH = datetime(9999, 12, 31)
AS_OF = date(2026, 11, 1)
MEMBERS = ("member_id string, province string, status string, enrollment_date date, consent_email boolean, "
           "consent_sms boolean, consent_push boolean, consent_mail boolean, valid_from timestamp, valid_to timestamp")
EVENTS = "member_id string, channel string, event_type string, event_ts timestamp"


def at(day: date, hour_utc: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour_utc)


def write_lake(spark, cfg):
    old = datetime(2025, 1, 1)
    members = [
        ("M1", "ON", "ACTIVE", date(2025, 1, 1), True, True, False, False, old, datetime(2026, 10, 20, 9)),
        ("M1", "ON", "ACTIVE", date(2025, 1, 1), True, False, False, False, datetime(2026, 10, 20, 9), HIGH),
        ("M2", "BC", "ACTIVE", date(2025, 1, 1), True, False, False, False, old, datetime(2026, 11, 5)),
        ("M2", "BC", "ACTIVE", date(2025, 1, 1), True, True, False, False, datetime(2026, 11, 5), HIGH),
        ("M3", "ON", "ACTIVE", date(2025, 1, 1), True, True, False, False, old, HIGH),
        ("M4", "ON", "ACTIVE", date(2025, 1, 1), False, False, False, False, old, HIGH),   # APP only
    ]
    offer, digital = [], []
    for i in range(30):
        day = date(2026, 10, 1) + timedelta(days=i)
        # M3 reads every SMS offer, M1 until it revoked SMS consent on 10-20; M2 gets none
        offer += [(m, "SMS", "VIEWED", at(day, 15)) for m in ("M1", "M3") if m == "M3" or day < date(2026, 10, 20)]
        # every other day, emails opened at 18:00 Toronto (22:00 UTC, EDT) by M1 and M3, at 07:00 Vancouver by M2
        if i % 2 == 0:
            digital += [("M1", "EMAIL", "OPEN", at(day, 22)), ("M3", "EMAIL", "OPEN", at(day, 22)),
                        ("M2", "EMAIL", "OPEN", at(day, 14))]
    # after as_of M1 would open PUSH at 03:00 UTC all day long: never seen by the snapshot
    digital += [("M1", "PUSH", "OPEN", at(date(2026, 11, 1) + timedelta(days=i % 3), 3)) for i in range(100)]
    lake.overwrite(spark.createDataFrame(members, MEMBERS), cfg, "silver.members")
    lake.overwrite(spark.createDataFrame(offer, EVENTS), cfg, "silver.offer_events")
    lake.overwrite(spark.createDataFrame(digital, EVENTS), cfg, "silver.digital_events")
    lake.overwrite(spark.createDataFrame([("M1", at(date(2026, 10, 7), 16))], "member_id string, txn_ts timestamp"),
                   cfg, "silver.transactions")


def test_fit_at_honours_consent_at_as_of_and_ignores_later_events(spark, cfg):
    write_lake(spark, cfg)
    fitted = run.fit_at(spark, cfg, AS_OF)
    rows = {(r["member_id"], r["channel"]): r for r in fitted.timing.collect()}
    fitted.unpersist()
    # M1 revoked SMS on 2026-10-20, M2 consents only from 2026-11-05: neither has an SMS row; M3 has SMS first
    assert set(rows) == {("M1", "EMAIL"), ("M1", "APP"), ("M2", "EMAIL"), ("M2", "APP"), ("M3", "SMS"),
                         ("M3", "EMAIL"), ("M3", "APP"), ("M4", "APP")}
    assert rows[("M3", "SMS")]["channel_rank"] == 1 and rows[("M1", "EMAIL")]["channel_rank"] == 1
    # hours in local time: 18:00 in Toronto, 07:00 in Vancouver; the PUSH opens at 03:00 UTC after as_of leak nothing
    assert rows[("M1", "EMAIL")]["best_hour"] == 18 and rows[("M2", "EMAIL")]["best_hour"] == 7
    assert rows[("M1", "EMAIL")]["source"] == "member" and rows[("M4", "APP")]["source"] == "population"
    assert rows[("M4", "APP")]["confidence"] == 0.0 and rows[("M4", "APP")]["channel_score"] == 1.0
    # M4, who never engaged, gets the population's: hours 2 x 15 opens at 18:00, 15 at 07:00; SMS 19 + 30
    # views against 45 email opens
    assert rows[("M4", "APP")]["best_hour"] == 18
    assert fitted.population["channel"]["SMS"] == pytest.approx(49 / 94)
    assert fitted.population["hour"]["18"] == pytest.approx(2 / 3)


def test_build_writes_one_partition_per_as_of_and_logs_the_run(spark, cfg):
    write_lake(spark, cfg)
    cfg = cfg.with_overrides(["timing.eval_days=10", "timing.eval_min_events=3"])
    first = run.build(spark, cfg, AS_OF)
    assert first.rows == 8 and first.members == 4 and first.without_channel == 0
    run.build(spark, cfg, date(2026, 10, 15))
    again = run.build(spark, cfg, AS_OF)
    table = lake.read(spark, cfg, run.TIMING_TABLE)
    assert table.columns == TIMING_COLUMNS
    by_as_of = {r[0]: r[1] for r in table.groupBy("as_of").count().collect()}
    # on 2026-10-15 M1 still consents to SMS: one row more; the re-run of 11-01 replaced its 8 rows
    assert by_as_of == {AS_OF: 8, date(2026, 10, 15): 9}
    assert table.where(F.col("channel").isNull()).count() == 0
    # held-out check: fitted before 10-22, scored on 10-22..10-31 (5 email opens each; M3 10 SMS views): targets
    # M1 EMAIL/18, M2 EMAIL/7, M3 SMS/18. The population (SMS 40 > EMAIL 33, hour 18) gets every channel right
    # (its best among each member's channels) but M2's hour
    m = again.metrics
    assert m["channel_members"] == 3 and m["hour_members"] == 3
    assert m["channel_hit"] == 1.0 and m["channel_hit_baseline"] == 1.0
    assert m["hour_hit"] == 1.0 and m["hour_hit_baseline"] == pytest.approx(2 / 3)
    assert m["hour_hit_lift"] == pytest.approx(1 / 3)
    run_ = MlflowClient().get_run(again.run_id)
    assert run_.info.run_name == f"build_timing-{AS_OF}"
    assert run_.data.params["data.silver.members.version"] == str(lake.version(cfg, "silver.members"))
    assert run_.data.params["data.gold.member_segments.version"] == "none"
    assert run_.data.metrics["eval_hour_hit"] == 1.0 and run_.data.metrics["members"] == 4.0


def test_as_of_resolution(spark, cfg):
    with pytest.raises(TimingError, match="gold.member_features does not exist"):
        run.resolve_as_of(spark, cfg, None)
    with pytest.raises(cli.UsageError, match="YYYY-MM-DD"):
        run.resolve_as_of(spark, cfg, "2026-13-01")
    assert run.resolve_as_of(spark, cfg, "2026-10-15") == date(2026, 10, 15)
    lake.overwrite(spark.createDataFrame([("M1", date(2026, 10, 1)), ("M1", date(2026, 10, 15))],
                                         "member_id string, as_of date"), cfg, run.FEATURES_TABLE)
    assert run.resolve_as_of(spark, cfg, None) == date(2026, 10, 15)

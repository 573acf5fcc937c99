"""Member-local time, the event window and consent at as_of (lib/loyalty/timing/engagement.py)."""

from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from loyalty.timing import engagement
from loyalty.timing.settings import Params

TZ = {"ON": "America/Toronto", "BC": "America/Vancouver", "NL": "America/St_Johns", "NS": "America/Halifax"}
MEMBER_SCHEMA = ("member_id string, province string, status string, enrollment_date date, consent_email boolean, "
                 "consent_sms boolean, consent_push boolean, consent_mail boolean, valid_from timestamp, "
                 "valid_to timestamp")
HIGH = datetime(9999, 12, 31)


def ts(text):
    return datetime.fromisoformat(text)


def test_local_day_and_hour_across_time_zones(spark):
    # 2026-11-02 03:30 UTC is Sunday evening in Toronto (EST, -5) and Vancouver (PST, -8), already Monday
    # midnight in St. John's (-3:30); 2026-10-31 03:30 UTC is Friday 23:30 in Toronto (EDT, -4: before DST ends)
    df = spark.createDataFrame([(1, ts("2026-11-02 03:30:00"), "America/Toronto"),
                                (2, ts("2026-11-02 03:30:00"), "America/Vancouver"),
                                (3, ts("2026-11-02 03:30:00"), "America/St_Johns"),
                                (4, ts("2026-10-31 03:30:00"), "America/Toronto"),
                                (5, ts("2026-11-02 03:30:00"), "America/Halifax")],
                               "id int, t timestamp, zone string")
    got = {r["id"]: (r["local_dow"], r["local_hour"]) for r in engagement.with_local_time(df, "t", "zone").collect()}
    assert got == {1: (7, 22), 2: (7, 19), 3: (1, 0), 4: (5, 23), 5: (7, 23)}


def members_rows():
    return [
        # M1 consented to SMS, revoked it on 2026-10-20 (before as_of 2026-11-01)
        ("M1", "ON", "ACTIVE", date(2025, 1, 1), True, True, False, False, ts("2025-01-01 00:00:00"),
         ts("2026-10-20 09:00:00")),
        ("M1", "ON", "ACTIVE", date(2025, 1, 1), True, False, False, False, ts("2026-10-20 09:00:00"), HIGH),
        # M2 consents to SMS only from 2026-11-05 (after as_of)
        ("M2", "BC", "ACTIVE", date(2025, 1, 1), False, False, True, None, ts("2025-01-01 00:00:00"),
         ts("2026-11-05 00:00:00")),
        ("M2", "BC", "ACTIVE", date(2025, 1, 1), False, True, True, None, ts("2026-11-05 00:00:00"), HIGH),
        # M3 closed before as_of: not active; M4 enrolled on as_of: not yet a member; M5 no province in the map
        ("M3", "ON", "ACTIVE", date(2025, 1, 1), True, True, True, True, ts("2025-01-01 00:00:00"),
         ts("2026-10-01 00:00:00")),
        ("M3", "ON", "CLOSED", date(2025, 1, 1), True, True, True, True, ts("2026-10-01 00:00:00"), HIGH),
        ("M4", "ON", "ACTIVE", date(2026, 11, 1), True, True, True, True, ts("2026-10-31 12:00:00"), HIGH),
        ("M5", "XX", "ACTIVE", date(2025, 1, 1), False, False, False, True, ts("2025-01-01 00:00:00"), HIGH),
    ]


def test_members_at_takes_the_version_valid_at_as_of(spark):
    members = spark.createDataFrame(members_rows(), MEMBER_SCHEMA)
    got = engagement.members_at(members, date(2026, 11, 1), TZ, "America/Toronto")
    expected = spark.createDataFrame(
        [("M1", "America/Toronto", True, False, False, False), ("M2", "America/Vancouver", False, False, True, False),
         ("M5", "America/Toronto", False, False, False, True)],
        "member_id string, timezone string, consent_email boolean, consent_sms boolean, consent_push boolean, "
        "consent_mail boolean")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_consent_revoked_before_or_given_after_as_of_gives_no_channel(spark):
    members = spark.createDataFrame(members_rows(), MEMBER_SCHEMA)
    p = Params()
    rows = lambda d: {(r["member_id"], r["channel"]) for r in   # noqa: E731
                      engagement.consented_channels(engagement.members_at(members, d, TZ, "UTC"), p).collect()}
    at = rows(date(2026, 11, 1))
    assert at == {("M1", "EMAIL"), ("M1", "APP"), ("M2", "PUSH"), ("M2", "APP"), ("M5", "MAIL"), ("M5", "APP")}
    # before M1 revoked and after M2 consented, SMS is allowed for each
    assert ("M1", "SMS") in rows(date(2026, 10, 15)) and ("M2", "SMS") in rows(date(2026, 11, 10))
    # without the consent-free in-app channel, M5's MAIL is all; a channel needing consent is never given without it
    strict = Params(channels=("EMAIL", "SMS", "PUSH", "MAIL"), consent_free_channels=())
    got = engagement.consented_channels(engagement.members_at(members, date(2026, 11, 1), TZ, "UTC"), strict)
    assert {(r["member_id"], r["channel"], r["channel_order"]) for r in got.collect()} == \
        {("M1", "EMAIL", 0), ("M2", "PUSH", 2), ("M5", "MAIL", 3)}


def test_events_window_kinds_weights_and_local_time(spark):
    zones = spark.createDataFrame([("M1", "America/Vancouver")], "member_id string, timezone string")
    digital = spark.createDataFrame(
        [("M1", "EMAIL", "OPEN", ts("2026-10-10 17:00:00")),     # 10:00 Saturday in Vancouver (PDT, -7)
         ("M1", "WEB", "SESSION", ts("2026-10-10 18:00:00")),    # no contact channel
         ("M1", "EMAIL", "BOUNCE", ts("2026-10-10 18:00:00")),   # not engagement
         ("M1", "PUSH", "OPEN", ts("2026-11-01 00:00:00")),      # at as_of: outside the window
         ("M1", "PUSH", "OPEN", ts("2026-09-30 23:59:59")),      # before the window
         ("M9", "APP", "SESSION", ts("2026-10-10 18:00:00"))],   # not a member at as_of
        "member_id string, channel string, event_type string, event_ts timestamp")
    offers = spark.createDataFrame(
        [("M1", "SMS", "VIEWED", ts("2026-10-12 15:00:00")), ("M1", "SMS", "ISSUED", ts("2026-10-12 15:00:00")),
         ("M1", "FAX", "VIEWED", ts("2026-10-12 15:00:00"))],
        "member_id string, channel string, event_type string, event_ts timestamp")
    txns = spark.createDataFrame([("M1", ts("2026-10-13 01:00:00")), (None, ts("2026-10-13 01:00:00"))],
                                 "member_id string, txn_ts timestamp")
    p = Params(offer_event_weight=0.5, shopping_weight_dow=2.0, shopping_weight_hour=0.25)
    got = engagement.events(digital, offers, txns, zones, date(2026, 10, 1), date(2026, 11, 1), p)
    expected = spark.createDataFrame(
        [("M1", "digital", "EMAIL", 6, 10, 1.0, 1.0, 1.0),
         ("M1", "digital", None, 6, 11, 1.0, 1.0, 1.0),
         ("M1", "offer", "SMS", 1, 8, 0.5, 0.0, 0.0),
         ("M1", "shopping", None, 1, 18, 0.0, 2.0, 0.25)],       # Monday 18:00 in Vancouver
        "member_id string, kind string, channel string, local_dow int, local_hour int, w_channel double, "
        "w_dow double, w_hour double")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)

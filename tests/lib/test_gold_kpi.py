"""gold KPI marts: each KPI on a tiny table with a hand-computed answer, and build() on a temporary lake.

The window in every test: as_of 2026-10-14 (a Wednesday), lookback 10 days, so business dates
2026-10-04 (Sunday) .. 2026-10-13. Periods: ten days, the week of Monday 09-28 (incomplete: only
10-04 is in the window), the week of 10-05 (complete) and the week of 10-12 (incomplete: 10-12 and
10-13; it ends 10-19, after as_of).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import ConfigError
from loyalty.gold import kpi

AS_OF = date(2026, 10, 14)
P = kpi.KpiParams(lookback_days=10, lapse_days=3, dollar_value_per_point=0.001)
W0, W1, W2 = date(2026, 9, 28), date(2026, 10, 5), date(2026, 10, 12)   # the three week starts
PERIOD_DDL = "period string, period_start date, period_end date, is_complete boolean"


def d(s: str) -> date:
    return date.fromisoformat(s)


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def week(start: date, complete: bool) -> tuple:
    return ("week", start, start + timedelta(days=7), complete)


def day(s: str) -> tuple:
    return ("day", d(s), d(s) + timedelta(days=1), True)


def approx(actual, expected):
    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


# -- tiny silver tables --------------------------------------------------------------------------

def members_table(spark):
    """SCD2 rows. M1 changed its enrollment_date ON as_of (the old version counts); M4 enrolled on
    as_of; M5's record was created on as_of (not known before it)."""
    return spark.createDataFrame([
        ("M1", d("2026-01-01"), "ACTIVE", ts("2026-01-01 09:00:00"), ts("2026-10-14 00:00:00"), False),
        ("M1", d("2025-12-01"), "ACTIVE", ts("2026-10-14 00:00:00"), None, True),
        ("M2", d("2026-10-06"), "ACTIVE", ts("2026-10-06 10:00:00"), None, True),
        ("M3", d("2026-10-12"), "ACTIVE", ts("2026-10-12 11:00:00"), ts("9999-12-31 00:00:00"), True),
        ("M4", d("2026-10-14"), "ACTIVE", ts("2026-10-01 00:00:00"), None, True),
        ("M5", d("2026-10-13"), "ACTIVE", ts("2026-10-14 08:00:00"), None, True),
    ], "member_id string, enrollment_date date, status string, valid_from timestamp, valid_to timestamp, "
       "is_current boolean")


def transactions_table(spark):
    return spark.createDataFrame([
        ("r1", "FRESHMART", "M1", d("2026-10-05")), ("r2", "FRESHMART", "M1", d("2026-10-05")),
        ("r3", "VALUMART", "M1", d("2026-10-06")), ("r4", "VALUMART", "M2", d("2026-10-06")),
        ("r5", "FRESHMART", "M3", d("2026-10-13")),
        ("r6", "FRESHMART", "M1", d("2026-10-14")),      # on as_of: not seen
        ("r7", "FRESHMART", "M2", d("2026-10-03")),      # before the window: history only
        ("r8", "FRESHMART", None, d("2026-10-05")),      # no member
    ], "receipt_id string, banner string, member_id string, business_date date")


def partner_table(spark):
    return spark.createDataFrame([
        ("CINEMA:1", "CINEMA", "M1", d("2026-10-07")), ("BANK:1", "BANK", "M2", d("2026-10-06")),
        ("BANK:2", "BANK", "M3", d("2026-10-12")), ("BANK:3", "BANK", "M3", d("2026-10-12")),
    ], "partner_txn_id string, partner string, member_id string, business_date date")


def ledger_table(spark):
    return spark.createDataFrame([
        ("e1", "M1", d("2025-01-01"), "PROGRAM", "ADJUST", 1000),
        ("e2", "M1", d("2026-10-03"), "FRESHMART", "EARN", 100),
        ("e3", "M1", d("2026-10-05"), "FRESHMART", "EARN", 200),
        ("e4", "M2", d("2026-10-06"), "VALUMART", "EARN", 50),
        ("e5", "M1", d("2026-10-06"), "FRESHMART", "REDEEM", -150),
        ("e6", "M1", d("2026-10-07"), "CINEMA", "EARN", 30),
        ("e7", "M2", d("2026-10-08"), "PROGRAM", "EXPIRE", -80),
        ("e8", "M1", d("2026-10-12"), "OFFER", "EARN", 20),
        ("e9", "M3", d("2026-10-13"), "PROGRAM", "ADJUST", 10),
        ("e10", "M1", d("2026-10-14"), "FRESHMART", "EARN", 999),   # on as_of: not seen
    ], "entry_id string, member_id string, entry_date date, partner string, entry_type string, points long")


def offer_events_table(spark):
    rows = [("O1", "M1", "ISSUED", "EMAIL", "2026-10-05", False), ("O1", "M1", "VIEWED", "EMAIL", "2026-10-05", False),
            ("O1", "M1", "ACTIVATED", "EMAIL", "2026-10-06", False),
            ("O1", "M1", "REDEEMED", "EMAIL", "2026-10-07", False),
            ("O1", "M2", "ISSUED", "EMAIL", "2026-10-05", False), ("O1", "M2", "VIEWED", "EMAIL", "2026-10-06", False),
            ("O1", "M2", "REDEEMED", "EMAIL", "2026-10-12", False),
            ("O1", "M3", "ISSUED", "EMAIL", "2026-10-05", True),                       # holdout
            ("O1", "M4", "ISSUED", "EMAIL", "2026-10-05", False),
            ("O1", "M4", "ISSUED", "EMAIL", "2026-10-05", False),                      # a second event: one member
            ("O1", "M5", "ISSUED", "APP", "2026-10-06", False),
            ("O2", "M1", "ISSUED", "EMAIL", "2026-10-14", False)]                      # on as_of: not seen
    return spark.createDataFrame(
        [(f"ev{i}", o, m, t, c, d(day_), h) for i, (o, m, t, c, day_, h) in enumerate(rows)],
        "event_id string, offer_id string, member_id string, event_type string, channel string, event_date date, "
        "is_holdout boolean")


def offers_table(spark):
    return spark.createDataFrame([("O1", "Double points"), ("O2", "Bonus 500")], "offer_id string, offer_name string")


@pytest.fixture(scope="module")
def members(spark):
    return kpi.members_as_of(members_table(spark), AS_OF)


@pytest.fixture(scope="module")
def activity_days(spark):
    return kpi.member_activity(transactions_table(spark), partner_table(spark), AS_OF)


@pytest.fixture(scope="module")
def sets(activity_days):
    return kpi.dimension_sets(activity_days, AS_OF, P)


# -- inputs and calendar ----------------------------------------------------------------------------

def test_params_from_conf_and_a_bad_dimension_list_names_the_key(cfg):
    assert kpi.params(cfg) == kpi.KpiParams(lookback_days=400, lapse_days=90, dollar_value_per_point=0.001,
                                            dimensions=("FRESHMART", "VALUMART", "CINEMA", "BANK"))
    with pytest.raises(ConfigError, match="gold.kpi.dimensions"):
        kpi.params(cfg.with_overrides(["gold.kpi.dimensions=[BANK, bank]"]))


def test_members_as_of_takes_the_version_valid_before_as_of(spark, members):
    expected = spark.createDataFrame([("M1", d("2026-01-01")), ("M2", d("2026-10-06")), ("M3", d("2026-10-12"))],
                                     "member_id string, enrollment_date date")
    assert_df_equality(members, expected, ignore_row_order=True, ignore_nullable=True)


def test_member_activity_is_distinct_member_days_before_as_of(spark, activity_days):
    expected = spark.createDataFrame([
        ("M1", d("2026-10-05"), "FRESHMART"), ("M1", d("2026-10-06"), "VALUMART"), ("M2", d("2026-10-06"), "VALUMART"),
        ("M3", d("2026-10-13"), "FRESHMART"), ("M2", d("2026-10-03"), "FRESHMART"), ("M1", d("2026-10-07"), "CINEMA"),
        ("M2", d("2026-10-06"), "BANK"), ("M3", d("2026-10-12"), "BANK"),
    ], "member_id string, activity_date date, dimension string")
    assert_df_equality(activity_days, expected, ignore_row_order=True, ignore_nullable=True)


def test_periods_cover_the_window_with_iso_weeks(spark):
    days = [day(f"2026-10-{n:02d}") for n in range(4, 14)]
    expected = spark.createDataFrame(days + [week(W0, False), week(W1, True), week(W2, False)], PERIOD_DDL)
    assert_df_equality(kpi.periods(spark, AS_OF, 10), expected, ignore_row_order=True, ignore_nullable=True)


# -- marts ------------------------------------------------------------------------------------------

def test_dimension_sets_count_members_per_set_of_banners(spark, sets):
    """Bits: FRESHMART 1, VALUMART 2, CINEMA 4, BANK 8."""
    rows = [(*week(W1, True), 7, 1),         # M1: FRESHMART, VALUMART, CINEMA
            (*week(W1, True), 10, 1),        # M2: VALUMART, BANK
            (*week(W2, False), 9, 1),        # M3: FRESHMART, BANK
            (*day("2026-10-05"), 1, 1), (*day("2026-10-06"), 2, 1), (*day("2026-10-06"), 10, 1),
            (*day("2026-10-07"), 4, 1), (*day("2026-10-12"), 8, 1), (*day("2026-10-13"), 1, 1)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, dims_mask int, members long")
    assert_df_equality(sets, expected, ignore_row_order=True, ignore_nullable=True)


def test_activity_active_enrolled_and_engagement(spark, sets, members):
    out = kpi.activity(sets, members, AS_OF, P)
    assert out.columns == kpi.ACTIVITY_COLUMNS        # (row counts of every mart: test_build_...)
    got = out.where((F.col("period") == "week") | (F.col("period_start") == d("2026-10-06"))).drop("as_of")
    rows = []
    # week of 09-28: only 10-04 is in the window, nobody active; enrolled before 10-05: M1
    rows += [(*week(W0, False), dim, 0, 1, 0.0) for dim in ("FRESHMART", "VALUMART", "CINEMA", "BANK", "ALL")]
    # week of 10-05: M1 FRESHMART+VALUMART+CINEMA, M2 VALUMART+BANK; enrolled before 10-12: M1, M2
    rows += [(*week(W1, True), "FRESHMART", 1, 2, 0.5), (*week(W1, True), "VALUMART", 2, 2, 1.0),
             (*week(W1, True), "CINEMA", 1, 2, 0.5), (*week(W1, True), "BANK", 1, 2, 0.5),
             (*week(W1, True), "ALL", 2, 2, 1.0)]
    # week of 10-12 (ends after as_of): M3 FRESHMART+BANK; enrolled before as_of: M1, M2, M3
    rows += [(*week(W2, False), "FRESHMART", 1, 3, 1 / 3), (*week(W2, False), "VALUMART", 0, 3, 0.0),
             (*week(W2, False), "CINEMA", 0, 3, 0.0), (*week(W2, False), "BANK", 1, 3, 1 / 3),
             (*week(W2, False), "ALL", 1, 3, 1 / 3)]
    # day 10-06: M1 VALUMART, M2 VALUMART+BANK; enrolled before 10-07: M1, M2
    rows += [(*day("2026-10-06"), "FRESHMART", 0, 2, 0.0), (*day("2026-10-06"), "VALUMART", 2, 2, 1.0),
             (*day("2026-10-06"), "CINEMA", 0, 2, 0.0), (*day("2026-10-06"), "BANK", 1, 2, 0.5),
             (*day("2026-10-06"), "ALL", 2, 2, 1.0)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, dimension string, active_members long, "
                                           "enrolled_members long, engagement_rate double")
    approx(got, expected)


def test_cross_banner_members_by_number_of_banners(spark, sets):
    out = kpi.cross_banner(sets, AS_OF, P)
    assert out.columns == kpi.CROSS_BANNER_COLUMNS
    got = out.where(F.col("period_start").isin(W1, W2) & (F.col("period") == "week")
                    | (F.col("period_start") == d("2026-10-06")) & (F.col("period") == "day")).drop("as_of")
    rows = [(*week(W1, True), 1, 0, 0.0), (*week(W1, True), 2, 1, 0.5),      # M2: VALUMART, BANK
            (*week(W1, True), 3, 1, 0.5), (*week(W1, True), 4, 0, 0.0),      # M1: FRESHMART, VALUMART, CINEMA
            (*week(W2, False), 1, 0, 0.0), (*week(W2, False), 2, 1, 1.0),    # M3: FRESHMART, BANK
            (*week(W2, False), 3, 0, 0.0), (*week(W2, False), 4, 0, 0.0),
            (*day("2026-10-06"), 1, 1, 0.5), (*day("2026-10-06"), 2, 1, 0.5),  # M1: VALUMART; M2: VALUMART, BANK
            (*day("2026-10-06"), 3, 0, 0.0), (*day("2026-10-06"), 4, 0, 0.0)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, banners_active int, members long, share_of_active double")
    approx(got, expected)


def test_banner_overlap_matrix(spark, sets):
    out = kpi.banner_overlap(sets, AS_OF, P)
    assert out.columns == kpi.OVERLAP_COLUMNS
    got = out.where((F.col("period") == "week") & (F.col("period_start") == W1)).drop("as_of")
    # week of 10-05: M1 in FRESHMART, VALUMART, CINEMA; M2 in VALUMART, BANK
    matrix = {"FRESHMART": [1, 1, 1, 0], "VALUMART": [1, 2, 1, 1], "CINEMA": [1, 1, 1, 0], "BANK": [0, 1, 0, 1]}
    dims = list(matrix)
    rows = [(*week(W1, True), a, b, matrix[a][j], matrix[a][j] / matrix[a][dims.index(a)])
            for a in dims for j, b in enumerate(dims)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, dim_a string, dim_b string, members long, share_of_a double")
    approx(got, expected)


def test_points_by_partner_and_liability(spark):
    out = kpi.points(ledger_table(spark), AS_OF, P)
    assert out.columns == kpi.POINTS_COLUMNS
    got = out.where((F.col("period") == "week") & ((F.col("period_start") == W1) | (F.col("partner") == "ALL")))
    w1 = week(W1, True)
    rows = [(*w1, "FRESHMART", 200, 150, 0, 0, 50, None, None), (*w1, "VALUMART", 50, 0, 0, 0, 50, None, None),
            (*w1, "CINEMA", 30, 0, 0, 0, 30, None, None), (*w1, "PROGRAM", 0, 0, 80, 0, -80, None, None),
            (*w1, "OFFER", 0, 0, 0, 0, 0, None, None),
            # liability: all entries before the period end (from 2025 on); before 10-12: 1000+100+200+50-150+30-80
            (*w1, "ALL", 280, 150, 80, 0, 50, 1150, 1.15),
            (*week(W0, False), "ALL", 0, 0, 0, 0, 0, 1100, 1.10),             # entries before 10-05: 1000 + 100
            (*week(W2, False), "ALL", 20, 0, 0, 10, 30, 1180, 1.18)]          # before as_of (not 10-19): + 20 + 10
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, partner string, earned_points long, redeemed_points long, "
                                           "expired_points long, adjusted_points long, net_points long, "
                                           "liability_points long, liability_dollars double")
    approx(got.drop("as_of"), expected)


def test_offer_funnel_by_offer_and_channel(spark):
    out = kpi.offer_funnel(offer_events_table(spark), offers_table(spark), AS_OF, P)
    assert out.columns == kpi.FUNNEL_COLUMNS
    o1 = ("O1", "Double points")
    rows = [  # issued, viewed, activated, redeemed, holdout_issued; view, activation, redemption, conversion rates
        (*day("2026-10-05"), *o1, "EMAIL", 3, 1, 0, 0, 1, 1 / 3, 0.0, 0.0, 0.0),
        (*day("2026-10-06"), *o1, "EMAIL", 0, 1, 1, 0, 0, 0.0, 1.0, 0.0, 0.0),
        (*day("2026-10-06"), *o1, "APP", 1, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0),
        (*day("2026-10-07"), *o1, "EMAIL", 0, 0, 0, 1, 0, 0.0, 0.0, 0.0, 0.0),
        (*day("2026-10-12"), *o1, "EMAIL", 0, 0, 0, 1, 0, 0.0, 0.0, 0.0, 0.0),
        (*week(W1, True), *o1, "EMAIL", 3, 2, 1, 1, 1, 2 / 3, 0.5, 1.0, 1 / 3),
        (*week(W1, True), *o1, "APP", 1, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0),
        (*week(W2, False), *o1, "EMAIL", 0, 0, 0, 1, 0, 0.0, 0.0, 0.0, 0.0)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, offer_id string, offer_name string, channel string, "
                                           "issued long, viewed long, activated long, redeemed long, "
                                           "holdout_issued long, view_rate double, activation_rate double, "
                                           "redemption_rate double, conversion_rate double")
    approx(out.drop("as_of"), expected)


def test_member_lifecycle_new_lapsed_reactivated(spark):
    """lapse_days = 3. A: 09-20, 10-05 (reactivated 10-05, lapses 10-08). B: 10-01, 10-04 (a 3-day gap is
    not a lapse), 10-09 (lapsed 10-07, reactivated 10-09, lapses 10-12). C: 10-10 twice (lapses 10-13).
    D: 10-12 (would lapse 10-15, after as_of). E: 10-02 (lapses 10-05). F: 09-01 and 10-14 (on as_of:
    not a reactivation). New: M2 10-06, M3 10-12 (M1 enrolled in January)."""
    acts = [("A", "2026-09-20"), ("A", "2026-10-05"), ("B", "2026-10-01"), ("B", "2026-10-04"), ("B", "2026-10-09"),
            ("C", "2026-10-10"), ("D", "2026-10-12"), ("E", "2026-10-02"), ("F", "2026-09-01"), ("F", "2026-10-14")]
    activity_days = spark.createDataFrame([(m, d(s), "FRESHMART") for m, s in acts] + [("C", d("2026-10-10"), "BANK")],
                                          "member_id string, activity_date date, dimension string")
    members = spark.createDataFrame([("M1", d("2026-01-01")), ("M2", d("2026-10-06")), ("M3", d("2026-10-12"))],
                                    "member_id string, enrollment_date date")
    out = kpi.member_lifecycle(activity_days, members, AS_OF, P)
    assert out.columns == kpi.LIFECYCLE_COLUMNS
    counts = {"2026-10-05": (0, 1, 1), "2026-10-06": (1, 0, 0), "2026-10-07": (0, 1, 0), "2026-10-08": (0, 1, 0),
              "2026-10-09": (0, 0, 1), "2026-10-12": (1, 1, 0), "2026-10-13": (0, 1, 0)}
    rows = [(*day(f"2026-10-{n:02d}"), *counts.get(f"2026-10-{n:02d}", (0, 0, 0))) for n in range(4, 14)]
    rows += [(*week(W0, False), 0, 0, 0), (*week(W1, True), 1, 3, 2), (*week(W2, False), 1, 2, 0)]
    expected = spark.createDataFrame(rows, f"{PERIOD_DDL}, new_members long, lapsed_members long, "
                                           "reactivated_members long")
    assert_df_equality(out.drop("as_of"), expected, ignore_row_order=True, ignore_nullable=True)


# -- build --------------------------------------------------------------------------------------------

def test_build_writes_every_mart_to_the_lake(spark, cfg):
    cfg = cfg.with_overrides(["gold.kpi.lookback_days=10", "gold.kpi.lapse_days=3"])
    silver = {"members": members_table, "transactions": transactions_table, "partner_transactions": partner_table,
              "points_ledger": ledger_table, "offer_events": offer_events_table, "offers": offers_table}
    for name, table in silver.items():
        lake.overwrite(table(spark), cfg, f"silver.{name}")
    report = kpi.build(spark, cfg, AS_OF)
    tables = ["gold.kpi_activity", "gold.kpi_cross_banner", "gold.kpi_banner_overlap", "gold.kpi_points",
              "gold.kpi_offer_funnel", "gold.kpi_member_lifecycle"]
    assert [r["table"] for r in report] == tables == kpi.TABLES
    # 13 periods x: 5 dimensions (4 + ALL); 4 banner counts; 4 x 4 pairs; 6 partners (5 in the ledger + ALL);
    # funnel: only periods with events (8); lifecycle: 1
    assert {r["table"]: r["rows"] for r in report} == {
        "gold.kpi_activity": 65, "gold.kpi_cross_banner": 52, "gold.kpi_banner_overlap": 208, "gold.kpi_points": 78,
        "gold.kpi_offer_funnel": 8, "gold.kpi_member_lifecycle": 13}
    assert lake.read(spark, cfg, "gold.kpi_banner_overlap").count() == 208
    act = lake.read(spark, cfg, "gold.kpi_activity").where(
        (F.col("period") == "week") & (F.col("period_start") == W1) & (F.col("dimension") == "ALL"))
    assert_df_equality(act.select("as_of", "active_members", "enrolled_members", "is_complete"),
                       spark.createDataFrame([(AS_OF, 2, 2, True)], "as_of date, active_members long, "
                                             "enrolled_members long, is_complete boolean"), ignore_nullable=True)
    pts = lake.read(spark, cfg, "gold.kpi_points").where(
        (F.col("period") == "day") & (F.col("period_start") == d("2026-10-13")) & (F.col("partner") == "ALL"))
    assert_df_equality(pts.select("liability_points", "liability_dollars"),
                       spark.createDataFrame([(1180, 1.18)], "liability_points long, liability_dollars double"),
                       ignore_nullable=True)


def _silver(spark, cfg):
    silver = {"members": members_table, "transactions": transactions_table, "partner_transactions": partner_table,
              "points_ledger": ledger_table, "offer_events": offer_events_table, "offers": offers_table}
    for name, table in silver.items():
        lake.overwrite(table(spark), cfg, f"silver.{name}")


def _snapshot(spark, cfg, table, as_of):
    return sorted(map(tuple, lake.read(spark, cfg, table).where(F.col("as_of") == F.lit(as_of)).collect()))


def test_marts_keep_one_partition_per_as_of_so_a_backfill_leaves_the_current_snapshot(spark, cfg):
    cfg = cfg.with_overrides(["gold.kpi.lookback_days=10", "gold.kpi.lapse_days=3"])
    _silver(spark, cfg)
    kpi.build(spark, cfg, AS_OF)
    current = {t: _snapshot(spark, cfg, t, AS_OF) for t in kpi.TABLES}
    earlier = AS_OF - timedelta(days=3)
    report = kpi.build(spark, cfg, earlier)                       # a backfill of an older date
    assert [r["table"] for r in report] == kpi.TABLES
    for t in kpi.TABLES:
        assert _snapshot(spark, cfg, t, AS_OF) == current[t], t
        assert len(_snapshot(spark, cfg, t, earlier)) > 0, t
    recorded = lake.read(spark, cfg, "ops.gold_snapshots").where(F.col("as_of") == F.lit(earlier)).collect()
    assert sorted(r["table_name"] for r in recorded) == sorted(kpi.TABLES)
    assert recorded[0]["input_versions"] == {t: lake.version(cfg, t) for t in kpi.INPUTS}


def test_a_mart_written_whole_by_an_older_build_is_rewritten_partitioned_keeping_its_snapshot(spark, cfg):
    cfg = cfg.with_overrides(["gold.kpi.lookback_days=10", "gold.kpi.lapse_days=3"])
    _silver(spark, cfg)
    earlier = AS_OF - timedelta(days=3)
    tables, persisted = kpi.marts(spark, cfg, earlier)
    for table, df in tables.items():                              # what build() used to write: whole tables
        lake.overwrite(df, cfg, table)
    for df in persisted:
        df.unpersist()
    old = {t: _snapshot(spark, cfg, t, earlier) for t in kpi.TABLES}
    kpi.build(spark, cfg, AS_OF)
    for t in kpi.TABLES:
        assert _snapshot(spark, cfg, t, earlier) == old[t], t
        assert len(_snapshot(spark, cfg, t, AS_OF)) > 0, t
        assert lake.delta_table(cfg, t).metadata().partition_columns == ["as_of"], t


def test_an_as_of_without_data_writes_no_mart(spark, cfg):
    from loyalty.gold import snapshots
    _silver(spark, cfg)
    with pytest.raises(snapshots.NoDataError, match="no data for as_of 2027-01-01"):
        kpi.build(spark, cfg, date(2027, 1, 1))
    assert not any(lake.exists(cfg, t) for t in kpi.TABLES)

"""gold.member_features: point-in-time correctness, RFM, and hand-checked feature values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.gold import features as G
from loyalty.gold import snapshots
from loyalty.transforms.gold import features as T

AS_OF = date(2026, 11, 1)
P = T.FeatureParams(banners=("FRESHMART", "VALUMART"), departments={"PRODUCE": "produce", "SNACKS": "snacks"},
                    expiry_days=365, expiring_window_days=90)


PRODUCTS_DDL = ("product_id string, upc string, department string, is_private_label boolean, valid_from timestamp, "
                "valid_to timestamp, is_current boolean")


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s)


def d(s: str) -> date:
    return date.fromisoformat(s)


def silver_tables(spark):
    """A tiny silver layer: three members (M3 enrolled after as_of), two banners, cinema and bank."""
    members = spark.createDataFrame([
        ("M1", "FRESHMART", "ON", "35-44", d("2025-01-10"), "ACTIVE", ts("2025-01-10 00:00:00"), None, True),
        ("M2", "VALUMART", "QC", "25-34", d("2026-06-01"), "ACTIVE", ts("2026-06-01 00:00:00"),
         ts("2026-10-15 00:00:00"), False),
        ("M2", "VALUMART", "QC", "25-34", d("2026-06-01"), "ACTIVE", ts("2026-10-15 00:00:00"), None, True),
        ("M3", "FRESHMART", "BC", "18-24", d("2026-11-05"), "ACTIVE", ts("2026-11-05 00:00:00"), None, True),
    ], "member_id string, home_banner string, province string, age_band string, enrollment_date date, "
       "status string, valid_from timestamp, valid_to timestamp, is_current boolean")
    # local_dow is Spark's dayofweek (1 = Sunday): 2026-10-30 is a Friday (6), 2026-10-05 a Monday (2).
    transactions = spark.createDataFrame([
        ("R1", "FRESHMART", "M1", d("2026-10-30"), 18, 6, Decimal("40.00")),
        ("R2", "FRESHMART", "M1", d("2026-10-05"), 18, 2, Decimal("20.00")),
        ("R3", "VALUMART", "M1", d("2026-08-01"), 9, 7, Decimal("40.00")),
        ("R4", "VALUMART", "M2", d("2026-10-20"), 11, 3, Decimal("10.00")),
    ], "receipt_id string, banner string, member_id string, business_date date, local_hour int, local_dow int, "
       "total_amount decimal(12,2)")
    lines = spark.createDataFrame([
        ("R1", 1, "M1", d("2026-10-30"), "U1", Decimal("30.00")),
        ("R1", 2, "M1", d("2026-10-30"), "U2", Decimal("10.00")),
        ("R2", 1, "M1", d("2026-10-05"), "U3", Decimal("20.00")),
        ("R4", 1, "M2", d("2026-10-20"), "U2", Decimal("10.00")),
    ], "receipt_id string, line_no int, member_id string, business_date date, upc string, line_amount decimal(12,2)")
    products = spark.createDataFrame([        # SCD2: one open version each (silver writes 9999-12-31 as valid_to)
        ("P1", "U1", "PRODUCE", False, ts("2025-01-01 02:00:00"), ts("9999-12-31 00:00:00"), True),
        ("P2", "U2", "SNACKS", True, ts("2025-01-01 02:00:00"), ts("9999-12-31 00:00:00"), True),
        ("P3", "U3", "BAKERY", False, ts("2025-01-01 02:00:00"), ts("9999-12-31 00:00:00"), True),
    ], PRODUCTS_DDL)
    partner_txns = spark.createDataFrame([
        ("C1", "CINEMA", "M1", d("2026-10-10"), Decimal("25.00"), 125),
        ("C2", "CINEMA", "M1", d("2026-05-10"), Decimal("15.00"), 75),
        ("B1", "BANK", "M2", d("2026-10-25"), Decimal("100.00"), 100),
    ], "partner_txn_id string, partner string, member_id string, business_date date, amount decimal(12,2), "
       "points_earned long")
    ledger = spark.createDataFrame([
        ("L1", "M1", d("2025-06-01"), "FRESHMART", "EARN", 500),
        ("L2", "M1", d("2025-12-01"), "FRESHMART", "EARN", 300),
        ("L3", "M1", d("2026-09-01"), "FRESHMART", "REDEEM", -200),
        ("L4", "M1", d("2026-10-30"), "FRESHMART", "EARN", 400),
        ("L5", "M2", d("2026-10-20"), "VALUMART", "EARN", 100),
    ], "entry_id string, member_id string, entry_date date, partner string, entry_type string, points long")
    digital = spark.createDataFrame([
        ("E1", "M1", "APP", "SESSION", d("2026-10-01")), ("E2", "M1", "EMAIL", "OPEN", d("2026-10-02")),
        ("E3", "M1", "EMAIL", "CLICK", d("2026-10-02")), ("E4", "M2", "PUSH", "OPEN", d("2026-09-30")),
    ], "event_id string, member_id string, channel string, event_type string, event_date date")
    offer_events = spark.createDataFrame([
        ("O1", "F1", "M1", "ISSUED", d("2026-09-01"), False), ("O2", "F1", "M1", "REDEEMED", d("2026-09-05"), False),
        ("O3", "F2", "M1", "ISSUED", d("2026-10-01"), False), ("O4", "F2", "M2", "ISSUED", d("2026-10-01"), True),
        ("O5", "F3", "M1", "REDEEMED", d("2026-10-02"), False),      # its ISSUED event is missing
    ], "event_id string, offer_id string, member_id string, event_type string, event_date date, is_holdout boolean")
    return {"silver.members": members, "silver.transactions": transactions, "silver.transaction_lines": lines,
            "silver.products": products, "silver.partner_transactions": partner_txns, "silver.points_ledger": ledger,
            "silver.digital_events": digital, "silver.offer_events": offer_events}


def compute(tables, as_of=AS_OF, p=P):
    tx = tables["silver.transactions"]
    return T.assemble(
        T.member_population(tables["silver.members"], as_of), as_of, p,
        retail=T.retail_features(tx, as_of, p),
        mix=T.basket_mix(tables["silver.transaction_lines"], tables["silver.products"], as_of, p),
        partners=T.partner_features(tables["silver.partner_transactions"], as_of, p),
        points=T.points_features(tables["silver.points_ledger"], as_of, p),
        digital=T.digital_features(tables["silver.digital_events"], as_of),
        times=T.preferred_times(tx, as_of, p),
        offers=T.offer_features(tables["silver.offer_events"], as_of, p))


def rows_by_member(df):
    return {r["member_id"]: r.asDict() for r in df.collect()}


def test_features_hand_checked(spark):
    rows = rows_by_member(compute(silver_tables(spark)))
    assert sorted(rows) == ["M1", "M2"]                       # M3 enrols after as_of
    m1, m2 = rows["M1"], rows["M2"]
    assert m1["tenure_days"] == 660 and m1["last_purchase_date"] == d("2026-10-30") and m1["recency_days"] == 2
    assert (m1["trips_30d"], m1["trips_90d"], m1["trips_365d"]) == (2, 2, 3)   # 08-01 is 92 days before
    assert (m1["spend_30d"], m1["spend_365d"], m1["avg_basket_365d"]) == (60.0, 100.0, 100.0 / 3)
    assert (m1["spend_share_freshmart"], m1["spend_share_valumart"], m1["banners_shopped_365d"]) == (0.6, 0.4, 2)
    assert m1["partners_active_365d"] == 3                     # two banners + cinema
    assert (m1["dept_share_produce"], m1["dept_share_snacks"], m1["dept_share_other"]) == (0.5, 1 / 6, 1 / 3)
    assert m1["private_label_share"] == 1 / 6
    assert (m1["cinema_visits_90d"], m1["cinema_visits_365d"], m1["cinema_spend_365d"],
            m1["cinema_points_365d"]) == (1, 2, 40.0, 200)
    assert (m2["bank_txns_90d"], m2["bank_spend_365d"], m2["bank_points_365d"]) == (1, 100.0, 100)
    # Ledger M1: earned 300 + 400 in the year (the 500 is older), redeemed 200, balance 1,000.
    assert (m1["points_earned_365d"], m1["points_redeemed_365d"], m1["points_balance"]) == (700, 200, 1000)
    assert m1["days_since_last_redemption"] == 61 and m2["days_since_last_redemption"] is None
    # FIFO, expiry 365 d, window 90 d: points earned before 2026-01-30 (800) less the 200 used -> 600.
    assert m1["points_expiring_90d"] == 600 and m2["points_expiring_90d"] == 0
    assert (m1["digital_sessions_90d"], m1["email_opens_90d"], m1["email_clicks_90d"], m2["push_opens_90d"]) == (1, 1, 1, 1)
    # Trips on Friday 18h, Monday 18h, Saturday 9h: Monday wins the tie with Friday (earlier ISO day).
    assert (m1["preferred_dow"], m1["preferred_hour"]) == (1, 18)
    # F1 issued and redeemed, F2 issued only, F3 redeemed without an issue event: rate = 1 of 2 issued.
    assert (m1["offers_issued_365d"], m1["offers_redeemed_365d"], m1["offer_redemption_rate"]) == (2, 2, 0.5)
    assert m2["offers_issued_365d"] == 0                       # holdout excluded
    assert m1["is_active_90d"] and m2["is_active_90d"]
    assert m2["home_banner"] == "VALUMART" and m2["spend_share_valumart"] == 1.0


def test_rfm_scores_and_labels_hand_checked(spark):
    # Five members with trips, one without. Cut points are given (quintile boundaries).
    df = spark.createDataFrame([
        ("A", 1, 12, 900.0), ("B", 10, 6, 300.0), ("C", 40, 3, 120.0), ("D", 80, 2, 60.0), ("E", 150, 1, 20.0),
        ("Z", None, 0, 0.0)], "member_id string, recency_days int, trips_365d long, spend_365d double")
    out = T.with_rfm(df, [5.0, 20.0, 60.0, 100.0], [1.0, 2.0, 3.0, 6.0], [30.0, 100.0, 200.0, 500.0])
    got = {r["member_id"]: (r["rfm_score"], r["rfm_label"]) for r in out.collect()}
    assert got == {"A": ("555", "Champions"), "B": ("444", "Loyal"), "C": ("333", "Need Attention"),
                   "D": ("222", "Hibernating"), "E": ("111", "Hibernating"), "Z": ("000", "Lost")}
    # Recency 2 with one trip is a new customer; old and frequent is one we cannot lose.
    more = spark.createDataFrame([("N", 2, 1, 10.0), ("K", 150, 12, 900.0), ("S", 150, 6, 300.0)],
                                 "member_id string, recency_days int, trips_365d long, spend_365d double")
    got = {r["member_id"]: (r["rfm_score"], r["rfm_label"]) for r in
           T.with_rfm(more, [5.0, 20.0, 60.0, 100.0], [1.0, 2.0, 3.0, 6.0], [30.0, 100.0, 200.0, 500.0]).collect()}
    assert got == {"N": ("511", "New Customers"), "K": ("155", "Cannot Lose Them"), "S": ("144", "At Risk")}


def test_every_rfm_score_pair_has_a_label():
    covered = {(r, f) for _n, (r0, r1), (f0, f1) in T.RFM_LABELS for r in range(r0, r1 + 1) for f in range(f0, f1 + 1)}
    assert covered == {(r, f) for r in range(1, 6) for f in range(1, 6)}


def write_silver(cfg, tables):
    for name, df in tables.items():
        lake.overwrite(df, cfg, name)


def test_planted_future_rows_change_nothing(spark, cfg):
    tables = silver_tables(spark)
    write_silver(cfg, tables)
    G.build(spark, cfg, AS_OF)
    before = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)

    # Plant rows dated on and after as_of for M1 in every dated input.
    future = {
        "silver.transactions": ("R9", "VALUMART", "M1", AS_OF, 8, 1, Decimal("999.00")),
        "silver.transaction_lines": ("R9", 1, "M1", AS_OF, "U2", Decimal("999.00")),
        "silver.partner_transactions": ("C9", "CINEMA", "M1", d("2026-11-02"), Decimal("50.00"), 250),
        "silver.points_ledger": ("L9", "M1", AS_OF, "OFFER", "REDEEM", -900),
        "silver.digital_events": ("E9", "M1", "APP", "SESSION", AS_OF),
        "silver.offer_events": ("O9", "F3", "M1", "ISSUED", AS_OF, False),
    }
    for name, row in future.items():
        lake.append(spark.createDataFrame([row], tables[name].schema), cfg, name)
    G.build(spark, cfg, AS_OF)
    after = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
    assert after.count() == 2
    assert_df_equality(after, before, ignore_row_order=True, ignore_column_order=True)

    # The same rows one day earlier do change the snapshot (so the test above can fail).
    earlier = tables["silver.transactions"].sparkSession.createDataFrame(
        [("R8", "VALUMART", "M1", d("2026-10-31"), 8, 1, Decimal("999.00"))], tables["silver.transactions"].schema)
    lake.append(earlier, cfg, "silver.transactions")
    G.build(spark, cfg, AS_OF)
    m1 = lake.read(spark, cfg, "gold.member_features").where("member_id = 'M1'").collect()[0]
    assert m1["trips_30d"] == 3 and m1["recency_days"] == 1


def test_products_valid_at_as_of_are_picked(spark):
    """SCD2 rows valid at as_of: valid_from < as_of <= valid_to (open rows: null or 9999-12-31)."""
    products = spark.createDataFrame([
        ("P1", "U1", "PRODUCE", False, ts("2026-01-01 00:00:00"), ts("2026-11-01 00:00:00"), False),
        ("P1", "U1", "SNACKS", False, ts("2026-11-01 00:00:00"), None, True),
        ("P2", "U2", "BAKERY", True, ts("2026-11-01 00:00:00"), ts("9999-12-31 00:00:00"), True),   # not known yet
        ("P3", "U3", "FROZEN", False, ts("2026-03-01 00:00:00"), ts("9999-12-31 00:00:00"), True),
    ], PRODUCTS_DDL)
    got = {r["upc"]: r["department"] for r in T.products_as_of(products, AS_OF).collect()}
    assert got == {"U1": "PRODUCE", "U3": "FROZEN"}
    later = {r["upc"]: r["department"] for r in T.products_as_of(products, date(2026, 11, 2)).collect()}
    assert later == {"U1": "SNACKS", "U2": "BAKERY", "U3": "FROZEN"}


def test_basket_mix_uses_the_product_attributes_valid_at_as_of(spark, cfg):
    """A product moves to another department after as_of (a later silver version): the snapshot
    rebuilt later keeps the old attribution; a snapshot after the change uses the new one."""
    tables = silver_tables(spark)
    write_silver(cfg, tables)
    G.build(spark, cfg, AS_OF)
    before = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
    m1 = before.where("member_id = 'M1'").first()
    assert (m1["dept_share_produce"], m1["dept_share_snacks"]) == (0.5, 1 / 6)

    # U1 (PRODUCE, 30.00 of M1's 60.00) becomes SNACKS from 2026-11-10: the old version is closed.
    moved = spark.createDataFrame([
        ("P1", "U1", "PRODUCE", False, ts("2025-01-01 02:00:00"), ts("2026-11-10 00:00:00"), False),
        ("P1", "U1", "SNACKS", False, ts("2026-11-10 00:00:00"), ts("9999-12-31 00:00:00"), True),
        ("P2", "U2", "SNACKS", True, ts("2025-01-01 02:00:00"), ts("9999-12-31 00:00:00"), True),
        ("P3", "U3", "BAKERY", False, ts("2025-01-01 02:00:00"), ts("9999-12-31 00:00:00"), True),
    ], PRODUCTS_DDL)
    lake.overwrite(moved, cfg, "silver.products")
    G.build(spark, cfg, AS_OF)
    after = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
    assert_df_equality(after, before, ignore_row_order=True, ignore_column_order=True)

    G.build(spark, cfg, date(2026, 11, 15))
    m1_later = lake.read(spark, cfg, "gold.member_features").where("as_of = '2026-11-15' AND member_id = 'M1'").first()
    assert (m1_later["dept_share_produce"], m1_later["dept_share_snacks"]) == (0.0, 40 / 60)


def test_snapshots_are_kept_per_as_of(spark, cfg):
    write_silver(cfg, silver_tables(spark))
    G.build(spark, cfg, date(2026, 10, 1))
    G.build(spark, cfg, AS_OF)
    october = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == date(2026, 10, 1))
    first = october.collect()
    G.build(spark, cfg, AS_OF)                                  # a re-run replaces only its own partition
    snap = lake.read(spark, cfg, "gold.member_features")
    counts = {r["as_of"]: r["count"] for r in snap.groupBy("as_of").count().collect()}
    assert counts == {date(2026, 10, 1): 2, AS_OF: 2}
    assert sorted(map(tuple, snap.where(F.col("as_of") == date(2026, 10, 1)).collect())) == sorted(map(tuple, first))
    m1_oct = [r for r in first if r["member_id"] == "M1"][0]
    assert m1_oct["trips_365d"] == 1 and m1_oct["last_purchase_date"] == d("2026-08-01")


def test_snapshot_records_its_silver_versions_and_rebuilds_exactly_from_them(spark, cfg):
    tables = silver_tables(spark)
    write_silver(cfg, tables)
    G.build(spark, cfg, AS_OF, run_id="r1")
    first = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
    first_rows = sorted(map(tuple, first.collect()))
    log = lake.read(spark, cfg, snapshots.TABLE).collect()
    assert [(r["table_name"], r["as_of"], r["run_id"], r["rows"]) for r in log] == [("gold.member_features", AS_OF, "r1", 2)]
    recorded = log[0]["input_versions"]
    assert recorded == {t: lake.version(cfg, t) for t in G.INPUTS}
    assert log[0]["gold_version"] == lake.version(cfg, "gold.member_features") and log[0]["built_at"] is not None

    # silver moves on (a late receipt before as_of); the next build records the new version
    late = spark.createDataFrame([("R8", "VALUMART", "M1", d("2026-10-31"), 8, 1, Decimal("999.00"))],
                                 tables["silver.transactions"].schema)
    lake.append(late, cfg, "silver.transactions")
    G.build(spark, cfg, AS_OF, run_id="r2")
    second = lake.read(spark, cfg, snapshots.TABLE).where("run_id = 'r2'").first()
    assert second["input_versions"]["silver.transactions"] == recorded["silver.transactions"] + 1
    assert sorted(map(tuple, lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
                      .collect())) != first_rows

    # the first snapshot, rebuilt from the versions it recorded, is the same rows again
    G.build(spark, cfg, AS_OF, inputs=snapshots.Inputs(dict(recorded)), run_id="r3")
    again = lake.read(spark, cfg, "gold.member_features").where(F.col("as_of") == AS_OF)
    assert sorted(map(tuple, again.collect())) == first_rows
    assert lake.read(spark, cfg, snapshots.TABLE).where("run_id = 'r3'").first()["input_versions"] == recorded


def test_as_of_without_data_is_refused_before_anything_is_written(spark, cfg):
    write_silver(cfg, silver_tables(spark))
    G.build(spark, cfg, AS_OF)
    version = lake.version(cfg, "gold.member_features")
    for as_of in (date(2027, 6, 1), date(2024, 1, 1)):      # long after the data ends; before it starts
        with pytest.raises(snapshots.NoDataError, match=f"no data for as_of {as_of}.*nothing was written"):
            G.build(spark, cfg, as_of)
    assert lake.version(cfg, "gold.member_features") == version
    assert lake.read(spark, cfg, snapshots.TABLE).count() == 1


def test_missing_silver_is_a_clear_error(spark, cfg):
    with pytest.raises(lake.LakeError, match="silver table.*missing.*build_silver"):
        G.build(spark, cfg, AS_OF)

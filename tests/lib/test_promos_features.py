"""The weekly promotion panel on a hand-made week grid: zero-filled weeks, the promotion's terms,
the competitor gap, the week-after flag, other promotions in the category, the trailing base."""

from datetime import date, datetime

import pytest

from loyalty.promos import features as PF

W1, W2, W3, W4 = date(2026, 9, 7), date(2026, 9, 14), date(2026, 9, 21), date(2026, 9, 28)


def test_monday_of():
    assert PF.monday_of(date(2026, 9, 13)) == W1 and PF.monday_of(W1) == W1     # a Sunday, a Monday


def products(spark):
    rows = [("A", "111", "CHEESE", 10.0, datetime(2020, 1, 1), None, True),
            ("B", "222", "CHEESE", 5.0, datetime(2020, 1, 1), None, True)]
    return spark.createDataFrame(rows, "product_id string, upc string, category string, regular_price double, "
                                       "valid_from timestamp, valid_to timestamp, is_current boolean")


def test_weekly_units_by_monday_week_and_valid_product(spark):
    lines = spark.createDataFrame(
        [("FRESHMART", "111", datetime(2026, 9, 13, 12), date(2026, 9, 13), 2, 20.0),   # Sunday: week W1
         ("FRESHMART", "111", datetime(2026, 9, 14, 12), date(2026, 9, 14), 1, 8.0),    # Monday: week W2
         ("FRESHMART", "999", datetime(2026, 9, 14, 12), date(2026, 9, 14), 1, 1.0)],   # unknown upc: not counted
        "banner string, upc string, txn_ts timestamp, business_date date, quantity int, line_amount double")
    got = {(r["week_start"], r["product_id"]): (r["units"], r["revenue"]) for r in PF.weekly_units(lines, products(spark)).collect()}
    assert got == {(W1, "A"): (2.0, 20.0), (W2, "A"): (1.0, 8.0)}


def test_panel_features_by_hand(spark):
    units = spark.createDataFrame(
        [("FRESHMART", W1, "A", "CHEESE", 10.0, 100.0), ("FRESHMART", W2, "A", "CHEESE", 30.0, 240.0),
         ("FRESHMART", W3, "A", "CHEESE", 4.0, 40.0), ("FRESHMART", W4, "A", "CHEESE", 12.0, 120.0),
         ("FRESHMART", W1, "B", "CHEESE", 6.0, 30.0)],
        "banner string, week_start date, product_id string, category string, units double, revenue double")
    promos = spark.createDataFrame([("FRESHMART", W2, "A", 0.2, True, 50, 0.25, 10.0, 8.0)],
                                   "banner string, week_start date, product_id string, discount_depth double, is_display boolean, "
                                   "bonus_points int, vendor_funding_share double, regular_price double, promo_price double")
    comp = spark.createDataFrame([("X", W2, "A", 9.0), ("Y", W2, "A", 8.5), ("X", W3, "B", 4.0)],
                                 "competitor string, week_start date, product_id string, shelf_price double")
    rows = {(r["product_id"], r["week_start"]): r for r in PF.panel(spark, units, promos, comp, products(spark), W1, W4, base_weeks=8).collect()}
    assert len(rows) == 8                                                     # 2 products x 4 weeks, zeros filled
    assert rows[("B", W2)]["units"] == 0.0 and rows[("B", W2)]["category_promos"] == 1 and rows[("A", W2)]["category_promos"] == 0
    a2 = rows[("A", W2)]
    assert a2["promoted"] and a2["depth"] == 0.2 and a2["is_display"] and a2["bonus_points"] == 50
    assert a2["competitor_gap"] == pytest.approx((8.5 - 8.0) / 10.0) and a2["has_competitor"]
    assert rows[("B", W3)]["competitor_gap"] == pytest.approx((4.0 - 5.0) / 5.0)  # not promoted: our shelf price
    assert rows[("A", W1)]["competitor_gap"] == 0.0 and not rows[("A", W1)]["has_competitor"]
    assert rows[("A", W3)]["promoted_last_week"] and not rows[("A", W4)]["promoted_last_week"]
    assert rows[("A", W1)]["base_units"] is None                              # no earlier week
    assert rows[("A", W4)]["base_units"] == 10.0                              # W2 promoted, W3 the week after: only W1
    assert rows[("B", W4)]["base_units"] == pytest.approx(2.0)                # (6 + 0 + 0) / 3

"""Recommender interactions on tiny inline data: lines joined to products, recency decay, member index."""

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from loyalty.ml.recommend import interactions as I


LINE_SCHEMA = "member_id string, upc string, quantity int, line_amount double, business_date date"
PRODUCT_SCHEMA = ("product_id string, upc string, category string, valid_from timestamp, valid_to timestamp, "
                  "is_current boolean")
OPEN, HIGH = datetime(2025, 1, 1), datetime(9999, 12, 31)
PRODUCTS = [("p1", "u1", "DAIRY", OPEN, HIGH, True), ("p2", "u2", "DAIRY", OPEN, HIGH, True),
            ("p3", "u3-old", "BAKERY", OPEN, datetime(2026, 6, 1), False),      # p3 changed its upc on 2026-06-01
            ("p3", "u3", "BAKERY", datetime(2026, 6, 1), HIGH, True)]


def d(text):
    return date.fromisoformat(text)


@pytest.fixture
def products(spark):
    return spark.createDataFrame(PRODUCTS, PRODUCT_SCHEMA)


def plines(spark, products, rows, as_of=date(2026, 11, 1)):
    return I.product_lines(spark.createDataFrame(rows, LINE_SCHEMA), products, as_of)


def test_product_lines_map_upcs_to_products_and_drop_unknown_members_and_returns(spark, products):
    rows = [("m1", "u1", 1, 2.0, d("2026-10-01")), (None, "u1", 1, 2.0, d("2026-10-01")),
            ("m1", "u3-old", 1, 2.0, d("2026-05-01")),      # p3's upc before it changed: still p3
            ("m1", "u9", 1, 2.0, d("2026-10-01")),          # unknown upc
            ("m1", "u2", -1, -2.0, d("2026-10-01"))]        # a return
    got = plines(spark, products, rows).select("member_id", "product_id", "category")
    expected = spark.createDataFrame([("m1", "p1", "DAIRY"), ("m1", "p3", "BAKERY")],
                                     "member_id string, product_id string, category string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_product_lines_take_the_product_version_valid_at_as_of_not_the_current_row(spark):
    change, later = datetime(2026, 10, 20), datetime(2026, 10, 25)
    products = spark.createDataFrame([
        ("p1", "u1", "DAIRY", OPEN, change, False), ("p1", "u1", "BAKERY", change, HIGH, True),   # re-categorized
        ("p2", "u2", "DAIRY", OPEN, change, False), ("p2", "u2-new", "DAIRY", change, HIGH, True),  # new upc
        ("p4", "u4", "SNACKS", later, HIGH, True)], PRODUCT_SCHEMA)                              # new product
    lines = spark.createDataFrame([("m1", "u1", 1, 1.0, d("2026-10-01")), ("m1", "u2", 1, 1.0, d("2026-10-02")),
                                   ("m1", "u2-new", 1, 1.0, d("2026-10-21")), ("m1", "u4", 1, 1.0, d("2026-10-26"))],
                                  LINE_SCHEMA)
    schema = "product_id string, category string, business_date date"

    def got(as_of):
        return I.product_lines(lines, products, as_of).select("product_id", "category", "business_date")

    # before the change: p1 is still DAIRY; the upcs and product that appear later are unknown
    assert_df_equality(got(d("2026-10-11")), spark.createDataFrame(
        [("p1", "DAIRY", d("2026-10-01")), ("p2", "DAIRY", d("2026-10-02"))], schema),
        ignore_row_order=True, ignore_nullable=True)
    # after: p1 is BAKERY, p2's lines under both upcs are p2, p4 exists
    assert_df_equality(got(d("2026-11-01")), spark.createDataFrame(
        [("p1", "BAKERY", d("2026-10-01")), ("p2", "DAIRY", d("2026-10-02")), ("p2", "DAIRY", d("2026-10-21")),
         ("p4", "SNACKS", d("2026-10-26"))], schema), ignore_row_order=True, ignore_nullable=True)
    assert sorted(tuple(r) for r in I.products_at(products, d("2026-10-11")).select("product_id", "category")
                  .collect()) == [("p1", "DAIRY"), ("p2", "DAIRY")]


def test_interactions_decay_by_half_life_and_respect_the_window(spark, products):
    rows = [("m1", "u1", 1, 10.0, d("2026-10-01")),    # age 10: weight 0.5
            ("m1", "u1", 2, 4.0, d("2026-10-06")),     # age 5: weight 2 ** -0.5
            ("m1", "u1", 1, 99.0, d("2026-10-11")),    # on as_of: not before it
            ("m1", "u1", 1, 99.0, d("2026-08-01")),    # before the lookback
            ("m2", "u3", 1, 5.0, d("2026-10-10"))]     # category BAKERY, age 1
    pl = plines(spark, products, rows)
    as_of = d("2026-10-11")
    got = I.interactions(pl, as_of, lookback_days=30, half_life_days=10).select("member_id", "product_id", "confidence", "purchases")
    expected = spark.createDataFrame([("m1", "p1", 0.5 + 2 ** -0.5, 2), ("m2", "p3", 2 ** -0.1, 1)],
                                     "member_id string, product_id string, confidence double, purchases long")
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)
    spend = I.interactions(pl, as_of, lookback_days=30, confidence="spend", half_life_days=10)
    assert spend.where("member_id = 'm1'").first()["confidence"] == pytest.approx(10 * 0.5 + 4 * 2 ** -0.5)
    flat = I.interactions(pl, as_of, lookback_days=30, item_col="category")
    assert {(r["member_id"], r["category"], r["confidence"]) for r in flat.collect()} == {("m1", "DAIRY", 2.0), ("m2", "BAKERY", 1.0)}


def test_member_index_is_dense_sorted_and_repeatable(spark):
    ids = spark.createDataFrame([(m,) for m in ("m3", "m1", "m2", "m1", "m5")], "member_id string").repartition(3)
    first = I.member_index(ids)
    assert sorted(tuple(r) for r in first.collect()) == [("m1", 0), ("m2", 1), ("m3", 2), ("m5", 3)]
    assert dict(first.dtypes)["member_idx"] == "int"
    assert_df_equality(I.member_index(ids.repartition(2)), first, ignore_row_order=True)

"""What members are served, on tiny inline data: routine products, members at as_of, popularity
lists and the cold-start fallback."""

from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from loyalty.ml.recommend import serve as S
from loyalty.ml.recommend.interactions import product_lines


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
    return product_lines(spark.createDataFrame(rows, LINE_SCHEMA), products, as_of)


def test_routine_items_count_distinct_weeks_in_the_lookback(spark, products):
    rows = [("m1", "u1", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-20", "2026-10-13")]       # weeks 0, 1, 2
    rows += [("m1", "u2", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-27", "2026-10-20")]      # weeks 0, 0, 1
    rows += [("m2", "u3", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-20", "2026-09-25")]      # 3rd is outside
    got = S.routine_items(plines(spark, products, rows), d("2026-10-29"), min_weeks=3, lookback_weeks=4)
    assert [tuple(r) for r in got.collect()] == [("m1", "p1")]


def test_members_at_uses_the_version_valid_at_as_of(spark):
    rows = [("m1", "ACTIVE", d("2025-01-01"), datetime(2025, 1, 1), datetime(2026, 10, 5), False),
            ("m1", "CLOSED", d("2025-01-01"), datetime(2026, 10, 5), None, True),
            ("m2", "ACTIVE", d("2026-10-20"), datetime(2026, 10, 20), None, True),
            ("m3", "ACTIVE", d("2025-06-01"), datetime(2025, 6, 1), None, True)]
    members = spark.createDataFrame(rows, "member_id string, status string, enrollment_date date, "
                                          "valid_from timestamp, valid_to timestamp, is_current boolean")
    assert sorted(r[0] for r in S.members_at(members, d("2026-10-03")).collect()) == ["m1", "m3"]
    assert sorted(r[0] for r in S.members_at(members, d("2026-10-10")).collect()) == ["m3"]
    assert sorted(r[0] for r in S.members_at(members, d("2026-10-21")).collect()) == ["m2", "m3"]


def test_popularity_and_segment_popularity(spark, products):
    rows = [("m1", "u1", 1, 1.0, d("2026-10-05")), ("m1", "u1", 1, 1.0, d("2026-10-06")),
            ("m2", "u1", 1, 1.0, d("2026-10-05")), ("m2", "u2", 1, 1.0, d("2026-10-05")),
            ("m3", "u3", 1, 1.0, d("2026-10-05")), ("m4", "u2", 1, 1.0, d("2026-08-05"))]   # m4: outside window
    pl = plines(spark, products, rows)
    pop = S.popularity(pl, d("2026-10-11"), 28)
    assert {r["product_id"]: (r["buyers"], r["score"]) for r in pop.collect()} == \
        {"p1": (2, 2 / 3), "p2": (1, 1 / 3), "p3": (1, 1 / 3)}
    top = S.top_items(spark, pop, 2)
    assert [tuple(r) for r in top.collect()] == [("p1", 1, 2 / 3), ("p2", 2, 1 / 3)]
    segs = spark.createDataFrame([("m1", 1), ("m2", 1), ("m3", 2)], "member_id string, segment_id int")
    seg = S.segment_popularity(pl, segs, d("2026-10-11"), 28, 1)
    assert sorted(tuple(r) for r in seg.collect()) == [(1, "p1", 1, 1.0), (2, "p3", 1, 1.0)]


def test_assemble_falls_back_to_segment_then_overall_popularity(spark):
    members = spark.createDataFrame([("M1", None), ("M2", 1), ("M3", None), ("M4", 1)], "member_id string, segment_id int")
    als = spark.createDataFrame([("M1", "a", 0.9), ("M1", "b", 0.8), ("M1", "c", 0.7), ("M4", "x", 0.9),
                                 ("GONE", "a", 0.9)],  # not a member at as_of
                                "member_id string, product_id string, score double")
    segment_top = spark.createDataFrame([(1, "d", 0.5), (1, "e", 0.4), (1, "f", 0.3)],
                                        "segment_id int, product_id string, score double")
    popular = spark.createDataFrame([("a", 0.6), ("e", 0.5), ("g", 0.4)], "product_id string, score double")
    exclude = spark.createDataFrame([("M1", "a"), ("M2", "d")], "member_id string, product_id string")
    got = S.assemble(members, 2, als=als, popular=popular, segment_top=segment_top, exclude=exclude)
    expected = spark.createDataFrame([
        ("M1", "b", 1, 0.8, "als"), ("M1", "c", 2, 0.7, "als"),                               # a is routine for M1
        ("M2", "e", 1, 0.4, "segment_popularity"), ("M2", "f", 2, 0.3, "segment_popularity"),  # cold, d excluded
        ("M3", "a", 1, 0.6, "popularity"), ("M3", "e", 2, 0.5, "popularity"),                  # cold, no segment
        ("M4", "x", 1, 0.9, "als"), ("M4", "d", 2, 0.5, "segment_popularity")],               # one ALS item, filled
        "member_id string, product_id string, rank int, score double, source string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_assemble_without_segments_or_model_uses_popularity(spark):
    members = spark.createDataFrame([("M1",), ("M2",)], "member_id string")
    popular = spark.createDataFrame([("a", 0.6), ("a2", 0.5)], "product_id string, score double")
    got = S.assemble(members, 3, als=None, popular=popular)
    assert sorted(tuple(r) for r in got.collect()) == [
        ("M1", "a", 1, 0.6, "popularity"), ("M1", "a2", 2, 0.5, "popularity"),
        ("M2", "a", 1, 0.6, "popularity"), ("M2", "a2", 2, 0.5, "popularity")]

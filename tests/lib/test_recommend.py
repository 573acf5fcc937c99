"""The recommender's pieces on tiny inline data: interactions with recency decay, routine products,
the member index, members at as_of, popularity lists, the cold-start fallback and ALS top-k."""

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from loyalty import conf
from loyalty.ml import recommend as R

LINE_SCHEMA = "member_id string, upc string, quantity int, line_amount double, business_date date"
PRODUCTS = [("p1", "u1", "DAIRY", True), ("p2", "u2", "DAIRY", True), ("p3", "u3", "BAKERY", True),
            ("p3", "u3-old", "BAKERY", False)]


def d(text):
    return date.fromisoformat(text)


@pytest.fixture
def products(spark):
    return spark.createDataFrame(PRODUCTS, "product_id string, upc string, category string, is_current boolean")


def plines(spark, products, rows):
    return R.product_lines(spark.createDataFrame(rows, LINE_SCHEMA), products)


def test_product_lines_join_current_products_and_drop_unknown_members_and_returns(spark, products):
    rows = [("m1", "u1", 1, 2.0, d("2026-10-01")), (None, "u1", 1, 2.0, d("2026-10-01")),
            ("m1", "u3-old", 1, 2.0, d("2026-10-01")), ("m1", "u9", 1, 2.0, d("2026-10-01")),
            ("m1", "u2", -1, -2.0, d("2026-10-01"))]
    got = plines(spark, products, rows).select("member_id", "product_id", "category")
    expected = spark.createDataFrame([("m1", "p1", "DAIRY")], "member_id string, product_id string, category string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_interactions_decay_by_half_life_and_respect_the_window(spark, products):
    rows = [("m1", "u1", 1, 10.0, d("2026-10-01")),    # age 10: weight 0.5
            ("m1", "u1", 2, 4.0, d("2026-10-06")),     # age 5: weight 2 ** -0.5
            ("m1", "u1", 1, 99.0, d("2026-10-11")),    # on as_of: not before it
            ("m1", "u1", 1, 99.0, d("2026-08-01")),    # before the lookback
            ("m2", "u3", 1, 5.0, d("2026-10-10"))]     # category BAKERY, age 1
    pl = plines(spark, products, rows)
    as_of = d("2026-10-11")
    got = R.interactions(pl, as_of, lookback_days=30, half_life_days=10).select("member_id", "product_id", "confidence", "purchases")
    expected = spark.createDataFrame([("m1", "p1", 0.5 + 2 ** -0.5, 2), ("m2", "p3", 2 ** -0.1, 1)],
                                     "member_id string, product_id string, confidence double, purchases long")
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)
    spend = R.interactions(pl, as_of, lookback_days=30, confidence="spend", half_life_days=10)
    assert spend.where("member_id = 'm1'").first()["confidence"] == pytest.approx(10 * 0.5 + 4 * 2 ** -0.5)
    flat = R.interactions(pl, as_of, lookback_days=30, item_col="category")
    assert {(r["member_id"], r["category"], r["confidence"]) for r in flat.collect()} == {("m1", "DAIRY", 2.0), ("m2", "BAKERY", 1.0)}


def test_routine_items_count_distinct_weeks_in_the_lookback(spark, products):
    rows = [("m1", "u1", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-20", "2026-10-13")]       # weeks 0, 1, 2
    rows += [("m1", "u2", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-27", "2026-10-20")]      # weeks 0, 0, 1
    rows += [("m2", "u3", 1, 1.0, d(x)) for x in ("2026-10-28", "2026-10-20", "2026-09-25")]      # 3rd is outside
    got = R.routine_items(plines(spark, products, rows), d("2026-10-29"), min_weeks=3, lookback_weeks=4)
    assert [tuple(r) for r in got.collect()] == [("m1", "p1")]


def test_member_index_is_dense_sorted_and_repeatable(spark):
    ids = spark.createDataFrame([(m,) for m in ("m3", "m1", "m2", "m1", "m5")], "member_id string").repartition(3)
    first = R.member_index(ids)
    assert sorted(tuple(r) for r in first.collect()) == [("m1", 0), ("m2", 1), ("m3", 2), ("m5", 3)]
    assert dict(first.dtypes)["member_idx"] == "int"
    assert_df_equality(R.member_index(ids.repartition(2)), first, ignore_row_order=True)


def test_members_at_uses_the_version_valid_at_as_of(spark):
    rows = [("m1", "ACTIVE", d("2025-01-01"), datetime(2025, 1, 1), datetime(2026, 10, 5), False),
            ("m1", "CLOSED", d("2025-01-01"), datetime(2026, 10, 5), None, True),
            ("m2", "ACTIVE", d("2026-10-20"), datetime(2026, 10, 20), None, True),
            ("m3", "ACTIVE", d("2025-06-01"), datetime(2025, 6, 1), None, True)]
    members = spark.createDataFrame(rows, "member_id string, status string, enrollment_date date, "
                                          "valid_from timestamp, valid_to timestamp, is_current boolean")
    assert sorted(r[0] for r in R.members_at(members, d("2026-10-03")).collect()) == ["m1", "m3"]
    assert sorted(r[0] for r in R.members_at(members, d("2026-10-10")).collect()) == ["m3"]
    assert sorted(r[0] for r in R.members_at(members, d("2026-10-21")).collect()) == ["m2", "m3"]


def test_popularity_and_segment_popularity(spark, products):
    rows = [("m1", "u1", 1, 1.0, d("2026-10-05")), ("m1", "u1", 1, 1.0, d("2026-10-06")),
            ("m2", "u1", 1, 1.0, d("2026-10-05")), ("m2", "u2", 1, 1.0, d("2026-10-05")),
            ("m3", "u3", 1, 1.0, d("2026-10-05")), ("m4", "u2", 1, 1.0, d("2026-08-05"))]   # m4: outside window
    pl = plines(spark, products, rows)
    pop = R.popularity(pl, d("2026-10-11"), 28)
    assert {r["product_id"]: (r["buyers"], r["score"]) for r in pop.collect()} == \
        {"p1": (2, 2 / 3), "p2": (1, 1 / 3), "p3": (1, 1 / 3)}
    top = R.top_items(spark, pop, 2)
    assert [tuple(r) for r in top.collect()] == [("p1", 1, 2 / 3), ("p2", 2, 1 / 3)]
    segs = spark.createDataFrame([("m1", 1), ("m2", 1), ("m3", 2)], "member_id string, segment_id int")
    seg = R.segment_popularity(pl, segs, d("2026-10-11"), 28, 1)
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
    got = R.assemble(members, 2, als=als, popular=popular, segment_top=segment_top, exclude=exclude)
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
    got = R.assemble(members, 3, als=None, popular=popular)
    assert sorted(tuple(r) for r in got.collect()) == [
        ("M1", "a", 1, 0.6, "popularity"), ("M1", "a2", 2, 0.5, "popularity"),
        ("M2", "a", 1, 0.6, "popularity"), ("M2", "a2", 2, 0.5, "popularity")]


def test_fit_recovers_co_purchase_groups_and_pipeline_scores_pairs(spark):
    a, b = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    rows = [(f"m{i}", item, "A" if item in a else "B", d("2026-10-05"))
            for i in range(1, 7) for item in (a if i <= 3 else b)]
    rows += [("m7", "a1", "A", d("2026-10-05")), ("m7", "a2", "A", d("2026-10-05"))]
    pl = spark.createDataFrame(rows, "member_id string, product_id string, category string, business_date date") \
        .selectExpr("*", "1.0 AS amount")
    cfg = conf.load("test", ["ml.recommender.rank=3", "ml.recommender.max_iter=10", "ml.recommender.reg_param=0.01"])
    fitted = R.fit(pl, d("2026-10-11"), R.params(cfg))
    assert (fitted.interactions, fitted.members_n, fitted.products_n, fitted.category_interactions) == (20, 7, 6, 7)
    users = fitted.members.where("member_id = 'm7'")
    top = R.als_top(spark, fitted.stages.product_als, fitted.stages.product_indexer, users, 3)
    assert sorted(r["product_id"] for r in top.collect()) == a
    assert [r["rank"] for r in top.orderBy("rank").collect()] == [1, 2, 3]
    model = fitted.stages.pipeline()
    found = R.stages(model)
    assert found.category_als.getItemCol() == "category_idx"
    pairs = spark.createDataFrame([(fitted.members.where("member_id = 'm7'").first()["member_idx"], "a3", "B")],
                                  "member_idx int, product_id string, category string")
    out = model.transform(pairs).first()
    assert out["prediction"] is not None and out["category_prediction"] is not None
    fitted.unpersist()


def test_params_reject_bad_settings():
    with pytest.raises(conf.ConfigError, match="ml.recommender.confidence"):
        R.params(conf.load("test", ["ml.recommender.confidence=visits"]))
    with pytest.raises(conf.ConfigError, match="ml.recommender.rank"):
        R.params(conf.load("test", ["ml.recommender.rank=0"]))
    with pytest.raises(conf.ConfigError, match="cutoff_days"):
        R.params(conf.load("test", ["ml.recommender.cutoff_days=500"]))


def test_resolve_as_of():
    cfg = conf.load("test")
    assert R.resolve_as_of(cfg, "2026-09-30") == d("2026-09-30")
    assert R.resolve_as_of(cfg, None) == d("2026-11-01")          # silver.run_date (generator.end_date) + 1
    assert R.resolve_as_of(conf.load("test", ["gold.as_of=2026-10-15"]), None) == d("2026-10-15")
    with pytest.raises(conf.ConfigError, match="--as-of"):
        R.resolve_as_of(cfg, "yesterday")

"""Ranking metrics against values computed by hand on a tiny example (see the docstring of
loyalty.ml.metrics for the definitions)."""

import math

import pytest

from loyalty.ml import metrics as M

RECS = [("A", "p1", 1), ("A", "p2", 2), ("A", "p3", 3), ("A", "p4", 4),   # p4 is past k=3
        ("B", "p5", 1), ("B", "p6", 2),
        ("D", "p7", 1)]                                                  # D is not evaluated
TRUTH = [("A", "p2"), ("A", "p4"), ("A", "p9"), ("A", "p2"),               # duplicate ignored
         ("B", "p5"),
         ("C", "p1")]                                                      # C got no recommendations
CATEGORIES = [("p1", "X"), ("p2", "X"), ("p3", "Y"), ("p5", "X"), ("p6", "Y"), ("p7", "Z")]

# by hand, k = 3
# A: top3 p1 p2 p3, relevant {p2,p4,p9}: hit at rank 2
#    precision 1/3, recall 1/3, dcg 1/log2(3), idcg 1 + 1/log2(3) + 1/log2(4), ap (1/2) / 3
# B: top p5 p6, relevant {p5}: hit at rank 1 -> precision 1/3, recall 1, ndcg 1, ap 1
# C: nothing -> 0
NDCG_A = (1 / math.log2(3)) / (1 + 1 / math.log2(3) + 0.5)
EXPECTED = {
    "precision_at_3": (1 / 3 + 1 / 3 + 0) / 3,
    "recall_at_3": (1 / 3 + 1 + 0) / 3,
    "ndcg_at_3": (NDCG_A + 1 + 0) / 3,
    "map_at_3": (0.5 / 3 + 1 + 0) / 3,
}


@pytest.fixture
def recs(spark):
    return spark.createDataFrame(RECS, "member_id string, product_id string, rank int")


@pytest.fixture
def truth(spark):
    return spark.createDataFrame(TRUTH, "member_id string, product_id string")


def test_ranking_metrics_match_hand_computed_values(recs, truth):
    got = M.ranking_metrics(recs, truth, 3)
    assert got["members"] == 3
    for name, value in EXPECTED.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_per_member_values(recs, truth):
    rows = {r["member_id"]: r for r in M.per_member(recs, truth, 3).collect()}
    assert set(rows) == {"A", "B", "C"}
    assert (rows["A"]["n_relevant"], rows["A"]["hits"]) == (3, 1)
    assert rows["A"]["ndcg"] == pytest.approx(NDCG_A)
    assert rows["A"]["map"] == pytest.approx(1 / 6)
    assert (rows["B"]["precision"], rows["B"]["recall"], rows["B"]["ndcg"], rows["B"]["map"]) == \
        pytest.approx((1 / 3, 1.0, 1.0, 1.0))
    assert (rows["C"]["hits"], rows["C"]["ndcg"], rows["C"]["map"]) == (0, 0.0, 0.0)


def test_perfect_and_reversed_rankings(spark):
    truth = spark.createDataFrame([("A", "a"), ("A", "b")], "member_id string, product_id string")
    perfect = spark.createDataFrame([("A", "a", 1), ("A", "b", 2), ("A", "c", 3)], "member_id string, product_id string, rank int")
    late = spark.createDataFrame([("A", "c", 1), ("A", "d", 2), ("A", "a", 3)], "member_id string, product_id string, rank int")
    best = M.ranking_metrics(perfect, truth, 3)
    assert (best["ndcg_at_3"], best["map_at_3"], best["recall_at_3"]) == pytest.approx((1.0, 1.0, 1.0))
    assert best["precision_at_3"] == pytest.approx(2 / 3)
    worse = M.ranking_metrics(late, truth, 3)
    # one hit at rank 3: dcg 1/log2(4) = 0.5, idcg 1 + 1/log2(3); ap (1/3) / 2
    assert worse["ndcg_at_3"] == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert worse["map_at_3"] == pytest.approx(1 / 6)


def test_coverage_and_diversity(spark, recs, truth):
    cats = spark.createDataFrame(CATEGORIES, "product_id string, category string")
    # all members, top 3: p1 p2 p3 p5 p6 p7 of a 10-item catalog
    assert M.catalog_coverage(recs, 10, 3) == pytest.approx(0.6)
    # A: X X Y -> (9 - 5) / 6; B: X Y -> 1; D has one item (no pairs): excluded
    assert M.intra_list_diversity(recs, cats, 3) == pytest.approx((4 / 6 + 1) / 2)
    got = M.evaluate(recs, truth, 3, catalog_size=10, item_categories=cats)
    assert got["coverage_at_3"] == pytest.approx(0.5)       # evaluated members A, B only: p1 p2 p3 p5 p6
    assert got["diversity_at_3"] == pytest.approx((4 / 6 + 1) / 2)
    assert got["ndcg_at_3"] == pytest.approx(EXPECTED["ndcg_at_3"])


def test_k_must_be_positive(recs, truth):
    with pytest.raises(ValueError, match="k must be"):
        M.per_member(recs, truth, 0)


def test_novelty_is_the_share_of_top_k_items_never_bought_before(spark, recs, truth):
    history = spark.createDataFrame([("A", "p1"), ("A", "p3"), ("A", "p4"), ("B", "p9"), ("D", "p7")],
                                    "member_id string, product_id string")
    # all members, top 3: A p1 p2 p3 -> p2 new: 1/3; B p5 p6 -> 2/2; D p7 -> 0/1
    assert M.novelty(recs, history, 3) == pytest.approx((1 / 3 + 1 + 0) / 3)
    got = M.evaluate(recs, truth, 3, catalog_size=10, item_categories=None, history=history)
    assert got["novelty_at_3"] == pytest.approx((1 / 3 + 1) / 2)     # evaluated members A, B only

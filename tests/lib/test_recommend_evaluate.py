"""Evaluation of what members are served, against values computed by hand on a tiny inline lake."""

import math
from datetime import date

import pytest

from loyalty import conf
from loyalty.ml.recommend import evaluate as E
from loyalty.ml.recommend import interactions as I
from loyalty.ml.recommend import settings

PLINES = "member_id string, business_date date, product_id string, category string, amount double"
CUTOFF, AS_OF = date(2026, 10, 1), date(2026, 10, 15)
R2 = 1 / math.log2(3)           # the gain of a hit at rank 2


def d(text):
    return date.fromisoformat(text)


@pytest.fixture
def lake(spark):
    """Before the cutoff: m1 buys a in three weeks (routine) and b once; m2 d then e; m3 c; m4 d and e;
    m5 d. Popularity over the 28 days before the cutoff: d (3 buyers), e (2), a, b, c (1 each).
    After it: m1 buys a and c, m2 and m3 buy d."""
    cat = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
    rows = [("m1", d(x), "a") for x in ("2026-09-15", "2026-09-22", "2026-09-29")] + [
        ("m1", d("2026-09-10"), "b"), ("m2", d("2026-09-20"), "d"), ("m2", d("2026-09-21"), "e"),
        ("m3", d("2026-09-25"), "c"), ("m4", d("2026-09-20"), "d"), ("m4", d("2026-09-20"), "e"),
        ("m5", d("2026-09-21"), "d"),
        ("m1", d("2026-10-03"), "a"), ("m1", d("2026-10-04"), "c"), ("m2", d("2026-10-05"), "d"),
        ("m3", d("2026-10-06"), "d")]
    plines = spark.createDataFrame([(m, day, item, cat[item], 1.0) for m, day, item in rows], PLINES)
    catalog = spark.createDataFrame([(i, c) for i, c in cat.items()], "product_id string, category string")
    members = spark.createDataFrame([(f"m{i}",) for i in range(1, 6)], "member_id string")
    return plines, catalog, members


def params():
    return settings.from_conf(conf.load("test", [
        "ml.recommender.eval_k=2", "ml.recommender.top_n=2", "ml.recommender.routine_min_weeks=3",
        "ml.recommender.routine_lookback_weeks=4", "ml.recommender.popularity_days=28",
        "ml.recommender.lookback_days=120", "ml.recommender.half_life_days=120",
        "ml.recommender.gate_metric=ndcg_at_2"]))


def test_a_buy_again_only_model_wins_on_raw_lists_but_is_judged_on_what_is_served(spark, lake):
    plines, catalog, members = lake
    p = params()
    inter = I.interactions(plines, CUTOFF, lookback_days=120, half_life_days=120).where("member_id != 'm3'")
    known = inter.select("member_id").distinct()                # the model knows m1, m2, m4, m5; m3 is cold

    def buy_again_model(users, k):                              # "recommends" each member's own purchases
        return E.buy_again(inter.join(users, "member_id", "left_semi"), k)

    got = E.evaluate(spark, plines, catalog, CUTOFF, AS_OF, p, ranker=buy_again_model, known=known, members=members)

    # raw lists (members the model knows who bought after the cutoff: m1, m2), k = 2:
    #   m1 [a, b] vs {a, c}: hit at 1 -> ndcg 1 / (1 + R2);  m2 [e, d] (e is more recent) vs {d}: hit at 2 -> R2
    #   popularity [d, e] for both: m1 0, m2 1
    assert got["test_members"] == 2
    assert got["als_ndcg_at_2"] == pytest.approx((1 / (1 + R2) + R2) / 2)
    assert got["popularity_ndcg_at_2"] == pytest.approx(0.5)
    assert got["als_ndcg_at_2"] > got["popularity_ndcg_at_2"]
    assert got["als_novelty_at_2"] == 0.0                        # it only repeats purchases

    # served (members served at the cutoff who bought after it: m1, m2, m3). a is routine for m1 (3 of
    # the last 4 weeks): left out, so m1 gets b then the first popular item it lacks, d. m3 is unknown to
    # the model (cold start): popularity [d, e].
    #   m1 [b, d] vs {a, c}: 0;   m2 [e, d]: R2;   m3 [d, e] vs {d}: 1
    assert got["served_members"] == 3
    assert got["served_ndcg_at_2"] == pytest.approx((0 + R2 + 1) / 3)
    assert got["served_precision_at_2"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert got["served_coverage_at_2"] == pytest.approx(3 / 5)   # b, d, e of 5 products
    # novelty: m1 b bought, d new: 1/2; m2 both bought: 0; m3 both new: 1
    assert got["served_novelty_at_2"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert got["served_als_share"] == pytest.approx(3 / 6)       # m1 b, m2 e and d
    # the popularity baseline served the same way: [d, e] for all (a is not in the top 2): 0, 1, 1
    assert got["served_popularity_ndcg_at_2"] == pytest.approx(2 / 3)
    assert got["served_popularity_coverage_at_2"] == pytest.approx(2 / 5)
    # what members receive from it is worse than the served baseline, though its raw lists were better
    assert got["served_ndcg_at_2"] < got["served_popularity_ndcg_at_2"]
    assert got["served_lift_ndcg_at_2"] == pytest.approx(((R2 + 1) / 3) / (2 / 3))


def test_the_popularity_baseline_is_the_overall_list_even_where_segments_fill_cold_members(spark, lake):
    plines, catalog, members = lake
    p = params()
    segments = spark.createDataFrame([("m1", 1), ("m2", 1), ("m3", 1)], "member_id string, segment_id int")
    inter = I.interactions(plines, CUTOFF, lookback_days=120, half_life_days=120).where("member_id != 'm3'")

    def buy_again_model(users, k):
        return E.buy_again(inter.join(users, "member_id", "left_semi"), k)

    got = E.evaluate(spark, plines, catalog, CUTOFF, AS_OF, p, ranker=buy_again_model,
                     known=inter.select("member_id").distinct(), members=members.join(segments, "member_id", "left"),
                     segments=segments)
    # segment 1's list (365 days): a, b, c, d, e, one buyer each. Served by the model: m1 [b, then c from
    # the segment list], hit at 2 of {a, c}; m2 [e, d]: R2; m3 (cold) [a, b] from the segment list: 0
    assert got["served_ndcg_at_2"] == pytest.approx((R2 / (1 + R2) + R2 + 0) / 3)
    # the baseline stays the overall popularity list [d, e], served the same way: 0, 1, 1
    assert got["served_popularity_ndcg_at_2"] == pytest.approx(2 / 3)

"""Segments: the Gaussian mixture beside KMeans (algorithm kmeans | gmm | best), its soft membership
in gold.member_segments rows, and the choice between the two on the same rows."""

import pytest
from pyspark.sql import functions as F

from loyalty.conf import ConfigError, load
from loyalty.ml.segments import evaluate, fit as FIT, pipeline as P, scoring
from loyalty.ml.segments.settings import Rule, SegmentSettings, from_conf


def blobs(spark):
    """Three tight groups of 20 members far apart in (x, y): group = the planted label."""
    centers = {"A": (0.0, 0.0), "B": (10.0, 0.0), "C": (0.0, 10.0)}
    rows = [(f"{g}{i:02d}", g, cx + 0.3 * ((i % 5) - 2), cy + 0.3 * ((i // 5) - 1.5), 100.0)
            for g, (cx, cy) in centers.items() for i in range(20)]
    return spark.createDataFrame(rows, "member_id string, group string, x double, y double, spend_365d double") \
        .withColumn("as_of", F.lit("2026-10-01").cast("date"))


def settings(algorithm):
    return SegmentSettings(features=("x", "y"), banners=(), k_min=2, k_max=4, n_init=3, max_iter=50, seed=3,
                           algorithm=algorithm, rules=(Rule("Group", "true"),))


def test_best_fits_both_on_the_same_rows_and_keeps_the_higher_silhouette(spark):
    df = blobs(spark)
    result = FIT.fit(df, settings("best"))
    assert {(r.algorithm, r.k) for r in result.curve} == {(a, k) for a in ("kmeans", "gmm") for k in (2, 3, 4)}
    best = result.best_by_algorithm
    assert set(best) == {"kmeans", "gmm"} and best["kmeans"].k == best["gmm"].k == 3
    winner = max(best.values(), key=lambda r: (r.silhouette, r.algorithm == "kmeans"))
    assert (result.algorithm, result.k, result.silhouette) == (winner.algorithm, winner.k, winner.silhouette)
    assert P.algorithm_of(result.model) == result.algorithm
    # either way the three planted groups come back exactly
    scored = result.model.transform(df)
    _, _, table = evaluate.contingency(scored, "segment_id", "group")
    assert evaluate.adjusted_rand_index(table) == pytest.approx(1.0)


def test_gmm_rows_carry_the_posterior_of_their_segment(spark):
    df = blobs(spark)
    result = FIT.fit(df, settings("gmm"))
    assert result.algorithm == "gmm" and result.k == 3 and {r.algorithm for r in result.curve} == {"gmm"}
    rows = scoring.assign(result.model, df, 7).collect()
    assert len(rows) == 60
    for r in rows:
        probs = r["segment_probabilities"]
        assert len(probs) == 3 and sum(probs) == pytest.approx(1.0, abs=1e-9)
        assert r["segment_probability"] == probs[r["segment_id"]] == max(probs)
        assert r["segment_probability"] > 0.99          # groups 10 apart, spread 0.3: no doubt
        assert 0.0 <= r["distance"] < 1.0               # to the component's mean, standardized space
    assert {r["model_version"] for r in rows} == {7}
    # component means are the centers the distance is measured to: one per segment id
    assert len(P.centers(result.model)) == 3


def test_kmeans_rows_have_no_probability(spark):
    df = blobs(spark)
    result = FIT.fit(df, settings("kmeans"))
    assert result.algorithm == "kmeans" and set(result.best_by_algorithm) == {"kmeans"}
    rows = scoring.assign(result.model, df, 1).collect()
    assert all(r["segment_probability"] is None and r["segment_probabilities"] is None for r in rows)
    with pytest.raises(ValueError, match="not KMeans"):
        P.kmeans_stage(FIT.fit(df, settings("gmm")).model)


def test_an_unknown_algorithm_is_a_config_error():
    with pytest.raises(ConfigError, match="ml.segments.algorithm.*kmeans, gmm, best.*'forest'"):
        from_conf(load("test", ["ml.segments.algorithm=forest"]))
    assert from_conf(load("test")).algorithm == "best"

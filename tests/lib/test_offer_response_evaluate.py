"""Qini, AUUC, uplift by decile and their bootstrap intervals: hand-computed on a tiny ranking,
against an independent numpy implementation on random data, and the bootstrap interval of the
average effect against the analytic one."""

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from loyalty.offers.response import evaluate as E

SCHEMA = "member_id string, offer_id string, treated int, converted int, score double"


def tiny(spark):
    # (score, treated, converted): the top pair holds a persuadable, the middle pair a sure thing
    rows = [("A", 0.9, 1, 1), ("B", 0.8, 0, 0), ("C", 0.7, 1, 1), ("D", 0.6, 0, 1), ("E", 0.5, 1, 0), ("F", 0.4, 0, 0)]
    return spark.createDataFrame([(m, "O1", t, y, s) for m, s, t, y in rows], SCHEMA)


def test_hand_computed_qini_auuc_and_deciles(spark):
    df = tiny(spark).withColumn("reverse", -F.col("score"))
    ev = E.evaluate(df, {"model": "score", "reverse": "reverse"}, bins=3, rel_err=0.0, replicates=20, level=0.95,
                    seed=1, diff=("model", "reverse"))
    m = ev.metrics
    # top 2: q = (1 - 0)/3, top 4: (2 - 1*2/2)/3, all: (2 - 1)/3 -> area 5/18, minus the random 1/6
    assert ev.curves["model"].phi == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert ev.curves["model"].qini == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])
    assert m["model_qini"] == pytest.approx(1 / 9)
    assert m["model_auuc"] == pytest.approx(5 / 18)            # u = 1/3 at every cut
    assert m["model_auuc_random"] == pytest.approx(1 / 6)
    assert m["reverse_qini"] == pytest.approx(-1 / 9)          # q = 0, 0, 1/3 -> 1/18 - 1/6
    assert m["reverse_auuc"] == pytest.approx(1 / 18)
    assert m["model_minus_reverse_qini"] == pytest.approx(2 / 9)
    assert m["eval_ate"] == pytest.approx(1 / 3) and m["eval_rows"] == 6 and m["eval_control"] == 3
    assert [d["observed_uplift"] for d in ev.deciles["model"]] == pytest.approx([1.0, 0.0, 0.0])
    assert [d["mean_score"] for d in ev.deciles["model"]] == pytest.approx([0.85, 0.65, 0.45])
    for name in ("model", "reverse"):
        assert m[f"{name}_qini_ci_low"] <= m[f"{name}_qini_ci_high"]


def reference_qini(score, t, y, bins):
    """Independent: rank rows by score (distinct), equal-size bins by rank, per-row cumulative sums."""
    order = np.argsort(-score)
    t, y = t[order].astype(float), y[order].astype(float)
    size = len(score) // bins
    cut = np.arange(1, bins + 1) * size
    nt, nc = np.cumsum(t)[cut - 1], np.cumsum(1 - t)[cut - 1]
    yt, yc = np.cumsum(t * y)[cut - 1], np.cumsum((1 - t) * y)[cut - 1]
    phi = np.concatenate([[0], cut / len(score)])
    q = np.concatenate([[0], (yt - yc * nt / nc) / t.sum()])
    u = np.concatenate([[0], (yt / nt - yc / nc) * phi[1:]])
    return np.trapezoid(q, phi) - q[-1] / 2, np.trapezoid(u, phi)


def test_matches_an_independent_numpy_implementation(spark):
    rng = np.random.default_rng(7)
    n, bins = 2000, 10
    x = rng.uniform(size=n)
    t = (rng.uniform(size=n) < 0.7).astype(int)
    tau = np.where(x > 0.6, 0.3, -0.05)                      # persuadables on top, sleeping dogs below
    y = (rng.uniform(size=n) < 0.2 + t * tau).astype(int)
    score = x + rng.normal(scale=0.2, size=n)                # a noisy but informative ranking
    df = spark.createDataFrame([(f"m{i}", "O1", int(t[i]), int(y[i]), float(score[i])) for i in range(n)], SCHEMA)
    ev = E.evaluate(df, {"model": "score"}, bins=bins, rel_err=0.0, replicates=30, level=0.95, seed=3)
    qini, auuc = reference_qini(score, t, y, bins)
    assert [b["n_t"] + b["n_c"] for b in sorted(ev.curves["model"].bins, key=lambda b: b["bin"])] == [200] * 10
    assert ev.metrics["model_qini"] == pytest.approx(qini, abs=1e-12)
    assert ev.metrics["model_auuc"] == pytest.approx(auuc, abs=1e-12)
    assert qini > 0.02
    assert ev.metrics["model_qini_ci_low"] < qini < ev.metrics["model_qini_ci_high"]


def test_bootstrap_interval_of_the_effect_matches_the_analytic_one_and_is_reproducible(spark):
    rng = np.random.default_rng(11)
    n = 4000
    t = (rng.uniform(size=n) < 0.5).astype(int)
    y = (rng.uniform(size=n) < 0.2 + 0.1 * t).astype(int)
    df = spark.createDataFrame([(f"m{i}", "O1", int(t[i]), int(y[i]), float(rng.uniform())) for i in range(n)], SCHEMA)
    kw = dict(bins=5, rel_err=0.0, replicates=200, level=0.95, seed=5)
    m = E.evaluate(df, {"random": "score"}, **kw).metrics
    pt, pc = y[t == 1].mean(), y[t == 0].mean()
    se = math.sqrt(pt * (1 - pt) / (t == 1).sum() + pc * (1 - pc) / (t == 0).sum())
    assert m["eval_ate"] == pytest.approx(pt - pc)
    width = m["eval_ate_ci_high"] - m["eval_ate_ci_low"]
    assert width == pytest.approx(2 * 1.959964 * se, rel=0.2)
    assert m["eval_ate_ci_low"] < pt - pc < m["eval_ate_ci_high"]
    # a random ranking: Qini near 0 and its interval covers 0
    assert m["random_qini_ci_low"] < 0 < m["random_qini_ci_high"]
    assert E.evaluate(df, {"random": "score"}, **kw).metrics == m


def test_poisson_weights_have_mean_and_variance_one(spark):
    df = spark.range(20000).withColumn("w", E.poisson_weight(E.hash_uniform(["id"], "t", 1)))
    row = df.agg(F.avg("w").alias("m"), F.var_pop("w").alias("v"), F.min("w").alias("lo")).first()
    assert row["m"] == pytest.approx(1.0, abs=0.03) and row["v"] == pytest.approx(1.0, abs=0.05) and row["lo"] == 0

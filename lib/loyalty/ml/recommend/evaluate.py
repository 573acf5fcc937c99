"""Evaluation on a time split (no table names, no MLflow): a model fitted on data before ``cutoff``
against what members bought in [cutoff, as_of), beside the popularity baseline and the buy-again
reference; and the charts of the result."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from loyalty.conf import ConfigError
from loyalty.ml import metrics as M
from loyalty.ml.recommend.als import Fitted, als_top
from loyalty.ml.recommend.interactions import in_window, interactions
from loyalty.ml.recommend.serve import popularity, top_items
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, PRODUCT, Params


def buy_again(inter: DataFrame, k: int, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item, rank, score): each member's own ``k`` items of highest confidence. A reference
    for evaluation (how much of the test window is repeat buying), not a recommender."""
    order = Window.partitionBy(MEMBER).orderBy(F.desc("confidence"), F.asc(item_col))
    return (inter.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
            .select(MEMBER, item_col, "rank", F.col("confidence").alias("score")))


def evaluate(spark: SparkSession, plines: DataFrame, catalog: DataFrame, fitted: Fitted, cutoff: date, as_of: date,
             p: Params) -> dict[str, float]:
    """ALS (fitted on data before ``cutoff``) vs the popularity baseline on what members bought in
    [cutoff, as_of). Evaluated members: those with a purchase in the test window and a purchase in the
    training window (ALS has factors for them). Metric names: ``als_<m>``, ``popularity_<m>``,
    ``buy_again_<m>`` (each member's own most bought items: a reference for repeat buying) and
    ``category_als_<m>``, ``category_popularity_<m>``."""
    test = in_window(plines, cutoff, as_of)
    truth = test.select(MEMBER, PRODUCT).distinct().join(fitted.members, MEMBER, "left_semi").persist()
    cat_truth = test.select(MEMBER, CATEGORY).distinct().join(fitted.members, MEMBER, "left_semi")
    users = truth.select(MEMBER).distinct().join(fitted.members, MEMBER).persist()
    out: dict[str, float] = {}
    try:
        n_users = users.count()
        out["test_members"] = float(n_users)
        out["test_pairs"] = float(truth.count())
        catalog_size = catalog.count()
        cats = catalog.select(PRODUCT, CATEGORY)
        k, ck = p.eval_k, p.category_top_n
        als = als_top(spark, fitted.stages.product_als, fitted.stages.product_indexer, users, k)
        pop = users.select(MEMBER).crossJoin(F.broadcast(
            top_items(spark, popularity(plines, cutoff, p.popularity_days), k)))
        again = buy_again(interactions(plines, cutoff, lookback_days=p.lookback_days, confidence=p.confidence,
                                       half_life_days=p.half_life_days).join(users, MEMBER, "left_semi"), k)
        for name, recs in (("als", als), ("popularity", pop), ("buy_again", again)):
            recs = recs.persist()   # members x k rows, read by three metrics
            res = M.evaluate(recs, truth, k, catalog_size=catalog_size, item_categories=cats)
            recs.unpersist()
            out.update({f"{name}_{m}": v for m, v in res.items() if m != "members"})
        cat_als = als_top(spark, fitted.stages.category_als, fitted.stages.category_indexer, users, ck)
        cat_pop = users.select(MEMBER).crossJoin(F.broadcast(
            top_items(spark, popularity(plines, cutoff, p.popularity_days, CATEGORY), ck, CATEGORY)))
        n_categories = catalog.select(CATEGORY).distinct().count()
        for name, recs in (("category_als", cat_als), ("category_popularity", cat_pop)):
            recs = recs.persist()
            res = M.evaluate(recs, cat_truth, ck, catalog_size=n_categories, item_categories=None,
                             item_col=CATEGORY)
            recs.unpersist()
            out.update({f"{name}_{m}": v for m, v in res.items() if m != "members"})
    finally:
        truth.unpersist()
        users.unpersist()
    gate = f"als_{p.gate_metric}"
    if gate not in out:
        raise ConfigError(f"setting 'ml.recommender.gate_metric' is {p.gate_metric!r}, which evaluation does not "
                          f"compute; choose one of {sorted(m[4:] for m in out if m.startswith('als_'))}")
    base = out.get(f"popularity_{p.gate_metric}", 0.0)
    if base > 0:   # ALS / popularity; left out when the baseline scores 0 (MLflow refuses infinities)
        out[f"lift_{p.gate_metric}"] = out[gate] / base
    return out


def figures(metrics: dict, p: Params) -> list:
    """Bar charts of the evaluation as (artifact path, matplotlib figure): products (ALS, popularity,
    buy-again) and categories (ALS, popularity). The caller logs and closes them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = ((["als", "popularity", "buy_again"], p.eval_k, "plots/als_vs_popularity.png", "products"),
              (["category_als", "category_popularity"], p.category_top_n, "plots/category_als_vs_popularity.png",
               "categories"))
    out = []
    for models, k, path, what in charts:
        names = [f"{m}_at_{k}" for m in ("precision", "recall", "ndcg", "map", "coverage", "diversity")]
        names = [n for n in names if f"{models[0]}_{n}" in metrics]
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(models)
        for i, model in enumerate(models):
            xs = [x + (i - (len(models) - 1) / 2) * width for x in range(len(names))]
            ax.bar(xs, [metrics.get(f"{model}_{n}", 0.0) for n in names], width=width, label=model)
        ax.set_xticks(list(range(len(names))), names, rotation=20)
        ax.set_title(f"{what}: test window of {p.cutoff_days} days before as_of")
        ax.legend()
        fig.tight_layout()
        out.append((path, fig))
    return out

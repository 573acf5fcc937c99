"""Evaluation on a time split (no table names, no MLflow): a model fitted on data before ``cutoff``
against what members bought in [cutoff, as_of), beside the popularity baseline and the buy-again
reference; and the charts of the result."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from loyalty.conf import ConfigError
from loyalty.ml import metrics as M
from loyalty.ml.recommend.interactions import in_window, interactions
from loyalty.ml.recommend.serve import Ranker, popularity, popularity_ranker, product_lists, top_items
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, PRODUCT, Params


def buy_again(inter: DataFrame, k: int, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item, rank, score): each member's own ``k`` items of highest confidence. A reference
    for evaluation (how much of the test window is repeat buying), not a recommender."""
    order = Window.partitionBy(MEMBER).orderBy(F.desc("confidence"), F.asc(item_col))
    return (inter.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
            .select(MEMBER, item_col, "rank", F.col("confidence").alias("score")))


def bought_before(plines: DataFrame, before: date, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item) each member bought before ``before``: what novelty counts as already known."""
    return plines.where(F.col("business_date") < F.lit(before)).select(MEMBER, item_col).distinct()


def served_metrics(spark: SparkSession, plines: DataFrame, catalog: DataFrame, members: DataFrame, cutoff: date,
                   end: date, p: Params, *, ranker: Ranker | None, segments: DataFrame | None = None,
                   start: date | None = None) -> dict[str, float]:
    """Score what members are served at ``cutoff`` against what they bought in [start, end) (start
    defaults to cutoff). The lists are ``serve.product_lists``, the code ``recommend`` writes with: the
    ranker's top items without routine products, then the segment and overall popularity fallbacks
    (the popularity baseline served the same way: ``serve.popularity_ranker``). Evaluated members: those of
    ``members`` (member_id[, segment_id]: the members served at cutoff) who bought in the window,
    including those the ranker does not know, who are scored on their fallback list as served.
    Keys: ``<metric>_at_<eval_k>`` (precision, recall, ndcg, map, coverage, diversity, novelty),
    ``members``, and with a ranker ``ranker_share`` (share of the listed items that came from it)."""
    k = p.eval_k
    truth = (in_window(plines, start or cutoff, end).select(MEMBER, PRODUCT).distinct()
             .join(members.select(MEMBER), MEMBER, "left_semi").persist())
    served = product_lists(spark, plines, catalog, members.join(truth.select(MEMBER).distinct(), MEMBER,
                                                                "left_semi"),
                           cutoff, p, ranker=ranker, segments=segments)
    recs = served.recs.persist()
    try:
        out = M.evaluate(recs, truth, k, catalog_size=catalog.count(),
                         item_categories=catalog.select(PRODUCT, CATEGORY), history=bought_before(plines, cutoff))
        out["members"] = float(out["members"])
        if ranker is not None:
            rows = recs.agg(F.count(F.lit(1)).alias("n"), F.sum(F.when(F.col("source") == "als", 1).otherwise(0))
                            .alias("als")).first()
            out["ranker_share"] = float(rows["als"] or 0) / rows["n"] if rows["n"] else 0.0
    finally:
        recs.unpersist()
        served.unpersist()
        truth.unpersist()
    return out


def evaluate(spark: SparkSession, plines: DataFrame, catalog: DataFrame, cutoff: date, as_of: date, p: Params, *,
             ranker: Ranker, known: DataFrame, members: DataFrame, segments: DataFrame | None = None,
             category_ranker: Ranker | None = None) -> dict[str, float]:
    """A model fitted on data before ``cutoff`` (``ranker``, knowing the members of ``known``) on what
    members bought in [cutoff, as_of).

    - Served (what ``recommend`` would have written at cutoff, see ``served_metrics``): ``served_<m>``
      for the model and ``served_popularity_<m>`` for the popularity baseline served the same way, on
      the members of ``members`` who bought in the window (``served_members``). The gate judges these.
    - Raw lists, on the members with a purchase in the window that the model knows (``test_members``):
      ``als_<m>`` (the model's top k, routine products included), ``popularity_<m>`` and
      ``buy_again_<m>`` (each member's own most bought items: how much of the window is repeat buying),
      and with ``category_ranker`` ``category_als_<m>``, ``category_popularity_<m>``."""
    test = in_window(plines, cutoff, as_of)
    truth = test.select(MEMBER, PRODUCT).distinct().join(known, MEMBER, "left_semi").persist()
    cat_truth = test.select(MEMBER, CATEGORY).distinct().join(known, MEMBER, "left_semi")
    users = truth.select(MEMBER).distinct().persist()
    history = bought_before(plines, cutoff)
    out: dict[str, float] = {}
    try:
        n_users = users.count()
        out["test_members"] = float(n_users)
        out["test_pairs"] = float(truth.count())
        catalog_size = catalog.count()
        cats = catalog.select(PRODUCT, CATEGORY)
        k, ck = p.eval_k, p.category_top_n
        als = ranker(users, k)
        pop = popularity_ranker(spark, plines, cutoff, p.popularity_days)(users, k)
        again = buy_again(interactions(plines, cutoff, lookback_days=p.lookback_days, confidence=p.confidence,
                                       half_life_days=p.half_life_days).join(users, MEMBER, "left_semi"), k)
        for name, recs in (("als", als), ("popularity", pop), ("buy_again", again)):
            recs = recs.persist()   # members x k rows, read by several metrics
            res = M.evaluate(recs, truth, k, catalog_size=catalog_size, item_categories=cats, history=history)
            recs.unpersist()
            out.update({f"{name}_{m}": v for m, v in res.items() if m != "members"})
        if category_ranker is not None:
            cat_als = category_ranker(users, ck)
            cat_pop = users.crossJoin(F.broadcast(
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
    baseline = popularity_ranker(spark, plines, cutoff, p.popularity_days)
    for name, r in (("served", ranker), ("served_popularity", baseline)):
        res = served_metrics(spark, plines, catalog, members, cutoff, as_of, p, ranker=r, segments=segments)
        out["served_members"] = res.pop("members")
        share = res.pop("ranker_share")
        if name == "served":
            out["served_als_share"] = share
        out.update({f"{name}_{m}": v for m, v in res.items()})
    gate = f"served_{p.gate_metric}"
    if gate not in out:
        known_metrics = sorted(m[len("served_"):] for m in out
                               if m.startswith("served_") and "_at_" in m and not m.startswith("served_popularity_"))
        raise ConfigError(f"setting 'ml.recommender.gate_metric' is {p.gate_metric!r}, which evaluation does not "
                          f"compute; choose one of {known_metrics}")
    for prefix in ("", "served_"):   # model / popularity; left out when the baseline scores 0 (MLflow refuses inf)
        base = out.get(f"{prefix}popularity_{p.gate_metric}", 0.0)
        if base > 0:
            out[f"{prefix}lift_{p.gate_metric}"] = out[f"{prefix or 'als_'}{p.gate_metric}"] / base
    return out


def figures(metrics: dict, p: Params) -> list:
    """Bar charts of the evaluation as (artifact path, matplotlib figure): served lists (model and
    popularity), raw product lists (ALS, popularity, buy-again) and categories (ALS, popularity). The
    caller logs and closes them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = ((["served", "served_popularity"], p.eval_k, "plots/served_vs_popularity.png", "served lists"),
              (["als", "popularity", "buy_again"], p.eval_k, "plots/als_vs_popularity.png", "raw product lists"),
              (["category_als", "category_popularity"], p.category_top_n, "plots/category_als_vs_popularity.png",
               "categories"))
    out = []
    for models, k, path, what in charts:
        names = [f"{m}_at_{k}" for m in ("precision", "recall", "ndcg", "map", "coverage", "diversity", "novelty")]
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

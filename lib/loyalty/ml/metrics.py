"""Ranking metrics for top-k recommendations, computed per member in Spark and then averaged
(only the averages reach the driver).

Inputs are DataFrames:
- ``recs``: one row per recommended item, ``user_col``, ``item_col``, ``rank_col`` (1 = best);
- ``truth``: the items each member actually bought in the test window (``user_col``, ``item_col``;
  duplicates are ignored). The members of ``truth`` are the evaluated population: a member without
  recommendations scores 0; recommendations for members not in ``truth`` are ignored.

Definitions (binary relevance, R = the member's relevant items, hit(r) = item at rank r is in R):
- precision@k = hits in the top k / k
- recall@k    = hits in the top k / |R|
- ndcg@k      = sum_{hit ranks r <= k} 1/log2(r+1)  /  sum_{i=1..min(|R|,k)} 1/log2(i+1)
- map@k       = average precision: sum_{hit ranks r <= k} precision@r  /  min(|R|, k)
- catalog coverage    = distinct items recommended (top k, any member) / catalog size
- intra-list diversity = mean over members with >= 2 items in their top k of the share of item
  pairs whose categories differ: (n^2 - sum_c n_c^2) / (n (n - 1)).
- novelty = mean over members with recommendations of the share of their top-k items they never
  bought before the list was made (``history``: what each member bought before).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

METRICS = ("precision", "recall", "ndcg", "map")


def _log2(col):
    return F.log2(col.cast("double"))


def per_member(recs: DataFrame, truth: DataFrame, k: int, *, user_col: str = "member_id",
               item_col: str = "product_id", rank_col: str = "rank") -> DataFrame:
    """One row per member of ``truth``: n_relevant, hits, precision, recall, ndcg, map (at k)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rel = truth.select(user_col, item_col).dropDuplicates()
    n_rel = rel.groupBy(user_col).agg(F.count(F.lit(1)).alias("n_relevant"))
    top = (recs.where(F.col(rank_col) <= k).select(user_col, item_col, F.col(rank_col).cast("int").alias("_rank"))
           .join(rel.withColumn("_hit", F.lit(1)), [user_col, item_col], "left")
           .withColumn("_hit", F.coalesce("_hit", F.lit(0))))
    running = Window.partitionBy(user_col).orderBy("_rank").rowsBetween(Window.unboundedPreceding, 0)
    top = top.withColumn("_hits_so_far", F.sum("_hit").over(running))
    sums = top.groupBy(user_col).agg(
        F.sum("_hit").alias("hits"),
        F.sum(F.col("_hit") / _log2(F.col("_rank") + 1)).alias("_dcg"),
        F.sum(F.when(F.col("_hit") == 1, F.col("_hits_so_far") / F.col("_rank"))).alias("_ap_sum"))
    ideal_n = F.least(F.col("n_relevant"), F.lit(k))
    idcg = F.aggregate(F.sequence(F.lit(1), ideal_n), F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1.0))
    hits = F.coalesce(F.col("hits"), F.lit(0)).cast("long")
    return (n_rel.join(sums, user_col, "left").select(
        user_col, "n_relevant", hits.alias("hits"),
        (hits / F.lit(float(k))).alias("precision"),
        (hits / F.col("n_relevant")).alias("recall"),
        (F.coalesce(F.col("_dcg"), F.lit(0.0)) / idcg).alias("ndcg"),
        (F.coalesce(F.col("_ap_sum"), F.lit(0.0)) / ideal_n).alias("map")))


def ranking_metrics(recs: DataFrame, truth: DataFrame, k: int, *, user_col: str = "member_id",
                    item_col: str = "product_id", rank_col: str = "rank") -> dict[str, float]:
    """``{"precision_at_k": ..., "recall_at_k": ..., "ndcg_at_k": ..., "map_at_k": ..., "members": n}``
    averaged over the members of ``truth`` (0.0 each when ``truth`` is empty)."""
    pm = per_member(recs, truth, k, user_col=user_col, item_col=item_col, rank_col=rank_col)
    row = pm.agg(F.count(F.lit(1)).alias("members"), *[F.avg(m).alias(m) for m in METRICS]).first()
    out = {f"{m}_at_{k}": float(row[m] or 0.0) for m in METRICS}
    out["members"] = int(row["members"])
    return out


def catalog_coverage(recs: DataFrame, catalog_size: int, k: int, *, item_col: str = "product_id",
                     rank_col: str = "rank") -> float:
    """Share of the catalog that appears in at least one member's top k."""
    if catalog_size <= 0:
        return 0.0
    n = recs.where(F.col(rank_col) <= k).select(item_col).distinct().count()
    return n / catalog_size


def intra_list_diversity(recs: DataFrame, item_categories: DataFrame, k: int, *, user_col: str = "member_id",
                         item_col: str = "product_id", rank_col: str = "rank",
                         category_col: str = "category") -> float:
    """Mean share of pairs of a member's top-k items that come from different categories (items
    without a category count as one "unknown" category). 0.0 when no member has two items."""
    cats = item_categories.select(item_col, category_col).dropDuplicates([item_col])
    per_cat = (recs.where(F.col(rank_col) <= k).select(user_col, item_col)
               .join(F.broadcast(cats), item_col, "left")
               .withColumn(category_col, F.coalesce(F.col(category_col), F.lit("\u0000unknown")))
               .groupBy(user_col, category_col).agg(F.count(F.lit(1)).alias("_c")))
    per_user = (per_cat.groupBy(user_col).agg(F.sum("_c").alias("_n"), F.sum(F.col("_c") * F.col("_c")).alias("_sq"))
                .where(F.col("_n") >= 2)
                .select(((F.col("_n") * F.col("_n") - F.col("_sq")) / (F.col("_n") * (F.col("_n") - 1))).alias("_d")))
    value = per_user.agg(F.avg("_d")).first()[0]
    return float(value) if value is not None else 0.0


def novelty(recs: DataFrame, history: DataFrame, k: int, *, user_col: str = "member_id",
            item_col: str = "product_id", rank_col: str = "rank") -> float:
    """Mean over members with recommendations of the share of their top-k items that are not in
    ``history`` (user_col, item_col: what each member bought before). 0.0 when nobody has any."""
    bought = history.select(user_col, item_col).dropDuplicates().withColumn("_bought", F.lit(1.0))
    per_user = (recs.where(F.col(rank_col) <= k).select(user_col, item_col)
                .join(bought, [user_col, item_col], "left")
                .groupBy(user_col).agg(F.avg(1.0 - F.coalesce(F.col("_bought"), F.lit(0.0))).alias("_new")))
    value = per_user.agg(F.avg("_new")).first()[0]
    return float(value) if value is not None else 0.0


def evaluate(recs: DataFrame, truth: DataFrame, k: int, *, catalog_size: int, item_categories: DataFrame | None,
             history: DataFrame | None = None, user_col: str = "member_id", item_col: str = "product_id",
             rank_col: str = "rank", category_col: str = "category") -> dict[str, float]:
    """All metrics at k: ranking metrics over ``truth``'s members, catalog coverage, intra-list
    diversity (with ``item_categories``) and novelty (with ``history``) over the recommendations
    given to those members."""
    out = ranking_metrics(recs, truth, k, user_col=user_col, item_col=item_col, rank_col=rank_col)
    evaluated = recs.join(truth.select(user_col).distinct(), user_col, "left_semi")
    out[f"coverage_at_{k}"] = catalog_coverage(evaluated, catalog_size, k, item_col=item_col, rank_col=rank_col)
    if item_categories is not None:
        out[f"diversity_at_{k}"] = intra_list_diversity(evaluated, item_categories, k, user_col=user_col,
                                                        item_col=item_col, rank_col=rank_col,
                                                        category_col=category_col)
    if history is not None:
        out[f"novelty_at_{k}"] = novelty(evaluated, history, k, user_col=user_col, item_col=item_col,
                                         rank_col=rank_col)
    return out

"""The model: item StringIndexers and implicit-feedback ALS for products and categories, logged as one
PipelineModel [product StringIndexerModel, product ALSModel, category StringIndexerModel, category
ALSModel]; its transform scores (member_idx, product_id, category) pairs into ``prediction`` and
``category_prediction``. No table names, no MLflow."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from pyspark.ml import PipelineModel
from pyspark.ml.feature import StringIndexer, StringIndexerModel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.ml.recommend.interactions import interactions, member_index
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, MEMBER_IDX, PRODUCT, Params, RecommenderError

log = logging.getLogger(__name__)


def fit_indexer(inter: DataFrame, item_col: str) -> StringIndexerModel:
    """Item ids -> item_idx (most purchased first). The labels live in the model (bounded by catalog)."""
    return StringIndexer(inputCol=item_col, outputCol=f"{item_col}_idx", handleInvalid="skip",
                         stringOrderType="frequencyDesc").fit(inter.select(item_col))


def fit_als(indexed: DataFrame, *, item_col: str, rank: int, max_iter: int, reg_param: float, alpha: float,
            seed: int, prediction_col: str = "prediction") -> ALSModel:
    """Implicit-feedback ALS on (member_idx, <item>_idx, confidence)."""
    als = ALS(rank=rank, maxIter=max_iter, regParam=reg_param, alpha=alpha, implicitPrefs=True,
              userCol=MEMBER_IDX, itemCol=f"{item_col}_idx", ratingCol="confidence",
              coldStartStrategy="drop", seed=seed).setPredictionCol(prediction_col)
    return als.fit(indexed.select(MEMBER_IDX, f"{item_col}_idx", "confidence"))


def index(inter: DataFrame, members_idx: DataFrame, indexer: StringIndexerModel) -> DataFrame:
    return indexer.transform(inter).join(members_idx, MEMBER)


def als_top(spark: SparkSession, model: ALSModel, indexer: StringIndexerModel, users: DataFrame, k: int) -> DataFrame:
    """(member_id, item, rank, score) for the members of ``users`` (member_id, member_idx) that have
    factors: the model's top ``k`` items mapped back to their ids."""
    item_col = indexer.getInputCol()
    idx_col = model.getItemCol()
    labels = spark.createDataFrame([(i, v) for i, v in enumerate(indexer.labelsArray[0])],
                                   T.StructType([T.StructField(idx_col, T.IntegerType()),
                                                 T.StructField(item_col, T.StringType())]))
    recs = model.recommendForUserSubset(users.select(MEMBER_IDX), k)
    flat = recs.select(MEMBER_IDX, F.posexplode("recommendations").alias("_pos", "_rec")).select(
        MEMBER_IDX, (F.col("_pos") + 1).alias("rank"), F.col(f"_rec.{idx_col}").alias(idx_col),
        F.col("_rec.rating").cast("double").alias("score"))
    return (flat.join(F.broadcast(labels), idx_col).join(users.select(MEMBER, MEMBER_IDX), MEMBER_IDX)
            .select(MEMBER, item_col, "rank", "score"))


@dataclass
class Stages:
    product_indexer: StringIndexerModel
    product_als: ALSModel
    category_indexer: StringIndexerModel
    category_als: ALSModel

    def pipeline(self) -> PipelineModel:
        return PipelineModel([self.product_indexer, self.product_als, self.category_indexer, self.category_als])


def stages(model: PipelineModel) -> Stages:
    """The four stages of a logged recommender, found by type and column (not by position)."""
    indexers = {s.getInputCol(): s for s in model.stages if isinstance(s, StringIndexerModel)}
    als = {s.getItemCol(): s for s in model.stages if isinstance(s, ALSModel)}
    try:
        return Stages(indexers[PRODUCT], als[f"{PRODUCT}_idx"], indexers[CATEGORY], als[f"{CATEGORY}_idx"])
    except KeyError as exc:
        raise ValueError(f"not a loyalty recommender pipeline (no stage for {exc}); stages: {model.stages}") from None


@dataclass
class Fitted:
    stages: Stages
    members: DataFrame          # member_id, member_idx (persisted)
    interactions: int
    category_interactions: int
    members_n: int
    products_n: int
    fit_seconds: float
    category_fit_seconds: float

    def unpersist(self) -> None:
        self.members.unpersist()


def fit(plines: DataFrame, as_of: date, p: Params) -> Fitted:
    """Fit the product and category models on interactions before ``as_of``."""
    inter = interactions(plines, as_of, lookback_days=p.lookback_days, confidence=p.confidence,
                         half_life_days=p.half_life_days).persist()
    cat_inter = interactions(plines, as_of, lookback_days=p.lookback_days, confidence=p.confidence,
                             half_life_days=p.half_life_days, item_col=CATEGORY).persist()
    try:
        n_inter = inter.count()
        if n_inter == 0:
            raise RecommenderError(f"no interactions before {as_of} (lookback {p.lookback_days} days)")
        members = member_index(inter).persist()
        n_members = members.count()
        prod_ix = fit_indexer(inter, PRODUCT)
        cat_ix = fit_indexer(cat_inter, CATEGORY)
        indexed = index(inter, members, prod_ix).persist()
        indexed.count()
        started = time.monotonic()
        prod_als = fit_als(indexed, item_col=PRODUCT, rank=p.rank, max_iter=p.max_iter, reg_param=p.reg_param,
                           alpha=p.alpha, seed=p.seed)
        fit_seconds = time.monotonic() - started
        indexed.unpersist()
        started = time.monotonic()
        cat_als = fit_als(index(cat_inter, members, cat_ix), item_col=CATEGORY, rank=p.category_rank,
                          max_iter=p.max_iter, reg_param=p.reg_param, alpha=p.alpha, seed=p.seed,
                          prediction_col="category_prediction")
        cat_seconds = time.monotonic() - started
        n_cat = cat_inter.count()
    finally:
        inter.unpersist()
        cat_inter.unpersist()
    log.info("fitted ALS as of %s: %d interactions, %d members, %d products, rank %d, %d iterations: %.1fs "
             "(categories: %.1fs)", as_of, n_inter, n_members, len(prod_ix.labelsArray[0]), p.rank, p.max_iter,
             fit_seconds, cat_seconds)
    return Fitted(Stages(prod_ix, prod_als, cat_ix, cat_als), members, n_inter, n_cat, n_members,
                  len(prod_ix.labelsArray[0]), fit_seconds, cat_seconds)

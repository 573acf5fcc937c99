"""The segment model's Spark ML stages: a SQL stage (nulls filled, ``log1p`` of skewed columns) ->
VectorAssembler -> StandardScaler -> KMeans or GaussianMixture, and the Euclidean distance to a row's
centroid (a mixture component's mean)."""

from __future__ import annotations

from typing import Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import GaussianMixture, GaussianMixtureModel, KMeans, KMeansModel
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.ml.segments.settings import FEATURES_VECTOR, PREFIX, PROBABILITY_VECTOR, RAW_VECTOR, SEGMENT_ID


def quote(name: str) -> str:
    return f"`{name}`"


def prepare_statement(*, features: Sequence[str], log_features: Sequence[str], fill: dict[str, float],
                      prefix: str = PREFIX) -> str:
    """SQLTransformer statement: each feature as a double, nulls filled (conf ``fill``, default 0),
    ``log1p`` (of the value floored at 0) for the skewed money and count columns."""
    parts = []
    for c in features:
        value = f"coalesce(CAST({quote(c)} AS DOUBLE), {float(fill.get(c, 0.0))!r})"
        if c in log_features:
            value = f"log1p(greatest({value}, 0.0))"
        parts.append(f"{value} AS {quote(prefix + c)}")
    return f"SELECT *, {', '.join(parts)} FROM __THIS__"


def build_pipeline(*, features: Sequence[str], log_features: Sequence[str] = (), fill: dict[str, float] | None = None,
                   k: int, seed: int = 42, max_iter: int = 40, tol: float = 1e-4, init_steps: int = 5,
                   raw_col: str = RAW_VECTOR, features_col: str = FEATURES_VECTOR,
                   prediction_col: str = SEGMENT_ID) -> Pipeline:
    """SQL (fill, log1p) -> VectorAssembler -> StandardScaler (mean 0, sd 1) -> KMeans."""
    return Pipeline(stages=[*prep_stages(features=features, log_features=log_features, fill=fill or {},
                                         raw_col=raw_col, features_col=features_col),
                            kmeans_estimator(k, seed, max_iter, tol, features_col, prediction_col, init_steps)])


def prep_stages(*, features: Sequence[str], log_features: Sequence[str], fill: dict[str, float],
                raw_col: str = RAW_VECTOR, features_col: str = FEATURES_VECTOR) -> list:
    return [SQLTransformer(statement=prepare_statement(features=features, log_features=log_features, fill=fill)),
            VectorAssembler(inputCols=[PREFIX + c for c in features], outputCol=raw_col, handleInvalid="error"),
            StandardScaler(inputCol=raw_col, outputCol=features_col, withMean=True, withStd=True)]


def kmeans_estimator(k: int, seed: int, max_iter: int, tol: float, features_col: str, prediction_col: str,
            init_steps: int = 5) -> KMeans:
    return KMeans(k=k, seed=seed, maxIter=max_iter, tol=tol, featuresCol=features_col,
                  predictionCol=prediction_col, initMode="k-means||", initSteps=init_steps)


def gmm_estimator(k: int, seed: int, max_iter: int, tol: float, features_col: str, prediction_col: str,
                  probability_col: str = PROBABILITY_VECTOR) -> GaussianMixture:
    """Full-covariance Gaussian mixture: soft membership (``probability_col``), hard segment = the most
    probable component."""
    return GaussianMixture(k=k, seed=seed, maxIter=max_iter, tol=tol, featuresCol=features_col,
                           predictionCol=prediction_col, probabilityCol=probability_col)


def cluster_stage(model: PipelineModel) -> KMeansModel | GaussianMixtureModel:
    """The model's one clustering stage (KMeans or GaussianMixture)."""
    found = [s for s in model.stages if isinstance(s, (KMeansModel, GaussianMixtureModel))]
    if len(found) != 1:
        raise ValueError(f"expected one KMeans or GaussianMixture stage in the segment model, found {len(found)}")
    return found[0]


def kmeans_stage(model: PipelineModel) -> KMeansModel:
    stage = cluster_stage(model)
    if not isinstance(stage, KMeansModel):
        raise ValueError(f"the segment model's clustering stage is a {type(stage).__name__}, not KMeans")
    return stage


def algorithm_of(model: PipelineModel) -> str:
    """"kmeans" or "gmm"."""
    return "gmm" if isinstance(cluster_stage(model), GaussianMixtureModel) else "kmeans"


def centers(model: PipelineModel) -> list[list[float]]:
    """The k centroids (KMeans) or component means (GaussianMixture) in the standardized space."""
    stage = cluster_stage(model)
    if isinstance(stage, GaussianMixtureModel):
        return [[float(x) for x in g.mean] for g in stage.gaussians]
    return [[float(x) for x in c] for c in stage.clusterCenters()]


def with_distance(scored: DataFrame, centers: Sequence[Sequence[float]], *, features_col: str = FEATURES_VECTOR,
                  segment_col: str = SEGMENT_ID, out_col: str = "distance") -> DataFrame:
    """Euclidean distance from each row's (scaled) feature vector to its segment's centroid,
    computed in the JVM with the k centroids as a literal."""
    table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in centers])
    center = F.element_at(table, (F.col(segment_col) + 1).cast("int"))
    sq = F.zip_with(vector_to_array(F.col(features_col)), center, lambda x, c: (x - c) * (x - c))
    return scored.withColumn(out_col, F.sqrt(F.aggregate(sq, F.lit(0.0), lambda acc, v: acc + v)))

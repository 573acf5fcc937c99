"""Fitting: the prep stages once, then for each algorithm (conf ``algorithm``: kmeans, gmm, or best =
both) a model for each k in [k_min, k_max] on the cached scaled vectors; k chosen by silhouette per
algorithm and, with ``best``, the algorithm whose chosen model has the higher silhouette on the same
rows; clusters named. Returns the model and what to log (no table names, no MLflow)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.sql import DataFrame

from loyalty.ml.segments.naming import mean_rows, name_segments, naming_stage, segment_means
from loyalty.ml.segments.pipeline import gmm_estimator, kmeans_estimator, prep_stages
from loyalty.ml.segments.settings import (FEATURES_VECTOR, KEY, SEGMENT_ID, SEGMENT_NAME, SegmentSettings,
                                          SegmentsError)

log = logging.getLogger("loyalty")


@dataclass
class KResult:
    k: int
    silhouette: float
    training_cost: float             # KMeans: within-cluster sum of squares; gmm: -log-likelihood
    seconds: float
    sizes: list[int]
    algorithm: str = "kmeans"


@dataclass
class FitResult:
    model: PipelineModel             # prep stages + KMeans or GaussianMixture + naming stage
    k: int
    silhouette: float
    curve: list[KResult]             # every (algorithm, k) fitted
    algorithm: str                   # the chosen model's: kmeans or gmm
    best_by_algorithm: dict          # algorithm -> its silhouette-chosen KResult
    names: dict[int, str]
    centroids: list[dict]            # per segment: id, name, members, share, mean features (original units)
    members: int
    sample_rows: int
    seconds: float


def choose_k(curve: Sequence[KResult]) -> KResult:
    """Highest silhouette among the fits whose k segments all have members (an empty one means the fit
    has fewer segments than asked: that smaller k is in the curve already); a tie goes to the smaller
    k, then to KMeans, the simpler model."""
    full = [r for r in curve if not r.sizes or min(r.sizes) > 0] or list(curve)
    return max(full, key=lambda r: (r.silhouette, -r.k, r.algorithm == "kmeans"))


def algorithms(s: SegmentSettings) -> list[str]:
    return ["kmeans", "gmm"] if s.algorithm == "best" else [s.algorithm]


def fit_one(algorithm: str, k: int, scaled: DataFrame, s: SegmentSettings):
    """(model, cost, sizes) of the best of ``n_init`` starts: KMeans by lowest cost, GaussianMixture by
    highest log-likelihood (cost = -log-likelihood)."""
    if algorithm == "kmeans":
        fits = [kmeans_estimator(k, s.seed + i, s.max_iter, s.tol, FEATURES_VECTOR, SEGMENT_ID,
                                 s.init_steps).fit(scaled) for i in range(s.n_init)]
        best = min(fits, key=lambda m: m.summary.trainingCost)
        return best, float(best.summary.trainingCost), [int(x) for x in best.summary.clusterSizes]
    # a mixture start can leave a component empty (Spark seeds components from random rows): such a fit
    # has fewer than k segments, so a start with every component used wins, then the higher likelihood
    fits = [gmm_estimator(k, s.seed + i, s.max_iter, s.tol, FEATURES_VECTOR, SEGMENT_ID).fit(scaled)
            for i in range(s.n_init)]
    best = max(fits, key=lambda m: (min(m.summary.clusterSizes) > 0, m.summary.logLikelihood))
    return best, -float(best.summary.logLikelihood), [int(x) for x in best.summary.clusterSizes]


def silhouette(evaluator: ClusteringEvaluator, scored: DataFrame) -> float:
    """Silhouette of a hard assignment; -1 (the worst) when everything fell into one cluster (a mixture
    can collapse), which the evaluator refuses to score."""
    try:
        return float(evaluator.evaluate(scored))
    except Exception as exc:   # Spark: "Number of clusters must be greater than one"
        if "greater than one" not in str(exc):
            raise
        return -1.0

def fit(df: DataFrame, s: SegmentSettings) -> FitResult:
    """Fit the prep stages once, each algorithm of conf ``algorithm`` for each k in [k_min, k_max] on the cached scaled vectors,
    score each by silhouette (on a sample when the population is large), keep the best, name its
    clusters from their mean features. ``df``: one row per member (gold.member_features of one as_of)."""
    started = time.time()
    prep = Pipeline(stages=prep_stages(features=s.features, log_features=s.log_features, fill=s.fill)).fit(df)
    scaled = prep.transform(df).select(FEATURES_VECTOR).persist(StorageLevel.MEMORY_AND_DISK)
    sample = None
    try:
        n = scaled.count()
        if n < s.k_max:
            raise SegmentsError(f"{n} members cannot make {s.k_max} segments ({KEY}.k_max)")
        fraction = min(s.silhouette_sample_fraction, s.silhouette_max_rows / n if n else 1.0)
        if fraction < 1.0:
            sample = scaled.sample(fraction=fraction, seed=s.seed).persist(StorageLevel.MEMORY_AND_DISK)
            sample_rows = sample.count()
        else:
            sample_rows = n
        evaluator = ClusteringEvaluator(featuresCol=FEATURES_VECTOR, predictionCol=SEGMENT_ID,
                                        metricName="silhouette", distanceMeasure="squaredEuclidean")
        curve, models, per_algorithm = [], {}, {}
        for algorithm in algorithms(s):
            mine = []
            for k in range(s.k_min, s.k_max + 1):
                t0 = time.time()
                # both find local optima: the best of n_init starts (seeds seed, seed+1, ...) is kept
                model, cost, sizes = fit_one(algorithm, k, scaled, s)
                sil = silhouette(evaluator, model.transform(scaled if sample is None else sample))
                r = KResult(k, sil, cost, round(time.time() - t0, 2), sizes, algorithm)
                log.info("segments %s k=%d: silhouette %.4f, cost %.1f, sizes %s (%.1fs)", algorithm, k, sil,
                         r.training_cost, r.sizes, r.seconds)
                mine.append(r)
                models[(algorithm, k)] = model
            per_algorithm[algorithm] = choose_k(mine)
            curve += mine
        best = choose_k(list(per_algorithm.values()))
    finally:
        scaled.unpersist()
        if sample is not None:
            sample.unpersist()
    if len(per_algorithm) > 1:
        log.info("segments: %s", ", ".join(f"{a} k={r.k} silhouette {r.silhouette:.4f}" for a, r in per_algorithm.items())
                 + f": {best.algorithm} wins")
    unnamed = PipelineModel([*prep.stages, models[(best.algorithm, best.k)]])
    scored = unnamed.transform(df)
    means = segment_means(scored, s.profile_columns, fill=s.fill)
    names = name_segments(means, s.rules)
    centroids = [{**row, SEGMENT_NAME: names[row[SEGMENT_ID]]} for row in mean_rows(means)]
    model = PipelineModel([*unnamed.stages, naming_stage(names)])
    log.info("segments: %s k=%d (silhouette %.4f), names %s", best.algorithm, best.k, best.silhouette, names)
    return FitResult(model, best.k, best.silhouette, curve, best.algorithm, per_algorithm, names, centroids, n,
                     sample_rows, round(time.time() - started, 1))

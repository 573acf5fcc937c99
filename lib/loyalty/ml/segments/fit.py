"""Fitting: the prep stages once, KMeans for each k in [k_min, k_max] on the cached scaled vectors,
k chosen by silhouette, clusters named. Returns the model and what to log (no table names, no MLflow)."""

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
from loyalty.ml.segments.pipeline import kmeans_estimator, prep_stages
from loyalty.ml.segments.settings import (FEATURES_VECTOR, KEY, SEGMENT_ID, SEGMENT_NAME, SegmentSettings,
                                          SegmentsError)

log = logging.getLogger("loyalty")


@dataclass
class KResult:
    k: int
    silhouette: float
    training_cost: float
    seconds: float
    sizes: list[int]


@dataclass
class FitResult:
    model: PipelineModel             # prep stages + KMeans + naming stage
    k: int
    silhouette: float
    curve: list[KResult]
    names: dict[int, str]
    centroids: list[dict]            # per segment: id, name, members, share, mean features (original units)
    members: int
    sample_rows: int
    seconds: float


def choose_k(curve: Sequence[KResult]) -> KResult:
    """Highest silhouette; a tie goes to the smaller k."""
    return max(curve, key=lambda r: (r.silhouette, -r.k))


def fit(df: DataFrame, s: SegmentSettings) -> FitResult:
    """Fit the prep stages once, KMeans for each k in [k_min, k_max] on the cached scaled vectors,
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
        curve, models = [], {}
        for k in range(s.k_min, s.k_max + 1):
            t0 = time.time()
            # KMeans finds a local optimum: keep the lowest-cost of n_init starts (seeds seed, seed+1, ...)
            fits = [kmeans_estimator(k, s.seed + i, s.max_iter, s.tol, FEATURES_VECTOR, SEGMENT_ID,
                                     s.init_steps).fit(scaled) for i in range(s.n_init)]
            km = min(fits, key=lambda m: m.summary.trainingCost)
            sil = float(evaluator.evaluate(km.transform(scaled if sample is None else sample)))
            r = KResult(k, sil, float(km.summary.trainingCost), round(time.time() - t0, 2),
                        [int(x) for x in km.summary.clusterSizes])
            log.info("segments k=%d: silhouette %.4f, cost %.1f, sizes %s (%.1fs)", k, sil, r.training_cost,
                     r.sizes, r.seconds)
            curve.append(r)
            models[k] = km
        best = choose_k(curve)
    finally:
        scaled.unpersist()
        if sample is not None:
            sample.unpersist()
    unnamed = PipelineModel([*prep.stages, models[best.k]])
    scored = unnamed.transform(df)
    means = segment_means(scored, s.profile_columns, fill=s.fill)
    names = name_segments(means, s.rules)
    centroids = [{**row, SEGMENT_NAME: names[row[SEGMENT_ID]]} for row in mean_rows(means)]
    model = PipelineModel([*unnamed.stages, naming_stage(names)])
    log.info("segments: k=%d (silhouette %.4f), names %s", best.k, best.silhouette, names)
    return FitResult(model, best.k, best.silhouette, curve, names, centroids, n, sample_rows,
                     round(time.time() - started, 1))

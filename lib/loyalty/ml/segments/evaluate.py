"""Evaluation: two segmentations of one snapshot compared by silhouette in the same feature space
(the promotion gate), and agreement with known groups (contingency table in Spark, adjusted Rand
index), used by the benchmark against the planted personas."""

from __future__ import annotations

import math
from typing import Sequence

from pyspark.ml import PipelineModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.ml.segments.settings import FEATURES_VECTOR, SEGMENT_ID, SegmentSettings


def contingency(df: DataFrame, a_col: str, b_col: str) -> tuple[list, list, list[list[int]]]:
    """Counts of (a, b) pairs as a table: (a labels, b labels, rows of counts). Bounded by the
    number of distinct labels (segments x personas), computed in Spark."""
    cells = df.groupBy(a_col, b_col).agg(F.count(F.lit(1)).alias("n")).collect()
    a_labels = sorted({r[a_col] for r in cells}, key=str)
    b_labels = sorted({r[b_col] for r in cells}, key=str)
    ai, bi = {v: i for i, v in enumerate(a_labels)}, {v: i for i, v in enumerate(b_labels)}
    table = [[0] * len(b_labels) for _ in a_labels]
    for r in cells:
        table[ai[r[a_col]]][bi[r[b_col]]] += int(r["n"])
    return a_labels, b_labels, table


def adjusted_rand_index(table: Sequence[Sequence[int]]) -> float:
    """Adjusted Rand index (Hubert & Arabie) from a contingency table n[i][j] = items in cluster i
    and class j:  (sum_ij C(n_ij,2) - E) / ((sum_i C(a_i,2) + sum_j C(b_j,2)) / 2 - E),  with
    E = sum_i C(a_i,2) * sum_j C(b_j,2) / C(n,2). 1 = identical partitions, ~0 = chance.
    Degenerate cases (one cluster and one class, or every item alone) give 1.0."""
    def c2(x: int) -> int:
        return x * (x - 1) // 2
    rows = [list(map(int, r)) for r in table]
    if any(v < 0 for r in rows for v in r):
        raise ValueError("contingency counts must be >= 0")
    n = sum(map(sum, rows))
    if n < 2:
        return 1.0
    a = [sum(r) for r in rows]
    b = [sum(col) for col in zip(*rows)] if rows else []
    index = sum(c2(v) for r in rows for v in r)
    sa, sb = sum(map(c2, a)), sum(map(c2, b))
    expected = sa * sb / c2(n)
    maximum = (sa + sb) / 2
    if math.isclose(maximum, expected):
        return 1.0
    return (index - expected) / (maximum - expected)


CHAMPION_ID = "_seg_champion_id"


def compare_silhouettes(new: PipelineModel, champion: PipelineModel, df: DataFrame, s: SegmentSettings
                        ) -> tuple[float, float, int]:
    """(new, champion, rows): the silhouettes of two models' segmentations of the same members
    (``df``: one gold.member_features snapshot), both measured in the new model's standardized feature
    space (squared Euclidean, as ``fit`` measures k), on the same rows: a sample when the snapshot
    exceeds ``silhouette_max_rows`` (or ``silhouette_sample_fraction`` < 1). The champion scores the
    snapshot with its own stages; only its segment ids are kept."""
    labelled = champion.transform(df).select(*df.columns, F.col(SEGMENT_ID).cast("int").alias(CHAMPION_ID))
    scored = new.transform(labelled).select(FEATURES_VECTOR, SEGMENT_ID, CHAMPION_ID).persist()
    sample = None
    try:
        n = scored.count()
        fraction = min(s.silhouette_sample_fraction, s.silhouette_max_rows / n if n else 1.0)
        if fraction < 1.0:
            sample = scored.sample(fraction=fraction, seed=s.seed).persist()
        rows = sample.count() if sample is not None else n
        data = sample if sample is not None else scored
        evaluator = ClusteringEvaluator(featuresCol=FEATURES_VECTOR, metricName="silhouette",
                                        distanceMeasure="squaredEuclidean")
        new_value = float(evaluator.setPredictionCol(SEGMENT_ID).evaluate(data))
        champion_value = float(evaluator.setPredictionCol(CHAMPION_ID).evaluate(data))
    finally:
        scored.unpersist()
        if sample is not None:
            sample.unpersist()
    return new_value, champion_value, rows

"""Segments: the model's prep stage, the pipeline and the distance to the centroid."""

import math

import pytest
from pyspark.ml.feature import SQLTransformer
from pyspark.ml.linalg import Vectors

from loyalty.ml.segments import naming, pipeline as P


def test_prep_stage_fills_nulls_and_takes_log1p(spark):
    df = spark.createDataFrame([("a", None, 0), ("b", 10, 3)], "member_id string, recency_days int, trips_90d long")
    stmt = P.prepare_statement(features=["recency_days", "trips_90d"], log_features=["trips_90d"],
                               fill={"recency_days": 365})
    out = {r["member_id"]: r for r in SQLTransformer(statement=stmt).transform(df).collect()}
    assert out["a"]["_seg_x_recency_days"] == 365.0 and out["a"]["_seg_x_trips_90d"] == 0.0
    assert out["b"]["_seg_x_recency_days"] == 10.0 and out["b"]["_seg_x_trips_90d"] == pytest.approx(math.log(4))


def test_pipeline_separates_two_groups_and_distance_is_to_own_centroid(spark):
    rows = [(f"a{i}", 2.0 + 0.1 * (i % 3), 100.0 + i) for i in range(12)] + \
           [(f"b{i}", 40.0 + 0.1 * (i % 3), 1.0 + i) for i in range(12)]
    df = spark.createDataFrame(rows, "member_id string, x double, y double")
    model = P.build_pipeline(features=["x", "y"], log_features=["y"], k=2, seed=1).fit(df)
    model = type(model)([*model.stages, naming.naming_stage({0: "It's zero", 1: "One"})])
    scored = P.with_distance(model.transform(df), P.kmeans_stage(model).clusterCenters())
    got = {r["member_id"]: r for r in scored.select("member_id", "segment_id", "segment_name", "distance").collect()}
    assert len({got[f"a{i}"]["segment_id"] for i in range(12)}) == 1
    assert got["a0"]["segment_id"] != got["b0"]["segment_id"]
    assert {r["segment_name"] for r in got.values()} == {"It's zero", "One"}
    assert all(0.0 <= r["distance"] < 1.5 for r in got.values())


def test_with_distance_is_euclidean_to_the_assigned_center(spark):
    df = spark.createDataFrame([(Vectors.dense([3.0, 4.0]), 0), (Vectors.dense([1.0, 1.0]), 1)],
                               ["_seg_features", "segment_id"])
    d = [r["distance"] for r in P.with_distance(df, [[0.0, 0.0], [1.0, 2.0]]).orderBy("segment_id").collect()]
    assert d == [pytest.approx(5.0), pytest.approx(1.0)]

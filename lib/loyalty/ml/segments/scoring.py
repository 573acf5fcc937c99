"""Scoring rows (pure): gold.member_segments rows from a model, gold.segment_profiles rows from them."""

from __future__ import annotations

from typing import Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.ml.segments.naming import filled
from pyspark.ml.functions import vector_to_array

from loyalty.ml.segments.pipeline import algorithm_of, centers, with_distance
from loyalty.ml.segments.settings import PROBABILITY_VECTOR, SEGMENT_ID, SEGMENT_NAME, SegmentSettings


def assign(model: PipelineModel, features: DataFrame, version: int, *, member_col: str = "member_id",
           as_of_col: str = "as_of", keep: Sequence[str] = ()) -> DataFrame:
    """gold.member_segments rows: member_id, as_of, segment_id, segment_name, distance (to the
    centroid or the mixture component's mean, in the model's standardized feature space),
    segment_probability (a Gaussian mixture's posterior probability of the assigned segment; null for
    KMeans, a hard assignment), segment_probabilities (the mixture's probability per segment id; null
    for KMeans), model_version; plus ``keep`` columns."""
    scored = with_distance(model.transform(features), centers(model))
    if algorithm_of(model) == "gmm":
        probs = vector_to_array(F.col(PROBABILITY_VECTOR))
        prob = F.element_at(probs, (F.col(SEGMENT_ID) + 1).cast("int"))
    else:
        probs, prob = F.lit(None).cast("array<double>"), F.lit(None).cast("double")
    return scored.select(member_col, as_of_col, F.col(SEGMENT_ID).cast("int").alias(SEGMENT_ID), SEGMENT_NAME,
                         F.col("distance").cast("double").alias("distance"),
                         prob.cast("double").alias("segment_probability"),
                         probs.cast("array<double>").alias("segment_probabilities"),
                         F.lit(int(version)).alias("model_version"), *keep)


def profile(scored: DataFrame, s: SegmentSettings, *, spend_col: str = "spend_365d") -> DataFrame:
    """gold.segment_profiles rows for one scoring (k rows): segment_id, segment_name, members,
    member_share, mean_features (map column -> mean in original units), banner_spend_shares (map
    banner -> share of the segment's banner spend), top_banner, top_banner_share."""
    cols = s.profile_columns
    banners = list(s.banners)
    banner_spend = [F.sum(F.coalesce(F.col(f"spend_share_{b.lower()}"), F.lit(0.0)) *
                          F.coalesce(F.col(spend_col), F.lit(0.0))).alias(f"_b_{b}") for b in banners]
    per = scored.groupBy(SEGMENT_ID, SEGMENT_NAME).agg(
        F.count(F.lit(1)).alias("members"), *[F.avg(filled(c, s.fill)).alias(f"_m_{c}") for c in cols], *banner_spend)
    total = F.greatest(sum((F.col(f"_b_{b}") for b in banners), F.lit(0.0)), F.lit(1e-12))
    shares = F.create_map(*[x for b in banners for x in (F.lit(b), F.col(f"_b_{b}") / total)])
    ranked = F.sort_array(F.array(*[F.struct((F.col(f"_b_{b}") / total).alias("share"), F.lit(b).alias("banner"))
                                    for b in banners]), asc=False)
    n_all = scored.agg(F.count(F.lit(1)).alias("_n"))
    return (per.crossJoin(F.broadcast(n_all)).select(
        F.col(SEGMENT_ID).cast("int").alias(SEGMENT_ID), SEGMENT_NAME,
        F.col("members").cast("long").alias("members"),
        (F.col("members") / F.col("_n")).alias("member_share"),
        F.create_map(*[x for c in cols for x in (F.lit(c), F.col(f"_m_{c}"))]).alias("mean_features"),
        shares.alias("banner_spend_shares"),
        ranked[0]["banner"].alias("top_banner"),
        ranked[0]["share"].alias("top_banner_share")))

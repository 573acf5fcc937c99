"""The only module of the recommender that reads and writes tables and talks to MLflow:

    result = run.train(spark, cfg, as_of)   # evaluate on a time split, fit, log, register, gate
    result = run.score(spark, cfg, as_of)   # champion by alias -> gold.recommendations (+ categories)

Nothing member-level reaches the driver. Docs: docs/models.md, "Recommendations".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import Config
from loyalty.ml import tracking
from loyalty.ml.recommend.als import fit, stages
from loyalty.ml.recommend.evaluate import evaluate, figures
from loyalty.ml.recommend.interactions import product_lines, products_at
from loyalty.ml.recommend.serve import als_ranker, category_lists, members_at, product_lists
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, MEMBER_IDX, PRODUCT, Params, RecommenderError, from_conf

log = logging.getLogger(__name__)

LINES_TABLE, PRODUCTS_TABLE, MEMBERS_TABLE = "silver.transaction_lines", "silver.products", "silver.members"
SEGMENTS_TABLE = "gold.member_segments"
RECS_TABLE, CATEGORY_RECS_TABLE = "gold.recommendations", "gold.category_recommendations"
INDEX_TABLE = "gold.recommender_member_index"
INPUTS = [LINES_TABLE, PRODUCTS_TABLE, MEMBERS_TABLE, SEGMENTS_TABLE]

REC_COLUMNS = [MEMBER, "as_of", PRODUCT, "rank", "score", "source", "model_version"]
CATEGORY_REC_COLUMNS = [MEMBER, "as_of", CATEGORY, "rank", "score", "source", "model_version"]


@dataclass
class TrainResult:
    as_of: date
    cutoff: date
    run_id: str
    version: int
    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)


def train(spark: SparkSession, cfg: Config, as_of: date) -> TrainResult:
    """Evaluate on a time split, fit the model to serve (on everything before as_of), log it all to
    MLflow, register a version of ``ml.recommender.model_name``, write its member index and run the
    promotion gate."""
    import mlflow

    p = from_conf(cfg)
    cutoff = as_of - timedelta(days=p.cutoff_days)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with tracking.training_run(cfg, p.model_name, as_of, INPUTS) as run:
        mlflow.log_params(p.log_params())
        mlflow.log_param("cutoff", cutoff.isoformat())
        products = lake.read(spark, cfg, PRODUCTS_TABLE)
        plines = product_lines(lake.read(spark, cfg, LINES_TABLE), products, as_of).persist()
        try:
            catalog = products_at(products, as_of).select(PRODUCT, CATEGORY).distinct()
            t = time.monotonic()
            split = fit(plines, cutoff, p)
            timings["eval_fit_seconds"] = split.fit_seconds
            members, segments, _ = served_members(spark, cfg, cutoff)   # who recommend would have served
            metrics = evaluate(spark, plines, catalog, cutoff, as_of, p, ranker=als_ranker(spark, split.stages,
                                                                                          split.members),
                               category_ranker=als_ranker(spark, split.stages, split.members, CATEGORY),
                               known=split.members, members=members, segments=segments)
            members.unpersist()
            timings["eval_seconds"] = time.monotonic() - t
            if p.refit:
                split.unpersist()
                final = fit(plines, as_of, p)
            else:
                final = split
            timings["fit_seconds"] = final.fit_seconds
            timings["category_fit_seconds"] = final.category_fit_seconds
            counts = {"interactions": final.interactions, "category_interactions": final.category_interactions,
                      "members": final.members_n, "products": final.products_n,
                      "train_interactions": split.interactions}
            mlflow.log_metrics({**metrics, **timings, **{k: float(v) for k, v in counts.items()}})
            _log_plots(metrics, p)
            t = time.monotonic()
            info = tracking.log_spark_model(final.stages.pipeline(), "model", cfg=cfg)
            timings["log_model_seconds"] = time.monotonic() - t
            gate_metric = f"served_{p.gate_metric}"
            value = metrics[gate_metric]
            version = tracking.register(cfg, p.model_name, info.model_uri, gate_metric, value)
            index_rows = final.members.select(F.lit(version).cast("int").alias("model_version"), MEMBER, MEMBER_IDX)
            lake.overwrite(index_rows, cfg, INDEX_TABLE, partition_by=["model_version"],
                           partitions=[{"model_version": version}])
            promotion = tracking.promote(cfg, p.model_name, version, gate_metric, value)
            final.unpersist()
        finally:
            plines.unpersist()
        timings["total_seconds"] = time.monotonic() - started
        mlflow.log_metrics({"log_model_seconds": timings["log_model_seconds"], "total_seconds": timings["total_seconds"]})
        run_id = run.info.run_id
    return TrainResult(as_of, cutoff, run_id, version, promotion.promoted, promotion.reason, metrics, timings, counts)


def _log_plots(metrics: dict, p: Params) -> None:
    """The evaluation charts as run artifacts under plots/."""
    import matplotlib.pyplot as plt
    import mlflow

    for path, fig in figures(metrics, p):
        mlflow.log_figure(fig, path)
        plt.close(fig)


@dataclass
class ScoreResult:
    as_of: date
    version: int
    rows: int
    category_rows: int
    by_source: dict
    category_by_source: dict
    segments_as_of: date | None
    seconds: float


def load_segments(spark: SparkSession, cfg: Config, as_of: date) -> tuple[DataFrame | None, date | None]:
    """(member_id, segment_id) from the latest ``gold.member_segments`` snapshot at or before as_of,
    or (None, None) when that table does not exist (yet) or has no such snapshot."""
    if not lake.exists(cfg, SEGMENTS_TABLE):
        return None, None
    seg = lake.read(spark, cfg, SEGMENTS_TABLE).where(F.col("as_of") <= F.lit(as_of))
    latest = seg.agg(F.max("as_of")).first()[0]
    if latest is None:
        return None, None
    return seg.where(F.col("as_of") == F.lit(latest)).select(MEMBER, "segment_id").dropDuplicates([MEMBER]), latest


def served_members(spark: SparkSession, cfg: Config, as_of: date) -> tuple[DataFrame, DataFrame | None, date | None]:
    """The members ``recommend`` serves at as_of (persisted: member_id[, segment_id]), the segment
    snapshot it uses (or None) and that snapshot's date."""
    segments, seg_as_of = load_segments(spark, cfg, as_of)
    members = members_at(lake.read(spark, cfg, MEMBERS_TABLE), as_of)
    if segments is not None:
        members = members.join(segments, MEMBER, "left")
    return members.persist(), segments, seg_as_of


def score(spark: SparkSession, cfg: Config, as_of: date) -> ScoreResult:
    """Write gold.recommendations and gold.category_recommendations for ``as_of`` with the champion."""
    started = time.monotonic()
    p = from_conf(cfg)
    model, version = tracking.load_champion(cfg, p.model_name)
    st = stages(model)
    if not lake.exists(cfg, INDEX_TABLE):
        raise RecommenderError(f"{INDEX_TABLE} does not exist: train_recommender writes it with each model version")
    idx = (lake.read(spark, cfg, INDEX_TABLE).where(F.col("model_version") == version).select(MEMBER, MEMBER_IDX))
    products = lake.read(spark, cfg, PRODUCTS_TABLE)
    plines = product_lines(lake.read(spark, cfg, LINES_TABLE), products, as_of).persist()
    catalog = products_at(products, as_of).select(PRODUCT).distinct()
    members, segments, seg_as_of = served_members(spark, cfg, as_of)
    try:
        served = product_lists(spark, plines, catalog, members, as_of, p, ranker=als_ranker(spark, st, idx),
                               segments=segments)
        out = served.recs.select(MEMBER, F.lit(as_of).alias("as_of"), PRODUCT,
                                 F.col("rank").cast("int").alias("rank"), "score", "source",
                                 F.lit(version).cast("int").alias("model_version"))
        info = lake.overwrite(out, cfg, RECS_TABLE, partition_by=["as_of"], partitions=[{"as_of": as_of.isoformat()}])
        cat = category_lists(spark, plines, members, as_of, p, ranker=als_ranker(spark, st, idx, CATEGORY),
                             segments=segments)
        cat_out = cat.recs.select(MEMBER, F.lit(as_of).alias("as_of"), CATEGORY,
                                  F.col("rank").cast("int").alias("rank"), "score", "source",
                                  F.lit(version).cast("int").alias("model_version"))
        cat_info = lake.overwrite(cat_out, cfg, CATEGORY_RECS_TABLE, partition_by=["as_of"],
                                  partitions=[{"as_of": as_of.isoformat()}])
        served.unpersist()
    finally:
        plines.unpersist()
        members.unpersist()
    by_source = _by_source(spark, cfg, RECS_TABLE, as_of)
    cat_by_source = _by_source(spark, cfg, CATEGORY_RECS_TABLE, as_of)
    return ScoreResult(as_of, version, info.rows, cat_info.rows, by_source, cat_by_source, seg_as_of,
                       time.monotonic() - started)


def _by_source(spark: SparkSession, cfg: Config, table: str, as_of: date) -> dict:
    """Rows per source in the written partition (a handful of rows)."""
    rows = (lake.read(spark, cfg, table).where(F.col("as_of") == F.lit(as_of))
            .groupBy("source").count().collect())
    return {r["source"]: int(r["count"]) for r in rows}

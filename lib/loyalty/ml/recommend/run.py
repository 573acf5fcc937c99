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
from loyalty.ml.recommend.als import Fitted, fit, stages
from loyalty.ml.recommend.evaluate import evaluate, figures, served_metrics
from loyalty.ml.recommend.interactions import product_lines, products_at
from loyalty.ml.recommend.serve import als_ranker, category_lists, members_at, product_lists
from loyalty.ml.recommend.settings import CATEGORY, MEMBER, MEMBER_IDX, PRODUCT, Params, RecommenderError, from_conf

log = logging.getLogger(__name__)

LINES_TABLE, PRODUCTS_TABLE, MEMBERS_TABLE = "silver.transaction_lines", "silver.products", "silver.members"
SEGMENTS_TABLE = "gold.member_segments"
RECS_TABLE, CATEGORY_RECS_TABLE = "gold.recommendations", "gold.category_recommendations"
INDEX_TABLE = "gold.recommender_member_index"
INPUTS = [LINES_TABLE, PRODUCTS_TABLE, MEMBERS_TABLE, SEGMENTS_TABLE]
DATA_END_TAG = "train.data_end"    # model-version tag: the served model learned from data before this date
SERVED_MODEL = {                   # param/tag served_model: which model the registered version is
    "evaluated": "the evaluated model itself (conf ml.recommender.refit: false): fitted on data before the cutoff; "
                 "its served lists are the ones scored on the test window",
    "refit": "refitted on all data before as_of with the evaluated settings (conf ml.recommender.refit: true); the "
             "metrics are those of the same settings fitted before the cutoff, and later training runs score this "
             "model itself when they re-score it as champion on the days after its as_of",
}

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
    """Evaluate on a time split, re-score the champion on the same window, fit the model to serve (on
    everything before as_of with ``refit``, else the evaluated one; param ``served_model`` says which),
    log it all to MLflow, register a version of ``ml.recommender.model_name``, write its member index
    and run the promotion gate."""
    import mlflow

    p = from_conf(cfg)
    cutoff = as_of - timedelta(days=p.cutoff_days)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with tracking.training_run(cfg, p.model_name, as_of, INPUTS) as run:
        mlflow.log_params(p.log_params())
        mlflow.log_param("cutoff", cutoff.isoformat())
        served_model = "refit" if p.refit else "evaluated"
        mlflow.log_param("served_model", served_model)
        mlflow.set_tag("served_model", SERVED_MODEL[served_model])
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
            timings["eval_seconds"] = time.monotonic() - t
            t = time.monotonic()
            comparison, champion_metrics = champion_on_window(spark, cfg, p, plines, catalog, members, segments,
                                                              split, cutoff, as_of, metrics)
            timings["champion_seconds"] = time.monotonic() - t
            members.unpersist()
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
            mlflow.log_metrics({**metrics, **champion_metrics, **timings, **{k: float(v) for k, v in counts.items()}})
            _log_plots(metrics, p)
            t = time.monotonic()
            info = tracking.log_spark_model(final.stages.pipeline(), "model", cfg=cfg)
            timings["log_model_seconds"] = time.monotonic() - t
            gate_metric = f"served_{p.gate_metric}"
            value = metrics[gate_metric]
            data_end = as_of if p.refit else cutoff
            version = tracking.register(cfg, p.model_name, info.model_uri, gate_metric, value,
                                        tags={DATA_END_TAG: data_end.isoformat(), "served_model": served_model})
            index_rows = final.members.select(F.lit(version).cast("int").alias("model_version"), MEMBER, MEMBER_IDX)
            lake.overwrite(index_rows, cfg, INDEX_TABLE, partition_by=["model_version"],
                           partitions=[{"model_version": version}])
            promotion = tracking.promote(cfg, p.model_name, version, gate_metric, value, comparison=comparison,
                                         baseline=tracking.Baseline(f"served_popularity_{p.gate_metric}",
                                                                    metrics[f"served_popularity_{p.gate_metric}"]))
            final.unpersist()
        finally:
            plines.unpersist()
        timings["total_seconds"] = time.monotonic() - started
        mlflow.log_metrics({"log_model_seconds": timings["log_model_seconds"], "total_seconds": timings["total_seconds"]})
        run_id = run.info.run_id
    return TrainResult(as_of, cutoff, run_id, version, promotion.promoted, promotion.reason, metrics, timings, counts)


def champion_on_window(spark: SparkSession, cfg: Config, p: Params, plines: DataFrame, catalog: DataFrame,
                       members: DataFrame, segments: DataFrame | None, split: Fitted, cutoff: date, as_of: date,
                       metrics: dict) -> tuple[tracking.Comparison | None, dict]:
    """The champion served and scored on this run's test window, by the same code as the new model
    (``served_metrics``: lists built at the cutoff with this run's settings), for the gate.

    Only the part of the window the champion did not learn from counts: [max(cutoff, its data end),
    as_of), where its data end (version tag ``train.data_end``, else its run's params) is its as_of
    when it was refitted, its cutoff when not. When that is shorter than the window, the new model is
    scored on the same days too. Returns (None, {}) when there is nothing to re-score: no champion, no
    member index for it, or a champion that learned from the whole window (the gate then compares
    recorded values). The second value holds the metrics to log (``champion_served_*``,
    ``gate_window_served_<metric>``)."""
    import mlflow

    current = tracking.champion(cfg, p.model_name)
    if current is None:
        return None, {}
    version = int(current.version)
    data_end = _data_end(p.model_name, version)
    start = max(cutoff, data_end) if data_end is not None else None
    model, why = None, None
    if start is None:
        why = f"version {version} records no data end ({DATA_END_TAG})"
    elif start >= as_of:
        why = f"version {version} learned from data up to {data_end}, which covers the test window"
    elif not lake.exists(cfg, INDEX_TABLE):
        why = f"{INDEX_TABLE} does not exist"
    else:
        model, loaded = tracking.load_champion(cfg, p.model_name)
        if loaded != version:
            why = f"the champion alias moved from version {version} to {loaded} while loading"
    if why is not None:
        log.warning("promotion gate: the champion is not re-scored (%s): recorded values are compared", why)
        mlflow.set_tag("gate.champion_rescored", f"no: {why}")
        return None, {}
    index = lake.read(spark, cfg, INDEX_TABLE).where(F.col("model_version") == version).select(MEMBER, MEMBER_IDX)
    champ = served_metrics(spark, plines, catalog, members, cutoff, as_of, p, start=start, segments=segments,
                           ranker=als_ranker(spark, stages(model), index))
    gm = p.gate_metric
    if start == cutoff:
        value = metrics[f"served_{gm}"]
    else:
        value = served_metrics(spark, plines, catalog, members, cutoff, as_of, p, start=start, segments=segments,
                               ranker=als_ranker(spark, split.stages, split.members))[gm]
    on = f"test window {start}..{as_of} (lists served at {cutoff})"
    mlflow.set_tag("gate.champion_rescored", f"yes: version {version} on {on}")
    champ["als_share"] = champ.pop("ranker_share")
    logged = {f"champion_served_{m}": v for m, v in champ.items() if m != "members"}
    logged.update({"champion_version": float(version), f"gate_window_served_{gm}": value,
                   "gate_window_members": champ["members"]})
    log.info("champion version %d on %s: served %s %.6f (new model %.6f)", version, on, gm, champ[gm], value)
    return tracking.Comparison(version, champ[gm], value, on), logged


def _data_end(model_name: str, version: int) -> date | None:
    """The date before which the served model of ``version`` learned: its tag, else (versions
    registered before the tag existed) its training run's params (as_of when refitted, else cutoff)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    mv = client.get_model_version(model_name, str(version))
    text = (mv.tags or {}).get(DATA_END_TAG)
    if not text and mv.run_id:
        params = client.get_run(mv.run_id).data.params
        text = params.get("as_of") if params.get("refit") == "True" else params.get("cutoff")
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


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

"""The only module of the response model that reads tables and talks to MLflow:

    result = run.train(spark, cfg, as_of)      # rows, split, fit, evaluate, log, register, gate
    model, version = run.load_champion(cfg)    # models:/loyalty_offer_response@champion

Nothing member-level reaches the driver: counts, bin edges and per-bin sums only. Docs:
docs/offers.md, "Response model".
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.cli import UserError
from loyalty.conf import Config
from loyalty.ml import tracking
from loyalty.offers.response import evaluate as E
from loyalty.offers.response.features import model_columns
from loyalty.offers.response.model import Fitted, arm_counts, fit
from loyalty.offers.response.serve import score
from loyalty.offers.response.settings import (FEATURES_AS_OF, MEMBER, OFFER, P_TREATED, UPLIFT, Params, ResponseError,
                                              from_conf)
from loyalty.offers.response.training import (attach_features, closed_before, issues, split, with_outcome,
                                              with_target_history)

log = logging.getLogger(__name__)

EVENTS, OFFERS, LINES = "silver.offer_events", "silver.offers", "silver.transaction_lines"
PRODUCTS, FEATURES = "silver.products", "gold.member_features"
INPUTS = [EVENTS, OFFERS, LINES, PRODUCTS, FEATURES]
DATA_END_TAG = "train.data_end"     # version tag: the served model learned from issues whose window ended before it
RANKINGS = {"uplift": UPLIFT, "propensity": P_TREATED, "random": "_random"}


@dataclass
class TrainResult:
    as_of: date
    split_date: date
    run_id: str
    version: int
    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    deciles: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def load_champion(cfg: Config):
    """(model, version) of ``models:/<offers.response.model_name>@champion``; a UserError (one line,
    exit 1) when there is none yet."""
    p = from_conf(cfg)
    try:
        return tracking.load_champion(cfg, p.model_name)
    except LookupError as exc:
        raise UserError(f"{exc}: run train_offer_response first") from None


def training_rows(spark: SparkSession, cfg: Config, as_of: date, p: Params) -> tuple[DataFrame, dict]:
    """Every issue before as_of with its outcome and point-in-time features (model inputs), persisted,
    and counts (issues, with features, left out for lack of a snapshot)."""
    for table in INPUTS:
        if not lake.exists(cfg, table):
            raise ResponseError(f"{table} does not exist: build silver and gold (build_gold) first")
    issued = issues(lake.read(spark, cfg, EVENTS), before=as_of)
    lines, products = lake.read(spark, cfg, LINES), lake.read(spark, cfg, PRODUCTS)
    labeled = with_outcome(issued, lake.read(spark, cfg, OFFERS), lines, products).persist()
    feats = lake.read(spark, cfg, FEATURES).where(F.col("as_of") <= F.lit(as_of))
    attached = attach_features(labeled, feats, p.max_feature_age_days)
    rows = model_columns(with_target_history(attached, FEATURES_AS_OF, lines, products)).persist()
    n_issues, n_rows = labeled.count(), rows.count()
    labeled.unpersist()
    counts = {"issues": n_issues, "rows_with_features": n_rows, "rows_without_features": n_issues - n_rows}
    if n_issues - n_rows:
        log.warning("%d of %d issues have no gold.member_features snapshot within %d days before their issue date "
                    "(or their member is not in it): left out", n_issues - n_rows, n_issues, p.max_feature_age_days)
    return rows, counts


def train(spark: SparkSession, cfg: Config, as_of: date) -> TrainResult:
    """Fit on issues whose window closed before the split (as_of - eval_days), evaluate uplift,
    propensity and random rankings on the issues after it, re-score the champion there, fit the
    model to serve (``refit``: on every issue closed before as_of), log, register and gate."""
    import mlflow

    p = from_conf(cfg)
    split_date = as_of - timedelta(days=p.eval_days)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with tracking.training_run(cfg, p.model_name, as_of, INPUTS) as run:
        mlflow.log_params({**p.log_params(), "split_date": split_date.isoformat(),
                           "model_form": ("S-learner (one logistic regression, treatment interactions)"
                                          if p.learner == "s_logistic" else f"T-learner ({p.learner} arms)"),
                           "served_model": "refit" if p.refit else "evaluated"})
        rows, counts = training_rows(spark, cfg, as_of, p)
        try:
            train_rows, eval_rows = split(rows, split_date, as_of)
            ec = arm_counts(eval_rows)
            if ec["treated"] == 0 or ec["control"] == 0:
                raise ResponseError(f"no evaluation issues with both arms between {split_date} and {as_of} "
                                    f"({ec['treated']} treated, {ec['control']} control): lower "
                                    f"offers.response.eval_days or train later")
            t = time.monotonic()
            fitted = fit(train_rows, p)
            timings["fit_seconds"] = fitted.seconds
            counts.update({"train_rows": fitted.rows, "train_treated": fitted.treated,
                           "train_control": fitted.control})
            scored = (score(fitted.model, eval_rows)
                      .withColumn("_random", E.hash_uniform([MEMBER, OFFER], "random-ranking", p.seed)).persist())
            ev = E.evaluate(scored, RANKINGS, bins=p.bins, rel_err=p.quantile_error, replicates=p.bootstrap,
                            level=p.ci_level, seed=p.seed, diff=("uplift", "propensity"))
            timings["eval_seconds"] = time.monotonic() - t
            t = time.monotonic()
            comparison, champ_metrics = champion_on_window(cfg, p, scored, split_date, ev)
            timings["champion_seconds"] = time.monotonic() - t
            scored.unpersist()
            final: Fitted = fit(closed_before(rows, as_of), p) if p.refit else fitted
            counts["served_train_rows"] = final.rows
            data_end = as_of if p.refit else split_date
            metrics = {**ev.metrics, **champ_metrics, "train_treated_rate": fitted.treated_rate,
                       "train_control_rate": fitted.control_rate}
            mlflow.log_metrics({**metrics, **timings, **{k: float(v) for k, v in counts.items()}})
            _log_curves(ev, f"offers issued {split_date}..{as_of}")
            t = time.monotonic()
            info = tracking.log_spark_model(final.model, "model", cfg=cfg)
            timings["log_model_seconds"] = time.monotonic() - t
            gate = f"uplift_{p.gate_metric}"
            value = metrics[gate]
            version = tracking.register(cfg, p.model_name, info.model_uri, gate, value,
                                        tags={DATA_END_TAG: data_end.isoformat(),
                                              f"{gate}_ci": f"[{metrics[gate + '_ci_low']:.6f}, "
                                                            f"{metrics[gate + '_ci_high']:.6f}]"})
            promotion = tracking.promote(cfg, p.model_name, version, gate, value, comparison=comparison,
                                         baseline=tracking.Baseline(f"propensity_{p.gate_metric}",
                                                                    metrics[f"propensity_{p.gate_metric}"]))
        finally:
            rows.unpersist()
        timings["total_seconds"] = time.monotonic() - started
        mlflow.log_metrics({"log_model_seconds": timings["log_model_seconds"],
                            "total_seconds": timings["total_seconds"]})
        run_id = run.info.run_id
    return TrainResult(as_of, split_date, run_id, version, promotion.promoted, promotion.reason, metrics, counts,
                       ev.deciles, timings)


def champion_on_window(cfg: Config, p: Params, scored: DataFrame, split_date: date,
                       ev: E.Evaluation) -> tuple[tracking.Comparison | None, dict]:
    """The champion re-scored on the evaluation issues it did not learn from (window ended on or after
    its ``train.data_end``), with the new model's number on the same issues, for the gate. (None, {})
    when there is no champion, it learned from the whole window, or it cannot score these rows (the
    gate then compares recorded values; the run tag ``gate.champion_rescored`` says why)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    current = tracking.champion(cfg, p.model_name)
    if current is None:
        return None, {}
    version = int(current.version)
    text = (MlflowClient().get_model_version(p.model_name, str(version)).tags or {}).get(DATA_END_TAG)
    data_end = date.fromisoformat(text) if text else None
    metric = p.gate_metric
    get = (lambda c: c.qini_coefficient) if metric == "qini" else (lambda c: c.auuc)
    why = None
    if data_end is None:
        why = f"version {version} records no {DATA_END_TAG}"
    else:
        unseen = scored.where(F.col("end_date") >= F.lit(data_end))
        n = unseen.count() if data_end > split_date else None
        if n == 0:
            why = f"version {version} learned from every evaluation issue (data end {data_end})"
    if why is None:
        try:
            model, loaded = tracking.load_champion(cfg, p.model_name)
            if loaded != version:
                why = f"the champion alias moved from version {version} to {loaded} while loading"
        except Exception as exc:   # a champion that cannot be loaded must not block training
            why = f"version {version} could not be loaded ({type(exc).__name__}: {exc})"
    if why is None:
        rows = scored if data_end <= split_date else scored.where(F.col("end_date") >= F.lit(data_end))
        base = [c for c in rows.columns if c not in ("p_treated", "p_control", "uplift")]
        try:
            champ = E.qini_only(score(model, rows.select(*base)), UPLIFT, bins=p.bins, rel_err=p.quantile_error)
        except Exception as exc:
            champ, why = None, f"version {version} cannot score this run's features ({type(exc).__name__})"
    if why is not None:
        log.warning("promotion gate: the champion is not re-scored (%s): recorded values are compared", why)
        mlflow.set_tag("gate.champion_rescored", f"no: {why}")
        return None, {}
    if data_end <= split_date:
        value, on = ev.metrics[f"uplift_{metric}"], f"evaluation issues {split_date}.. (all)"
    else:
        value = get(E.qini_only(rows, UPLIFT, bins=p.bins, rel_err=p.quantile_error))
        on = f"evaluation issues whose window ended on or after {data_end}"
    mlflow.set_tag("gate.champion_rescored", f"yes: version {version} on {on}")
    logged = {f"champion_uplift_{metric}": get(champ), "champion_version": float(version),
              f"gate_window_uplift_{metric}": value}
    return tracking.Comparison(version, get(champ), value, on), logged


def _log_curves(ev: E.Evaluation, title: str) -> None:
    """Qini and uplift curves (plots and JSON), uplift by decile, per-bin metrics with steps."""
    import matplotlib.pyplot as plt
    import mlflow

    for path, fig in E.figures(ev.curves, title):
        mlflow.log_figure(fig, path)
        plt.close(fig)
    mlflow.log_text(json.dumps({name: {"phi": c.phi, "qini": c.qini, "uplift": c.uplift}
                                for name, c in ev.curves.items()}, indent=1), "qini_curves.json")
    mlflow.log_text(json.dumps(ev.deciles, indent=1), "uplift_by_decile.json")
    for name, rows in ev.deciles.items():
        for r in rows:
            if r["observed_uplift"] is not None:
                mlflow.log_metric(f"{name}_decile_observed_uplift", r["observed_uplift"], step=r["bin"])

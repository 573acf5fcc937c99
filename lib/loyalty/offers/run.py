"""The only module of offer planning that reads and writes tables and talks to MLflow:

    result = run.plan(spark, cfg, week)     # candidates -> scores -> dual allocation -> gold.offer_plan

Writes gold.offer_plan and gold.offer_plan_summary (the week's partition only: a re-run replaces that
week and gives the same plan) and gold.global_holdout; logs the plan's numbers (objective, dual bound,
gap, iterations, budget use, the greedy comparison) to the job log and an MLflow run in experiment
``<ml.experiment_prefix>/offer_plan``. Nothing member-level reaches the driver: one number per offer
and budget per dual step. Docs: docs/offers.md, "Allocation and the weekly plan".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import Config
from loyalty.offers import allocate as A
from loyalty.offers import candidates as C
from loyalty.offers import plan as P
from loyalty.offers.holdout import in_global_holdout
from loyalty.offers.settings import MEMBER, OFFER, PARTNER, PLAN_WEEK, PlanError, PlanSettings, from_conf, week_end

log = logging.getLogger(__name__)

MEMBERS, OFFERS, EVENTS = "silver.members", "silver.offers", "silver.offer_events"
FEATURES, SEGMENTS, TIMING = "gold.member_features", "gold.member_segments", "gold.member_timing"
PLAN_TABLE, SUMMARY_TABLE, HOLDOUT_TABLE = "gold.offer_plan", "gold.offer_plan_summary", "gold.global_holdout"
INPUTS = [MEMBERS, OFFERS, EVENTS, FEATURES, SEGMENTS, TIMING]
EXPERIMENT = "offer_plan"
SCORE_COLUMNS = [MEMBER, OFFER, "p_treated", "p_control", "uplift"]

# (pairs: member_id, offer_id; member features snapshot; offers) -> (scores: SCORE_COLUMNS, model versions)
Scorer = Callable[[DataFrame, DataFrame, DataFrame], "tuple[DataFrame, dict]"]


@dataclass
class PlanResult:
    week: date
    rows: int
    contacts: int
    controls: int
    candidates: int
    metrics: dict
    budget_use: dict
    greedy_budget_use: dict
    model_versions: dict
    snapshots: dict
    run_id: str
    seconds: float
    timings: dict = field(default_factory=dict)


def latest_snapshot(spark: SparkSession, cfg: Config, table: str, on_or_before: date) -> tuple[DataFrame | None, date | None]:
    """The latest as_of snapshot of ``table`` at or before the date, or (None, None) if none (or no table)."""
    if not lake.exists(cfg, table):
        return None, None
    df = lake.read(spark, cfg, table)
    latest = df.where(F.col("as_of") <= F.lit(on_or_before)).agg(F.max("as_of")).first()[0]
    if latest is None:
        return None, None
    return df.where(F.col("as_of") == F.lit(latest)), latest


def champion_scorer(cfg: Config) -> Scorer:
    """Scores from the registered champion of the offer response model (offers.response)."""
    def score(pairs: DataFrame, features: DataFrame, offers: DataFrame):
        from loyalty.offers.response import run as response_run
        from loyalty.offers.response.features import pair_features
        from loyalty.offers.response.serve import score as serve_score

        model, version = response_run.load_champion(cfg)
        spark = pairs.sparkSession
        lines = lake.read(spark, cfg, response_run.LINES)
        products = lake.read(spark, cfg, response_run.PRODUCTS)
        scored = serve_score(model, pair_features(pairs.select(MEMBER, OFFER), features, offers, lines, products))
        name = cfg.get("offers.response.model_name", "loyalty_offer_response")
        return scored.select(*SCORE_COLUMNS), {str(name): str(version)}
    return score


def global_holdout(members: DataFrame, salt: str, share: float) -> DataFrame:
    """gold.global_holdout rows: member_id, since (the member's first enrollment date: the holdout is a
    fixed function of member_id, so a member in it has been held out since joining)."""
    return (members.where(in_global_holdout(F.col(MEMBER), salt, share))
            .groupBy(MEMBER).agg(F.min("enrollment_date").alias("since")))


@dataclass
class Inputs:
    """What a plan week is made from: the valued candidate pairs (cached, hash-partitioned by member),
    the budgets, the active offers (cached), the member table, the timing snapshot and versions."""
    week: date
    settings: PlanSettings
    valued: DataFrame
    candidates: int
    budgets: A.Budgets
    active: DataFrame
    members: DataFrame
    timing: DataFrame | None
    versions: dict
    snapshots: dict

    def unpersist(self) -> None:
        self.valued.unpersist()
        self.active.unpersist()


def inputs(spark: SparkSession, cfg: Config, week: date, scorer: Scorer | None = None) -> Inputs:
    """Read the tables, build the candidates of the week, score and value them (module doc). Used by
    ``plan`` and by benchmarks/offer_policy.py, so both value the same pairs the same way."""
    s = from_conf(cfg)
    salt, share = cfg.typed("offers.holdout.salt", str), float(cfg.typed("offers.holdout.share", (int, float)))
    for table in (MEMBERS, OFFERS):
        if not lake.exists(cfg, table):
            raise PlanError(f"{table} does not exist: run ingest_bronze and build_silver first")
    members = lake.read(spark, cfg, MEMBERS)
    offers = lake.read(spark, cfg, OFFERS)
    events = lake.read(spark, cfg, EVENTS) if lake.exists(cfg, EVENTS) else None
    features, features_as_of = latest_snapshot(spark, cfg, FEATURES, week)
    if features is None:
        raise PlanError(f"{FEATURES} has no snapshot on or before {week}: run build_gold --as-of {week}")
    segments, segments_as_of = latest_snapshot(spark, cfg, SEGMENTS, week)
    timing, timing_as_of = latest_snapshot(spark, cfg, TIMING, week)
    snapshots = {FEATURES: features_as_of, SEGMENTS: segments_as_of, TIMING: timing_as_of}
    for table, as_of in snapshots.items():
        log.info("%s: %s", table, f"snapshot as of {as_of}" if as_of else "none (skipped)")
    try:
        active = C.active_offers(offers, week, s.budget_pacing).cache()
    except ValueError as exc:
        raise PlanError(str(exc)) from None
    book = {r[OFFER]: (r[PARTNER], r["weekly_budget"]) for r in active.select(OFFER, PARTNER, "weekly_budget").collect()}
    if not book:
        active.unpersist()
        raise PlanError(f"no offer of {OFFERS} is active in the week {week}..{week_end(week)}")
    budgets = A.Budgets(offer={o: b for o, (_p, b) in book.items()}, partner_of={o: p for o, (p, _b) in book.items()},
                        partner={f: c for f, c in s.partner_caps.items() if c is not None})
    pairs = C.candidate_pairs(members, offers, week, s, salt=salt, holdout_share=share,
                              segments=segments.select(MEMBER, "segment_id", "segment_name") if segments is not None else None,
                              features=features, redemptions=events)
    scores, versions = (scorer or champion_scorer(cfg))(pairs, features, offers.join(active.select(OFFER), OFFER, "left_semi"))
    # hash-partitioned by member and cached: each dual step's per-member window then needs no shuffle
    valued = A.with_value(pairs.join(scores.select(*SCORE_COLUMNS), [MEMBER, OFFER])).repartition(MEMBER).persist()
    n = valued.count()
    if n == 0:
        valued.unpersist()
        active.unpersist()
        raise PlanError(f"no candidate pair for the week {week}: check consent, eligibility rules and caps")
    versions = {**versions, **{f"{k}.as_of": str(v) for k, v in snapshots.items() if v is not None}}
    return Inputs(week, s, valued, n, budgets, active, members, timing, versions, snapshots)


def plan(spark: SparkSession, cfg: Config, week: date, scorer: Scorer | None = None) -> PlanResult:
    """Plan the week starting ``week`` (a Monday): write its gold.offer_plan and gold.offer_plan_summary
    partitions and gold.global_holdout, log the numbers to MLflow. ``scorer`` defaults to the champion
    of the offer response model."""
    import mlflow

    from loyalty.ml import tracking

    started = time.monotonic()
    timings: dict[str, float] = {}
    t = time.monotonic()
    x = inputs(spark, cfg, week, scorer)
    s, valued, budgets, active, members, timing = x.settings, x.valued, x.budgets, x.active, x.members, x.timing
    salt, share = cfg.typed("offers.holdout.salt", str), float(cfg.typed("offers.holdout.share", (int, float)))
    n_candidates, snapshots, versions = x.candidates, x.snapshots, x.versions
    timings["candidates_seconds"] = time.monotonic() - t
    tracking.set_experiment(cfg, EXPERIMENT)
    with mlflow.start_run(run_name=f"{EXPERIMENT}-{week}") as run:
        mlflow.log_params({"plan_week": week.isoformat(), **{k: str(v) for k, v in s.log_params().items()},
                           **{f"model.{k}": v for k, v in versions.items()},
                           **{f"data.{t_}.version": str(lake.version(cfg, t_)) for t_ in INPUTS}})
        t = time.monotonic()
        allocation = A.allocate(valued, budgets, s.max_iterations, s.tolerance)
        timings["allocate_seconds"] = time.monotonic() - t
        t = time.monotonic()
        at_plan = C.members_at(members, week, s.consent_columns, s.channel_order)
        rows = P.assemble(allocation.selected, at_plan, timing, week, s,
                          cfg.section("reference.province_timezones"), versions)
        info = lake.overwrite(rows, cfg, PLAN_TABLE, partition_by=[PLAN_WEEK],
                              partitions=[{PLAN_WEEK: week.isoformat()}])
        written = lake.read(spark, cfg, PLAN_TABLE).where(F.col(PLAN_WEEK) == F.lit(week))
        summary = P.summary(written, active, week)
        lake.overwrite(summary, cfg, SUMMARY_TABLE, partition_by=[PLAN_WEEK], partitions=[{PLAN_WEEK: week.isoformat()}])
        lake.overwrite(global_holdout(members, salt, share), cfg, HOLDOUT_TABLE)
        timings["write_seconds"] = time.monotonic() - t
        counts = written.groupBy("is_control").count().collect()
        controls = sum(int(r["count"]) for r in counts if r["is_control"])
        contacts = sum(int(r["count"]) for r in counts if not r["is_control"])
        metrics = {**allocation.metrics(), "candidates": float(n_candidates), "contacts": float(contacts),
                   "controls": float(controls), **timings}
        metrics.update({f"budget_use.{o}": u for o, u in allocation.budget_use.items() if u is not None})
        metrics.update({f"greedy_budget_use.{o}": u for o, u in allocation.greedy_budget_use.items() if u is not None})
        metrics.update({f"partner_use.{f}": u for f, u in allocation.partner_use.items()})
        metrics.update({f"price.{k[0]}.{k[1]}": v for k, v in allocation.dual.prices.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for step in allocation.dual.history:
            mlflow.log_metrics({"dual.iterate": step["dual"], "dual.worst_use": min(step["worst_use"], 1e6),
                                "dual.fitted_value": step["fitted_value"]}, step=step["iteration"])
        mlflow.set_tags({"plan_week": week.isoformat(), "env": cfg.env, "dual.converged": str(allocation.dual.converged)})
        run_id = run.info.run_id
    x.unpersist()
    seconds = time.monotonic() - started
    log.info("plan %s: %d contacts + %d controls from %d candidates; objective %.2f = %.2f%% of the dual bound %.2f "
             "(%d iterations); greedy by value %.2f; max budget use %.2f%%", week, contacts, controls, n_candidates,
             allocation.objective, 100 * (1 - allocation.gap), allocation.dual.dual_bound, allocation.dual.iterations,
             allocation.greedy_objective, 100 * metrics["max_budget_use"])
    return PlanResult(week, info.rows, contacts, controls, n_candidates, metrics, allocation.budget_use,
                      allocation.greedy_budget_use, versions, snapshots, run_id, seconds, timings)


__all__ = ["Inputs", "PlanResult", "PlanSettings", "champion_scorer", "global_holdout", "inputs", "latest_snapshot", "plan"]

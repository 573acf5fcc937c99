"""The only module of the timing package that reads and writes tables and talks to MLflow:

    result = run.build(spark, cfg, as_of)   # gold.member_timing for as_of + held-out check, MLflow run
    fitted = run.fit_at(spark, cfg, as_of)  # the same model at any date, unwritten (benchmarks)

Nothing member-level reaches the driver: the population pattern (a few dozen numbers), counts per
source and channel, and one row of hit rates. Docs: docs/offers.md, "Timing".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.cli import UsageError
from loyalty.conf import Config
from loyalty.ml import tracking
from loyalty.timing import engagement, evaluate, ranking, smoothing
from loyalty.timing.settings import CHANNEL, MEMBER, SEGMENT, Params, TimingError, from_conf

log = logging.getLogger(__name__)

MEMBERS, DIGITAL, OFFER_EVENTS, TXNS = ("silver.members", "silver.digital_events", "silver.offer_events",
                                         "silver.transactions")
SEGMENTS_TABLE, FEATURES_TABLE, TIMING_TABLE = "gold.member_segments", "gold.member_features", "gold.member_timing"
REQUIRED = [MEMBERS, DIGITAL, OFFER_EVENTS, TXNS]
INPUTS = REQUIRED + [SEGMENTS_TABLE]
RUN_NAME = "build_timing"                      # MLflow experiment <ml.experiment_prefix>/build_timing


def resolve_as_of(spark: SparkSession, cfg: Config, text: str | None) -> date:
    """``--as-of`` (YYYY-MM-DD), else the latest gold.member_features snapshot."""
    if text:
        try:
            return date.fromisoformat(str(text).strip())
        except ValueError:
            raise UsageError(f"--as-of must be YYYY-MM-DD, got {text!r}") from None
    if not lake.exists(cfg, FEATURES_TABLE):
        raise TimingError(f"{FEATURES_TABLE} does not exist: run build_gold first, or give --as-of YYYY-MM-DD")
    latest = lake.read(spark, cfg, FEATURES_TABLE).agg(F.max("as_of")).first()[0]
    if latest is None:
        raise TimingError(f"{FEATURES_TABLE} has no snapshot: run build_gold first, or give --as-of YYYY-MM-DD")
    return latest


def load_segments(spark: SparkSession, cfg: Config, as_of: date,
                  version: int | None = None) -> tuple[DataFrame | None, date | None]:
    """(member_id, segment_id) of the latest gold.member_segments snapshot at or before as_of, or
    (None, None) when there is none (every member then shrinks toward the population)."""
    if not lake.exists(cfg, SEGMENTS_TABLE):
        return None, None
    seg = lake.read(spark, cfg, SEGMENTS_TABLE, version=version).where(F.col("as_of") <= F.lit(as_of))
    latest = seg.agg(F.max("as_of")).first()[0]
    if latest is None:
        return None, None
    return (seg.where(F.col("as_of") == F.lit(latest)).select(MEMBER, F.col(SEGMENT).cast("int").alias(SEGMENT))
            .dropDuplicates([MEMBER]), latest)


@dataclass
class Fitted:
    """The timing model at one date: gold.member_timing rows, the population baseline's choice per
    member (``evaluate.top_choice`` shape), the members and their zones, and the population pattern."""
    as_of: date
    timing: DataFrame
    baseline: DataFrame
    members: DataFrame                       # member_id, timezone, consent_* (persisted)
    population: dict                         # dim -> {key: share}: a few dozen numbers
    segments_as_of: date | None
    _cached: list = field(default_factory=list, repr=False)

    def unpersist(self) -> None:
        for df in self._cached:
            df.unpersist()


def _read(spark, cfg, table, versions):
    return lake.read(spark, cfg, table, version=versions.get(table))


def check_inputs(cfg: Config) -> dict[str, int | None]:
    """The current version of every input (a missing silver table is a TimingError)."""
    versions = tracking.input_versions(cfg, INPUTS)
    missing = [t for t in REQUIRED if versions[t] is None]
    if missing:
        raise TimingError(f"{', '.join(missing)} missing: run build_silver first")
    return versions


def events_between(spark: SparkSession, cfg: Config, zones: DataFrame, start: date, end: date, p: Params,
                   versions: dict) -> DataFrame:
    return engagement.events(_read(spark, cfg, DIGITAL, versions), _read(spark, cfg, OFFER_EVENTS, versions),
                             _read(spark, cfg, TXNS, versions), zones, start, end, p)


def fit_at(spark: SparkSession, cfg: Config, as_of: date, p: Params | None = None,
           versions: dict | None = None) -> Fitted:
    """Fit on events in [as_of - lookback_days, as_of) for the members active at as_of (inputs at
    ``versions``, default current), shrunk toward the gold.member_segments snapshot at or before as_of."""
    p = p or from_conf(cfg)
    versions = versions if versions is not None else check_inputs(cfg)
    members = engagement.members_at(_read(spark, cfg, MEMBERS, versions), as_of,
                                    cfg.section("reference.province_timezones"), p.default_timezone).persist()
    consent = engagement.consented_channels(members, p)
    ev = events_between(spark, cfg, members, as_of - timedelta(days=p.lookback_days), as_of, p, versions)
    counts = smoothing.member_counts(ev).persist()
    population = smoothing.population_pattern(counts, smoothing.key_grid(spark, p.channels)).persist()
    segments, seg_as_of = load_segments(spark, cfg, as_of, versions.get(SEGMENTS_TABLE))
    if segments is not None:
        with_seg = members.select(MEMBER).join(segments, MEMBER, "left")
        seg_pattern = smoothing.segment_pattern(counts, with_seg, population, p.segment_prior_strength)
    else:
        with_seg = members.select(MEMBER, F.lit(None).cast("int").alias(SEGMENT))
        seg_pattern = None
    post = smoothing.posterior(with_seg, counts, population, seg_pattern, p.prior_strength).persist()
    timing = ranking.member_timing(post, members, consent, as_of, p.prior_strength, p.hour_window)
    no_segment = members.select(MEMBER, F.lit(None).cast("int").alias(SEGMENT))
    base_post = smoothing.posterior(no_segment, counts.where(F.lit(False)), population, None, p.prior_strength)
    baseline = evaluate.top_choice(ranking.member_timing(base_post, members, consent, as_of, p.prior_strength,
                                                         p.hour_window))
    pattern: dict = {}
    for r in population.collect():                        # 5 channels + 7 days + 24 hours
        pattern.setdefault(r["dim"], {})[r["key"]] = float(r["p"])
    return Fitted(as_of, timing, baseline, members, pattern, seg_as_of, [members, counts, population, post])


@dataclass
class BuildResult:
    as_of: date
    cutoff: date
    run_id: str
    rows: int
    members: int
    without_channel: int
    by_source: dict
    top_channel: dict
    population: dict
    segments_as_of: date | None
    metrics: dict
    seconds: float


def build(spark: SparkSession, cfg: Config, as_of: date) -> BuildResult:
    """Write the ``as_of`` partition of gold.member_timing (a re-run replaces only it), check the same
    model on held-out days (fit before as_of - eval_days, score on the last eval_days against the
    population's best channel and hour) and log params, input versions and metrics to the MLflow run
    ``build_timing-<as_of>`` in experiment ``<ml.experiment_prefix>/build_timing``."""
    import mlflow

    started = time.monotonic()
    p = from_conf(cfg)
    versions = check_inputs(cfg)
    cutoff = as_of - timedelta(days=p.eval_days)
    with tracking.training_run(cfg, RUN_NAME, as_of, INPUTS, run_name=f"{RUN_NAME}-{as_of}") as run:
        mlflow.log_params(p.log_params())
        mlflow.log_param("eval_cutoff", cutoff.isoformat())
        fitted = fit_at(spark, cfg, as_of, p, versions)
        try:
            info = lake.overwrite(fitted.timing, cfg, TIMING_TABLE, partition_by=["as_of"],
                                  partitions=[{"as_of": as_of.isoformat()}])
        finally:
            fitted.unpersist()
        written = lake.read(spark, cfg, TIMING_TABLE).where(F.col("as_of") == F.lit(as_of))
        by_source = {r["source"]: int(r["n"]) for r in
                     written.groupBy("source").agg(F.countDistinct(MEMBER).alias("n")).collect()}
        without = written.where(F.col(CHANNEL).isNull()).count()
        top = {r[CHANNEL]: int(r["n"]) for r in
               written.where(F.col("channel_rank") == 1).groupBy(CHANNEL).agg(F.count("*").alias("n")).collect()}
        members = sum(by_source.values())
        mlflow.log_param("segments_as_of", str(fitted.segments_as_of))
        t = time.monotonic()
        metrics = holdout_check(spark, cfg, cutoff, as_of, p, versions)
        eval_seconds = time.monotonic() - t
        logged = {f"eval_{k}": v for k, v in metrics.items()}
        logged.update({"rows": float(info.rows), "members": float(members), "members_without_channel": float(without),
                       **{f"members_source_{s}": float(n) for s, n in by_source.items()},
                       **{f"top_channel_share_{c}": n / max(members - without, 1) for c, n in top.items()},
                       "eval_seconds": eval_seconds, "total_seconds": time.monotonic() - started})
        mlflow.log_metrics({k: v for k, v in logged.items() if v == v})          # NaN (no members) is not logged
        mlflow.log_dict({"population": fitted.population, "held_out": metrics}, "timing_summary.json")
        run_id = run.info.run_id
    return BuildResult(as_of, cutoff, run_id, info.rows, members, without, by_source, top, fitted.population,
                       fitted.segments_as_of, metrics, time.monotonic() - started)


def holdout_check(spark: SparkSession, cfg: Config, cutoff: date, as_of: date, p: Params, versions: dict) -> dict:
    """Fit at ``cutoff`` (events before it only), then compare what it serves with what the members did in
    [cutoff, as_of): the channel of most engagement and the hour of most digital engagement (members with
    at least eval_min_events), for the model and for the population's best channel and hour."""
    held = fit_at(spark, cfg, cutoff, p, versions)
    try:
        window = events_between(spark, cfg, held.members, cutoff, as_of, p, versions)
        targets = evaluate.holdout_targets(window, p.eval_min_events)
        metrics = evaluate.hit_rates(evaluate.top_choice(held.timing), held.baseline, targets)
    finally:
        held.unpersist()
    return metrics

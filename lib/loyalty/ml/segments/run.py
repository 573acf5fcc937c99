"""The only module of the package that reads and writes tables and talks to MLflow:

    as_of = run.resolve_as_of(spark, cfg, "2026-11-01")   # a snapshot present in gold.member_features
    summary = run.train(spark, cfg, as_of)                 # fit, log, register, promotion gate
    rows = run.score(spark, cfg, as_of)                    # champion by alias -> gold.member_segments,
                                                           # gold.segment_profiles, gold.segment_migration

Only bounded data reaches the driver: the distinct as_of dates, per-k metrics, the k centroids and
per-segment means (k rows). Docs: docs/models.md, "Segments".
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import Config, ConfigError
from loyalty.ml import tracking
from loyalty.ml.segments.evaluate import compare_silhouettes
from loyalty.ml.segments.fit import FitResult, fit
from loyalty.ml.segments.scoring import assign, profile
from loyalty.ml.segments.settings import KEY, SEGMENT_ID, SEGMENT_NAME, SegmentSettings, SegmentsError, from_conf
from loyalty.transforms.gold import segments as T

log = logging.getLogger("loyalty")

FEATURES_TABLE = "gold.member_features"
SEGMENTS_TABLE = "gold.member_segments"
PROFILES_TABLE = "gold.segment_profiles"
MIGRATION_TABLE = "gold.segment_migration"


def available_as_of(spark: SparkSession, cfg: Config, table: str = FEATURES_TABLE, column: str = "as_of") -> list[date]:
    """The snapshot dates present in a table (one row per snapshot reaches the driver)."""
    if not lake.exists(cfg, table):
        return []
    return sorted(r[0] for r in lake.read(spark, cfg, table).select(column).distinct().collect() if r[0] is not None)


def resolve_as_of(spark: SparkSession, cfg: Config, value: str | None, table: str = FEATURES_TABLE) -> date:
    """``value`` (YYYY-MM-DD, which must be a snapshot present in ``table``), else the latest one."""
    if not lake.exists(cfg, table):
        raise SegmentsError(f"{table} does not exist (run build_gold first)")
    present = available_as_of(spark, cfg, table)
    if not value:
        if not present:
            raise SegmentsError(f"{table} has no snapshot (run build_gold first)")
        return present[-1]
    try:
        as_of = date.fromisoformat(str(value).strip())
    except ValueError:
        raise SegmentsError(f"--as-of must be YYYY-MM-DD, got {value!r}") from None
    if as_of not in present:
        raise SegmentsError(f"{table} has no as_of {as_of} (present: {', '.join(map(str, present)) or 'none'}; "
                            f"run build_gold --as-of {as_of})")
    return as_of


def read_features(spark: SparkSession, cfg: Config, as_of: date) -> DataFrame:
    return lake.read(spark, cfg, FEATURES_TABLE).where(F.col("as_of") == F.lit(as_of.isoformat()).cast("date"))


def check_columns(df: DataFrame, s: SegmentSettings, cfg: Config) -> None:
    missing = [c for c in s.profile_columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{FEATURES_TABLE} has no column(s) {missing} named in '{KEY}' "
                          f"({cfg.where(KEY + '.features')}); see docs/gold.md for its columns")


def train(spark: SparkSession, cfg: Config, as_of: date, s: SegmentSettings | None = None) -> dict:
    """Fit on gold.member_features at ``as_of``; log params, data versions, the silhouette curve,
    profile and plots, and the model to MLflow; register a version of ``ml.segments.model_name``
    and run the promotion gate on the silhouette of the chosen k."""
    import mlflow

    s = s or from_conf(cfg)
    df = read_features(spark, cfg, as_of)
    check_columns(df, s, cfg)
    with tracking.training_run(cfg, s.model_name, as_of, [FEATURES_TABLE]) as run:
        mlflow.log_params({"algorithm": s.algorithm, "features": ",".join(s.features), "log_features": ",".join(s.log_features),
                           "fill": json.dumps(s.fill, sort_keys=True), "k_min": s.k_min, "k_max": s.k_max,
                           "seed": s.seed, "n_init": s.n_init, "init_steps": s.init_steps, "max_iter": s.max_iter,
                           "tol": s.tol,
                           "silhouette_sample_fraction": s.silhouette_sample_fraction,
                           "silhouette_max_rows": s.silhouette_max_rows, "gate_metric": s.gate_metric})
        mlflow.log_dict({"rules": [asdict(r) for r in s.rules]}, "naming_rules.json")
        result = fit(df, s)
        for r in result.curve:
            suffix = "" if r.algorithm == "kmeans" else f"_{r.algorithm}"
            mlflow.log_metric(f"silhouette_by_k{suffix}", r.silhouette, step=r.k)
            mlflow.log_metric(f"training_cost_by_k{suffix}", r.training_cost, step=r.k)
        for algorithm, r in result.best_by_algorithm.items():   # each algorithm's chosen k, same rows
            mlflow.log_metrics({f"{algorithm}_silhouette": r.silhouette, f"{algorithm}_k": r.k})
        mlflow.log_metrics({"silhouette": result.silhouette, "k": result.k, "members": result.members,
                            "silhouette_sample_rows": result.sample_rows, "train_seconds": result.seconds})
        mlflow.log_params({"chosen_k": result.k, "chosen_algorithm": result.algorithm})
        mlflow.set_tag("segments.winner", result.algorithm if len(result.best_by_algorithm) > 1
                       else f"{result.algorithm} (the only one fitted: ml.segments.algorithm)")
        mlflow.log_dict({"curve": [asdict(r) for r in result.curve], "chosen_k": result.k,
                         "chosen_algorithm": result.algorithm}, "silhouette_curve.json")
        mlflow.log_dict({"as_of": as_of.isoformat(), "segments": result.centroids}, "segment_profile.json")
        _log_plots(result, s)
        comparison = champion_on_snapshot(cfg, s, df, result, as_of)
        info = tracking.log_spark_model(result.model, cfg=cfg)
        promotion = tracking.register_and_promote(cfg, s.model_name, info.model_uri, s.gate_metric,
                                                  result.silhouette, greater_is_better=True, comparison=comparison)
        _tag_version(s.model_name, promotion.version, result)
        run_id = run.info.run_id
    log.info("train_segments as_of %s: %s k=%d silhouette %.4f in %.1fs, version %d (%s)", as_of, result.algorithm,
             result.k, result.silhouette, result.seconds, promotion.version, promotion.reason)
    return {"model": s.model_name, "as_of": as_of.isoformat(), "members": result.members,
            "algorithm": result.algorithm, "k": result.k,
            "silhouette": round(result.silhouette, 4), "version": promotion.version,
            "promoted": promotion.promoted, "run_id": run_id, "seconds": result.seconds,
            "names": result.names, "reason": promotion.reason}


def champion_on_snapshot(cfg: Config, s: SegmentSettings, df: DataFrame, result: FitResult,
                         as_of: date) -> tracking.Comparison | None:
    """The champion re-scored on the snapshot the new version was trained on, for the gate: both
    segmentations of the same members, by silhouette in the new model's feature space
    (``evaluate.compare_silhouettes``). Logs ``champion_silhouette``, ``gate_silhouette`` (the new
    model on the same rows) and tag ``gate.champion_rescored``. None when there is no champion, or it
    cannot score this snapshot (the gate then compares recorded values)."""
    import mlflow

    if tracking.champion(cfg, s.model_name) is None:
        return None
    model, version = tracking.load_champion(cfg, s.model_name)
    try:
        new, champ, rows = compare_silhouettes(result.model, model, df, s)
    except Exception as exc:   # e.g. a champion trained on features this snapshot lacks, or one cluster here
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("promotion gate: champion version %d cannot be re-scored on %s %s (%s): recorded values are "
                    "compared", version, FEATURES_TABLE, as_of, why)
        mlflow.set_tag("gate.champion_rescored", f"no: version {version}: {why}"[:500])
        return None
    on = f"{FEATURES_TABLE} as_of {as_of} ({rows} members, in the new model's feature space)"
    mlflow.log_metrics({"champion_silhouette": champ, "gate_silhouette": new, "champion_version": float(version)})
    mlflow.set_tag("gate.champion_rescored", f"yes: version {version} on {on}")
    log.info("champion version %d on %s: silhouette %.4f (new model %.4f)", version, on, champ, new)
    return tracking.Comparison(version, champ, new, on)


def _tag_version(model_name: str, version: int, result: FitResult) -> None:
    from mlflow.tracking import MlflowClient
    client = MlflowClient()
    client.set_model_version_tag(model_name, str(version), "segments.k", str(result.k))
    client.set_model_version_tag(model_name, str(version), "segments.algorithm", result.algorithm)
    client.set_model_version_tag(model_name, str(version), "segments.names",
                                 json.dumps({str(k): v for k, v in result.names.items()}))


def _log_plots(result: FitResult, s: SegmentSettings) -> None:
    """silhouette_curve.png (silhouette and cost by k) and segment_profile.png (each segment's mean
    feature relative to the population mean)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = {"kmeans": ("o-", "tab:blue", "KMeans"), "gmm": ("s--", "tab:green", "Gaussian mixture")}
    for algorithm in result.best_by_algorithm:
        rows = [r for r in result.curve if r.algorithm == algorithm]
        marker, color, label = styles[algorithm]
        ax.plot([r.k for r in rows], [r.silhouette for r in rows], marker, color=color, label=label)
    ax.axvline(result.k, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"silhouette by k (chosen: {styles[result.algorithm][2]}, k={result.k})")
    fig.tight_layout()
    mlflow.log_figure(fig, "silhouette_curve.png")
    plt.close(fig)

    cols = list(s.features)
    rows = result.centroids
    pop = {c: sum(r[c] * r["members"] for r in rows) / max(sum(r["members"] for r in rows), 1) for c in cols}
    ratio = [[(r[c] / pop[c]) if pop[c] else 0.0 for c in cols] for r in rows]
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(cols), 1.2 + 0.45 * len(rows)))
    im = ax.imshow([[math.log2(max(v, 1e-3)) for v in row] for row in ratio], cmap="RdBu_r", vmin=-2, vmax=2,
                   aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), [f"{r[SEGMENT_ID]}: {r[SEGMENT_NAME]} ({r['members']})" for r in rows], fontsize=7)
    fig.colorbar(im, ax=ax, label="log2(segment mean / population mean)")
    fig.tight_layout()
    mlflow.log_figure(fig, "segment_profile.png")
    plt.close(fig)


def score(spark: SparkSession, cfg: Config, as_of: date, s: SegmentSettings | None = None) -> list[dict]:
    """Load the champion by alias; overwrite the ``as_of`` partitions of gold.member_segments and
    gold.segment_profiles; rebuild gold.segment_migration from the previous snapshot to this one
    and from this one to the next (when those exist). Returns one summary row per table written."""

    s = s or from_conf(cfg)
    started = time.time()
    model, version = tracking.load_champion(cfg, s.model_name)
    features = read_features(spark, cfg, as_of)
    check_columns(features, s, cfg)
    part = [{"as_of": as_of.isoformat()}]
    out = []
    scored = assign(model, features, version, keep=s.profile_columns).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # schema_evolution: a table written before segment_probability(-ies) existed gains them
        info = lake.overwrite(scored.select(*T.SEGMENT_COLUMNS), cfg, SEGMENTS_TABLE, partition_by=["as_of"],
                              partitions=part, schema_evolution=True)
        if info.rows == 0:
            log.warning("%s as_of %s: no members scored", SEGMENTS_TABLE, as_of)
        out.append({"table": SEGMENTS_TABLE, "as_of": as_of.isoformat(), "rows": info.rows, "version": info.version,
                    "model_version": version})
        prof = profile(scored, s).select(F.lit(as_of.isoformat()).cast("date").alias("as_of"),
                                         F.lit(int(version)).alias("model_version"), "*")
        info = lake.overwrite(prof, cfg, PROFILES_TABLE, partition_by=["as_of"], partitions=part)
        out.append({"table": PROFILES_TABLE, "as_of": as_of.isoformat(), "rows": info.rows, "version": info.version,
                    "model_version": version})
    finally:
        scored.unpersist()
    snapshots = available_as_of(spark, cfg, SEGMENTS_TABLE)
    earlier = [d for d in snapshots if d < as_of]
    later = [d for d in snapshots if d > as_of]
    pairs = ([(earlier[-1], as_of)] if earlier else []) + ([(as_of, later[0])] if later else [])
    if not earlier:
        log.info("%s: no snapshot before %s in %s: no migration into %s written", MIGRATION_TABLE, as_of,
                 SEGMENTS_TABLE, as_of)
    seg = lake.read(spark, cfg, SEGMENTS_TABLE)
    for a, b in pairs:
        mig = T.migration_counts(seg.where(F.col("as_of") == F.lit(a.isoformat()).cast("date")),
                                 seg.where(F.col("as_of") == F.lit(b.isoformat()).cast("date")), a, b,
                                 version_col="model_version")
        info = lake.overwrite(mig, cfg, MIGRATION_TABLE, partition_by=["to_as_of"],
                              partitions=[{"to_as_of": b.isoformat()}])
        out.append({"table": MIGRATION_TABLE, "as_of": f"{a.isoformat()}->{b.isoformat()}", "rows": info.rows,
                    "version": info.version, "model_version": version})
    log.info("score_segments as_of %s with %s version %d in %.1fs", as_of, s.model_name, version,
             time.time() - started)
    return out

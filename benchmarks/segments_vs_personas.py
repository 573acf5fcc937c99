"""How well do the segments recover the personas the generator planted? (adjusted Rand index)

    .venv/bin/python benchmarks/segments_vs_personas.py [--env local] [--as-of 2026-11-01,...]
                                                        [--sweep 4,5,6,7,8,9,10] [--no-log]

For each scored snapshot in gold.member_segments (default: all), joins the segment of every
member with the persona planted for it (<paths.truth>/members.parquet; the silver member_id is the
CRM member id upper-cased and trimmed), builds the segments x personas contingency table in Spark
(bounded: k x 7 cells) and prints it with the ARI. The ARI is logged as metrics into the MLflow run
that trained the model version that scored the rows: ``ari_personas`` (the snapshot the model was
trained on, else the latest scored) and ``ari_personas_<as_of>`` per snapshot, plus the tables as
``personas_contingency.json``.

``--algorithms`` fits KMeans and the Gaussian mixture (each with its silhouette-chosen k, as
train_segments does) on the snapshot the champion was trained on (else the latest) and prints
silhouette and ARI of both side by side, logging ``ari_personas_kmeans``/``_gmm`` and
``silhouette_kmeans``/``_gmm`` into the champion's run: which one recovers the personas better.

``--sweep`` also fits the conf pipeline for each listed k on the latest gold.member_features snapshot
and prints silhouette and ARI per k (nothing is logged or registered): how the silhouette-chosen k
compares with the k that would recover the personas best.

This is a benchmark, not a job: jobs never read the truth folder (docs/DESIGN.md, "Ground truth").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf, lake  # noqa: E402
from loyalty.ml.segments import evaluate, fit, run, settings  # noqa: E402
from loyalty.spark import build_session  # noqa: E402


def truth_personas(spark, cfg):
    path = os.path.join(cfg["paths.truth"], "members.parquet")
    if not os.path.exists(path):
        sys.exit(f"no planted personas at {path} (generate the demo data with generate_feeds first)")
    return spark.read.parquet(path).select(F.upper(F.trim("member_id")).alias("member_id"), "persona")


def print_table(rows, cols, table, title):
    width = max(len(str(r)) for r in rows) + 2
    print(f"\n{title}")
    print(" " * width + "".join(f"{str(c)[:12]:>13}" for c in cols) + f"{'total':>9}")
    for r, counts in zip(rows, table):
        print(f"{str(r):<{width}}" + "".join(f"{v:>13}" for v in counts) + f"{sum(counts):>9}")


def snapshot_ari(spark, cfg, truth, as_of: date):
    seg = lake.read(spark, cfg, run.SEGMENTS_TABLE).where(F.col("as_of") == F.lit(as_of.isoformat()).cast("date"))
    versions = sorted(r[0] for r in seg.select("model_version").distinct().collect())
    joined = seg.join(truth, "member_id", "inner")
    rows, cols, table = evaluate.contingency(joined, "segment_name", "persona")
    ari = evaluate.adjusted_rand_index(table)
    scored = seg.count()
    matched = sum(map(sum, table))
    print_table(rows, cols, table, f"as_of {as_of}: model version(s) {versions}, {scored:,} members scored, "
                                   f"{matched:,} with a planted persona; ARI = {ari:.4f}")
    return ari, versions, {"segments": rows, "personas": cols, "counts": table, "ari": ari}


def sweep(spark, cfg, ks, truth):
    s = settings.from_conf(cfg)
    as_of = run.available_as_of(spark, cfg, run.FEATURES_TABLE)[-1]
    df = run.read_features(spark, cfg, as_of).join(truth, "member_id", "left").cache()
    print(f"\nsweep on gold.member_features as_of {as_of} ({df.count():,} members)")
    for k in ks:
        t0 = time.time()
        s_k = settings.SegmentSettings(**{**s.__dict__, "k_min": k, "k_max": k})
        result = fit.fit(df, s_k)
        scored = result.model.transform(df).where(F.col("persona").isNotNull())
        _, _, table = evaluate.contingency(scored, settings.SEGMENT_ID, "persona")
        print(f"  k={k:2d}  silhouette {result.silhouette:.4f}  ARI {evaluate.adjusted_rand_index(table):.4f}  "
              f"({time.time() - t0:.1f}s)  {sorted(result.names.values())}")
    df.unpersist()


def compare_algorithms(spark, cfg, truth, log: bool):
    """KMeans vs Gaussian mixture on one snapshot: each fitted as train_segments would (k by silhouette),
    ARI against the planted personas on the same members."""
    s = settings.from_conf(cfg)
    snaps = run.available_as_of(spark, cfg, run.FEATURES_TABLE)
    run_id, as_of = None, snaps[-1]
    if log:
        from mlflow.tracking import MlflowClient

        from loyalty.ml import tracking
        tracking.configure(cfg)
        champ = tracking.champion(cfg, s.model_name)
        if champ is not None:
            run_id = champ.run_id
            trained = MlflowClient().get_run(run_id).data.params.get("as_of")
            as_of = date.fromisoformat(trained) if trained and date.fromisoformat(trained) in snaps else as_of
    df = run.read_features(spark, cfg, as_of).join(truth, "member_id", "left").cache()
    print(f"\nKMeans vs Gaussian mixture on gold.member_features as_of {as_of} ({df.count():,} members), "
          f"k in {s.k_min}..{s.k_max} by silhouette")
    out = {}
    for algorithm in ("kmeans", "gmm"):
        t0 = time.time()
        result = fit.fit(df, settings.SegmentSettings(**{**s.__dict__, "algorithm": algorithm}))
        scored = result.model.transform(df).where(F.col("persona").isNotNull())
        _, _, table = evaluate.contingency(scored, settings.SEGMENT_ID, "persona")
        out[algorithm] = (result.k, result.silhouette, evaluate.adjusted_rand_index(table))
        print(f"  {algorithm:<7} k={result.k:2d}  silhouette {result.silhouette:.4f}  ARI {out[algorithm][2]:.4f}  "
              f"({time.time() - t0:.1f}s)")
    df.unpersist()
    by_sil = max(out, key=lambda a: (out[a][1], a == "kmeans"))
    by_ari = max(out, key=lambda a: (out[a][2], a == "kmeans"))
    print(f"  silhouette (what the job's 'best' picks): {by_sil}; agreement with the personas: {by_ari}")
    if run_id is not None:
        from mlflow.tracking import MlflowClient
        client = MlflowClient()
        for a, (k, sil, ari) in out.items():
            client.log_metric(run_id, f"ari_personas_{a}", ari)
            client.log_metric(run_id, f"silhouette_{a}", sil)
            client.log_metric(run_id, f"k_{a}", k)
        client.set_tag(run_id, "segments.personas_winner", by_ari)
        print(f"  logged to the champion's run {run_id}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="local")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--as-of", default="", help="comma-separated snapshots (default: all in gold.member_segments)")
    p.add_argument("--sweep", default="", help="comma-separated k values to fit and compare (optional)")
    p.add_argument("--algorithms", action="store_true", help="fit KMeans and the Gaussian mixture, compare ARI")
    p.add_argument("--no-log", action="store_true", help="do not log the ARI to MLflow")
    args = p.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    spark = build_session("segments_vs_personas", cfg)
    try:
        truth = truth_personas(spark, cfg).cache()
        results = {}
        if lake.exists(cfg, run.SEGMENTS_TABLE):
            present = run.available_as_of(spark, cfg, run.SEGMENTS_TABLE)
            wanted = [date.fromisoformat(v.strip()) for v in args.as_of.split(",") if v.strip()] or present
            for as_of in wanted:
                if as_of not in present:
                    print(f"as_of {as_of}: not in {run.SEGMENTS_TABLE} (present: {present})")
                    continue
                results[as_of] = snapshot_ari(spark, cfg, truth, as_of)
        else:
            print(f"{run.SEGMENTS_TABLE} does not exist yet (run train_segments and score_segments)")
        if results and not args.no_log:
            log_to_mlflow(cfg, results)
        if args.algorithms:
            compare_algorithms(spark, cfg, truth, not args.no_log)
        if args.sweep:
            sweep(spark, cfg, [int(k) for k in args.sweep.split(",") if k.strip()], truth)
    finally:
        spark.stop()
    return 0


def log_to_mlflow(cfg, results):
    from mlflow.tracking import MlflowClient

    from loyalty.ml import tracking

    tracking.configure(cfg)
    client = MlflowClient()
    name = settings.from_conf(cfg).model_name
    by_version: dict[int, dict] = {}
    for as_of, (ari, versions, table) in results.items():
        if len(versions) != 1:
            print(f"as_of {as_of}: scored by versions {versions}; not logged")
            continue
        by_version.setdefault(versions[0], {})[as_of] = (ari, table)
    for version, snaps in by_version.items():
        run_id = client.get_model_version(name, str(version)).run_id
        trained_on = client.get_run(run_id).data.params.get("as_of")
        for as_of, (ari, _) in snaps.items():
            client.log_metric(run_id, f"ari_personas_{as_of.isoformat()}", ari)
        main_as_of = next((d for d in snaps if d.isoformat() == trained_on), max(snaps))
        client.log_metric(run_id, "ari_personas", snaps[main_as_of][0])
        client.log_dict(run_id, {d.isoformat(): t for d, (_, t) in snaps.items()}, "personas_contingency.json")
        print(f"\nlogged ari_personas={snaps[main_as_of][0]:.4f} (as_of {main_as_of}) to run {run_id} "
              f"({name} version {version}, trained on {trained_on})")


if __name__ == "__main__":
    sys.exit(main())

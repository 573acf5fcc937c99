"""How well does gold.member_timing recover the channel and engagement hour the generator planted?

    .venv/bin/python benchmarks/timing_vs_truth.py [--env local] [--as-of 2026-11-01] [--no-log]

For one snapshot of gold.member_timing (default: the latest), joins each member's rank-1 channel and
best_hour with the planted ``preferred_channel`` and ``engagement_hour`` (<paths.truth>/members.parquet)
and prints, in one run on the same members:

    served        the table as written by build_timing
    raw counts    the same code with prior_strength ~ 0 (each member's own counts, no shrinkage)
    population    the population's best channel among the member's channels, and its best hour

top-1 channel hit rate and hour-within-one hit rate with standard errors, the ratio to the population,
the same by source (member, segment, population), and the refit time in member rows/s. Unless
``--no-log``, the truth metrics are logged into the build_timing MLflow run of that as_of (truth_*).

This is a benchmark, not a job: jobs never read the truth folder (docs/DESIGN.md, "Ground truth").
Run it at small scale on shared machines (the test env or a small demo).
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
from loyalty.ml import tracking  # noqa: E402
from loyalty.spark import build_session  # noqa: E402
from loyalty.timing import evaluate, run  # noqa: E402
from loyalty.timing.settings import SOURCES  # noqa: E402


def line(name, m):
    return (f"  {name:<12} top-1 channel {m['channel_hit']:.3f} ± {m['channel_hit_se']:.3f}   "
            f"hour within one {m['hour_hit']:.3f} ± {m['hour_hit_se']:.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--as-of")
    ap.add_argument("--no-log", action="store_true")
    args = ap.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    path = os.path.join(cfg["paths.truth"], "members.parquet")
    if not os.path.exists(path):
        sys.exit(f"no planted truth at {path} (generate the data with generate_feeds first)")
    spark = build_session("timing_vs_truth", cfg)
    try:
        if not lake.exists(cfg, run.TIMING_TABLE):
            sys.exit(f"{run.TIMING_TABLE} does not exist: run build_timing first")
        table = lake.read(spark, cfg, run.TIMING_TABLE)
        as_of = date.fromisoformat(args.as_of) if args.as_of else table.agg(F.max("as_of")).first()[0]
        served = table.where(F.col("as_of") == F.lit(as_of)).persist()
        targets = evaluate.truth_targets(spark.read.parquet(path)).persist()
        t = time.monotonic()
        fitted = run.fit_at(spark, cfg, as_of)
        refit_rows = fitted.timing.count()
        refit_seconds = time.monotonic() - t
        raw = run.fit_at(spark, cfg.with_overrides(["timing.prior_strength=1e-6"]), as_of)
        model = evaluate.top_choice(served)
        m = evaluate.hit_rates(model, fitted.baseline, targets)
        r = evaluate.hit_rates(evaluate.top_choice(raw.timing), fitted.baseline, targets)
        print(f"\ngold.member_timing as_of {as_of}: {m['channel_members']:,} members with a planted channel and hour "
              f"(refit {refit_rows:,} rows in {refit_seconds:.1f}s, {refit_rows / refit_seconds:,.0f} rows/s)")
        print(line("served", m))
        print(line("raw counts", r))
        print(line("population", {"channel_hit": m["channel_hit_baseline"],
                                  "channel_hit_se": m["channel_hit_baseline_se"],
                                  "hour_hit": m["hour_hit_baseline"], "hour_hit_se": m["hour_hit_baseline_se"]}))
        for dim in ("channel", "hour"):
            base = m[f"{dim}_hit_baseline"]
            print(f"  {dim}: served - population {m[f'{dim}_hit_lift']:+.3f} ± {m[f'{dim}_hit_lift_se']:.3f}, "
                  f"ratio {m[f'{dim}_hit'] / base if base else float('nan'):.2f}")
        print("  by source (served vs population on the same members):")
        by_source = {}
        for source in SOURCES:
            ids = served.where(F.col("source") == source).select("member_id").distinct()
            s = evaluate.hit_rates(model.join(ids, "member_id", "left_semi"), fitted.baseline, targets)
            by_source[source] = s
            if s["channel_members"]:
                print(f"    {source:<10} {s['channel_members']:>7,} members: channel {s['channel_hit']:.3f} vs "
                      f"{s['channel_hit_baseline']:.3f}, hour {s['hour_hit']:.3f} vs {s['hour_hit_baseline']:.3f}")
        fitted.unpersist()
        raw.unpersist()
        if not args.no_log:
            log_to_run(cfg, as_of, m, r, by_source)
    finally:
        spark.stop()
    return 0


def log_to_run(cfg, as_of, m, r, by_source) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    tracking.configure(cfg)
    exp = MlflowClient().get_experiment_by_name(tracking.experiment_name(cfg, run.RUN_NAME))
    found = [] if exp is None else MlflowClient().search_runs(
        [exp.experiment_id], f"attributes.run_name = '{run.RUN_NAME}-{as_of}'", order_by=["attributes.start_time DESC"],
        max_results=1)
    if not found:
        print(f"  (no MLflow run {run.RUN_NAME}-{as_of}: nothing logged)")
        return
    metrics = {f"truth_{k}": v for k, v in m.items()}
    metrics.update({f"truth_raw_{k}": v for k, v in r.items() if k.endswith(("_hit", "_hit_se"))})
    for source, s in by_source.items():
        metrics.update({f"truth_{source}_{k}": v for k, v in s.items()
                        if k.endswith(("_hit", "_hit_baseline", "members"))})
    with mlflow.start_run(run_id=found[0].info.run_id):
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
    print(f"  logged truth_* metrics into MLflow run {found[0].info.run_id}")


if __name__ == "__main__":
    sys.exit(main())

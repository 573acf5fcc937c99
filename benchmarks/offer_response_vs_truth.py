"""How well does the offer response model recover the uplift the generator planted?

    .venv/bin/python benchmarks/offer_response_vs_truth.py [--env local] [--as-of 2026-11-01] [--set k=v ...]
                                                           [--champion]

Builds the training rows exactly as train_offer_response does (run.training_rows, training.split),
fits the T-learner on the issues closed before the split (or, with --champion, scores the registered
champion instead), scores the evaluation issues and prints, in one run on the same rows:

- Qini and AUUC with bootstrap 95% intervals for the uplift model, the propensity baseline, a random
  ranking and the oracle ranking by the planted uplift (the reference: the best any model could do
  with these members, offers and outcomes);
- the correlation of predicted uplift with the planted uplift of the pair (``generate.response.
  true_response``: the true P(convert | treated) - P(convert | control) of that member and offer, from
  the truth files), overall and per offer type, and with the member's average (truth/members.parquet
  ``offer_uplift``);
- the planted incremental conversions captured by targeting the top 10/20/30% of evaluation issues
  by each ranking (sum of the pairs' planted uplift), as a share of the oracle's;
- rows scored per second.

The truth is read here only: jobs never read it (docs/DESIGN.md, "Ground truth").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf  # noqa: E402
from loyalty.ml.recommend.settings import resolve_as_of  # noqa: E402
from loyalty.offers.response import evaluate as E  # noqa: E402
from loyalty.offers.response import model as M  # noqa: E402
from loyalty.offers.response import run, serve, settings, training  # noqa: E402
from loyalty.spark import build_session  # noqa: E402


def planted(spark, cfg, rows):
    """``rows`` + true_uplift (the pair's planted uplift) and member_uplift (the member's average)."""
    from loyalty.generate.response import true_response

    path = os.path.join(cfg["paths.truth"], "members.parquet")
    if not os.path.exists(path) or not os.path.exists(os.path.join(cfg["paths.truth"], "offer_response.json")):
        sys.exit(f"no planted truth at {cfg['paths.truth']} (generate the data with generate_feeds first)")
    member = spark.read.parquet(path).select("member_id", F.col("offer_uplift").cast("double").alias("member_uplift"))
    pairs = rows.select("member_id", "offer_id").distinct()
    truth = true_response(spark, cfg["paths.truth"], pairs).select("member_id", "offer_id", "true_uplift")
    return rows.join(truth, ["member_id", "offer_id"], "left").join(member, "member_id", "left")


def captured(scored, rankings, shares):
    """Planted incremental conversions in the top share of issues by each ranking (Spark sums)."""
    out = {}
    n = scored.count()
    for name, col in rankings.items():
        order = Window.orderBy(F.desc(col), F.asc("member_id"), F.asc("offer_id"))
        ranked = scored.select("true_uplift", F.row_number().over(order).alias("_r"))   # one partition: a benchmark
        row = ranked.agg(*[F.sum(F.when(F.col("_r") <= int(round(s * n)), F.col("true_uplift"))).alias(f"s{i}")
                           for i, s in enumerate(shares)]).first()
        out[name] = [float(row[f"s{i}"] or 0.0) for i in range(len(shares))]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--as-of")
    ap.add_argument("--champion", action="store_true", help="score the registered champion instead of fitting")
    args = ap.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    p = settings.from_conf(cfg)
    as_of = resolve_as_of(cfg, args.as_of)
    split_date = as_of - timedelta(days=p.eval_days)
    spark = build_session("offer_response_vs_truth", cfg)
    started = time.monotonic()
    rows, counts = run.training_rows(spark, cfg, as_of, p)
    train_rows, eval_rows = training.split(rows, split_date, as_of)
    t = time.monotonic()
    if args.champion:
        model, version = run.load_champion(cfg)
        what = f"champion version {version}"
    else:
        fitted = M.fit(train_rows, p)
        form = "S-learner" if p.learner == "s_logistic" else f"T-learner ({p.learner})"
        model, what = fitted.model, f"{form} fitted on {fitted.rows} issues closed before {split_date}"
    fit_s = time.monotonic() - t
    t = time.monotonic()
    scored = (planted(spark, cfg, serve.score(model, eval_rows))
              .withColumn("_random", E.hash_uniform(["member_id", "offer_id"], "random-ranking", p.seed))
              .withColumn("_oracle", F.coalesce("true_uplift", F.lit(0.0))).persist())
    n = scored.count()
    score_s = time.monotonic() - t
    rankings = {"uplift": "uplift", "propensity": "p_treated", "random": "_random", "oracle (planted)": "_oracle"}
    ev = E.evaluate(scored, rankings, bins=p.bins, rel_err=p.quantile_error, replicates=p.bootstrap,
                    level=p.ci_level, seed=p.seed, diff=("uplift", "propensity"))
    m = ev.metrics
    print(f"\noffer response vs planted truth: as_of {as_of}, evaluation issues {split_date}..{as_of}, {what}")
    print(f"issues {counts['issues']} ({counts['rows_without_features']} without a features snapshot); "
          f"evaluation rows {n} ({int(m['eval_control'])} control); ATE {m['eval_ate']:.4f} "
          f"[{m['eval_ate_ci_low']:.4f}, {m['eval_ate_ci_high']:.4f}]")
    print(f"\n{'ranking':<18}{'qini':>9}{'95% CI':>22}{'auuc':>9}{'95% CI':>22}")
    for name in rankings:
        print(f"{name:<18}{m[f'{name}_qini']:>9.4f}   [{m[f'{name}_qini_ci_low']:>8.4f}, {m[f'{name}_qini_ci_high']:>8.4f}]"
              f"{m[f'{name}_auuc']:>9.4f}   [{m[f'{name}_auuc_ci_low']:>8.4f}, {m[f'{name}_auuc_ci_high']:>8.4f}]")
    print(f"uplift - propensity qini {m['uplift_minus_propensity_qini']:.4f} "
          f"[{m['uplift_minus_propensity_qini_ci_low']:.4f}, {m['uplift_minus_propensity_qini_ci_high']:.4f}]")
    known = scored.where(F.col("true_uplift").isNotNull())
    print(f"\ncorrelation with the planted uplift ({known.count()} rows with truth): "
          f"uplift {known.stat.corr('uplift', 'true_uplift'):.3f}, propensity {known.stat.corr('p_treated', 'true_uplift'):.3f}"
          f" (with the member's average: uplift {known.stat.corr('uplift', 'member_uplift'):.3f}, "
          f"propensity {known.stat.corr('p_treated', 'member_uplift'):.3f})")
    for r in (known.groupBy("offer_type").agg(F.corr("uplift", "true_uplift").alias("c"), F.count(F.lit(1)).alias("n"))
              .orderBy("offer_type").collect()):
        print(f"  {r['offer_type']:<14} {r['c'] if r['c'] is not None else float('nan'):.3f}  ({r['n']} rows)")
    shares = [0.1, 0.2, 0.3]
    cap = captured(scored, rankings, shares)
    print("\nplanted incremental conversions in the top share of issues (share of the oracle's)")
    print(f"{'ranking':<18}" + "".join(f"{f'top {int(s * 100)}%':>18}" for s in shares))
    for name, values in cap.items():
        print(f"{name:<18}" + "".join(f"{v:>9.1f} ({v / o if o else float('nan'):>5.2f})"
                                      for v, o in zip(values, cap["oracle (planted)"])))
    print(f"\nfit {fit_s:.1f}s, scoring {n} rows {score_s:.1f}s ({n / score_s if score_s else 0:.0f} rows/s), "
          f"total {time.monotonic() - started:.1f}s")
    scored.unpersist()
    rows.unpersist()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the uplift plan earn more than the plans a marketer would make instead? (planted truth)

    .venv/bin/python benchmarks/offer_policy.py --week 2026-11-02 [--env local] [--set key=value ...]
                                               [--replan]

For the plan week, the same candidate pairs (candidates, caps, consent, holdout) valued by the same
champion scores (``offers.run.inputs``) make three plans with the same budget, each offer spending at
most what the uplift plan spends on it (its expected cost, P(convert | treated) x reward_cost):

- uplift: gold.offer_plan for the week, as served (all selected pairs, controls included; written by
  plan_offers first when missing or with ``--replan``);
- propensity: each member's best pairs by predicted response propensity P(convert | treated) within the
  caps, and per offer the highest-propensity pairs that fit the budget;
- random: random eligible pairs (a seeded hash) within the caps, per offer in random order within budget.

Each is scored against the generator's planted truth (``generate.response.true_response``:
true_uplift = the true increase in conversion probability the offer causes for that member): the
true expected incremental conversions are the sum of true_uplift over the plan's pairs. Prints all
three, their ratios, the true expected cost, and pairs per second of the allocation. Only sums per plan
reach the driver. This is a benchmark, not a job: jobs never read the truth folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from pyspark.sql import Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf, lake  # noqa: E402
from loyalty.offers import allocate as A  # noqa: E402
from loyalty.offers import run, settings  # noqa: E402
from loyalty.spark import build_session  # noqa: E402

MEMBER, OFFER = settings.MEMBER, settings.OFFER


def ranked_plan(pairs, budgets: A.Budgets, order):
    """Each member's top-``capacity`` pairs by ``order`` (no value filter), then per offer the best by
    ``order`` within its budget (running sum of expected cost)."""
    w = Window.partitionBy(MEMBER).orderBy(order.desc(), F.col(OFFER))
    top = pairs.withColumn("_o", order).withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= F.col("capacity"))
    return A.repair(top, budgets, order=F.col("_o")).drop("_o", "_r")


def truth_sums(spark, cfg, plan, reward):
    from loyalty.generate.response import true_response

    truth = true_response(spark, cfg["paths.truth"], plan.select(MEMBER, OFFER))
    t = truth.join(reward, OFFER, "left")
    row = t.agg(F.count(F.lit(1)).alias("pairs"), F.sum("true_uplift").alias("inc"),
                F.sum(F.col("true_p_treated") * F.col("reward_cost")).alias("cost"),
                F.sum(F.when(F.col("true_uplift").isNull(), 1).otherwise(0)).alias("unknown")).first()
    return {k: (row[k] or 0) for k in ("pairs", "inc", "cost", "unknown")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--week", required=True, help="the Monday of the plan week, YYYY-MM-DD")
    ap.add_argument("--replan", action="store_true", help="run plan_offers for the week first")
    ap.add_argument("--seed", type=int, default=17, help="seed of the random plan")
    args = ap.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    week = settings.parse_week(args.week)
    spark = build_session("offer_policy", cfg)
    try:
        written = lake.exists(cfg, run.PLAN_TABLE) and lake.read(spark, cfg, run.PLAN_TABLE) \
            .where(F.col("plan_week") == F.lit(week)).limit(1).count() > 0
        if args.replan or not written:
            print(f"planning {week} (plan_offers) ...")
            run.plan(spark, cfg, week)
        t = time.monotonic()
        x = run.inputs(spark, cfg, week)
        served = lake.read(spark, cfg, run.PLAN_TABLE).where(F.col("plan_week") == F.lit(week)).select(
            MEMBER, OFFER, "expected_cost")
        spend = {r[OFFER]: float(r["c"]) for r in served.groupBy(OFFER).agg(F.sum("expected_cost").alias("c")).collect()}
        same = A.Budgets(offer={o: spend.get(o, 0.0) for o in x.budgets.offer}, partner_of=x.budgets.partner_of,
                         partner={})
        propensity = ranked_plan(x.valued, same, F.col("p_treated"))
        rnd = ranked_plan(x.valued, same, (F.xxhash64(F.lit(args.seed), F.col(MEMBER), F.col(OFFER)) / 2.0 ** 63))
        reward = x.active.select(OFFER, "reward_cost")
        results = {"uplift plan": truth_sums(spark, cfg, served, reward),
                   "propensity": truth_sums(spark, cfg, propensity, reward),
                   "random": truth_sums(spark, cfg, rnd, reward)}
        seconds = time.monotonic() - t
        print(f"\nplan week {week}: {x.candidates:,} candidate pairs; same budget per offer as the uplift plan "
              f"(total expected cost {sum(spend.values()):,.2f})")
        print(f"{'plan':<14}{'pairs':>8}{'true incr. conv.':>18}{'true cost':>12}{'conv. per $1k':>15}")
        for name, r in results.items():
            per = 1000.0 * r["inc"] / r["cost"] if r["cost"] else float("nan")
            print(f"{name:<14}{r['pairs']:>8,}{r['inc']:>18.2f}{r['cost']:>12.2f}{per:>15.2f}"
                  + (f"   ({r['unknown']} pairs unknown to the truth)" if r["unknown"] else ""))
        up = results["uplift plan"]["inc"]
        for name in ("propensity", "random"):
            base = results[name]["inc"]
            print(f"uplift / {name}: {up / base:.2f}x" if base > 0 else f"uplift / {name}: n/a ({name} {base:.2f})")
        print(f"\n{x.candidates / seconds:,.0f} candidate pairs/s for the three plans and their truth ({seconds:.1f} s)")
        x.unpersist()
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well does the measured cross-banner adoption match the banner loyalty the generator planted?

    .venv/bin/python benchmarks/cross_banner_vs_truth.py [--env local] [--set data_root=...] [--as-of 2026-11-01]

Recomputes, for one as_of (default: the latest gold.member_features snapshot), the member-level history
behind gold.cross_banner_adoption (crossbanner.run.measured_adoption: members single-banner, or without
a partner, on [cutoff - lookback, cutoff), adopted = a visit to the target on [cutoff, as_of)), joins it
with the planted truth (<paths.truth>/members.parquet: persona, home banner, partner accounts;
personas.json: ``loyal``, the share of a persona's trips at its home banner, drawn per trip) and prints
side by side, per persona and per segment:

    measured      share of the single-banner members who then shopped the other banner (± SE)
    planted       what the planted per-trip draw implies for the same members: 1 - (1 - q)^N, with
                  q = 1 - loyal for the non-home banner (loyal when the member's one banner was the other
                  one) and N the member's grocery trips in the outcome window
    1 - loyal     the persona's planted share of trips at the other banner

and, for the partners, the measured adoption beside the share of those members who hold a planted
cinema account / bank card at all (the most that could start). Nothing member-level is collected: the
comparison is aggregated in Spark. A benchmark, not a job: jobs never read the truth folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf, lake  # noqa: E402
from loyalty.crossbanner import activity as A  # noqa: E402
from loyalty.crossbanner import run  # noqa: E402
from loyalty.crossbanner.settings import KIND_BANNER, KIND_PARTNER, from_conf  # noqa: E402
from loyalty.spark import build_session  # noqa: E402


def planted_banner(adopted, truth, personas, trips):
    """Adds persona, loyal, q (planted per-trip probability of the target) and the planted P(adopt)."""
    loyal = F.col("loyal")
    q = F.when(F.col(run.TARGET) == F.col("truth_home"), loyal).otherwise(1 - loyal)
    return (adopted.where(F.col("kind") == KIND_BANNER)
            .join(truth.select("member_id", "persona", F.col("home_banner").alias("truth_home")), "member_id")
            .join(F.broadcast(personas), "persona")
            .join(trips, "member_id", "left")
            .withColumn("n_out", F.coalesce(F.col("n_out"), F.lit(0)))
            .withColumn("planted", 1 - F.pow(1 - q, F.col("n_out")))
            .withColumn("other_share", 1 - loyal))


def table(df, by, title):
    rows = (df.groupBy(by).agg(F.count("*").alias("n"), F.avg(F.col("adopted").cast("double")).alias("measured"),
                               F.avg("planted").alias("planted"), F.avg("other_share").alias("other_share"),
                               F.avg("n_out").alias("trips"))
            .orderBy(by).collect())                                  # personas / segments: a handful of rows
    print(f"\n{title}")
    print(f"  {by:<32} {'members':>8} {'measured':>16} {'planted':>8} {'ratio':>6} {'1-loyal':>8} {'trips':>6}")
    for r in rows:
        se = (r["measured"] * (1 - r["measured"]) / r["n"]) ** 0.5
        ratio = r["measured"] / r["planted"] if r["planted"] else float("nan")
        print(f"  {str(r[by]):<32} {r['n']:>8,} {r['measured']:>8.3f} ± {se:.3f} {r['planted']:>8.3f} {ratio:>6.2f} "
              f"{r['other_share']:>8.3f} {r['trips']:>6.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--as-of")
    args = ap.parse_args(argv)
    cfg = conf.load(args.env, args.overrides)
    truth_dir = cfg["paths.truth"]
    if not os.path.exists(os.path.join(truth_dir, "members.parquet")):
        sys.exit(f"no planted truth in {truth_dir} (generate the data with generate_feeds first)")
    spark = build_session("cross_banner_vs_truth", cfg)
    try:
        p = from_conf(cfg)
        as_of = date.fromisoformat(args.as_of) if args.as_of else run.resolve_as_of(spark, cfg, None)
        w = run.Windows.of(as_of, p)
        t = time.monotonic()
        adopted, seg_as_of = run.measured_adoption(spark, cfg, as_of, p)
        adopted = adopted.persist()
        n = adopted.count()
        seconds = time.monotonic() - t
        truth = spark.read.parquet(os.path.join(truth_dir, "members.parquet"))
        with open(os.path.join(truth_dir, "personas.json")) as fh:
            planted = json.load(fh)
        personas = spark.createDataFrame([(k, float(v["loyal"]), float(v["cin_use"]), float(v["bank_use"]))
                                          for k, v in planted.items()], "persona string, loyal double, "
                                                                        "cin_use double, bank_use double")
        tx, ptx = lake.read(spark, cfg, run.TXNS), lake.read(spark, cfg, run.PARTNER_TXNS)
        trips = (A.visits(tx, ptx, w.cutoff, as_of, p.banners, ()).groupBy("member_id")
                 .agg(F.sum("visits").alias("n_out")))
        print(f"\ncross-banner adoption as_of {as_of}: classified on [{w.base_start}, {w.cutoff}), adoption on "
              f"[{w.cutoff}, {as_of}), segments as of {seg_as_of}; {n:,} (member, target) pairs in {seconds:.1f}s "
              f"({n / max(seconds, 1e-9):,.0f} pairs/s)")
        banner = planted_banner(adopted, truth, personas, trips).persist()
        table(banner, "persona", "single-banner members who started at the other banner, by planted persona")
        table(banner, "segment_name", "... by segment (gold.member_segments at the cutoff)")
        accounts = {"CINEMA": F.col("cinema_account_id").isNotNull(), "BANK": F.col("bank_customer_ref").isNotNull()}
        part = (adopted.where(F.col("kind") == KIND_PARTNER)
                .join(truth.select("member_id", "persona", "cinema_account_id", "bank_customer_ref"), "member_id"))
        holds = F.when(F.col(run.TARGET) == "CINEMA", accounts["CINEMA"]).when(
            F.col(run.TARGET) == "BANK", accounts["BANK"]).otherwise(F.lit(None))
        rows = (part.groupBy(run.TARGET).agg(F.count("*").alias("n"),
                                             F.avg(F.col("adopted").cast("double")).alias("measured"),
                                             F.avg(holds.cast("double")).alias("holds"),
                                             F.sum((holds & F.col("adopted")).cast("long")).alias("adopters_with"))
                .orderBy(run.TARGET).collect())
        print("\nmembers without partner activity who started with the partner")
        print(f"  {'partner':<8} {'members':>8} {'measured':>9} {'planted: holds an account':>27}")
        for r in rows:
            print(f"  {r[run.TARGET]:<8} {r['n']:>8,} {r['measured']:>9.3f} {r['holds']:>27.3f}")
        banner.unpersist()
        adopted.unpersist()
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

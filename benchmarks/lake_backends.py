"""The lake layer's two backends side by side, in one run on the same input: append, exactly-once
(txn) append, partition overwrite, merge (10 % updates + 5 % inserts), read; seconds per operation,
rows/s, and the delta-spark / delta-rs ratio.

    .venv/bin/python benchmarks/lake_backends.py --rows 2000000 [--repeat 3]

Both backends write the same rows to their own tables under a temporary data root; the result
tables are compared (same row count and key sum) so a speed difference is never a result
difference. Absolute seconds on a shared 2-core machine move by 2x from run to run; the ratio is
the figure to quote.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from pyspark.sql import functions as F  # noqa: E402

from loyalty import conf, lake  # noqa: E402
from loyalty.spark import build_session  # noqa: E402

BACKENDS = ("delta-spark", "delta-rs")


def frame(spark, rows: int, start: int = 0, days: int = 10, amount: float = 1.0):
    return (spark.range(start, start + rows).withColumnRenamed("id", "member_id")
            .withColumn("as_of", F.date_add(F.lit("2026-10-01").cast("date"), (F.col("member_id") % days).cast("int")))
            .withColumn("amount", (F.col("member_id") % 997).cast("decimal(12,2)") * F.lit(amount).cast("decimal(4,2)"))
            .withColumn("store", F.concat(F.lit("S"), (F.col("member_id") % 40).cast("string"))))


def run_once(spark, cfg, rows: int, tag: str) -> dict[str, float]:
    name = f"silver.bench_{tag}"
    out = {}
    t = time.perf_counter()
    lake.append(frame(spark, rows), cfg, name, partition_by=["as_of"])
    out["append"] = time.perf_counter() - t
    t = time.perf_counter()
    lake.append(frame(spark, rows // 10, start=rows), cfg, name, txn=("bench", 1))
    out["txn_append"] = time.perf_counter() - t
    t = time.perf_counter()
    day = frame(spark, rows // 10, start=rows * 2, days=1)
    lake.overwrite(day, cfg, name, partitions=[{"as_of": "2026-10-01"}])
    out["partition_overwrite"] = time.perf_counter() - t
    t = time.perf_counter()
    updates = frame(spark, rows // 10, start=rows // 2, amount=2.0).unionByName(frame(spark, rows // 20, start=rows * 3))
    lake.merge(updates, cfg, name, ["member_id", "as_of"])
    out["merge"] = time.perf_counter() - t
    t = time.perf_counter()
    got = lake.read(spark, cfg, name).agg(F.count(F.lit(1)).alias("n"), F.sum("member_id").alias("s")).first()
    out["read_agg"] = time.perf_counter() - t
    out["_result"] = (int(got["n"]), int(got["s"]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="lake-bench-")
    try:
        base = conf.load("local", [f"data_root={root}"])
        spark = build_session("bench_lake_backends", base)
        spark.sparkContext.setLogLevel("ERROR")
        times: dict[str, dict[str, list[float]]] = {b: {} for b in BACKENDS}
        results = {}
        for i in range(args.repeat):
            for backend in BACKENDS:   # alternate, so drift of the machine hits both alike
                cfg = base.with_overrides([f"lake.backend={backend}"])
                got = run_once(spark, cfg, args.rows, f"{backend.replace('-', '_')}_{i}")
                results.setdefault(backend, set()).add(got.pop("_result"))
                for op, sec in got.items():
                    times[backend].setdefault(op, []).append(sec)
        same = results["delta-spark"] == results["delta-rs"] and len(results["delta-spark"]) == 1
        print(f"rows={args.rows:,} repeat={args.repeat} spark={spark.version} master={spark.sparkContext.master}")
        print(f"{'operation':22s} {'delta-spark s':>14s} {'delta-rs s':>11s} {'ratio ds/rs':>12s} {'ds rows/s':>12s}")
        for op in times["delta-spark"]:
            ds, rs = statistics.median(times["delta-spark"][op]), statistics.median(times["delta-rs"][op])
            n = {"append": args.rows, "txn_append": args.rows // 10, "partition_overwrite": args.rows // 10,
                 "merge": args.rows // 10 + args.rows // 20}.get(op, args.rows)
            print(f"{op:22s} {ds:14.2f} {rs:11.2f} {ds / rs:12.2f} {n / ds:12,.0f}")
        print(f"RESULT same_rows={same} results={sorted(results['delta-spark'])}")
        spark.stop()
        return 0 if same else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

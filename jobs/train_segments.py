"""Train KMeans member segments on gold.member_features (k by silhouette); MLflow log, register, promotion gate."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.ml.segments import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("train_segments", __doc__)
    p.add_argument("--as-of", default="", help="snapshot of gold.member_features to train on, YYYY-MM-DD "
                                               "(default: the latest as_of present)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        s = settings.from_conf(cfg)
        report = cli.Report("train_segments")
        with spark_session("train_segments", cfg) as spark:
            as_of = run.resolve_as_of(spark, cfg, args.as_of)
            cli.log.info("train_segments on %s as_of %s, k in %d..%d", run.FEATURES_TABLE, as_of, s.k_min, s.k_max)
            r = run.train(spark, cfg, as_of, s)
        report.add(model=r["model"], as_of=r["as_of"], members=r["members"], k=r["k"],
                   silhouette=f"{r['silhouette']:.4f}", version=r["version"], promoted=r["promoted"],
                   seconds=r["seconds"])
        for segment_id, name in r["names"].items():
            cli.log.info("  segment %d: %s", segment_id, name)
        cli.log.info("promotion gate: %s", r["reason"])
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("train_segments", argv, parse_args(), body,
                        expected=(settings.SegmentsError,))


if __name__ == "__main__":
    sys.exit(main())

"""Score members with the champion segment model (by alias): member_segments, segment_profiles, segment_migration."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.ml.segments import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("score_segments", __doc__)
    p.add_argument("--as-of", default="", help="snapshot(s) of gold.member_features to score, YYYY-MM-DD, "
                                               "comma-separated for several (default: the latest as_of present)")
    p.add_argument("--all", action="store_true",
                   help="score every snapshot present in gold.member_features, oldest first (migration needs two)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        s = settings.from_conf(cfg)
        report = cli.Report("score_segments")
        with spark_session("score_segments", cfg) as spark:
            if args.all:
                dates = run.available_as_of(spark, cfg)
                if not dates:
                    raise settings.SegmentsError("gold.member_features has no snapshot: run build_gold first")
            else:
                values = [v.strip() for v in args.as_of.split(",") if v.strip()] or [""]
                dates = sorted({run.resolve_as_of(spark, cfg, v) for v in values})
            for as_of in dates:
                for r in run.score(spark, cfg, as_of, s):
                    report.add(**r)
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("score_segments", argv, parse_args(), body,
                        expected=(LookupError, settings.SegmentsError))


if __name__ == "__main__":
    sys.exit(main())

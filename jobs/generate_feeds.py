"""Generate synthetic partner feeds (and the planted truth) into the landing folder."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.generate import generate
from loyalty.spark import spark_session

log = cli.log
FILE_LEVEL = {"late_file", "new_column", "test_store_rows"}   # whole files or planted rows, not row defects


def parse_args(argv=None):
    p = cli.parser("generate_feeds", __doc__)
    p.add_argument("--members", type=int, help="members to generate (default: generator.members)")
    p.add_argument("--days", type=int, help="days of activity ending at generator.end_date (default: generator.days)")
    p.add_argument("--seed", type=int, help="random seed (default: generator.seed)")
    p.add_argument("--end-date", help="last day generated, YYYY-MM-DD (default: generator.end_date)")
    p.add_argument("--defect-rate", type=float, help="share of rows per planted defect kind (default: generator.defect_rate)")
    p.add_argument("--force", action="store_true",
                   help="clear landing and truth first when they hold feeds generated with other parameters")
    return p


def main(argv=None) -> int:
    def body(args, cfg):
        summary = cli.Report("generate_feeds")   # started now, so its time covers the generation
        with spark_session("generate_feeds", cfg) as spark:
            report = generate(spark, cfg, members=args.members, days=args.days, seed=args.seed,
                              end_date=args.end_date, defect_rate=args.defect_rate, force=args.force)
        for source, out in report["sources"].items():
            kinds = out.get("defects", {})
            summary.add(source=source, files=len(out["files"]), rows=out["rows"],
                        defect_rows=sum(n for k, n in kinds.items() if k not in FILE_LEVEL),
                        file_level=", ".join(f"{k}={kinds[k]}" for k in sorted(FILE_LEVEL) if k in kinds) or None)
        if report["status"] == "skipped":
            log.info("nothing to do: %s already holds feeds generated with these parameters (use --force to "
                     "regenerate)", report["landing"])
        else:
            log.info("landing: %s   truth: %s   window %s..%s", report["landing"], report["truth"],
                     report["window"]["start"], report["window"]["end"])
        summary.log_summary()
        return cli.EXIT_OK

    return cli.run_main("generate_feeds", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

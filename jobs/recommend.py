"""Score the champion recommender: gold.recommendations and gold.category_recommendations for an as_of."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.ml.recommend import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("recommend", __doc__)
    p.add_argument("--as-of", help="recommend for this date from data strictly before it, YYYY-MM-DD "
                                   "(default: conf gold.as_of, else the day after silver.run_date)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        as_of = settings.resolve_as_of(cfg, args.as_of)
        cli.log.info("recommend as of %s", as_of)
        report = cli.Report("recommend")
        with spark_session("recommend", cfg) as spark:
            try:
                result = run.score(spark, cfg, as_of)
            except (LookupError, settings.RecommenderError) as exc:
                raise cli.UserError(str(exc)) from exc
        cli.log.info("model version %d; segments %s", result.version,
                     f"as of {result.segments_as_of}" if result.segments_as_of else "not available (skipped)")
        for table, rows, by_source in ((run.RECS_TABLE, result.rows, result.by_source),
                                       (run.CATEGORY_RECS_TABLE, result.category_rows, result.category_by_source)):
            report.add(table=table, rows=rows, model_version=result.version,
                       **{s: by_source.get(s, 0) for s in settings.SOURCES})
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("recommend", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

"""Train the ALS recommender: evaluate vs popularity on a time split, log to MLflow, register, promote."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.ml.recommend import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("train_recommender", __doc__)
    p.add_argument("--as-of", help="train on data strictly before this date, YYYY-MM-DD "
                                   "(default: conf gold.as_of, else the day after silver.run_date)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        as_of = settings.resolve_as_of(cfg, args.as_of)
        cli.log.info("train_recommender as of %s", as_of)
        report = cli.Report("train_recommender")
        with spark_session("train_recommender", cfg) as spark:
            result = run.train(spark, cfg, as_of)
        m, p = result.metrics, settings.from_conf(cfg)
        k = p.eval_k
        for name, kk in (("served", k), ("served_popularity", k), ("als", k), ("popularity", k), ("buy_again", k),
                         ("category_als", p.category_top_n), ("category_popularity", p.category_top_n)):
            report.add(model=name, k=kk, **{metric: f"{m[f'{name}_{metric}_at_{kk}']:.4f}"
                                            for metric in ("precision", "recall", "ndcg", "map", "coverage")},
                       **{metric: f"{m[f'{name}_{metric}_at_{kk}']:.4f}" if f"{name}_{metric}_at_{kk}" in m else None
                          for metric in ("diversity", "novelty")})
        cli.log.info("model %s version %d (run %s): %s", p.model_name, result.version, result.run_id, result.reason)
        cli.log.info("interactions %d (train split %d), members %d, products %d; rank %d, %d iterations; "
                     "fit %.1fs, eval %.1fs, total %.1fs", result.counts["interactions"],
                     result.counts["train_interactions"], result.counts["members"], result.counts["products"],
                     p.rank, p.max_iter, result.timings["fit_seconds"], result.timings["eval_seconds"],
                     result.timings["total_seconds"])
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("train_recommender", argv, parse_args(), body,
                        expected=(LookupError, settings.RecommenderError))


if __name__ == "__main__":
    sys.exit(main())

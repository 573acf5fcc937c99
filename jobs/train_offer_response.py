"""Train the offer response (uplift) model: T-learner vs the propensity baseline and random ranking on a
later window (Qini, AUUC, bootstrap intervals), log to MLflow, register, promote."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.ml.recommend.settings import resolve_as_of
from loyalty.offers.response import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("train_offer_response", __doc__)
    p.add_argument("--as-of", help="learn from offer issues strictly before this date, YYYY-MM-DD "
                                   "(default: conf gold.as_of, else the day after silver.run_date)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        as_of = resolve_as_of(cfg, args.as_of)
        p = settings.from_conf(cfg)
        cli.log.info("train_offer_response as of %s", as_of)
        report = cli.Report("train_offer_response")
        with spark_session("train_offer_response", cfg) as spark:
            result = run.train(spark, cfg, as_of)
        m = result.metrics
        for name in run.RANKINGS:
            report.add(ranking=name, qini=f"{m[f'{name}_qini']:.5f}",
                       qini_95ci=f"[{m[f'{name}_qini_ci_low']:.5f}, {m[f'{name}_qini_ci_high']:.5f}]",
                       auuc=f"{m[f'{name}_auuc']:.5f}",
                       auuc_95ci=f"[{m[f'{name}_auuc_ci_low']:.5f}, {m[f'{name}_auuc_ci_high']:.5f}]")
        c = result.counts
        cli.log.info("issues %d (%d without a features snapshot, left out); train %d (%d treated / %d control) "
                     "before %s; evaluation %d (%d control), ATE %.4f [%.4f, %.4f]", c["issues"],
                     c["rows_without_features"], c["train_rows"], c["train_treated"], c["train_control"],
                     result.split_date, m["eval_rows"], m["eval_control"], m["eval_ate"], m["eval_ate_ci_low"],
                     m["eval_ate_ci_high"])
        cli.log.info("uplift - propensity qini %.5f [%.5f, %.5f]", m["uplift_minus_propensity_qini"],
                     m["uplift_minus_propensity_qini_ci_low"], m["uplift_minus_propensity_qini_ci_high"])
        cli.log.info("model %s version %d (run %s): %s", p.model_name, result.version, result.run_id, result.reason)
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("train_offer_response", argv, parse_args(), body, expected=(settings.ResponseError,))


if __name__ == "__main__":
    sys.exit(main())

"""Plan the week's offers: candidates (eligibility, consent, caps, global holdout) -> response scores ->
dual-price allocation within budgets -> channel and send time -> gold.offer_plan (+ summary, holdout)."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.offers import run, settings
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("plan_offers", __doc__)
    p.add_argument("--week", required=True, help="the Monday that starts the plan week, YYYY-MM-DD")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        try:
            week = settings.parse_week(args.week)
        except ValueError as exc:
            raise cli.UsageError(str(exc)) from None
        settings.from_conf(cfg)                       # bad settings stop the job before Spark starts
        cli.log.info("plan_offers for the week %s..%s", week, settings.week_end(week))
        report = cli.Report("plan_offers")
        with spark_session("plan_offers", cfg) as spark:
            try:
                result = run.plan(spark, cfg, week)
            except (LookupError, settings.PlanError) as exc:
                raise cli.UserError(str(exc)) from exc
        m = result.metrics
        cli.log.info("objective %.2f, dual bound %.2f, gap %.3f%%, %d iterations; greedy by value %.2f; "
                     "max budget use %.2f%%; models %s", m["objective"], m["dual_bound"], 100 * m["gap"],
                     int(m["iterations"]), m["greedy_objective"], 100 * m["max_budget_use"], result.model_versions)
        for offer, use in sorted(result.budget_use.items()):
            cli.log.info("  budget use %s: %s (greedy %s)", offer, "-" if use is None else f"{100 * use:.2f}%",
                         "-" if result.greedy_budget_use.get(offer) is None
                         else f"{100 * result.greedy_budget_use[offer]:.2f}%")
        report.add(table=run.PLAN_TABLE, rows=result.rows, contacts=result.contacts, controls=result.controls,
                   candidates=result.candidates, seconds=round(result.seconds, 1))
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("plan_offers", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

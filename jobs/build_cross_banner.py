"""Build gold.cross_banner_opportunities: for members who shop one grocery banner or skip a partner, the
categories they would likely buy at the other banner (partner) and the expected value of a cross-banner
offer; and gold.cross_banner_adoption: how often such members started there on their own, per segment."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.crossbanner import run
from loyalty.crossbanner.settings import CrossBannerError
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("build_cross_banner", __doc__)
    p.add_argument("--as-of", help="snapshot date YYYY-MM-DD: data strictly before it "
                                   "(default: the latest gold.member_features snapshot)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        report = cli.Report("build_cross_banner")
        with spark_session("build_cross_banner", cfg) as spark:
            as_of = run.resolve_as_of(spark, cfg, args.as_of)
            cli.log.info("build_cross_banner as of %s", as_of)
            r = run.build(spark, cfg, as_of)
        w = r.windows
        cli.log.info("adoption: members single-banner (or without the partner) on [%s, %s) who started at the "
                     "target on [%s, %s), segments as of %s", w.base_start, w.cutoff, w.cutoff, r.as_of,
                     r.history_segments_as_of or "none (population only)")
        for a in r.adoption:
            cli.log.info("adoption %-9s %-7s %-32s members %6d  adopters %6d  rate %.3f ± %.3f  shrunk %.3f",
                         a["target_banner"], a["kind"], a["segment_name"], a["members"], a["adopters"],
                         a["adoption_rate"], a["adoption_rate_se"], a["shrunk_rate"])
        for t in r.targets_without_starters:
            cli.log.warning("no member started at %s in the adoption window: %s", t,
                            "no opportunities for it (its categories come from starters)" if t in r.partners
                            else "its expected values are 0")
        cli.log.info("gold.cross_banner_opportunities as_of %s: %d rows, %d members; segments as of %s, category "
                     "recommendations as of %s", r.as_of, r.rows, r.members, r.segments_as_of or "none",
                     r.recommendations_as_of or "none (own category mix only)")
        report.add(table=run.ADOPTION_TABLE, as_of=str(r.as_of), rows=r.adoption_rows)
        for target, (members, rows, ev) in sorted(r.by_target.items()):
            report.add(table=run.OPPORTUNITIES_TABLE, as_of=str(r.as_of), target=target, members=members, rows=rows,
                       expected_value=f"{ev:.2f}")
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("build_cross_banner", argv, parse_args(), body, expected=(CrossBannerError,))


if __name__ == "__main__":
    sys.exit(main())

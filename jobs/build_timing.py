"""Build gold.member_timing: per member, consented channels ranked, best local day and hour, shrunk
toward the segment's pattern; check the model on held-out days against the population's best."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.spark import spark_session
from loyalty.timing import run
from loyalty.timing.settings import TimingError


def parse_args():
    p = cli.parser("build_timing", __doc__)
    p.add_argument("--as-of", help="snapshot date YYYY-MM-DD: learn from events strictly before it "
                                   "(default: the latest gold.member_features snapshot)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        report = cli.Report("build_timing")
        with spark_session("build_timing", cfg) as spark:
            as_of = run.resolve_as_of(spark, cfg, args.as_of)
            cli.log.info("build_timing as of %s", as_of)
            r = run.build(spark, cfg, as_of)
        m = r.metrics
        cli.log.info("gold.member_timing as_of %s: %d rows, %d members (%s), %d without any consented channel "
                     "(one row with channel null each); segments as of %s", r.as_of, r.rows, r.members,
                     ", ".join(f"{s} {n}" for s, n in sorted(r.by_source.items())), r.without_channel,
                     r.segments_as_of or "none (population prior)")
        cli.log.info("rank-1 channel: %s", ", ".join(f"{c} {n}" for c, n in sorted(r.top_channel.items())))
        for name, label in (("channel", "top-1 channel"), ("hour", "hour within one")):
            report.add(check=f"held-out {label}", window=f"{r.cutoff}..{r.as_of}", members=m[f"{name}_members"],
                       model=f"{m[f'{name}_hit']:.3f} ± {m[f'{name}_hit_se']:.3f}",
                       population=f"{m[f'{name}_hit_baseline']:.3f} ± {m[f'{name}_hit_baseline_se']:.3f}",
                       lift=f"{m[f'{name}_hit_lift']:+.3f} ± {m[f'{name}_hit_lift_se']:.3f}")
            if not m[f"{name}_hit_lift"] > 0:
                cli.log.warning("held-out %s: the model does not beat the population baseline (%.3f vs %.3f)",
                                label, m[f"{name}_hit"], m[f"{name}_hit_baseline"])
        cli.log.info("MLflow run %s", r.run_id)
        report.log_summary()
        return cli.EXIT_OK

    return cli.run_main("build_timing", argv, parse_args(), body, expected=(TimingError,))


if __name__ == "__main__":
    sys.exit(main())

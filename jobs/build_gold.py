"""Build gold for an as_of date: point-in-time member features and the KPI marts (one partition per as_of each),
every snapshot recorded with the silver versions it read in ops.gold_snapshots."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone

from loyalty import cli
from loyalty.conf import Config
from loyalty.gold import features, kpi, snapshots
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("build_gold", __doc__)
    p.add_argument("--as-of", default="",
                   help="snapshot date(s) YYYY-MM-DD, comma-separated to backfill several (default: conf gold.as_of, "
                        "else the day after silver.run_date, else today UTC); features and marts use data strictly "
                        "before it; a date without silver data in the shortest feature window (30 days) before it "
                        "fails the run and nothing is written")
    p.add_argument("--snapshots", type=int, default=1, metavar="N",
                   help="also build the N-1 monthly feature snapshots before the as_of (same day of month), "
                        "e.g. to backfill history for segment migration (default 1)")
    p.add_argument("--only", choices=["features", "kpi"], help="build only the member features or only the KPI marts")
    return p


def default_as_of(cfg: Config) -> date:
    """conf gold.as_of, else the day after silver.run_date (data up to the run date), else today (UTC)."""
    configured = cfg.get("gold.as_of", None)
    if configured:
        return _date(configured, "gold.as_of")
    run_date = cfg.get("silver.run_date", None)
    if run_date:
        return _date(run_date, "silver.run_date") + timedelta(days=1)
    return datetime.now(timezone.utc).date()


def months_before(d: date, n: int) -> date:
    """The same day of month ``n`` months earlier (clamped to the month's length)."""
    y, m = divmod(d.year * 12 + d.month - 1 - n, 12)
    m += 1
    last = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, m, min(d.day, last))


def _date(value, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise cli.UsageError(f"{what} must be a date YYYY-MM-DD, got {value!r}") from None


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        as_ofs = sorted({_date(v, "--as-of") for v in args.as_of.split(",") if v.strip()}) or [default_as_of(cfg)]
        if args.snapshots < 1:
            raise cli.UsageError(f"--snapshots must be at least 1, got {args.snapshots}")
        dates = sorted({months_before(as_ofs[-1], n) for n in range(args.snapshots)} | set(as_ofs))
        feature_dates = dates if args.only != "kpi" else []
        kpi_dates = as_ofs if args.only != "features" else []
        report = cli.Report("build_gold")
        run_id = snapshots.new_run_id()
        cli.log.info("build_gold run %s: features as_of %s; KPI marts as_of %s", run_id,
                     ", ".join(d.isoformat() for d in feature_dates) or "-",
                     ", ".join(d.isoformat() for d in kpi_dates) or "-")
        with spark_session("build_gold", cfg) as spark:
            needed = (features.INPUTS if feature_dates else []) + (kpi.INPUTS if kpi_dates else [])
            inputs = snapshots.pin(cfg, needed, "gold")   # every snapshot of this run reads these versions
            for as_of in sorted(set(feature_dates) | set(kpi_dates)):
                inputs.require_data(spark, cfg, as_of)      # all dates checked before anything is written
            for as_of in feature_dates:
                r = features.build(spark, cfg, as_of, inputs=inputs, run_id=run_id)
                report.add(table=r["table"], as_of=r["as_of"], rows=r["rows"], version=r["version"],
                           seconds=r["seconds"])
            for as_of in kpi_dates:
                for r in kpi.build(spark, cfg, as_of, inputs=inputs, run_id=run_id):
                    report.add(table=r["table"], as_of=as_of.isoformat(), rows=r["rows"],
                               version=r.get("version"), seconds=r["seconds"])
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("build_gold", argv, parse_args(), body, expected=(snapshots.NoDataError,))


if __name__ == "__main__":
    sys.exit(main())

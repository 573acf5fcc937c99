"""Housekeeping: compact small files, checkpoint logs, vacuum at the retention floor; files and bytes before/after."""

from __future__ import annotations

import sys

from loyalty import cli
from loyalty.lake.maintain import maintain
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("maintain_lake", __doc__)
    p.add_argument("--tables", default="", help="comma-separated tables, e.g. bronze.pos,ops.ingested_files "
                                               "(default: every table under paths.lake)")
    p.add_argument("--retention-hours", type=float, default=None,
                   help="vacuum retention (default and floor: the table's retention, else lake.vacuum_retention_hours)")
    p.add_argument("--allow-deleting-in-flight-writes", action="store_true",
                   help="accept a retention below the floor: files of running writes or of snapshots still being "
                        "read may be deleted (files younger than the oldest live lease are still kept)")
    p.add_argument("--no-compact", action="store_true", help="skip compaction")
    p.add_argument("--dry-run", action="store_true", help="report what vacuum would delete; change nothing")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        from loyalty import lake

        chosen = [t.strip() for t in args.tables.split(",") if t.strip()]
        missing = [t for t in chosen if not lake.exists(cfg, t)]
        if missing:
            raise cli.UsageError(f"--tables: no such table(s): {', '.join(missing)} (under {cfg['paths.lake']})")
        report = cli.Report("maintain_lake")
        with spark_session("maintain_lake", cfg) as spark:
            results = maintain(spark, cfg, chosen or None, retention_hours=args.retention_hours,
                               allow_deleting_in_flight_writes=args.allow_deleting_in_flight_writes,
                               compact=not args.no_compact, dry_run=args.dry_run)
        for r in results:
            report.add(table=r.table, status=r.status, live_files=f"{r.live_files_before}->{r.live_files_after}",
                       disk_files=f"{r.disk_files_before}->{r.disk_files_after}",
                       disk_mb=f"{r.disk_bytes_before / 1e6:.1f}->{r.disk_bytes_after / 1e6:.1f}",
                       compacted=r.compacted, vacuumed=r.vacuumed_files, seconds=r.seconds)
            if r.status == "failed":
                report.ok = False
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("maintain_lake", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

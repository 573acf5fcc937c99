"""Ingest new landing files into bronze Delta tables, exactly once per file."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

from loyalty import cli
from loyalty.bronze.ingest import ingest
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("ingest_bronze", __doc__)
    p.add_argument("--sources", default="", help="comma-separated source names (default: all in conf)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        run_ts = datetime.now(timezone.utc).replace(microsecond=0)
        run_id = f"{run_ts:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        only = [s.strip() for s in args.sources.split(",") if s.strip()] or None
        report = cli.Report("ingest_bronze")
        with spark_session("ingest_bronze", cfg) as spark:
            results = ingest(spark, cfg, run_id=run_id, run_ts=run_ts, only=only)
        for r in results:
            report.add(source=r.source, status=r.status, batch=r.batch_id, files=r.files, rows=r.rows,
                       malformed=r.malformed_rows, rescued=r.rescued_rows, seconds=r.seconds,
                       version=r.bronze_version)
            if r.status == "failed":
                report.ok = False
                cli.log.error("%s: %s", r.source, r.message)
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("ingest_bronze", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

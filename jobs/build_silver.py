"""Build silver tables from new bronze batches: typed, conformed, deduplicated, PII tokenized, DQ-checked."""

from __future__ import annotations

import sys
import uuid
from datetime import date, datetime, timezone

from loyalty import cli
from loyalty.privacy import tokenization_key
from loyalty.silver.build import build
from loyalty.silver.entities import entities
from loyalty.silver.reconcile import reconcile_points
from loyalty.spark import spark_session


def parse_args():
    p = cli.parser("build_silver", __doc__)
    p.add_argument("--run-date", help="business date of the run, YYYY-MM-DD (default: conf silver.run_date, else today UTC)")
    p.add_argument("--sources", default="", help="comma-separated bronze sources (default: all, in dependency order)")
    return p


def main(argv=None) -> int:
    def body(args, cfg) -> int:
        now = datetime.now(timezone.utc)
        configured = cfg.get("silver.run_date", None)
        try:
            run_date = date.fromisoformat(str(args.run_date or configured)) if (args.run_date or configured) else now.date()
        except ValueError:
            raise cli.UsageError(f"--run-date must be YYYY-MM-DD, got {args.run_date!r}") from None
        key = tokenization_key(cfg)
        run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        chosen = entities()
        only = [s.strip() for s in args.sources.split(",") if s.strip()]
        unknown = sorted(set(only) - {e.source for e in chosen})
        if unknown:
            raise cli.UsageError(f"--sources: unknown source(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(e.source for e in entities())}")
        if only:
            chosen = [e for e in chosen if e.source in only]
        cli.log.info("build_silver run %s, business date %s", run_id, run_date)
        report = cli.Report("build_silver")
        with spark_session("build_silver", cfg) as spark:
            results = build(spark, cfg, chosen, run_id=run_id, run_date=run_date, pii_key=key)
            recon = reconcile_points(spark, cfg, run_id=run_id)
            if recon is not None and recon["status"] == "failed":
                cli.log.error("points reconciliation failed: %s", recon["message"])
        for r in results:
            report.add(source=r.source, table=r.table, status=r.status, batches=r.batches, rows_in=r.rows_in,
                       kept=r.rows_kept, quarantined=r.quarantined, duplicates=r.duplicates, seconds=r.seconds)
            if r.status == "failed":
                report.ok = False
        if recon is not None and recon["status"] == "failed":
            report.ok = False
        report.log_summary()
        return cli.EXIT_OK if report.ok else cli.EXIT_FAILED

    return cli.run_main("build_silver", argv, parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())

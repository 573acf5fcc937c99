"""Housekeeping for every table of the lake (job maintain_lake): compact small files, checkpoint
the log, vacuum with the retention floor, and report files and bytes before and after.

Per table, in this order:
1. compaction (Delta's OPTIMIZE, or delta-rs' compact) when the table has more live files than
   ``lake.maintain.min_files`` (small tables are left alone);
2. a log checkpoint, so readers stop replaying the JSON commits;
3. vacuum at the floor retention (``lake.vacuum``: never below the table's retention unless asked,
   never touching files younger than the oldest live lease).
Figures: live files and bytes (in the log) and files and bytes on disk (under the table root,
the log excluded), before and after. Listings only: no rows reach the driver."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

from loyalty import lake
from loyalty.conf import Config

log = logging.getLogger(__name__)


@dataclass
class TableReport:
    table: str
    status: str = "ok"          # ok | failed
    live_files_before: int = 0
    live_bytes_before: int = 0
    disk_files_before: int = 0
    disk_bytes_before: int = 0
    compacted: str = "-"        # "<removed> -> <added>" files, or "-" when skipped
    vacuumed_files: int = 0
    live_files_after: int = 0
    live_bytes_after: int = 0
    disk_files_after: int = 0
    disk_bytes_after: int = 0
    seconds: float = 0.0
    message: str = ""


def maintain(spark: SparkSession, cfg: Config, tables: list[str] | None = None, *,
             retention_hours: float | None = None, allow_deleting_in_flight_writes: bool = False,
             compact: bool = True, dry_run: bool = False) -> list[TableReport]:
    names = tables or lake.tables(cfg)
    min_files = cfg.typed("lake.maintain.min_files", int, 8)
    out = []
    for i, name in enumerate(names, 1):
        started = time.time()
        report = TableReport(name)
        try:
            report.live_files_before, report.live_bytes_before = live_files(cfg, name)
            report.disk_files_before, report.disk_bytes_before = disk_files(cfg, name)
            if compact and not dry_run and report.live_files_before > min_files:
                done = lake.optimize(spark, cfg, name)
                report.compacted = f"{done['files_removed']} -> {done['files_added']}"
            if not dry_run:
                lake.checkpoint(spark, cfg, name)
            removed = lake.vacuum(spark, cfg, name, retention_hours=retention_hours, dry_run=dry_run,
                                  allow_deleting_in_flight_writes=allow_deleting_in_flight_writes)
            report.vacuumed_files = len(removed)
            report.live_files_after, report.live_bytes_after = live_files(cfg, name)
            report.disk_files_after, report.disk_bytes_after = disk_files(cfg, name)
        except Exception as exc:   # one table failing does not stop the others; the job exits 1
            report.status, report.message = "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            log.error("%s: maintenance failed: %s", name, report.message)
        report.seconds = round(time.time() - started, 1)
        log.info("[%d/%d] %s: live files %d -> %d, on disk %d files %.1f MB -> %d files %.1f MB, "
                 "compacted %s, vacuumed %d (%.1fs)", i, len(names), name, report.live_files_before,
                 report.live_files_after, report.disk_files_before, report.disk_bytes_before / 1e6,
                 report.disk_files_after, report.disk_bytes_after / 1e6, report.compacted, report.vacuumed_files,
                 report.seconds)
        out.append(report)
    return out


def live_files(cfg: Config, name: str) -> tuple[int, int]:
    """(files, bytes) the current snapshot references."""
    import pyarrow as pa

    actions = pa.table(lake.delta_table(cfg, name).get_add_actions(flatten=False))
    return actions.num_rows, int(sum(actions.column("size_bytes").to_pylist())) if actions.num_rows else 0


def disk_files(cfg: Config, name: str) -> tuple[int, int]:
    """(files, bytes) under the table root outside ``_delta_log`` (data, orphans, checksums)."""
    root = lake.table_path(cfg, name)
    if "://" in root and not root.startswith("file:"):
        return 0, 0
    root = root[len("file:"):] if root.startswith("file:") else root
    files = size = 0
    for here, dirs, names in os.walk(root):
        if os.path.relpath(here, root).split(os.sep)[0] == "_delta_log":
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(here, n))
    return files, size

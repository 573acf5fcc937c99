"""Incremental, exactly-once ingestion of landing files into bronze Delta tables.

Per source, a run:
1. settles any batch a crashed run left open: a batch is *planned* in the file manifest
   (ops.ingested_files) before its data is written; if the bronze table already holds
   the batch (Delta app transaction ``ingest_bronze:<source>`` >= batch id) it is only
   marked committed, otherwise the very same files are ingested again under the same id;
2. lists landing files, takes those the manifest has never seen as a new batch, writes
   the plan, appends the rows to bronze together with the batch's app transaction (one
   Delta commit, so a re-run can never add them twice), then marks the files committed;
3. writes its figures (files, rows, malformed, rescued, seconds) to ops.ingestion_log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import fs, lake
from loyalty.bronze.readers import BATCH_ID, CORRUPT, INGESTED_AT, RESCUED, raw_schema, read_batch
from loyalty.bronze.sources import Source, load_sources
from loyalty.cli import UserError
from loyalty.conf import Config

log = logging.getLogger(__name__)

PLANNED, COMMITTED = "planned", "committed"


class LandingMissing(UserError):
    """A declared (not optional) source's landing folder does not exist: a wrong data_root or a
    partner that never delivered must not pass as a source with no new files."""


MANIFEST_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()),
    T.StructField("file_path", T.StringType()),
    T.StructField("file_size", T.LongType()),
    T.StructField("file_modified_at", T.TimestampType()),
    T.StructField("batch_id", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("run_id", T.StringType()),
    T.StructField("recorded_at", T.TimestampType()),
])

LOG_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType()),
    T.StructField("source", T.StringType()),
    T.StructField("table_name", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("batch_id", T.LongType()),
    T.StructField("files", T.LongType()),
    T.StructField("rows", T.LongType()),
    T.StructField("malformed_rows", T.LongType()),
    T.StructField("rescued_rows", T.LongType()),
    T.StructField("seconds", T.DoubleType()),
    T.StructField("bronze_version", T.LongType()),
    T.StructField("started_at", T.TimestampType()),
    T.StructField("message", T.StringType()),
])


@dataclass
class SourceResult:
    source: str
    table_name: str
    status: str                 # ingested | recovered | no_new_files | skipped (optional, no folder) | failed
    batch_id: int | None = None
    files: int = 0
    rows: int = 0
    malformed_rows: int = 0
    rescued_rows: int = 0
    seconds: float = 0.0
    bronze_version: int | None = None
    message: str | None = None


def ingest(spark: SparkSession, cfg: Config, *, run_id: str, run_ts: datetime,
           only: list[str] | None = None) -> list[SourceResult]:
    """Ingest every declared source (or ``only`` these); one source failing does not stop the others."""
    results = []
    for source in load_sources(cfg, only):
        started = time.time()
        try:
            result = ingest_source(spark, cfg, source, run_id=run_id, run_ts=run_ts)
        except LandingMissing as exc:  # one line, reported by the job; no traceback
            result = SourceResult(source.name, source.table, "failed", message=str(exc))
        except Exception as exc:  # reported per source; the job exits non-zero
            log.exception("%s: ingestion failed", source.name)
            result = SourceResult(source.name, source.table, "failed", message=f"{type(exc).__name__}: {exc}")
        result.seconds = round(time.time() - started, 2)
        _write_log(spark, cfg, run_id, run_ts, result)
        log.info("%s: %s files=%d rows=%d malformed=%d rescued=%d %.1fs", source.name, result.status,
                 result.files, result.rows, result.malformed_rows, result.rescued_rows, result.seconds)
        results.append(result)
    return results


def ingest_source(spark: SparkSession, cfg: Config, source: Source, *, run_id: str,
                  run_ts: datetime) -> SourceResult:
    if not fs.exists(spark, source.landing_dir):
        if not source.optional:
            raise LandingMissing(f"landing folder {source.landing_dir} of source '{source.name}' does not exist "
                                 f"(paths.landing = {cfg.get('paths.landing')}): check data_root, or declare the "
                                 f"source 'optional: true' in {cfg.where(f'sources.{source.name}')}")
        log.info("%s: optional source without a landing folder (%s): skipped", source.name, source.landing_dir)
        if not lake.exists(cfg, source.table):   # downstream jobs can rely on the table existing
            lake.append(spark.createDataFrame([], _bronze_schema(source)), cfg, source.table)
        return SourceResult(source.name, source.table, "skipped", message=f"no landing folder {source.landing_dir}")
    manifest = _manifest_rows(spark, cfg, source)
    committed = {r["batch_id"] for r in manifest if r["status"] == COMMITTED}
    planned: dict[int, list[dict]] = {}
    for r in manifest:
        if r["status"] == PLANNED:
            planned.setdefault(r["batch_id"], []).append(r)
    result = SourceResult(source.name, source.table, "no_new_files")

    for batch_id in sorted(b for b in planned if b not in committed):
        files = planned[batch_id]
        done = lake.batch_version(cfg, source.table, source.app_id) if lake.exists(cfg, source.table) else None
        if done is not None and done >= batch_id:
            log.warning("%s: batch %d was written to bronze by an interrupted run; marking it committed",
                        source.name, batch_id)
            result.status, result.message = "recovered", f"batch {batch_id} settled"
        else:
            log.warning("%s: batch %d was planned by an interrupted run but not written; ingesting "
                        "its %d file(s) again", source.name, batch_id, len(files))
            _merge_counts(result, _ingest_batch(spark, cfg, source, batch_id, [f["file_path"] for f in files],
                                                run_id, run_ts))
            result.status = "recovered"
        _record(spark, cfg, source, files, batch_id, COMMITTED, run_id, run_ts)

    known = {r["file_path"]: r for r in manifest}
    landed = fs.glob(spark, source.glob)
    for f in landed:
        seen = known.get(f.path)
        if seen is not None and seen["file_size"] != f.size:
            log.warning("%s: %s changed after it was ingested (size %d -> %d); it is not ingested again. "
                        "Deliver corrections as a new file.", source.name, f.path, seen["file_size"], f.size)
    new = [f for f in landed if f.path not in known]
    if not landed:
        log.warning("%s: no files match %s", source.name, source.glob)
    if not new:
        if not lake.exists(cfg, source.table):   # downstream jobs can rely on the table existing
            lake.append(spark.createDataFrame([], _bronze_schema(source)), cfg, source.table)
        return result

    batch_id = max([r["batch_id"] for r in manifest] or [0]) + 1
    files = [{"file_path": f.path, "file_size": f.size,
              "file_modified_at": datetime.fromtimestamp(f.modified_ms / 1000, tz=timezone.utc)} for f in new]
    _record(spark, cfg, source, files, batch_id, PLANNED, run_id, run_ts)
    _merge_counts(result, _ingest_batch(spark, cfg, source, batch_id, [f.path for f in new], run_id, run_ts))
    _record(spark, cfg, source, files, batch_id, COMMITTED, run_id, run_ts)
    result.status = "ingested" if result.status == "no_new_files" else result.status
    result.batch_id = batch_id
    return result


def bronze_frame(spark: SparkSession, source: Source, files: list[str], batch_id: int,
                 run_ts: datetime) -> DataFrame:
    """The rows of one batch exactly as they go to bronze."""
    return (read_batch(spark, source, files)
            .withColumn(INGESTED_AT, F.lit(run_ts).cast("timestamp"))
            .withColumn(BATCH_ID, F.lit(batch_id).cast("long")))


def _ingest_batch(spark, cfg, source: Source, batch_id: int, files: list[str], run_id: str,
                  run_ts: datetime) -> SourceResult:
    log.info("%s: batch %d: %d file(s) -> %s", source.name, batch_id, len(files), source.table)
    obs = Observation(f"bronze_{source.name}_{batch_id}")
    df = bronze_frame(spark, source, files, batch_id, run_ts).observe(
        obs, F.count(F.lit(1)).alias("rows"), F.count(CORRUPT).alias("malformed"),
        F.count(RESCUED).alias("rescued"))
    info = lake.append(df, cfg, source.table, schema_evolution=True, txn=(source.app_id, batch_id),
                       metadata={"loyalty.job": "ingest_bronze", "loyalty.run_id": run_id,
                                 "loyalty.source": source.name, "loyalty.batch_id": str(batch_id)})
    out = SourceResult(source.name, source.table, "ingested", batch_id, files=len(files),
                       bronze_version=info.version)
    if info.skipped:
        out.message = f"batch {batch_id} already committed; nothing added"
        return out
    metrics = obs.get
    out.rows, out.malformed_rows, out.rescued_rows = metrics["rows"], metrics["malformed"], metrics["rescued"]
    if out.malformed_rows:
        log.warning("%s: %d malformed row(s) kept in %s._corrupt_record", source.name, out.malformed_rows,
                    source.table)
    if out.rescued_rows:
        log.warning("%s: %d row(s) carry columns beyond conf (kept in %s._rescued_data)", source.name,
                    out.rescued_rows, source.table)
    return out


def _merge_counts(into: SourceResult, add: SourceResult) -> None:
    into.files += add.files
    into.rows += add.rows
    into.malformed_rows += add.malformed_rows
    into.rescued_rows += add.rescued_rows
    into.bronze_version = add.bronze_version
    into.batch_id = add.batch_id
    into.message = add.message or into.message


def _bronze_schema(source: Source) -> T.StructType:
    return T.StructType(raw_schema(source).fields + [T.StructField(INGESTED_AT, T.TimestampType()),
                                                     T.StructField(BATCH_ID, T.LongType())])


def _manifest_rows(spark: SparkSession, cfg: Config, source: Source) -> list[dict]:
    """This source's manifest: one row per file and state. Bounded by the number of landing
    files (not by rows), so it is fine on the driver."""
    table = cfg.get("ingest.manifest_table")
    if not lake.exists(cfg, table):
        return []
    rows = (lake.read(spark, cfg, table).where(F.col("source") == source.name)
            .select("file_path", "file_size", "file_modified_at", "batch_id", "status").collect())
    return [r.asDict() for r in rows]


def _record(spark, cfg, source: Source, files: list[dict], batch_id: int, status: str, run_id: str,
            run_ts: datetime) -> None:
    rows = [(source.name, f["file_path"], f.get("file_size"), f.get("file_modified_at"), batch_id, status,
             run_id, run_ts) for f in files]
    lake.append(spark.createDataFrame(rows, MANIFEST_SCHEMA), cfg, cfg.get("ingest.manifest_table"),
                metadata={"loyalty.job": "ingest_bronze", "loyalty.run_id": run_id})


def _write_log(spark, cfg, run_id: str, run_ts: datetime, r: SourceResult) -> None:
    row = asdict(r)
    values = (run_id, r.source, r.table_name, r.status, r.batch_id, r.files, r.rows, r.malformed_rows,
              r.rescued_rows, float(r.seconds), r.bronze_version, run_ts, row["message"])
    lake.append(spark.createDataFrame([values], LOG_SCHEMA), cfg, cfg.get("ingest.log_table"),
                metadata={"loyalty.job": "ingest_bronze", "loyalty.run_id": run_id})

"""The silver runner: for each entity, the bronze batches it has not processed yet become typed,
conformed, validated, deduplicated silver rows, and every bronze row is accounted for.

Per entity and run:
1. the new bronze batches are those above the entity's watermark in ops.silver_batches;
2. conform (types, UTC + local date, CAD decimals, codes, member resolution, PII tokens);
3. DQ rules from conf (dq.tables.<table>): quarantine rows go to <table>_quarantine with
   their rule and reason, 'fail' rules stop the entity before anything is committed;
4. deduplicate the kept rows by business key, latest ingested first;
5. conservation: bronze rows in = kept + quarantined + duplicates removed, else nothing is
   committed and the job fails;
6. write: merge by key (a key already in silver is replaced and counted as a duplicate of
   the earlier delivery) or SCD2 history; derived tables; quarantine append and the state
   row are exactly-once per batch range (Delta app transactions), so a re-run adds nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import dq, lake
from loyalty.conf import Config
from loyalty.silver.spec import CHECK_PREFIX, Ctx, Entity, Output
from loyalty.transforms.silver.history import DUP_RANK, scd2_changes, with_duplicate_rank

log = logging.getLogger(__name__)

STATE_TABLE_KEY = "silver.state_table"
STATE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()), T.StructField("silver_table", T.StringType()),
    T.StructField("from_batch", T.LongType()), T.StructField("to_batch", T.LongType()),
    T.StructField("rows_in", T.LongType()), T.StructField("rows_kept", T.LongType()),
    T.StructField("quarantined", T.LongType()), T.StructField("duplicates", T.LongType()),
    T.StructField("replaced_existing", T.LongType()), T.StructField("unchanged", T.LongType()),
    T.StructField("run_id", T.StringType()), T.StructField("run_date", T.DateType()),
    T.StructField("seconds", T.DoubleType()),
])


@dataclass
class EntityResult:
    source: str
    table: str
    status: str                 # built | up_to_date | failed
    batches: str = ""
    rows_in: int = 0
    rows_kept: int = 0
    quarantined: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    message: str = ""


def state_table(cfg: Config) -> str:
    return cfg.get(STATE_TABLE_KEY, "ops.silver_batches")


def watermark(spark: SparkSession, cfg: Config, source: str) -> int:
    table = state_table(cfg)
    if not lake.exists(cfg, table):
        return 0
    row = lake.read(spark, cfg, table).where(F.col("source") == source).agg(F.max("to_batch")).first()
    return int(row[0] or 0)


def build_entity(ctx: Ctx, entity: Entity, *, run_id: str) -> EntityResult:
    spark, cfg = ctx.spark, ctx.cfg
    started = time.time()
    out = EntityResult(entity.source, entity.primary.table, "up_to_date")
    if not lake.exists(cfg, entity.bronze_table):
        out.message = f"{entity.bronze_table} does not exist yet (run ingest_bronze)"
        return out
    done = watermark(spark, cfg, entity.source)
    bronze = lake.read(spark, cfg, entity.bronze_table)
    top = bronze.agg(F.max("_batch_id")).first()[0]
    if top is None or int(top) <= done:
        out.message = f"no bronze batches after {done}"
        return out
    top = int(top)
    out.batches = f"{done + 1}..{top}"
    new = bronze.where((F.col("_batch_id") > done) & (F.col("_batch_id") <= top))

    conformed = entity.conform(ctx, new).persist(StorageLevel.MEMORY_AND_DISK)
    kept = outcome = None
    try:
        rows_in = new.count()
        if conformed.count() != rows_in:
            raise dq.DQError(f"{entity.source}: conform changed the row count ({rows_in} bronze rows in, "
                             f"{conformed.count()} out); every bronze row must reach silver or quarantine")
        rules = dq.rules_for(cfg, entity.primary.table)
        refs = {name: ctx.ref(name) for name in entity.refs}
        outcome = dq.apply(conformed, rules, table=entity.primary.table, run_id=run_id, batch_id=top,
                           refs=refs, as_of=ctx.run_date, persist=True)
        quarantine = outcome.quarantine
        quarantined = outcome.rows_quarantined
        dedupe_keys = list(entity.primary.keys) + ([entity.primary.effective] if entity.primary.mode == "scd2" else [])
        ranked = with_duplicate_rank(outcome.valid, dedupe_keys,
                                     [F.col("_batch_id").desc(), F.col("_ingested_at").desc(),
                                      F.col("_source_file").desc()])
        kept = ranked.where(F.col(DUP_RANK) == 1).drop(DUP_RANK)
        kept = kept.drop(*[c for c in kept.columns if c.startswith(CHECK_PREFIX)])
        kept = kept.persist(StorageLevel.MEMORY_AND_DISK)
        rows_kept = kept.count()
        ranked_dups = ranked.where(F.col(DUP_RANK) > 1).count()
        results = list(outcome.results)
        results.append(dq.results.make_result(
            run_id=run_id, table=entity.primary.table, batch_id=top, rule="dedupe_business_key",
            rule_type="unique", column=",".join(dedupe_keys), action="quarantine",
            rows_checked=rows_in - quarantined, rows_failed=ranked_dups,
            message=f"{ranked_dups} duplicate delivery(ies) removed, latest ingested kept"))
        try:
            results.append(dq.check_conservation(table=entity.primary.table, batch_id=top, rows_in=rows_in,
                                                 rows_out=rows_kept, quarantined=quarantined,
                                                 duplicates=ranked_dups, run_id=run_id))
        except dq.ConservationError as exc:
            results.append(exc.result)
            dq.write_results(spark, cfg, results)
            raise
        dq.write_results(spark, cfg, results)
        dq.log_summary(results, log)
        if outcome.failed:
            out.status, out.message = "failed", "a DQ rule with action 'fail' failed; nothing committed"
            return out

        primary_rows = kept.select(*entity.primary.columns) if entity.primary.columns else kept
        replaced, unchanged = _write_output(ctx, entity.primary, primary_rows)
        for output, derive in entity.derived:
            _write_output(ctx, output, derive(ctx, kept))
        if quarantined or not lake.exists(cfg, quarantine_table(entity.primary.table)):
            lake.append(quarantine, cfg, quarantine_table(entity.primary.table), schema_evolution=True,
                        txn=(entity.app_id, top), metadata={"loyalty.job": "build_silver", "loyalty.run_id": run_id})
        seconds = round(time.time() - started, 2)
        state = spark.createDataFrame([(entity.source, entity.primary.table, done + 1, top, rows_in, rows_kept,
                                        quarantined, ranked_dups + replaced, replaced, unchanged, run_id,
                                        ctx.run_date, float(seconds))], STATE_SCHEMA)
        lake.append(state, cfg, state_table(cfg), txn=(entity.app_id, top),
                    metadata={"loyalty.job": "build_silver", "loyalty.run_id": run_id})
        out.status = "built"
        out.rows_in, out.rows_kept, out.quarantined, out.duplicates = rows_in, rows_kept, quarantined, ranked_dups + replaced
        out.message = f"{replaced} replaced earlier deliveries" if replaced else ""
        return out
    finally:
        conformed.unpersist()
        if kept is not None:
            kept.unpersist()
        if outcome is not None:
            outcome.release()
        out.seconds = round(time.time() - started, 2)


def quarantine_table(table: str) -> str:
    return f"{table}_quarantine"


def _write_output(ctx: Ctx, output: Output, rows: DataFrame) -> tuple[int, int]:
    """Write to a silver table; returns (rows that replaced existing keys, unchanged records)."""
    cfg = ctx.cfg
    meta_parts = list(output.partition_by) or None
    if output.mode == "scd2":
        incoming = rows.count()
        current = (lake.read(ctx.spark, cfg, output.table).where(F.col("is_current"))
                   if lake.exists(cfg, output.table) else None)
        if current is None:
            current = ctx.spark.createDataFrame([], _scd2_schema(rows, output))
        tracked = list(output.tracked)
        carry = [c for c in rows.columns if c not in set(output.keys) | set(tracked) | {output.effective}]
        changes = scd2_changes(current, rows, list(output.keys), tracked, output.effective, carry)
        info = lake.merge(changes, cfg, output.table, list(output.keys) + ["valid_from"], schema_evolution=True)
        ctx.forget(output.table)
        opened = changes.where(F.col("is_current")).count() if info.rows else 0
        return 0, max(incoming - opened, 0)
    if not lake.exists(cfg, output.table):
        lake.append(rows, cfg, output.table, partition_by=meta_parts)
        ctx.forget(output.table)
        return 0, 0
    info = lake.merge(rows, cfg, output.table, list(output.keys), schema_evolution=True)
    ctx.forget(output.table)
    return int(info.rows_updated or 0), 0


def _scd2_schema(rows: DataFrame, output: Output) -> T.StructType:
    fields = [f for f in rows.schema.fields if f.name != output.effective]
    return T.StructType(fields + [T.StructField("valid_from", T.TimestampType()),
                                  T.StructField("valid_to", T.TimestampType()),
                                  T.StructField("is_current", T.BooleanType()),
                                  T.StructField("record_hash", T.StringType())])


def build(spark: SparkSession, cfg: Config, entities: list[Entity], *, run_id: str, run_date: date,
          pii_key: bytes) -> list[EntityResult]:
    ctx = Ctx(spark, cfg, pii_key, run_date)
    results = []
    for entity in entities:
        try:
            result = build_entity(ctx, entity, run_id=run_id)
        except (dq.ConservationError, dq.DQError, lake.LakeError) as exc:
            log.error("%s -> %s: %s", entity.source, entity.primary.table, exc)
            result = EntityResult(entity.source, entity.primary.table, "failed", message=str(exc))
        log.info("%s -> %s: %s in=%d kept=%d quarantined=%d duplicates=%d %.1fs %s", entity.source,
                 entity.primary.table, result.status, result.rows_in, result.rows_kept, result.quarantined,
                 result.duplicates, result.seconds, result.message)
        results.append(result)
    return results

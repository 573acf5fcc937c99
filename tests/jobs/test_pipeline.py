"""End to end on a tiny scale, through the jobs' own entrypoints: generate_feeds -> ingest_bronze
-> build_silver on a temporary data root; then everything is read back from the Delta tables."""

import csv
import glob
import json
import os

import pytest
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import functions as F

from jobs import build_silver, generate_feeds, ingest_bronze
from loyalty import conf, lake
from loyalty.bronze.sources import load_sources
from loyalty.silver.entities import entities

SILVER = ["stores", "products", "members", "member_links", "transactions", "transaction_lines",
          "partner_transactions", "points_ledger", "offers", "offer_events", "digital_events",
          "promotions", "competitor_prices", "store_inventory", "rewards_catalog"]


@pytest.fixture(scope="module")
def pipeline(tiny_lake):
    return tiny_lake


def delta_rs_count(path):
    reader = QueryBuilder().register("t", DeltaTable(path)).execute("SELECT count(*) AS n FROM t")
    return reader.read_all().column("n")[0].as_py()


def test_every_bronze_table_is_delta_with_rows(spark, pipeline):
    cfg, _ = pipeline
    sources = load_sources(cfg)
    assert len(sources) >= 10
    for source in sources:
        path = lake.table_path(cfg, source.table)
        n = delta_rs_count(path)
        assert n > 0, source.table
        assert n == lake.read(spark, cfg, source.table).count(), source.table


def test_bronze_keeps_what_the_generator_planted(spark, pipeline):
    cfg, _ = pipeline
    truth = json.load(open(os.path.join(cfg["paths.truth"], "defects.json")))["sources"]
    for source in load_sources(cfg):
        planted = truth[source.name]
        bronze = lake.read(spark, cfg, source.table)
        assert bronze.count() == planted["rows"], source.name
        malformed = bronze.where(F.col("_corrupt_record").isNotNull()).count()
        assert malformed == planted["kinds"].get("malformed_line", 0), source.name
    rescued = lake.read(spark, cfg, "bronze.retail_freshmart").where(F.col("_rescued_data").isNotNull())
    assert rescued.count() > 0
    assert rescued.where(F.get_json_object("_rescued_data", "$.fulfillment_type").isNull()).count() == 0


def test_rerunning_ingest_and_silver_adds_nothing(spark, pipeline):
    cfg, args = pipeline
    tables = [s.table for s in load_sources(cfg)] + [f"silver.{t}" for t in SILVER]
    before = {t: lake.version(cfg, t) for t in tables}
    assert ingest_bronze.main(args) == 0
    assert build_silver.main(args) == 0
    assert {t: lake.version(cfg, t) for t in tables} == before
    last_run = lake.read(spark, cfg, "ops.ingestion_log").orderBy(F.col("started_at").desc()).limit(1).first()["run_id"]
    statuses = {r["status"] for r in lake.read(spark, cfg, "ops.ingestion_log").where(F.col("run_id") == last_run).collect()}
    assert statuses == {"no_new_files"}


def test_silver_tables_exist_and_conservation_holds_per_source(spark, pipeline):
    cfg, _ = pipeline
    for t in SILVER:
        assert delta_rs_count(lake.table_path(cfg, f"silver.{t}")) > 0, t
    state = lake.read(spark, cfg, "ops.silver_batches").groupBy("source").agg(
        F.sum("rows_in").alias("rows_in"), F.sum("rows_kept").alias("kept"), F.sum("quarantined").alias("q"),
        F.sum(F.col("duplicates") - F.col("replaced_existing")).alias("dups")).collect()
    sources = {e.source for e in entities()}                  # every bronze source silver builds (16)
    assert {r["source"] for r in state} == sources and len(sources) == 16
    for r in state:
        bronze = lake.read(spark, cfg, f"bronze.{r['source']}").count()
        assert r["rows_in"] == bronze == r["kept"] + r["q"] + r["dups"], r["source"]
    conservation = lake.read(spark, cfg, "ops.dq_results").where("rule = 'conservation'")
    assert conservation.count() == len(sources) and conservation.where("status != 'pass'").count() == 0


def test_dq_results_catch_each_planted_defect_kind(spark, pipeline):
    cfg, _ = pipeline
    truth = json.load(open(os.path.join(cfg["paths.truth"], "defects.json")))["sources"]["retail_valumart"]["kinds"]
    results = {r["rule"]: r["rows_failed"] for r in lake.read(spark, cfg, "ops.dq_results")
               .where("table_name = 'silver.transactions'").collect()}
    assert results["parseable"] == truth.get("malformed_line", 0)
    assert results["member_resolved"] >= truth.get("unknown_member", 0)
    assert results["not_in_future"] >= truth.get("future_timestamp", 0) > 0
    assert results["amount_numeric"] + results["amount_non_negative"] >= truth.get("bad_amount", 0)
    assert results["dedupe_business_key"] >= truth.get("duplicate", 0) - truth.get("malformed_line", 0)


def test_no_raw_pii_from_landing_reaches_silver(spark, pipeline):
    cfg, _ = pipeline
    raw = set()
    for path in glob.glob(os.path.join(cfg["paths.landing"], "crm_members", "*.csv")):
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                for col in ("email", "first_name", "last_name", "phone", "street_address", "loyalty_card_no"):
                    if row.get(col) and len(row[col]) > 3:
                        raw.add(row[col].strip())
    assert len(raw) > 500
    values = spark.createDataFrame([(v,) for v in raw], "v string")
    for t in SILVER:
        df = lake.read(spark, cfg, f"silver.{t}")
        for field in df.schema.fields:
            if field.dataType.simpleString() == "string" and not field.name.startswith("_"):
                hits = df.select(F.col(field.name).alias("v")).join(values, "v", "left_semi").count()
                assert hits == 0, f"silver.{t}.{field.name} holds raw PII"

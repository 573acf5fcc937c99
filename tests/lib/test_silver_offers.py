"""silver.offers with the economics the partner added part-way (schema evolution): conform on
inline bronze rows, then the runner over two deliveries (latest wins, a delivery without the
economics keeps nulls, a bad value is quarantined and the earlier delivery stays)."""

import json
from datetime import date, datetime
from decimal import Decimal

from loyalty import lake
from loyalty.silver.build import build
from loyalty.silver.entities import entities
from loyalty.transforms.silver import engagement as E

KEY = b"silver-offers-test-key"
COLS = ["offer_id", "offer_name", "offer_type", "banner", "target_category", "reward_value", "min_spend",
        "start_date", "end_date", "created_at"]
ECON = dict(reward_cost="1.50", margin_rate="0.385", funding_partner="cinema", campaign_budget="1200.00")


def offer(oid, **extra):
    return dict(offer_id=oid, offer_name=f"Spend $20 on Cheese ({oid})", offer_type="bonus_points", banner="FRESHMART",
                target_category="Cheese", reward_value="1500", min_spend="20.00", start_date="2026-10-01",
                end_date="2026-10-21", created_at="2026-09-24 10:00:00", **extra)


def bronze_rows(spark, rows, batch, source_file, columns=COLS):
    """Bronze rows as the JSON reader makes them: expected columns, extras in _rescued_data."""
    data = []
    for r in rows:
        extras = {k: v for k, v in r.items() if k not in columns}
        data.append(tuple(r.get(c) for c in columns) + (json.dumps(extras) if extras else None, None,
                                                        source_file, datetime(2026, 11, 1, batch), batch))
    schema = ", ".join(f"{c} string" for c in columns) + \
        ", _rescued_data string, _corrupt_record string, _source_file string, _ingested_at timestamp, _batch_id long"
    return spark.createDataFrame(data, schema)


def test_conform_reads_the_new_columns_from_rescued_data_and_keeps_nulls_without_them(spark):
    df = bronze_rows(spark, [offer("A", **ECON), offer("B")], 1, "file:/landing/offers/offers_catalog_2026-10-31.jsonl")
    out = {r["offer_id"]: r for r in E.conform_offers(df).collect()}
    a, b = out["A"], out["B"]
    assert (a["reward_cost"], a["margin_rate"], a["funding_partner"], a["campaign_budget"]) == \
        (Decimal("1.50"), Decimal("0.385"), "CINEMA", Decimal("1200.00"))
    assert (a["offer_type"], a["min_spend"], a["start_date"]) == ("BONUS_POINTS", Decimal("20.00"), date(2026, 10, 1))
    assert (b["reward_cost"], b["margin_rate"], b["funding_partner"], b["campaign_budget"]) == (None, None, None, None)


def test_conform_prefers_declared_bronze_columns_once_conf_lists_them(spark):
    cols = COLS + ["reward_cost", "margin_rate", "funding_partner", "campaign_budget"]
    df = bronze_rows(spark, [offer("A", reward_cost="2.00", margin_rate="0.2", funding_partner="BANK",
                                   campaign_budget="50")], 1, "file:/x", columns=cols)
    row = E.conform_offers(df).collect()[0]
    assert (row["reward_cost"], row["margin_rate"], row["funding_partner"], row["campaign_budget"]) == \
        (Decimal("2.00"), Decimal("0.200"), "BANK", Decimal("50.00"))


def _run(spark, cfg, run_id):
    chosen = [e for e in entities() if e.source == "offers"]
    return build(spark, cfg, chosen, run_id=run_id, run_date=date(2026, 10, 31), pii_key=KEY)[0]


def test_restatement_wins_unrestated_offers_keep_nulls_and_bad_economics_are_quarantined(spark, cfg):
    first = "file:/landing/offers/offers_catalog_2026-10-09.jsonl"
    later = "file:/landing/offers/offers_catalog_2026-10-31.jsonl"
    # one batch holding both files (as a first ingestion of the generated landing does)
    lake.append(bronze_rows(spark, [offer("A"), offer("B"), offer("C")], 1, first)
                .unionByName(bronze_rows(spark, [offer("A", **ECON), offer("C", **dict(ECON, margin_rate="1.7"))], 1, later)),
                cfg, "bronze.offers")
    res = _run(spark, cfg, "o1")
    assert (res.rows_in, res.rows_kept, res.quarantined, res.duplicates) == (5, 3, 1, 1)
    got = {r["offer_id"]: r for r in lake.read(spark, cfg, "silver.offers").collect()}
    assert got["A"]["reward_cost"] == Decimal("1.50") and got["A"]["_source_file"] == later
    assert got["B"]["reward_cost"] is None and got["B"]["campaign_budget"] is None     # never restated
    assert got["C"]["margin_rate"] is None and got["C"]["_source_file"] == first       # restatement quarantined
    q = lake.read(spark, cfg, "silver.offers_quarantine").collect()
    assert [(r["offer_id"], r["_dq_rule"]) for r in q] == [("C", "margin_rate_valid")]
    # a later batch restating B: merged by key, B gains its economics, A is untouched
    lake.append(bronze_rows(spark, [offer("B", **dict(ECON, funding_partner="VALUMART"))], 2,
                            "file:/landing/offers/offers_catalog_2026-11-15.jsonl"), cfg, "bronze.offers")
    res = _run(spark, cfg, "o2")
    assert (res.rows_in, res.rows_kept, res.duplicates) == (1, 1, 1)
    got = {r["offer_id"]: r for r in lake.read(spark, cfg, "silver.offers").collect()}
    assert got["B"]["funding_partner"] == "VALUMART" and got["A"]["funding_partner"] == "CINEMA" and len(got) == 3
    warn = {r["rule"]: r["rows_failed"] for r in lake.read(spark, cfg, "ops.dq_results")
            .where("table_name = 'silver.offers' AND run_id = 'o1'").collect()}
    assert warn["economics_known"] == 3          # the rows of the first file (counted, kept)

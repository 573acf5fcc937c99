"""The silver runner on hand-made bronze batches: every row accounted for, re-runs change nothing."""

from dataclasses import replace
from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.silver.build import build
from loyalty.silver.entities import entities

KEY = b"silver-build-test-key"
RUN_DATE = date(2026, 10, 31)
CARD = "6012000000000001"


def _bronze(spark, cfg, table, columns, rows, batch):
    cols = list(columns) + ["_rescued_data", "_corrupt_record", "_source_file", "_ingested_at", "_batch_id"]
    data = [tuple(r.get(c) for c in columns) + (None, r.get("_corrupt_record"), f"file:/landing/{table}_{batch}",
                                                 datetime(2026, 11, 1, batch), batch) for r in rows]
    schema = ", ".join(f"{c} string" for c in cols[:-2]) + ", _ingested_at timestamp, _batch_id long"
    lake.append(spark.createDataFrame(data, schema), cfg, f"bronze.{table}")


STORE_COLS = ["store_id", "banner", "store_name", "street_address", "city", "province", "postal_code", "timezone",
              "open_date", "is_test_store"]
MEMBER_COLS = ["member_id", "loyalty_card_no", "first_name", "last_name", "email", "phone", "street_address", "city",
               "province", "postal_code", "birth_date", "gender", "enrollment_date", "home_banner", "consent_email",
               "consent_sms", "consent_push", "consent_mail", "status", "updated_at"]
VM_COLS = ["receiptId", "storeCode", "loyaltyId", "timestamp", "currency", "total", "items", "payment"]


def member(email, updated):
    return dict(member_id="M00000001", loyalty_card_no=CARD, first_name="Ana", last_name="Silva", email=email,
                phone="4165550101", street_address="1 King", city="Toronto", province="ON", postal_code="M5V2T6",
                birth_date="1980-01-01", gender="F", enrollment_date="2020-01-01", home_banner="VALUMART",
                consent_email="Y", consent_sms="N", consent_push="Y", consent_mail="N", status="ACTIVE", updated_at=updated)


def receipt(rid, card=CARD, ts="2026-10-01T10:00:00-04:00", total="10.00", store="S1"):
    return dict(receiptId=rid, storeCode=store, loyaltyId=card, timestamp=ts, currency="CAD", total=total,
                items='[{"lineNo":1,"upc":"U1","qty":1,"unitPrice":10,"discount":0,"amount":10}]',
                payment='{"method":"CASH","amount":10}')


@pytest.fixture
def seeded(spark, cfg):
    _bronze(spark, cfg, "stores", STORE_COLS, [
        dict(store_id="S1", banner="VALUMART", store_name="VM 1", city="Toronto", province="ON", postal_code="M5V",
             timezone="America/Toronto", open_date="2010-01-01", is_test_store="N"),
        dict(store_id="S9", banner="VALUMART", store_name="Lab", city="Toronto", province="ON", postal_code="M5V",
             timezone="America/Toronto", open_date="2010-01-01", is_test_store="Y")], 1)
    _bronze(spark, cfg, "crm_members", MEMBER_COLS, [member("ana@example.com", "2026-01-01T00:00:00Z")], 1)
    _bronze(spark, cfg, "retail_valumart", VM_COLS, [
        receipt("r1"), receipt("r1"), receipt("r2", card="6012999999999999"), dict(_corrupt_record='{"receiptId": "r3"'),
        receipt("r4", total="-5.00"), receipt("r5", ts="2027-03-01T10:00:00-05:00"), receipt("r6", total="N/A"),
        receipt("r7", store="S9")], 1)
    return cfg


def _chosen(*names):
    return [e for e in entities() if e.source in names]


def _run(spark, cfg, *names, run_id="s1"):
    return {r.source: r for r in build(spark, cfg, _chosen(*names), run_id=run_id, run_date=RUN_DATE, pii_key=KEY)}


def test_every_bronze_row_is_kept_quarantined_or_a_counted_duplicate(spark, seeded):
    res = _run(spark, seeded, "stores", "crm_members", "retail_valumart")
    vm = res["retail_valumart"]
    assert (vm.status, vm.rows_in, vm.rows_kept, vm.quarantined, vm.duplicates) == ("built", 8, 1, 6, 1)
    txns = lake.read(spark, seeded, "silver.transactions").collect()
    assert [(r["receipt_id"], r["member_id"], str(r["total_amount"])) for r in txns] == [("VALUMART:r1", "M00000001", "10.00")]
    assert lake.read(spark, seeded, "silver.transaction_lines").count() == 1
    q = {r["receipt_id"] or "malformed": r["_dq_rule"] for r in lake.read(spark, seeded, "silver.transactions_quarantine").collect()}
    assert q == {"VALUMART:r2": "member_resolved", "malformed": "parseable", "VALUMART:r4": "amount_non_negative",
                 "VALUMART:r5": "not_in_future", "VALUMART:r6": "amount_numeric", "VALUMART:r7": "not_test_store"}
    results = lake.read(spark, seeded, "ops.dq_results").where("table_name = 'silver.transactions'")
    by_rule = {r["rule"]: (r["rows_failed"], r["status"]) for r in results.collect()}
    assert by_rule["dedupe_business_key"] == (1, "quarantined") and by_rule["conservation"][1] == "pass"
    assert by_rule["member_resolved"] == (2, "quarantined")   # r2 and the malformed row (counted per rule, quarantined once)


def test_rerun_changes_nothing_and_redelivery_replaces_not_duplicates(spark, seeded):
    _run(spark, seeded, "stores", "crm_members", "retail_valumart")
    versions = {t: lake.version(seeded, t) for t in ("silver.transactions", "silver.transactions_quarantine", "silver.members")}
    again = _run(spark, seeded, "stores", "crm_members", "retail_valumart", run_id="s2")
    assert {r.status for r in again.values()} == {"up_to_date"}
    assert {t: lake.version(seeded, t) for t in versions} == versions
    _bronze(spark, seeded, "retail_valumart", VM_COLS, [receipt("r1", total="11.00"), receipt("r8")], 2)
    third = _run(spark, seeded, "retail_valumart", run_id="s3")["retail_valumart"]
    assert (third.rows_in, third.rows_kept, third.quarantined, third.duplicates) == (2, 2, 0, 1)
    txns = {r["receipt_id"]: str(r["total_amount"]) for r in lake.read(spark, seeded, "silver.transactions").collect()}
    assert txns == {"VALUMART:r1": "11.00", "VALUMART:r8": "10.00"}
    state = lake.read(spark, seeded, "ops.silver_batches").where("source = 'retail_valumart'").orderBy("to_batch").collect()
    assert [(r["from_batch"], r["to_batch"], r["replaced_existing"]) for r in state] == [(1, 1, 0), (2, 2, 1)]


def test_member_change_closes_history_and_pii_is_tokenized(spark, seeded):
    _run(spark, seeded, "crm_members")
    _bronze(spark, seeded, "crm_members", MEMBER_COLS, [member("ana.new@example.com", "2026-06-01T00:00:00Z"),
                                                         member("ana@example.com", "2026-01-01T00:00:00Z")], 2)
    res = _run(spark, seeded, "crm_members", run_id="s2")["crm_members"]
    assert (res.rows_in, res.rows_kept) == (2, 2)
    rows = sorted(lake.read(spark, seeded, "silver.members").collect(), key=lambda r: r["valid_from"])
    assert [(r["valid_from"], r["valid_to"], r["is_current"]) for r in rows] == [
        (datetime(2026, 1, 1), datetime(2026, 6, 1), False), (datetime(2026, 6, 1), datetime(9999, 12, 31), True)]
    text = " ".join(str(v) for r in rows for v in r.asDict().values())
    assert "example.com" not in text and "Silva" not in text and CARD not in text


def test_conform_that_loses_a_row_fails_and_commits_nothing(spark, seeded):
    _run(spark, seeded, "stores", "crm_members")
    vm = _chosen("retail_valumart")[0]
    lossy = replace(vm, conform=lambda ctx, b: vm.conform(ctx, b).where(F.col("receipt_id") != "VALUMART:r2"))
    res = build(spark, seeded, [lossy], run_id="bad", run_date=RUN_DATE, pii_key=KEY)[0]
    assert res.status == "failed" and "row count" in res.message
    assert not lake.exists(seeded, "silver.transactions")
    assert not lake.exists(seeded, "ops.silver_batches") or lake.read(spark, seeded, "ops.silver_batches").where(
        "source = 'retail_valumart'").count() == 0


PRODUCT_COLS = ["product_id", "upc", "name", "brand", "is_private_label", "department", "category", "subcategory",
                "regular_price", "size", "updated_at"]
FM_COLS = ["receipt_no", "store_no", "card_no", "txn_local_ts", "line_no", "upc", "qty", "unit_price_cents",
           "line_amount_cents", "discount_cents", "tender_type"]


def fm_line(receipt_no, line_no, cents, upc="U1"):
    return dict(receipt_no=receipt_no, store_no="F1", card_no=CARD, txn_local_ts="2026-10-01 10:00:00",
                line_no=str(line_no), upc=upc, qty="1", unit_price_cents=str(cents), line_amount_cents=str(cents),
                discount_cents="0", tender_type="CARD")


def test_freshmart_correction_file_keeps_the_full_receipt_total(spark, seeded):
    """Batch 1 has receipt f1 with three lines; batch 2 is a correction file that re-sends only
    line 2, with a corrected amount. A re-delivered line replaces the same (receipt, line) key, so
    the receipt is lines 1 and 3 of batch 1 plus the corrected line 2: the total uses all three."""
    _bronze(spark, seeded, "stores", STORE_COLS, [
        dict(store_id="F1", banner="FRESHMART", store_name="FM 1", city="Toronto", province="ON", postal_code="M5V",
             timezone="America/Toronto", open_date="2010-01-01", is_test_store="N")], 2)
    _bronze(spark, seeded, "products", PRODUCT_COLS, [
        dict(product_id="P1", upc="U1", name="Apples", brand="Orchard", is_private_label="N", department="Produce",
             category="Fruit", subcategory="Apples", regular_price="1.00", size="1 kg",
             updated_at="2026-01-01T00:00:00Z")], 1)
    _bronze(spark, seeded, "retail_freshmart", FM_COLS,
            [fm_line("f1", 1, 1000), fm_line("f1", 2, 500), fm_line("f1", 3, 250), fm_line("f2", 1, 700)], 1)
    first = _run(spark, seeded, "stores", "products", "crm_members", "retail_freshmart")["retail_freshmart"]
    assert (first.rows_in, first.rows_kept) == (4, 4)
    totals = {r["receipt_id"]: (str(r["total_amount"]), r["line_count"])
              for r in lake.read(spark, seeded, "silver.transactions").collect()}
    assert totals["FRESHMART:f1"] == ("17.50", 3)

    _bronze(spark, seeded, "retail_freshmart", FM_COLS, [fm_line("f1", 2, 450)], 2)
    second = _run(spark, seeded, "retail_freshmart", run_id="s2")["retail_freshmart"]
    # Conservation: the one bronze row is kept; it replaced an earlier delivery of its line.
    assert (second.rows_in, second.rows_kept, second.quarantined, second.duplicates) == (1, 1, 0, 1)
    lines = {(r["receipt_id"], r["line_no"]): str(r["line_amount"])
             for r in lake.read(spark, seeded, "silver.transaction_lines").collect()}
    assert lines == {("FRESHMART:f1", 1): "10.00", ("FRESHMART:f1", 2): "4.50", ("FRESHMART:f1", 3): "2.50",
                     ("FRESHMART:f2", 1): "7.00"}
    txns = {r["receipt_id"]: r for r in lake.read(spark, seeded, "silver.transactions").collect()}
    f1 = txns["FRESHMART:f1"]
    assert (str(f1["total_amount"]), f1["line_count"], f1["item_count"], f1["_batch_id"]) == ("17.00", 3, 3, 2)
    assert f1["member_id"] == "M00000001"
    assert str(txns["FRESHMART:f2"]["total_amount"]) == "7.00"      # a receipt the correction did not touch
    assert len(txns) == 2

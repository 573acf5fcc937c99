"""Conform transforms on tiny hand-written bronze rows, checked against hand-computed values."""

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import functions as F

from loyalty.privacy import python_token
from loyalty.transforms.silver import members as M
from loyalty.transforms.silver import partners as PT
from loyalty.transforms.silver import retail as RT

KEY = b"conform-test-key-123"
LINEAGE = {"_source_file": "file:/x", "_batch_id": 1, "_ingested_at": datetime(2026, 11, 1), "_corrupt_record": None,
           "_rescued_data": None}


def bronze(spark, rows, columns):
    full = [dict(LINEAGE, **r) for r in rows]
    cols = list(columns) + list(LINEAGE)
    schema = ", ".join(f"{c} {'long' if c == '_batch_id' else 'timestamp' if c == '_ingested_at' else 'string'}" for c in cols)
    return spark.createDataFrame([tuple(r.get(c) for c in cols) for r in full], schema)


def stores(spark):
    return spark.createDataFrame([("S1", "America/Toronto", "FRESHMART", False), ("S2", "America/Vancouver", "VALUMART", True)],
                                 "store_id string, timezone string, banner string, is_test_store boolean")


def links(spark):
    return spark.createDataFrame(
        [("RETAIL_CARD", python_token("6012000000000001", KEY, "card"), "M00000001"),
         ("CINEMA", python_token("cin-77", KEY, "account"), "M00000002")],
        "partner string, account_token string, member_id string")


FM_COLS = ["receipt_no", "store_no", "card_no", "txn_local_ts", "line_no", "upc", "qty", "unit_price_cents",
           "line_amount_cents", "discount_cents", "tender_type"]


def test_freshmart_cents_local_time_member_and_new_column(spark):
    rows = [dict(receipt_no="100", store_no="S1", card_no="6012 0000 0000 0001", txn_local_ts="2026-07-01 21:30:00",
                 line_no="1", upc="U1", qty="2", unit_price_cents="250", line_amount_cents="500", discount_cents="0",
                 tender_type="debit", _rescued_data='{"fulfillment_type":"pickup"}'),
            dict(receipt_no="101", store_no="S1", card_no="9999", txn_local_ts="2026-07-02 08:00:00", line_no="1",
                 upc="U2", qty="1", unit_price_cents="N/A", line_amount_cents="-75", discount_cents=None, tender_type="CASH")]
    out = {r["receipt_id"]: r for r in RT.conform_freshmart_lines(bronze(spark, rows, FM_COLS), stores(spark), links(spark), KEY).collect()}
    a = out["FRESHMART:100"]
    assert a["txn_ts"] == datetime(2026, 7, 2, 1, 30)           # 21:30 EDT = 01:30 UTC next day
    assert a["business_date"] == date(2026, 7, 1) and a["local_hour"] == 21
    assert a["line_amount"] == Decimal("5.00") and a["unit_price"] == Decimal("2.50") and a["quantity"] == 2
    assert a["member_id"] == "M00000001" and a["tender_type"] == "DEBIT" and a["fulfillment_type"] == "PICKUP"
    b = out["FRESHMART:101"]
    assert b["member_id"] is None and b["unit_price"] is None and b["line_amount"] == Decimal("-0.75")
    assert b["discount_amount"] == Decimal("0.00") and b["chk_amount_raw"] == "-75"


def test_valumart_iso_offsets_items_and_receipt_lines(spark):
    items = '[{"lineNo":1,"upc":"U1","qty":2,"unitPrice":1.5,"discount":0.25,"amount":2.75},{"lineNo":2,"upc":"U2","qty":1,"unitPrice":4,"discount":0,"amount":4}]'
    rows = [dict(receiptId="vm-1", storeCode="S2", loyaltyId="6012000000000001", timestamp="2026-07-01T23:10:00-07:00",
                 currency="CAD", total="6.75", items=items, payment='{"method":"VISA","amount":6.75}')]
    cols = ["receiptId", "storeCode", "loyaltyId", "timestamp", "currency", "total", "items", "payment"]
    receipts = RT.conform_valumart_receipts(bronze(spark, rows, cols), stores(spark), links(spark), KEY)
    r = receipts.first()
    assert (r["receipt_id"], r["txn_ts"], r["business_date"], r["local_hour"]) == (
        "VALUMART:vm-1", datetime(2026, 7, 2, 6, 10), date(2026, 7, 1), 23)
    assert (r["total_amount"], r["discount_amount"], r["item_count"], r["line_count"]) == (Decimal("6.75"), Decimal("0.25"), 3, 2)
    assert r["tender_type"] == "VISA" and r["member_id"] == "M00000001" and r["is_test_store"] is True
    lines = sorted((x["line_no"], x["upc"], x["quantity"], x["line_amount"]) for x in RT.lines_from_receipts(receipts).collect())
    assert lines == [(1, "U1", 2, Decimal("2.75")), (2, "U2", 1, Decimal("4.00"))]


def test_receipts_from_lines_sum_kept_lines(spark):
    lines = spark.createDataFrame(
        [("R1", 1, 2, Decimal("5.00"), Decimal("0.50")), ("R1", 2, 1, Decimal("1.25"), Decimal("0.00"))],
        "receipt_id string, line_no int, quantity int, line_amount decimal(12,2), discount_amount decimal(12,2)")
    for c, v in [("banner", "FRESHMART"), ("store_id", "S1"), ("member_id", "M1"), ("tender_type", "CASH"),
                 ("fulfillment_type", None), ("_source_file", "f")]:
        lines = lines.withColumn(c, F.lit(v).cast("string"))
    lines = (lines.withColumn("txn_ts", F.lit(datetime(2026, 7, 1, 12)).cast("timestamp"))
             .withColumn("business_date", F.lit(date(2026, 7, 1))).withColumn("local_hour", F.lit(8))
             .withColumn("local_dow", F.lit(4)).withColumn("_batch_id", F.lit(1).cast("long"))
             .withColumn("_ingested_at", F.lit(datetime(2026, 7, 2)).cast("timestamp")))
    r = RT.receipts_from_lines(lines).first()
    assert (r["total_amount"], r["discount_amount"], r["item_count"], r["line_count"]) == (Decimal("6.25"), Decimal("0.50"), 3, 2)



def test_receipts_from_lines_sum_every_current_line_of_the_batch_receipts(spark):
    """A correction batch re-sends line 2 of R1 only: R1's totals come from all its current lines;
    R2, not in the batch, is not emitted."""
    ddl = ("receipt_id string, line_no int, quantity int, line_amount decimal(12,2), discount_amount decimal(12,2), "
           "_batch_id long")
    current = spark.createDataFrame([("R1", 1, 1, Decimal("10.00"), Decimal("0.00"), 1),
                                     ("R1", 2, 2, Decimal("4.50"), Decimal("0.50"), 2),
                                     ("R1", 3, 1, Decimal("2.50"), Decimal("0.00"), 1),
                                     ("R2", 1, 1, Decimal("7.00"), Decimal("0.00"), 1)], ddl)
    current = current.withColumn("_source_file", F.lit("f")).withColumn("_ingested_at", F.lit(datetime(2026, 7, 2)))
    batch = current.where("receipt_id = 'R1' AND line_no = 2")
    for c, v in [("banner", "FRESHMART"), ("store_id", "S1"), ("member_id", "M1"), ("tender_type", "CASH"),
                 ("fulfillment_type", None)]:
        batch = batch.withColumn(c, F.lit(v).cast("string"))
    batch = (batch.withColumn("txn_ts", F.lit(datetime(2026, 7, 1, 12))).withColumn("business_date", F.lit(date(2026, 7, 1)))
             .withColumn("local_hour", F.lit(8)).withColumn("local_dow", F.lit(4)))
    rows = RT.receipts_from_lines(batch, current).collect()
    assert [(r["receipt_id"], r["total_amount"], r["discount_amount"], r["item_count"], r["line_count"], r["member_id"],
             r["_batch_id"]) for r in rows] == [("R1", Decimal("17.00"), Decimal("0.50"), 4, 3, "M1", 2)]

MEMBER_COLS = ["member_id", "loyalty_card_no", "first_name", "last_name", "email", "phone", "street_address", "city",
               "province", "postal_code", "birth_date", "gender", "enrollment_date", "home_banner", "consent_email",
               "consent_sms", "consent_push", "consent_mail", "status", "updated_at"]


def test_members_keep_no_raw_pii_and_keep_coarse_attributes(spark):
    row = dict(member_id="m00000001", loyalty_card_no="6012000000000001", first_name="Ana", last_name="Silva",
               email="Ana.Silva@example.com", phone="(416) 555-0101", street_address="12 King St", city="toronto",
               province="on", postal_code="M5V 2T6", birth_date="1980-04-02", gender="F", enrollment_date="2020-01-15",
               home_banner="freshmart", consent_email="Y", consent_sms="N", consent_push="y", consent_mail="",
               status="ACTIVE", updated_at="2026-05-01T10:00:00Z")
    df = M.with_age_band(M.conform_members(bronze(spark, [row], MEMBER_COLS), KEY), date(2026, 10, 31))
    r = df.first().asDict()
    values = " ".join(str(v) for v in r.values())
    for raw in ("Ana", "Silva", "example.com", "555", "King", "M5V 2T6", "6012000000000001"):
        assert raw not in values
    assert r["email_token"] == python_token("ana.silva@example.com", KEY, "email")
    assert r["card_token"] == python_token("6012000000000001", KEY, "card")
    assert (r["member_id"], r["province"], r["postal_prefix"], r["birth_year"], r["age_band"]) == ("M00000001", "ON", "M5V", 1980, "45-54")
    assert (r["consent_email"], r["consent_sms"], r["consent_push"], r["consent_mail"]) == (True, False, True, None)
    link = M.card_links(df).first()
    assert (link["partner"], link["account_token"], link["member_id"]) == ("RETAIL_CARD", r["card_token"], "M00000001")


def test_cinema_local_time_from_theatre_province(spark):
    cols = ["trans_id", "theatre_id", "theatre_province", "account_id", "trans_local_ts", "item_type", "item_desc",
            "genre", "quantity", "amount", "points_earned"]
    rows = [dict(trans_id="T1", theatre_id="TH1", theatre_province="BC", account_id="CIN-77",
                 trans_local_ts="2026-07-01 19:00:00", item_type="ticket", item_desc="Film", genre="drama",
                 quantity="2", amount="29.98", points_earned="89")]
    r = PT.conform_cinema(bronze(spark, rows, cols), links(spark), KEY, {"BC": "America/Vancouver"}).first()
    assert (r["partner_txn_id"], r["member_id"], r["txn_ts"], r["local_hour"]) == ("CINEMA:T1", "M00000002", datetime(2026, 7, 2, 2, 0), 19)
    assert (r["category"], r["subcategory"], r["amount"], r["points_earned"]) == ("TICKET", "DRAMA", Decimal("29.98"), 89)

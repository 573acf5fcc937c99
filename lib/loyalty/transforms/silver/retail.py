"""Retail POS feeds conformed to one shape: receipts (silver.transactions) and their lines
(silver.transaction_lines). FreshMart sends lines (cents, store-local time); ValuMart sends
receipts with nested items (dollars, ISO-8601 with offset). Receipt ids are prefixed with the
banner so they are unique across banners."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import card_token, lineage, malformed_flag, resolve_member
from loyalty.transforms.silver.members import RETAIL_CARD

ITEM = T.ArrayType(T.StructType([
    T.StructField("lineNo", T.StringType()), T.StructField("upc", T.StringType()), T.StructField("qty", T.StringType()),
    T.StructField("unitPrice", T.StringType()), T.StructField("discount", T.StringType()),
    T.StructField("amount", T.StringType())]))
PAYMENT = T.StructType([T.StructField("method", T.StringType()), T.StructField("amount", T.StringType())])


def _with_store(df: DataFrame, stores: DataFrame) -> DataFrame:
    s = stores.select(F.col("store_id").alias("_sid"), F.col("timezone").alias("_tz"), F.col("banner").alias("_sb"),
                      F.col("is_test_store").alias("is_test_store"))
    return df.join(F.broadcast(s), df["store_id"] == s["_sid"], "left").drop("_sid")


def _time_columns(df: DataFrame) -> DataFrame:
    return (df.withColumn("business_date", P.local_date("txn_ts", "_tz"))
            .withColumn("local_hour", P.local_hour("txn_ts", "_tz"))
            .withColumn("local_dow", F.dayofweek(F.from_utc_timestamp("txn_ts", F.col("_tz")))))


def conform_freshmart_lines(bronze: DataFrame, stores: DataFrame, links: DataFrame, key: bytes) -> DataFrame:
    """One row per POS line. fulfillment_type arrived part-way through the feed as a new column
    (kept in bronze's _rescued_data), so it is read from there."""
    df = bronze.select(
        F.concat(F.lit("FRESHMART:"), F.trim("receipt_no")).alias("receipt_id"),
        P.to_int("line_no").alias("line_no"),
        F.lit("FRESHMART").alias("banner"),
        F.trim("store_no").alias("store_id"),
        F.col("txn_local_ts").alias("chk_ts_raw"),
        F.trim("upc").alias("upc"),
        P.to_int("qty").alias("quantity"),
        P.money_from_cents("unit_price_cents").alias("unit_price"),
        P.money_from_cents("line_amount_cents").alias("line_amount"),
        F.coalesce(P.money_from_cents("discount_cents"), F.lit(0).cast(P.MONEY)).alias("discount_amount"),
        F.col("line_amount_cents").alias("chk_amount_raw"),
        P.code("tender_type").alias("tender_type"),
        P.code(F.get_json_object("_rescued_data", "$.fulfillment_type")).alias("fulfillment_type"),
        card_token(F.col("card_no"), key).alias("card_token"),
        *lineage(), malformed_flag())
    df = _with_store(df, stores)
    df = df.withColumn("txn_ts", P.utc_from_local("chk_ts_raw", "_tz"))
    df = _time_columns(df)
    df = resolve_member(df, links, RETAIL_CARD, F.col("card_token"))
    return df.drop("_tz", "_sb")


def conform_valumart_receipts(bronze: DataFrame, stores: DataFrame, links: DataFrame, key: bytes) -> DataFrame:
    items = F.from_json("items", ITEM)
    df = bronze.select(
        F.concat(F.lit("VALUMART:"), F.trim("receiptId")).alias("receipt_id"),
        F.lit("VALUMART").alias("banner"),
        F.trim("storeCode").alias("store_id"),
        P.utc_from_iso("timestamp").alias("txn_ts"),
        F.col("timestamp").alias("chk_ts_raw"),
        P.money_from_dollars("total").alias("total_amount"),
        F.col("total").alias("chk_amount_raw"),
        P.code("currency").alias("currency"),
        P.code(F.get_json_object("payment", "$.method")).alias("tender_type"),
        F.lit(None).cast("string").alias("fulfillment_type"),
        items.alias("items"),
        card_token(F.col("loyaltyId"), key).alias("card_token"),
        *lineage(), malformed_flag())
    df = df.withColumn("discount_amount", F.aggregate(
        F.coalesce(F.col("items"), F.array().cast(ITEM)), F.lit(0).cast(P.MONEY),
        lambda acc, x: (acc + F.coalesce(P.money_from_dollars(x["discount"]), F.lit(0))).cast(P.MONEY)))
    df = df.withColumn("line_count", F.size(F.coalesce(F.col("items"), F.array().cast(ITEM))))
    df = df.withColumn("item_count", F.aggregate(
        F.coalesce(F.col("items"), F.array().cast(ITEM)), F.lit(0),
        lambda acc, x: acc + F.coalesce(P.to_int(x["qty"]), F.lit(0))))
    df = _time_columns(_with_store(df, stores))
    df = resolve_member(df, links, RETAIL_CARD, F.col("card_token"))
    return df.drop("_tz", "_sb")


RECEIPT_COLUMNS = ["receipt_id", "banner", "store_id", "member_id", "txn_ts", "business_date", "local_hour",
                   "local_dow", "total_amount", "discount_amount", "item_count", "line_count", "tender_type",
                   "fulfillment_type", "_source_file", "_batch_id", "_ingested_at"]
LINE_COLUMNS = ["receipt_id", "line_no", "banner", "store_id", "member_id", "txn_ts", "business_date", "upc",
                "quantity", "unit_price", "line_amount", "discount_amount", "_source_file", "_batch_id",
                "_ingested_at"]


def receipts_from_lines(lines: DataFrame, current_lines: DataFrame | None = None) -> DataFrame:
    """Receipt rows for the receipts of a batch of kept FreshMart lines.

    A re-delivered line replaces the same (receipt_id, line_no) in silver.transaction_lines, so a
    correction file may re-send only some lines of a receipt. The totals and counts therefore sum
    ``current_lines``: every current line of those receipts in silver.transaction_lines (after this
    batch's lines were merged), whatever batch delivered them; without it, the batch's own lines.
    Store, member, time and tender come from the receipt's latest delivered line in the batch."""
    touched = lines.select("receipt_id").distinct()
    latest = F.struct(F.col("_batch_id"), F.col("_ingested_at"), F.col("_source_file"), (-F.col("line_no")).alias("_l"))
    attrs = ["banner", "store_id", "member_id", "txn_ts", "business_date", "local_hour", "local_dow", "tender_type",
             "fulfillment_type"]
    header = (lines.groupBy("receipt_id")
              .agg(F.max_by(F.struct(*attrs), latest).alias("_h"))
              .select("receipt_id", *[F.col(f"_h.{c}").alias(c) for c in attrs]))
    every = lines if current_lines is None else current_lines.join(touched, "receipt_id", "left_semi")
    totals = every.groupBy("receipt_id").agg(
        F.sum("line_amount").cast(P.MONEY).alias("total_amount"),
        F.sum("discount_amount").cast(P.MONEY).alias("discount_amount"),
        F.sum("quantity").cast("int").alias("item_count"), F.count(F.lit(1)).cast("int").alias("line_count"),
        F.max("_source_file").alias("_source_file"), F.max("_batch_id").alias("_batch_id"),
        F.max("_ingested_at").alias("_ingested_at"))
    return header.join(totals, "receipt_id", "inner").select(*RECEIPT_COLUMNS)


def lines_from_receipts(receipts: DataFrame) -> DataFrame:
    """Line rows exploded from kept ValuMart receipts."""
    exploded = receipts.select("*", F.posexplode_outer("items").alias("_pos", "_item")).where(F.col("_item").isNotNull())
    return exploded.select(
        "receipt_id", F.coalesce(P.to_int(F.col("_item.lineNo")), F.col("_pos") + 1).alias("line_no"), "banner",
        "store_id", "member_id", "txn_ts", "business_date", F.trim(F.col("_item.upc")).alias("upc"),
        P.to_int(F.col("_item.qty")).alias("quantity"), P.money_from_dollars(F.col("_item.unitPrice")).alias("unit_price"),
        P.money_from_dollars(F.col("_item.amount")).alias("line_amount"),
        F.coalesce(P.money_from_dollars(F.col("_item.discount")), F.lit(0).cast(P.MONEY)).alias("discount_amount"),
        "_source_file", "_batch_id", "_ingested_at")

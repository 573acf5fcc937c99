"""Cinema and bank activity in one conformed shape: silver.partner_transactions."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import lineage, malformed_flag, map_column, resolve_member
from loyalty.transforms.silver.members import account_token

COLUMNS = ["partner_txn_id", "partner", "member_id", "txn_ts", "business_date", "local_hour", "category",
           "subcategory", "description", "quantity", "amount", "points_earned", "_source_file", "_batch_id",
           "_ingested_at"]


def conform_cinema(bronze: DataFrame, links: DataFrame, key: bytes, province_tz: dict[str, str]) -> DataFrame:
    tz = map_column(F.col("theatre_province"), province_tz)
    df = bronze.select(
        F.concat(F.lit("CINEMA:"), F.trim("trans_id")).alias("partner_txn_id"),
        F.lit("CINEMA").alias("partner"),
        tz.alias("_tz"),
        F.col("trans_local_ts").alias("chk_ts_raw"),
        P.code("item_type").alias("category"),
        P.code("genre").alias("subcategory"),
        F.trim("item_desc").alias("description"),
        P.to_int("quantity").alias("quantity"),
        P.money_from_dollars("amount").alias("amount"),
        F.col("amount").alias("chk_amount_raw"),
        P.to_long("points_earned").alias("points_earned"),
        account_token(F.col("account_id"), key).alias("_account_token"),
        *lineage(), malformed_flag())
    df = df.withColumn("txn_ts", P.utc_from_local("chk_ts_raw", "_tz"))
    df = (df.withColumn("business_date", P.local_date("txn_ts", "_tz"))
          .withColumn("local_hour", P.local_hour("txn_ts", "_tz")))
    return resolve_member(df, links, "CINEMA", F.col("_account_token")).drop("_tz", "_account_token")


def conform_bank(bronze: DataFrame, links: DataFrame, key: bytes, bank_tz: str,
                 mcc_groups: dict[str, str]) -> DataFrame:
    df = bronze.select(
        F.concat(F.lit("BANK:"), F.trim("txn_ref")).alias("partner_txn_id"),
        F.lit("BANK").alias("partner"),
        P.utc_from_iso("posted_ts").alias("txn_ts"),
        F.col("posted_ts").alias("chk_ts_raw"),
        F.coalesce(map_column(F.col("mcc"), mcc_groups), F.lit("OTHER")).alias("category"),
        F.trim("mcc").alias("subcategory"),
        F.trim("merchant_name").alias("description"),
        F.lit(1).alias("quantity"),
        P.money_from_dollars("amount_cad").alias("amount"),
        F.col("amount_cad").alias("chk_amount_raw"),
        P.to_long("points_earned").alias("points_earned"),
        account_token(F.col("customer_ref"), key).alias("_account_token"),
        *lineage(), malformed_flag())
    df = (df.withColumn("business_date", P.local_date("txn_ts", F.lit(bank_tz)))
          .withColumn("local_hour", P.local_hour("txn_ts", F.lit(bank_tz))))
    return resolve_member(df, links, "BANK", F.col("_account_token")).drop("_account_token")

"""Stores and products: reference data from bronze to typed silver rows."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import lineage, malformed_flag, postal_prefix


def conform_stores(bronze: DataFrame) -> DataFrame:
    return bronze.select(
        F.trim("store_id").alias("store_id"),
        P.code("banner").alias("banner"),
        F.trim("store_name").alias("store_name"),
        F.trim("city").alias("city"),
        P.code("province").alias("province"),
        postal_prefix(F.col("postal_code")).alias("postal_prefix"),
        F.trim("timezone").alias("timezone"),
        P.to_date("open_date").alias("open_date"),
        F.coalesce(P.yes_no("is_test_store"), F.lit(False)).alias("is_test_store"),
        *lineage(), malformed_flag())


PRODUCT_TRACKED = ("upc", "name", "brand", "is_private_label", "department", "category", "subcategory",
                   "regular_price", "size")


def conform_products(bronze: DataFrame) -> DataFrame:
    return bronze.select(
        F.trim("product_id").alias("product_id"),
        F.trim("upc").alias("upc"),
        F.trim("name").alias("name"),
        F.trim("brand").alias("brand"),
        P.yes_no("is_private_label").alias("is_private_label"),
        P.code("department").alias("department"),
        P.code("category").alias("category"),
        P.code("subcategory").alias("subcategory"),
        P.money_from_dollars("regular_price").alias("regular_price"),
        F.col("regular_price").alias("chk_regular_price_raw"),
        F.trim("size").alias("size"),
        P.utc_from_iso("updated_at").alias("updated_at"),
        *lineage(), malformed_flag())

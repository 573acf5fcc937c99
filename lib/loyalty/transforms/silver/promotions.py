"""The retail-planning feeds from bronze to typed silver rows: the banners' promotion calendars,
competitors' shelf prices, stores' weekly inventory (products resolved from the UPC against the
current catalog: a UPC the catalog does not know stays null and DQ quarantines the row) and the
rewards catalog."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.transforms.silver import parse as P
from loyalty.transforms.silver.common import lineage, malformed_flag

PROMOTION_COLUMNS = ["promo_id", "banner", "week_start", "week_end", "product_id", "upc", "regular_price", "promo_price",
                     "discount_depth", "is_display", "flyer_page", "bonus_points", "vendor_funding_share"]


def _with_product(df: DataFrame, products: DataFrame) -> DataFrame:
    """product_id by UPC (the current catalog has one row per UPC); every input row kept."""
    ids = products.select(F.col("upc").alias("_upc"), F.col("product_id").alias("_pid")).dropDuplicates(["_upc"])
    return df.join(F.broadcast(ids), df["upc"] == ids["_upc"], "left").withColumn("product_id", F.col("_pid")).drop("_upc", "_pid")


def _share(pct: Column) -> Column:
    """'25' (percent) -> 0.25."""
    return (F.trim(pct).try_cast("decimal(9,4)") / F.lit(100)).try_cast("double")


def conform_promotions(bronze: DataFrame, products: DataFrame) -> DataFrame:
    df = bronze.select(
        F.trim("promo_id").alias("promo_id"), P.code("banner").alias("banner"),
        P.to_date("week_start").alias("week_start"), P.to_date("week_end").alias("week_end"),
        F.trim("upc").alias("upc"), P.money_from_dollars("regular_price").alias("regular_price"),
        P.money_from_dollars("promo_price").alias("promo_price"), _share(F.col("discount_pct")).alias("discount_depth"),
        P.yes_no("display").alias("is_display"), P.to_int("flyer_page").alias("flyer_page"),
        F.coalesce(P.to_int("bonus_points"), F.lit(0)).alias("bonus_points"),
        F.coalesce(_share(F.col("vendor_funding_pct")), F.lit(0.0)).alias("vendor_funding_share"),
        F.col("discount_pct").alias("chk_discount_raw"), F.col("promo_price").alias("chk_promo_price_raw"),
        *lineage(), malformed_flag())
    return _with_product(df, products)


def conform_competitor_prices(bronze: DataFrame, products: DataFrame) -> DataFrame:
    df = bronze.select(
        P.code("competitor").alias("competitor"), F.trim("upc").alias("upc"), P.to_date("week_start").alias("week_start"),
        P.money_from_dollars("shelf_price").alias("shelf_price"), F.col("shelf_price").alias("chk_price_raw"),
        *lineage(), malformed_flag())
    return _with_product(df, products)


def conform_store_inventory(bronze: DataFrame, products: DataFrame) -> DataFrame:
    df = bronze.select(
        F.trim("store_id").alias("store_id"), P.to_date("week_start").alias("week_start"), F.trim("upc").alias("upc"),
        P.to_int("on_hand_units").alias("on_hand_units"), F.col("on_hand_units").alias("chk_units_raw"),
        *lineage(), malformed_flag())
    return _with_product(df, products)


def conform_rewards(bronze: DataFrame) -> DataFrame:
    return bronze.select(
        F.trim("reward_id").alias("reward_id"), P.code("partner").alias("partner"), F.trim("reward_name").alias("reward_name"),
        P.to_long("points_cost").alias("points_cost"), P.money_from_dollars("cash_value_cad").alias("cash_value_cad"),
        P.to_date("valid_from").alias("valid_from"), F.col("points_cost").alias("chk_points_raw"),
        *lineage(), malformed_flag())

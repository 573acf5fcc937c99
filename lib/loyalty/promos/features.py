"""Pure: the weekly panel the promotion-lift model learns from. One row per banner, week
(Monday..Sunday) and product the banner sold in the window: units and revenue, the promotion
that ran (depth 0 and no display when none), the competitor price gap, whether the product was
promoted the week before (post-promotion dip), how many other products of its category were
promoted that week (cannibalization), and its trailing base (mean units of its recent weeks
without a promotion). Bounded by banners x weeks x products, never by members."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import Window as W
from pyspark.sql import functions as F

KEY = ["banner", "week_start", "product_id"]
PANEL_COLUMNS = [*KEY, "category", "units", "revenue", "promoted", "depth", "is_display", "bonus_points",
                 "vendor_funding_share", "regular_price", "competitor_gap", "has_competitor", "promoted_last_week",
                 "category_promos", "base_units", "week_of_year"]


def monday(d: Column) -> Column:
    """The Monday on or before a date."""
    return F.date_sub(F.next_day(d, "Mon"), 7)


def monday_of(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weekly_units(lines: DataFrame, products: DataFrame) -> DataFrame:
    """(banner, week_start, product_id, category, units, revenue) from silver.transaction_lines;
    the product (and its category) as valid at the purchase (SCD2 on upc)."""
    prod = products.where(F.col("upc").isNotNull()).select("upc", "product_id", "category", "valid_from", "valid_to")
    valid = (F.col("valid_from") <= F.col("txn_ts")) & (F.col("valid_to").isNull() | (F.col("txn_ts") < F.col("valid_to")))
    return (lines.where(F.col("upc").isNotNull() & F.col("banner").isNotNull())
            .select("banner", "upc", "txn_ts", "business_date", "quantity", "line_amount")
            .join(F.broadcast(prod), "upc").where(valid)
            .groupBy("banner", monday(F.col("business_date")).alias("week_start"), "product_id", "category")
            .agg(F.sum("quantity").cast("double").alias("units"), F.sum("line_amount").cast("double").alias("revenue")))


def panel(spark: SparkSession, units: DataFrame, promotions: DataFrame, competitor_prices: DataFrame,
          products: DataFrame, first_week: date, last_week: date, base_weeks: int = 8) -> DataFrame:
    """The complete grid of (banner, product sold at the banner) x weeks first_week..last_week
    (Mondays), zero units where nothing sold, with the promotion and competitor features."""
    n = (last_week - first_week).days // 7 + 1
    weeks = spark.createDataFrame([(first_week + timedelta(days=7 * i),) for i in range(n)], "week_start date")
    cur = products.where(F.col("is_current")).select("product_id", "category", F.col("regular_price").cast("double").alias("_shelf"))
    sold = units.select("banner", "product_id").distinct()
    grid = (sold.crossJoin(F.broadcast(weeks)).join(F.broadcast(cur), "product_id")
            .join(units.drop("category"), KEY, "left").fillna({"units": 0.0, "revenue": 0.0}))
    promo = promotions.select(*KEY, F.col("discount_depth").alias("depth"), "is_display", "bonus_points",
                              "vendor_funding_share", F.col("regular_price").cast("double").alias("_promo_regular"),
                              F.col("promo_price").cast("double").alias("_promo_price"))
    comp = (competitor_prices.groupBy("week_start", "product_id")
            .agg(F.min(F.col("shelf_price").cast("double")).alias("_comp")))
    df = (grid.join(promo, KEY, "left").join(comp, ["week_start", "product_id"], "left")
          .withColumn("promoted", F.col("depth").isNotNull())
          .fillna({"depth": 0.0, "is_display": False, "bonus_points": 0, "vendor_funding_share": 0.0})
          .withColumn("regular_price", F.coalesce("_promo_regular", "_shelf"))
          .withColumn("_price", F.coalesce("_promo_price", "regular_price")))
    gap = (F.col("_comp") - F.col("_price")) / F.col("regular_price")
    df = df.withColumn("has_competitor", F.col("_comp").isNotNull()).withColumn("competitor_gap", F.coalesce(gap, F.lit(0.0)))
    by_item = W.partitionBy("banner", "product_id").orderBy("week_start")
    df = df.withColumn("promoted_last_week", F.coalesce(F.lag("promoted").over(by_item), F.lit(False)))
    per_cat = df.groupBy("banner", "week_start", "category").agg(F.sum(F.col("promoted").cast("int")).alias("_cat_promos"))
    df = (df.join(per_cat, ["banner", "week_start", "category"])
          .withColumn("category_promos", F.col("_cat_promos") - F.col("promoted").cast("int")))
    # trailing base: mean units of the previous base_weeks weeks that were neither promoted nor right after one
    quiet = ~F.col("promoted") & ~F.col("promoted_last_week")
    prior = by_item.rowsBetween(-base_weeks, -1)
    df = df.withColumn("base_units", F.avg(F.when(quiet, F.col("units"))).over(prior))
    return df.withColumn("week_of_year", F.weekofyear("week_start")).select(*PANEL_COLUMNS)

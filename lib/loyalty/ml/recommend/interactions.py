"""Interactions (pure): retail lines joined to products, per (member, item) confidence with recency
decay, and the dense member index.

- Lines dated in [as_of - lookback_days, as_of), joined on upc to the product attributes valid at
  as_of (silver.products is SCD2); confidence per (member, product) =
  sum over lines of a value (1 per line for ``purchases``, the line's dollars for ``spend``) times
  0.5 ** (age_days / half_life_days). Category interactions are the same lines rolled up to the
  product's category.
- Members get a dense index from ``zipWithIndex`` over the sorted member ids (a StringIndexer would
  collect every member id on the driver).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.ml.recommend.settings import CATEGORY, MEMBER, MEMBER_IDX, PRODUCT


def products_at(products: DataFrame, as_of: date) -> DataFrame:
    """The rows of an SCD2 product table valid at as_of: the version that took effect before as_of and
    was not replaced before it (valid_from < as_of <= valid_to; the open row's valid_to is the high date
    or null). Versions that start at or after as_of are not seen, so a past as_of always sees the same rows."""
    ts = F.to_timestamp(F.lit(as_of.isoformat()))
    return products.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))


def product_lines(lines: DataFrame, products: DataFrame, as_of: date) -> DataFrame:
    """Member purchase lines with product and category as of ``as_of`` (member_id, business_date,
    product_id, category, amount): lines of known members with quantity > 0. A line's upc names the
    product of the latest version known before as_of that carried that upc (a product whose upc changed
    keeps its older lines); the category is that product's version valid at as_of (``products_at``),
    not the current row, so a past as_of rebuilt later gives the same rows."""
    ts = F.to_timestamp(F.lit(as_of.isoformat()))
    latest = Window.partitionBy("upc").orderBy(F.desc("valid_from"), F.asc(PRODUCT))
    upcs = (products.where((F.col("valid_from") < ts) & F.col("upc").isNotNull())
            .withColumn("_n", F.row_number().over(latest)).where(F.col("_n") == 1).select("upc", PRODUCT))
    attributes = products_at(products, as_of).select(PRODUCT, CATEGORY).dropDuplicates([PRODUCT])
    return (lines.where(F.col(MEMBER).isNotNull() & F.col("upc").isNotNull()
                        & (F.coalesce(F.col("quantity"), F.lit(1)) > 0))
            .join(F.broadcast(upcs), "upc")
            .join(F.broadcast(attributes), PRODUCT)
            .select(MEMBER, "business_date", PRODUCT, CATEGORY,
                    F.greatest(F.col("line_amount").cast("double"), F.lit(0.0)).alias("amount")))


def in_window(df: DataFrame, start: date, end: date, date_col: str = "business_date") -> DataFrame:
    """Rows dated in [start, end)."""
    return df.where((F.col(date_col) >= F.lit(start)) & (F.col(date_col) < F.lit(end)))


def interactions(plines: DataFrame, as_of: date, *, lookback_days: int, confidence: str = "purchases",
                 half_life_days: float | None = None, item_col: str = PRODUCT) -> DataFrame:
    """(member_id, item, confidence, purchases, last_date) from lines dated in [as_of - lookback, as_of).
    Each line counts 1 (``purchases``) or its dollars (``spend``), times 0.5 ** (age_days / half_life)
    with age_days = as_of - business_date (no decay when half_life_days is None)."""
    value = F.lit(1.0) if confidence == "purchases" else F.col("amount")
    if half_life_days:
        age = F.datediff(F.lit(as_of), F.col("business_date")).cast("double")
        value = value * F.pow(F.lit(0.5), age / F.lit(float(half_life_days)))
    return (in_window(plines, as_of - timedelta(days=lookback_days), as_of)
            .groupBy(MEMBER, item_col)
            .agg(F.sum(value).alias("confidence"), F.count(F.lit(1)).alias("purchases"),
                 F.max("business_date").alias("last_date"))
            .where(F.col("confidence") > 0))


def member_index(members: DataFrame) -> DataFrame:
    """A dense integer index (member_id, member_idx 0..n-1) over the distinct member ids, computed
    distributedly: zipWithIndex over the ids sorted by value, so a recomputation gives the same
    mapping. (StringIndexer would collect every member id on the driver.)"""
    spark = members.sparkSession
    ids = members.select(MEMBER).where(F.col(MEMBER).isNotNull()).distinct().orderBy(MEMBER)
    zipped = ids.rdd.map(lambda row: row[0]).zipWithIndex()
    schema = T.StructType([T.StructField(MEMBER, T.StringType(), False), T.StructField(MEMBER_IDX, T.LongType(), False)])
    return spark.createDataFrame(zipped, schema).withColumn(MEMBER_IDX, F.col(MEMBER_IDX).cast("int"))

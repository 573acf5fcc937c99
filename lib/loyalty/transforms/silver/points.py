"""Points implied by transactions, for reconciliation with the points ledger."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def implied_points(transactions: DataFrame, partner_txns: DataFrame, retail_points_per_dollar: float) -> DataFrame:
    """(partner, month, points): retail receipts earn per whole points of the net total; cinema
    and bank transactions carry the points their partner reported."""
    retail = transactions.select(F.col("banner").alias("partner"), F.date_format("txn_ts", "yyyy-MM").alias("month"),
                                 F.floor(F.col("total_amount") * F.lit(retail_points_per_dollar)).cast("long").alias("points"))
    partners = partner_txns.select("partner", F.date_format("txn_ts", "yyyy-MM").alias("month"),
                                   F.col("points_earned").cast("long").alias("points"))
    return retail.unionByName(partners).where(F.col("points") > 0)


def ledger_earned(ledger: DataFrame, partners: list[str]) -> DataFrame:
    """(partner, month, points) of the ledger's EARN entries for the given partners."""
    return (ledger.where((F.col("entry_type") == "EARN") & F.col("partner").isin(partners))
            .select("partner", F.date_format("entry_ts", "yyyy-MM").alias("month"), "points"))

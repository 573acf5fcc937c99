"""The retail-planning feeds conformed to silver on inline bronze rows: percent to a fraction,
Y/N to a boolean, dollars to money, the product resolved from the UPC (an unknown UPC stays null
and the DQ rule product_known is what quarantines it), every row kept."""

from datetime import date, datetime
from decimal import Decimal

from loyalty.transforms.silver import promotions as PR


def bronze(spark, columns, rows):
    data = [tuple(r) + (None, "file:/landing/x.csv", datetime(2026, 11, 1), 1) for r in rows]
    schema = ", ".join(f"{c} string" for c in columns) + \
        ", _corrupt_record string, _source_file string, _ingested_at timestamp, _batch_id long"
    return spark.createDataFrame(data, schema)


def products(spark):
    return spark.createDataFrame([("P000001", "038213599677"), ("P000002", "038251596256")], "product_id string, upc string")


PROMO_COLS = ["promo_id", "banner", "week_start", "week_end", "upc", "item_description", "regular_price", "promo_price",
              "discount_pct", "display", "flyer_page", "bonus_points", "vendor_funding_pct"]


def test_promotions_typed_and_resolved(spark):
    rows = [("FM-1", "freshmart", "2026-09-07", "2026-09-13", "038213599677", "Shrimp, large", "12.69", "10.79", "15", "Y", "3", "50", "25"),
            ("FM-2", "FRESHMART", "2026-09-07", "2026-09-13", "099999999999", "Unknown", "3.59", "3.09", "x", "N", "1", "", "")]
    out = {r["promo_id"]: r for r in PR.conform_promotions(bronze(spark, PROMO_COLS, rows), products(spark)).collect()}
    a, b = out["FM-1"], out["FM-2"]
    assert (a["banner"], a["week_start"], a["product_id"]) == ("FRESHMART", date(2026, 9, 7), "P000001")
    assert a["discount_depth"] == 0.15 and a["is_display"] is True and a["flyer_page"] == 3
    assert a["regular_price"] == Decimal("12.69") and a["promo_price"] == Decimal("10.79")
    assert a["bonus_points"] == 50 and a["vendor_funding_share"] == 0.25
    # kept, with what DQ needs to quarantine it: no product, a discount that is not a number
    assert b["product_id"] is None and b["discount_depth"] is None and b["chk_discount_raw"] == "x"
    assert (b["bonus_points"], b["vendor_funding_share"], b["is_display"]) == (0, 0.0, False)


def test_inventory_competitor_prices_and_rewards(spark):
    inv = PR.conform_store_inventory(bronze(spark, ["store_id", "week_start", "upc", "on_hand_units"],
                                            [("FM1001", "2026-09-07", "038251596256", "12"), ("FM1001", "2026-09-07", "038213599677", "n/a")]),
                                     products(spark)).orderBy("product_id").collect()
    assert [(r["product_id"], r["on_hand_units"]) for r in inv] == [("P000001", None), ("P000002", 12)]
    comp = PR.conform_competitor_prices(bronze(spark, ["competitor", "upc", "week_start", "shelf_price"],
                                               [("shopwell", "038213599677", "2026-09-07", "11.49")]), products(spark)).first()
    assert (comp["competitor"], comp["product_id"], comp["shelf_price"]) == ("SHOPWELL", "P000001", Decimal("11.49"))
    rw = PR.conform_rewards(bronze(spark, ["reward_id", "partner", "reward_name", "points_cost", "cash_value_cad", "valid_from"],
                                   [("RW001", "cinema", "Free small popcorn", "4000", "6.49", "2026-08-03")])).first()
    assert (rw["partner"], rw["points_cost"], rw["cash_value_cad"], rw["valid_from"]) == ("CINEMA", 4000, Decimal("6.49"), date(2026, 8, 3))

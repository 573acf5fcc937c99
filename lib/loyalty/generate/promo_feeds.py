"""The retail-planning feeds: each banner's promotion-planning export, a price-intelligence
vendor's competitor shelf prices, the stores' weekly inventory and the partners' rewards
catalog. All bounded by banners, stores, weeks and products (never by members).

- promo_calendar: one CSV export per banner (what a promo-planning tool writes): a row per
  promoted item and week, dollars, the discount as a percentage, display and flyer page,
  loyalty bonus points, the share of the discount a vendor funds.
- competitor_prices: CSV per month of weeks, the prices a vendor observed (the gaps are the
  prices nobody observed).
- store_inventory: CSV per week, on-hand units at the start of the week per store and product
  a store stocks; a few stores report late (their rows for a week arrive in the next week's
  file) and a few store-weeks are never reported.
- rewards_catalog: JSON lines: what points can be redeemed for, at which cost, per partner."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.generate import promos
from loyalty.generate.context import BANNERS, Ctx
from loyalty.generate.pools import literal_array
from loyalty.generate.reference import Reference, store_cols
from loyalty.generate.writer import Feed, cents_text, csv_line, single_name

PROMO_COLUMNS = ["promo_id", "banner", "week_start", "week_end", "upc", "item_description", "regular_price",
                 "promo_price", "discount_pct", "display", "flyer_page", "bonus_points", "vendor_funding_pct"]
COMPETITOR_COLUMNS = ["competitor", "upc", "week_start", "shelf_price"]
INVENTORY_COLUMNS = ["store_id", "week_start", "upc", "on_hand_units"]
INVENTORY_LATE_STORES = 0.10     # share of stores whose weekly count arrives a week late
INVENTORY_SKIPS = 0.03           # share of (store, week) never reported
# (partner, reward, points cost, cash value in dollars): redemption values of a coalition program
REWARDS = [
    ("FRESHMART", "$5 off your grocery bill", 5000, 5.0), ("FRESHMART", "$10 off your grocery bill", 10000, 10.0),
    ("FRESHMART", "$25 off your grocery bill", 25000, 25.0), ("FRESHMART", "Free rotisserie chicken", 9000, 10.99),
    ("VALUMART", "$5 off your grocery bill", 5000, 5.0), ("VALUMART", "$10 off your grocery bill", 10000, 10.0),
    ("VALUMART", "$20 off your grocery bill", 20000, 20.0), ("VALUMART", "Free 12-pack sparkling water", 6000, 5.99),
    ("CINEMA", "Free small popcorn", 4000, 6.49), ("CINEMA", "One general admission ticket", 11000, 13.99),
    ("CINEMA", "Two tickets + large combo", 30000, 41.97), ("CINEMA", "Premium seat upgrade", 6000, 5.0),
    ("BANK", "$25 statement credit", 25000, 25.0), ("BANK", "$50 statement credit", 50000, 50.0),
    ("BANK", "Annual fee waiver", 60000, 79.0), ("BANK", "Travel voucher $100", 100000, 100.0),
]


def _upc(ref: Reference):
    return F.element_at(literal_array(ref.product_table["upc"]), F.col("pid").cast("int") + 1)


def calendar_feed(ctx: Ctx, ref: Reference, cal: DataFrame) -> Feed:
    names = ref.products.select("pid", F.col("name").alias("item_description"))
    week_start = promos.week_start_col(ctx.window, F.col("week"))
    promo_cents = F.floor(F.col("regular_cents") * (1 - F.col("depth")) / 10) * 10 + 9
    banner = F.element_at(literal_array(list(BANNERS)), F.col("b") + 1)
    df = cal.join(names, "pid").withColumns({
        "banner": banner,
        "promo_id": F.concat(F.when(F.col("b") == 0, "FM").otherwise("VM"), F.lit("-"),
                             F.date_format(week_start, "yyyyMMdd"), F.lit("-"), F.lpad(F.col("pid").cast("string"), 5, "0")),
        "week_start": F.date_format(week_start, "yyyy-MM-dd"), "week_end": F.date_format(F.date_add(week_start, 6), "yyyy-MM-dd"),
        "upc": _upc(ref), "regular_price": cents_text(F.col("regular_cents")),
        "promo_price": cents_text(F.least(promo_cents, F.col("regular_cents")).cast("long")),
        "discount_pct": F.round(F.col("depth") * 100).cast("int"),
        "display_txt": F.when(F.col("display"), "Y").otherwise("N"),
        "vendor_funding_pct": F.round(F.col("vendor_funding") * 100).cast("int")})
    # an item description may hold a comma: quote that one field (the planning tool does)
    desc = F.concat(F.lit('"'), F.regexp_replace("item_description", '"', '""'), F.lit('"'))
    cols = [F.col(c) for c in PROMO_COLUMNS[:5]] + [desc] + [F.col(c) for c in ("regular_price", "promo_price", "discount_pct")] \
        + [F.col("display_txt")] + [F.col(c) for c in ("flyer_page", "bonus_points", "vendor_funding_pct")]
    out = df.select(F.col("banner").alias("_tag"), (F.col("week") * 100000 + F.col("pid")).alias("_key"),
                    F.lit(None).cast("string").alias("_kind"), (F.col("week") + 1000).alias("_s1"), F.col("pid").alias("_s2"),
                    csv_line(cols, ",").alias("_line"))
    return Feed("promo_calendar", out, single_name("promo_plan", "csv"), ["_s1", "_s2"], header=lambda t: ",".join(PROMO_COLUMNS))


def competitor_feed(ctx: Ctx, ref: Reference, comp: DataFrame) -> Feed:
    week_start = promos.week_start_col(ctx.window, F.col("week"))
    df = comp.filter("reported")
    cols = [F.col("competitor"), _upc(ref), F.date_format(week_start, "yyyy-MM-dd"), cents_text(F.col("price_cents"))]
    out = df.select(F.date_format(week_start, "yyyy-MM").alias("_tag"), (F.col("week") * 100000 + F.col("pid")).alias("_key"),
                    F.lit(None).cast("string").alias("_kind"), F.col("week").alias("_s1"),
                    F.when(F.col("competitor") == promos.COMPETITORS[0], 0).otherwise(1).alias("_s2"), F.col("pid").alias("_s3"),
                    csv_line(cols, ",").alias("_line"))
    return Feed("competitor_prices", out, single_name("competitor_prices", "csv"), ["_s1", "_s2", "_s3"],
                header=lambda t: ",".join(COMPETITOR_COLUMNS))


def inventory_feed(ctx: Ctx, ref: Reference, lines: DataFrame) -> tuple[Feed, DataFrame]:
    """On-hand units at the start of each week: the store's average weekly units of the product
    times a cover of 0.6 to 3.6 weeks (below 1: the store is short). Returns the feed and the
    truth (every store, week and product, reported or not, with the file it came in)."""
    rng, win = ctx.rng, ctx.window
    nw = promos.n_weeks(win)
    weekly = (lines.filter("not is_test").groupBy("store_idx", "pid")
              .agg((F.sum("qty") / float(win.days) * 7).alias("weekly_units")))
    weeks = ctx.spark.range(nw, numPartitions=1).select(F.col("id").cast("int").alias("week"))
    cover = 0.6 + 3.0 * rng.u("inv_cover", "store_idx", "pid", "week")
    store = store_cols(ref.store_province, ref.stores_per_banner, F.col("store_idx"))
    late = rng.u("inv_late", "store_idx") < INVENTORY_LATE_STORES
    df = (weekly.crossJoin(F.broadcast(weeks))
          .withColumn("on_hand_units", F.round(F.col("weekly_units") * cover).cast("int"))
          .withColumn("store_id", store["store_id"])
          .withColumn("reported", rng.u("inv_skip", "store_idx", "week") >= INVENTORY_SKIPS)
          .withColumn("file_week", F.when(late, F.least(F.col("week") + 1, F.lit(nw - 1))).otherwise(F.col("week"))))
    week_start = promos.week_start_col(win, F.col("week"))
    file_start = promos.week_start_col(win, F.col("file_week"))
    cols = [F.col("store_id"), F.date_format(week_start, "yyyy-MM-dd"), _upc(ref), F.col("on_hand_units")]
    out = df.filter("reported").select(
        F.date_format(file_start, "yyyy-MM-dd").alias("_tag"), (F.col("store_idx") * 100000 + F.col("pid")).alias("_key"),
        F.when(F.col("file_week") != F.col("week"), F.lit("late_file")).alias("_kind"),
        F.col("store_idx").alias("_s1"), F.col("week").alias("_s2"), F.col("pid").alias("_s3"), csv_line(cols, ",").alias("_line"))
    feed = Feed("store_inventory", out, single_name("inventory_week", "csv"), ["_s1", "_s2", "_s3"],
                header=lambda t: ",".join(INVENTORY_COLUMNS))
    truth = df.select("store_id", week_start.alias("week_start"), "pid", "weekly_units", "on_hand_units", "reported",
                      file_start.alias("delivered_in"))
    return feed, truth


def rewards_feed(ctx: Ctx) -> Feed:
    rows = [(i, p, name, cost, value) for i, (p, name, cost, value) in enumerate(REWARDS)]
    df = ctx.spark.createDataFrame(rows, "i long, partner string, reward_name string, points_cost long, cash_value double")
    start = ctx.window.date_of(-30).isoformat()
    body = F.to_json(F.struct(
        F.concat(F.lit("RW"), F.lpad((F.col("i") + 1).cast("string"), 3, "0")).alias("reward_id"), F.col("partner"),
        F.col("reward_name"), F.col("points_cost"), F.col("cash_value").cast("decimal(8,2)").alias("cash_value_cad"),
        F.lit(start).alias("valid_from")))
    out = df.select(F.lit(ctx.window.end.isoformat()).alias("_tag"), F.col("i").alias("_key"),
                    F.lit(None).cast("string").alias("_kind"), F.col("i").alias("_s1"), body.alias("_line"))
    return Feed("rewards_catalog", out, single_name("rewards_catalog", "jsonl"), ["_s1"])

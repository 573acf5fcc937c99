"""Reference data: the product hierarchy and catalog (with a later price-change file),
stores per banner (with time zones and one test store), cinema theatres, bank merchants
and the offers catalog. Small tables (bounded by config, not by members), built in Spark
from ``spark.range``; their lookup shapes are collected to the driver."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.conf import ConfigError
from loyalty.generate import pools as P
from loyalty.generate.context import BANNERS, Ctx
from loyalty.generate.personas import DEPARTMENTS
from loyalty.generate.rand import at, digits, perm
from loyalty.generate.writer import Feed, single_name

BANNER_NAMES = {"FRESHMART": "FreshMart", "VALUMART": "ValuMart"}
DEPARTMENT_NAMES = ("Produce", "Dairy & Eggs", "Meat & Seafood", "Bakery", "Pantry", "Snacks",
                    "Beverages", "Frozen", "Household", "Personal Care", "Baby", "Prepared Meals")
# department -> category -> [(subcategory, min price, max price, sizes)]
HIERARCHY = {
    "produce": {"Fruit": [("Apples", 2.99, 6.99, "1.36 kg|each|2 lb bag"), ("Bananas", 0.39, 2.49, "each|bunch"),
                          ("Berries", 3.49, 7.99, "170 g|340 g|1 pint")],
                "Vegetables": [("Salad Greens", 2.99, 5.99, "142 g|312 g"), ("Root Vegetables", 1.49, 4.99, "907 g|2.27 kg"),
                               ("Tomatoes", 2.49, 5.49, "each|567 g")]},
    "dairy_eggs": {"Milk & Cream": [("Milk", 2.59, 6.49, "1 L|2 L|4 L"), ("Cream", 2.49, 5.99, "473 mL|1 L")],
                   "Cheese": [("Cheddar", 4.99, 11.99, "400 g|700 g"), ("Specialty Cheese", 5.99, 14.99, "200 g|300 g")],
                   "Eggs & Yogurt": [("Eggs", 3.49, 7.49, "12 pack|18 pack"), ("Yogurt", 1.99, 6.99, "650 g|4x100 g")]},
    "meat_seafood": {"Beef & Pork": [("Ground Beef", 6.99, 14.99, "454 g|1 kg"), ("Pork Chops", 7.99, 15.99, "600 g|1 kg")],
                     "Poultry": [("Chicken Breast", 9.99, 19.99, "600 g|1.2 kg"), ("Whole Chicken", 10.99, 18.99, "each")],
                     "Seafood": [("Salmon", 9.99, 21.99, "300 g|600 g"), ("Shrimp", 8.99, 18.99, "340 g|680 g")]},
    "bakery": {"Bread": [("Sliced Bread", 2.49, 5.49, "570 g|675 g"), ("Bagels", 2.99, 5.99, "6 pack")],
               "Sweet Bakery": [("Muffins", 3.99, 6.99, "4 pack|6 pack"), ("Cookies", 2.99, 6.49, "300 g|12 pack")]},
    "pantry": {"Pasta & Rice": [("Pasta", 1.29, 4.49, "450 g|900 g"), ("Rice", 2.99, 14.99, "900 g|4 kg")],
               "Canned Goods": [("Canned Vegetables", 0.99, 2.99, "398 mL"), ("Soup", 1.49, 3.99, "540 mL|900 mL")],
               "Breakfast": [("Cereal", 3.49, 7.99, "350 g|525 g"), ("Coffee", 5.99, 16.99, "340 g|925 g")],
               "Condiments": [("Sauces", 2.49, 6.99, "375 mL|650 mL"), ("Spices", 1.99, 6.99, "40 g|80 g")]},
    "snacks": {"Chips": [("Potato Chips", 2.49, 5.49, "200 g|235 g"), ("Tortilla Chips", 2.99, 5.99, "300 g")],
               "Confectionery": [("Chocolate", 1.29, 6.99, "45 g|100 g|200 g"), ("Candy", 1.49, 4.99, "150 g|350 g")],
               "Crackers & Nuts": [("Crackers", 2.49, 5.49, "200 g|250 g"), ("Nuts", 4.99, 12.99, "300 g|600 g")]},
    "beverages": {"Soft Drinks": [("Cola", 1.99, 8.99, "2 L|12x355 mL"), ("Sparkling Water", 3.49, 7.99, "12x355 mL")],
                  "Juice": [("Orange Juice", 2.99, 6.99, "1.75 L|2.5 L"), ("Juice Boxes", 3.49, 6.49, "8x200 mL")],
                  "Hot Drinks": [("Tea", 2.99, 7.99, "20 bags|72 bags")]},
    "frozen": {"Frozen Meals": [("Pizza", 4.99, 9.99, "each|2 pack"), ("Entrees", 3.49, 8.99, "300 g|1 kg")],
               "Frozen Treats": [("Ice Cream", 3.99, 8.99, "1.5 L|2 L")],
               "Frozen Vegetables": [("Frozen Vegetables", 1.99, 5.49, "750 g|1.5 kg")]},
    "household": {"Cleaning": [("Dish Soap", 2.49, 5.99, "740 mL|1.2 L"), ("Laundry", 6.99, 19.99, "1.47 L|4.43 L")],
                  "Paper": [("Paper Towels", 4.99, 14.99, "6 rolls|12 rolls"), ("Toilet Paper", 5.99, 18.99, "12 rolls|24 rolls")]},
    "personal_care": {"Hair Care": [("Shampoo", 3.99, 12.99, "400 mL|750 mL")],
                      "Oral Care": [("Toothpaste", 2.49, 6.99, "100 mL|2x100 mL")],
                      "Skin Care": [("Body Wash", 3.99, 9.99, "532 mL|1 L")]},
    "baby": {"Diapers & Wipes": [("Diapers", 14.99, 39.99, "size 3|size 4|size 5"), ("Wipes", 3.99, 9.99, "72 ct|3x72 ct")],
             "Baby Food": [("Baby Food", 1.29, 3.99, "128 mL|4x128 mL")]},
    "prepared_meals": {"Deli": [("Sandwiches", 4.99, 9.99, "each"), ("Salads", 4.49, 8.99, "400 g")],
                       "Hot Meals": [("Rotisserie Chicken", 8.99, 13.99, "each"), ("Sushi", 6.99, 14.99, "8 pc|16 pc")]},
}
assert tuple(HIERARCHY) == DEPARTMENTS


def _flatten():
    cats, subs = [], []           # cats: (dept_idx, name); subs: (cat_idx, name, lo, hi, sizes)
    for d, dept in enumerate(DEPARTMENTS):
        for cat, items in HIERARCHY[dept].items():
            cats.append((d, cat))
            for sub, lo, hi, sizes in items:
                subs.append((len(cats) - 1, sub, lo, hi, sizes.split("|")))
    return cats, subs


CATEGORIES, SUBCATEGORIES = _flatten()
DEPT_CAT_OFFSET = [min(i for i, c in enumerate(CATEGORIES) if c[0] == d) for d in range(len(DEPARTMENTS))]
DEPT_CAT_COUNT = [sum(1 for c in CATEGORIES if c[0] == d) for d in range(len(DEPARTMENTS))]


@dataclass
class Reference:
    """Reference tables (small DataFrames for the landing files) and the driver-side shapes
    that let the activity generators compute a product's, store's or offer's attributes
    from its index alone (pure functions of the id: no joins)."""
    products: DataFrame
    product_table: dict      # by pid: cat_idx, cents, new_cents, changed, upc (collected: bounded by config)
    group_pids: list         # product ids grouped by (category, is_pl), concatenated
    grp_offset: list         # per category * 2 + is_pl: first position in group_pids
    grp_count: list
    price_change_day: int
    stores: DataFrame
    stores_per_banner: int
    test_store_idx: int
    store_province: list     # by store_idx (known on the driver: stores are spread by population)
    theatre_province: list   # by theatre_idx
    offers: DataFrame


def timezone_of(province: Column) -> Column:
    expr = None
    for code, (_w, tz, _a, _c) in P.PROVINCES.items():
        expr = F.when(province == code, tz) if expr is None else expr.when(province == code, tz)
    return expr


def build(ctx: Ctx) -> Reference:
    n_sub, n_prod = len(SUBCATEGORIES), ctx.params.products
    if n_prod < n_sub:
        raise ConfigError(f"setting 'generator.products' must be at least {n_sub} (one product per subcategory)")
    groups: dict = {}
    for pid in range(n_prod):
        groups.setdefault((SUBCATEGORIES[pid % n_sub][0], is_private_label(pid)), []).append(pid)
    group_pids, offsets, counts = [], [], []
    for c in range(len(CATEGORIES)):
        for pl in (False, True):
            members = groups.get((c, pl)) or groups[(c, not pl)]     # fall back to the other label
            offsets.append(len(group_pids))
            counts.append(len(members))
            group_pids.extend(members)
    n = ctx.params.stores_per_banner
    store_province = [_stratified((k + 0.5) / n) for _b in BANNERS for k in range(n)] + ["ON"]
    n_th = max(4, min(60, n))
    theatre_province = [_stratified((k + 0.5) / n_th) for k in range(n_th)]
    products = _products(ctx)
    rows = products.select("pid", "cat_idx", "cents", "new_cents", "changed", "upc").orderBy("pid").collect()
    table = {"cat_idx": [r["cat_idx"] for r in rows], "cents": [r["cents"] for r in rows],
             "new_cents": [r["new_cents"] if r["changed"] else r["cents"] for r in rows],
             "changed": [bool(r["changed"]) for r in rows], "upc": [r["upc"] for r in rows]}
    return Reference(
        products=products, product_table=table, group_pids=group_pids, grp_offset=offsets, grp_count=counts,
        price_change_day=ctx.window.days // 2,
        stores=_stores(ctx, store_province), stores_per_banner=n, test_store_idx=2 * n, store_province=store_province,
        theatre_province=theatre_province, offers=_offers(ctx),
    )


def _stratified(q: float) -> str:
    """The province at population quantile q: stores and theatres spread like the people."""
    total = sum(v[0] for v in P.PROVINCES.values())
    acc = 0.0
    for code, (weight, *_rest) in P.PROVINCES.items():
        acc += weight / total
        if q < acc:
            return code
    return P.PROVINCE_CODES[-1]


def store_city(ctx: Ctx, province: Column, store_idx: Column) -> Column:
    """A store's city (the same expression wherever a store's city is needed)."""
    return ctx.pools.in_province("city", province, ctx.rng.below(P.PER_PROVINCE, "store_city", store_idx.cast("long")))


def local_pick(ctx: Ctx, items: list, group: Column, province: Column, salt: str, key: Column,
               fallback: Column) -> Column:
    """A random item index among ``items`` [(group, province, item_idx)] of the row's group
    and province, else ``fallback`` (no item there)."""
    codes = P.PROVINCE_CODES
    groups = sorted({g for g, _p, _i in items})
    flat, offsets, counts = [], [], []
    for g in groups:
        for prov in codes:
            hits = [i for gg, p, i in items if gg == g and p == prov]
            offsets.append(len(flat))
            counts.append(len(hits))
            flat.extend(hits)
    slot = ((F.array_position(P.literal_array(groups), group) - 1) * len(codes) + P.province_index(province) + 1).cast("int")
    off, cnt = F.element_at(P.literal_array(offsets), slot), F.element_at(P.literal_array(counts), slot)
    pick = F.element_at(P.literal_array(flat or [0]), off + ctx.rng.below(F.greatest(cnt, F.lit(1)), salt, key) + 1)
    return F.when(cnt > 0, pick).otherwise(fallback).cast("int")


def is_private_label(pid: int) -> bool:
    """Private label by catalog position: 3 products in 10 of each subcategory, the first included."""
    return (pid // len(SUBCATEGORIES)) % 10 < 3


def product_cols(ctx: Ctx, pid: Column) -> dict:
    """A product's attributes as pure functions of its id (the same expressions build the
    catalog and price the receipt lines)."""
    rng, n_sub = ctx.rng, len(SUBCATEGORIES)
    s = F.pmod(pid, F.lit(n_sub)).cast("int")
    sub = lambda k: F.element_at(P.literal_array([row[k] for row in SUBCATEGORIES]), s + 1)   # noqa: E731
    cat = sub(0)
    is_pl = F.pmod(F.floor(pid / n_sub), F.lit(10)) < 3
    lo, hi = sub(2), sub(3)
    base = (lo + rng.u("price", pid) * (hi - lo)) * F.when(is_pl, 0.82).otherwise(1.0)
    cents = (F.floor(base * 10) * 10 + 9).cast("long")
    changed = rng.u("price_change", pid) < 0.03
    new_cents = F.when(changed, (F.floor(cents * (1.04 + 0.10 * rng.u("new_price", pid)) / 10) * 10 + 9).cast("long"))
    upc11 = F.concat(F.lit("0"), digits(perm(pid, 10 ** 10), 10))
    odd = sum(F.substring(upc11, k, 1).cast("int") for k in range(1, 12, 2))
    even = sum(F.substring(upc11, k, 1).cast("int") for k in range(2, 11, 2))
    check = F.pmod(F.lit(10) - F.pmod(odd * 3 + even, F.lit(10)), F.lit(10))
    return {"cat_idx": cat, "is_pl": is_pl, "cents": cents, "changed": changed, "new_cents": new_cents,
            "upc": F.concat(upc11, check.cast("string"))}


def _products(ctx: Ctx) -> DataFrame:
    rng, pools = ctx.rng, ctx.pools
    i = F.col("id")
    s = F.pmod(i, F.lit(len(SUBCATEGORIES))).cast("int")
    cat = F.element_at(P.literal_array([c for c, *_r in SUBCATEGORIES]), s + 1)
    dept = F.element_at(P.literal_array([CATEGORIES[c][0] for c, *_r in SUBCATEGORIES]), s + 1)
    sizes = F.expr("array(" + ", ".join("array(" + ", ".join(P.sql_literal(z) for z in row[4]) + ")"
                                        for row in SUBCATEGORIES) + ")")
    size_list = F.element_at(sizes, s + 1)
    df = spark_range(ctx, ctx.params.products).withColumns(product_cols(ctx, i))
    brand = F.when(F.col("is_pl"), at(list(P.PRIVATE_LABELS), rng.below(2, "plb", i)))\
        .otherwise(pools.col("brand", rng.below(pools.size("brand"), "brand", i)))
    return (df.withColumns({
        "pid": i,
        "product_id": F.concat(F.lit("P"), digits(i + 1, 6)),
        "brand": brand,
        "department": F.element_at(P.literal_array(list(DEPARTMENT_NAMES)), dept + 1),
        "category": F.element_at(P.literal_array([name for _d, name in CATEGORIES]), cat + 1),
        "subcategory": F.element_at(P.literal_array([row[1] for row in SUBCATEGORIES]), s + 1),
        "word": pools.col("word", rng.below(pools.size("word"), "word", i)),
        "size": F.element_at(size_list, rng.below(F.size(size_list), "size", i) + 1)})
        .withColumn("name", F.concat_ws(" ", "brand", "word", "subcategory"))
        .select("pid", "cat_idx", "product_id", "upc", "name", "brand", "is_pl", "department", "category", "subcategory",
                "size", "cents", "changed", "new_cents"))


def spark_range(ctx: Ctx, n: int) -> DataFrame:
    return ctx.spark.range(n, numPartitions=1)


def store_cols(ref_provinces: list, n: int, idx: Column) -> dict:
    """Store id, banner, province and time zone as functions of the store index."""
    test = idx == 2 * n
    banner_idx = F.when(test, 0).otherwise(F.floor(idx / n)).cast("int")
    k = F.when(test, 0).otherwise(F.pmod(idx, F.lit(n))).cast("int")
    province = F.element_at(P.literal_array(ref_provinces), idx.cast("int") + 1)
    number = F.when(banner_idx == 0, 1001).otherwise(3001) + k
    store_id = F.when(test, F.lit("FM9999")).otherwise(
        F.concat(F.when(banner_idx == 0, "FM").otherwise("VM"), digits(number, 4)))
    return {"banner": at(list(BANNERS), banner_idx), "province": province, "store_id": store_id,
            "timezone": timezone_of(province)}


def _stores(ctx: Ctx, provinces: list) -> DataFrame:
    rng, pools, n = ctx.rng, ctx.pools, ctx.params.stores_per_banner
    i = F.col("id")
    test = i == 2 * n
    df = spark_range(ctx, 2 * n + 1).withColumns(store_cols(provinces, n, i))
    df = df.withColumns({
        "store_idx": i.cast("int"),
        "is_test_store": F.when(test, "Y").otherwise("N"),
        "city": store_city(ctx, F.col("province"), i),
        "postal_code": pools.in_province("postal", F.col("province"), rng.below(P.PER_PROVINCE, "store_postal", i)),
        "street": pools.col("street", rng.below(pools.size("street"), "store_street", i))})
    display = F.when(F.col("banner") == "FRESHMART", "FreshMart").otherwise("ValuMart")
    return (df.withColumns({
        "store_name": F.when(test, "FreshMart Test Lab").otherwise(
            F.concat_ws(" ", display, F.col("city"), F.lit("-"), F.col("street"))),
        "street_address": F.concat_ws(" ", rng.between(10, 9800, "store_no", i).cast("string"), "street"),
        "open_date": F.date_add(F.lit("1998-01-01").cast("date"), rng.below(9000, "open", i))})
        .select("store_idx", "store_id", "banner", "store_name", "street_address", "city", "province",
                "postal_code", "timezone", "open_date", "is_test_store"))


def theatre_id(idx: Column) -> Column:
    return F.concat(F.lit("TH"), digits(idx + 101, 3))


# Expected margin rate of each department's categories (a category varies by up to +-0.03).
DEPARTMENT_MARGIN = (0.34, 0.24, 0.22, 0.45, 0.30, 0.38, 0.33, 0.28, 0.26, 0.40, 0.18, 0.50)
RETAIL_POINTS_PER_DOLLAR = 10        # a multiplier offer adds (multiplier - 1) x these per target dollar
PARTNERS = ("CINEMA", "BANK")        # partners that fund some offers (cross-partner promotions)
FUTURE_SPAN = 21                     # future offers start 1..FUTURE_SPAN days after end_date


def margin_rate(cat_idx: Column, rng) -> Column:
    """Expected margin rate of a category (a pure function of its index)."""
    dept = F.element_at(P.literal_array([d for d, _name in CATEGORIES]), cat_idx + 1)
    base = F.element_at(P.literal_array(list(DEPARTMENT_MARGIN)), dept + 1)
    return F.round(base + (rng.u("margin", cat_idx.cast("long")) - 0.5) * 0.06, 3)


def offer_cols(ctx: Ctx, i: Column) -> dict:
    """An offer's terms and economics as pure functions of its index: indexes below
    generator.offers run inside the window (and are issued), the next generator.future_offers
    start 1 to 21 days after it (never issued; for the planner's first weeks)."""
    rng, days, n, pv = ctx.rng, ctx.window.days, ctx.params.offers, ctx.params.point_value
    k = i - F.lit(n)                         # position among the future offers
    future = i >= F.lit(n)
    kind = F.when(rng.u("offer_type", i) < 0.7, "BONUS_POINTS").otherwise("MULTIPLIER")
    start = F.least(F.floor((i + 0.5) / n * max(1, days - 14)) + rng.below(4, "offer_start", i), F.lit(days - 8)).cast("int")
    n_future = max(1, ctx.params.future_offers)
    start_future = F.lit(days) + F.least(F.floor(k * FUTURE_SPAN / n_future) + rng.below(2, "offer_start", i),
                                         F.lit(FUTURE_SPAN - 1))
    start = F.when(future, start_future).otherwise(start).cast("int")
    dur = F.when(future, at([7, 14, 21, 28], rng.below(4, "offer_dur", i))).otherwise(at([14, 21, 28], rng.below(3, "offer_dur", i)))
    end = F.when(future, start + dur - 1).otherwise(F.least(start + dur - 1, F.lit(days - 1)))
    reward = F.when(kind == "BONUS_POINTS", at([500, 750, 1000, 1500, 2000], rng.below(5, "reward", i)))\
        .otherwise(at([2, 3, 5], rng.below(3, "mult", i)))
    min_spend = at([10, 15, 20, 25, 30], rng.below(5, "min_spend", i))
    cost = F.round(F.when(kind == "BONUS_POINTS", reward * pv)
                   .otherwise((reward - 1) * RETAIL_POINTS_PER_DOLLAR * min_spend * pv), 2)
    cat = F.pmod(i * 7 + rng.below(len(CATEGORIES), "offer_cat0"), F.lit(len(CATEGORIES))).cast("int")
    banner = at(list(BANNERS), F.pmod(i, F.lit(2)).cast("int"))
    slot = F.pmod(i * 3 + 1, F.lit(7))
    budget = F.greatest(F.lit(10.0), F.round(F.lit(float(ctx.params.members)) * (0.01 + 0.05 * rng.u("budget", i)) * cost, 0))
    return {
        "offer_id": F.concat(F.lit(f"OF{ctx.window.end.year}-"), digits(i + 1, 3)),
        "banner": banner,
        "cat_idx": cat,
        "target_category": F.element_at(P.literal_array([name for _d, name in CATEGORIES]), cat + 1),
        "offer_type": kind,
        "reward": reward,
        "min_spend": min_spend,
        "start_day": start,
        "end_day": end.cast("int"),
        "future": future,
        "reward_cost": cost.cast("double"),
        "margin_rate": margin_rate(cat, rng).cast("double"),
        "funding_partner": F.when(slot == 0, PARTNERS[0]).when(slot == 1, PARTNERS[1]).otherwise(banner),
        "campaign_budget": budget.cast("double"),
    }


def _offers(ctx: Ctx) -> DataFrame:
    """The whole catalog: the offers of the window and the future ones."""
    i = F.col("id")
    total = ctx.params.offers + ctx.params.future_offers
    df = spark_range(ctx, total).withColumns(offer_cols(ctx, i)).withColumn("offer_idx", i.cast("int"))
    shown = F.when(F.col("banner") == "FRESHMART", "FreshMart").otherwise("ValuMart")
    reward_txt = F.when(F.col("offer_type") == "BONUS_POINTS", F.concat(F.col("reward").cast("string"), F.lit(" bonus points")))\
        .otherwise(F.concat(F.col("reward").cast("string"), F.lit("x points")))
    return (df.withColumn("offer_name", F.concat(F.lit("Spend $"), F.col("min_spend").cast("string"), F.lit(" on "),
                                                 F.col("target_category"), F.lit(" at "), shown, F.lit(", get "), reward_txt))
            .drop("id"))


STORE_COLUMNS = ["store_id", "banner", "store_name", "street_address", "city", "province", "postal_code",
                 "timezone", "open_date", "is_test_store"]
PRODUCT_COLUMNS = ["product_id", "upc", "name", "brand", "is_private_label", "department", "category",
                   "subcategory", "regular_price", "size", "updated_at"]


def _clean(df: DataFrame, tag: str, key: str) -> DataFrame:
    return df.withColumn("_tag", F.lit(tag)).withColumn("_key", F.col(key).cast("long")) \
        .withColumn("_kind", F.lit(None).cast("string"))


def stores_feed(ctx: Ctx, ref: Reference) -> Feed:
    tag = ctx.window.date_of(-1).isoformat()
    line = F.to_csv(F.struct(*[F.col(c).cast("string") for c in STORE_COLUMNS]), {"sep": ","})
    rows = _clean(ref.stores, tag, "store_idx").select("_tag", "_key", "_kind", "store_idx", line.alias("_line"))
    return Feed("stores", rows, single_name("stores", "csv"), ["store_idx"], header=lambda t: ",".join(STORE_COLUMNS))


def products_feed(ctx: Ctx, ref: Reference) -> Feed:
    """The catalog before the window, and a later file with the products whose price changed."""
    win = ctx.window
    base_tag = win.date_of(-1).isoformat()
    change_tag = "price_update_" + win.date_of(ref.price_change_day).isoformat()

    def body(cents, updated):
        return F.to_json(F.struct(
            F.col("product_id"), F.col("upc"), F.col("name"), F.col("brand"), F.col("is_pl").alias("is_private_label"),
            F.col("department"), F.col("category"), F.col("subcategory"),
            (cents / 100).cast("decimal(8,2)").alias("regular_price"), F.col("size"), F.lit(updated).alias("updated_at")))

    first = _clean(ref.products, base_tag, "pid").select(
        "_tag", "_key", "_kind", "pid", body(F.col("cents"), f"{base_tag} 02:00:00").alias("_line"))
    changed = _clean(ref.products.filter("changed"), change_tag, "pid").select(
        "_tag", "_key", "_kind", "pid",
        body(F.col("new_cents"), f"{win.date_of(ref.price_change_day).isoformat()} 03:00:00").alias("_line"))
    return Feed("products", first.unionByName(changed), single_name("products", "jsonl"), ["pid"])

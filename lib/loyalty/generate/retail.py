"""Grocery trips and receipt lines for both banners, staged once and shared by the two
POS feeds, the points ledger and the offer events.

A member's trips (persona rate x a member multiplier x active days) mostly fall on the
preferred weekday and hour, at the home store of the home banner; lines mix the member's
repeat staples with persona-weighted departments and private-label share. Offer conversions
add a receipt at the offer's banner inside its window with enough target-category spend.
A test store gets a few receipts a day (silver filters them out)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.generate import ids
from loyalty.generate import personas as PS
from loyalty.generate import promos
from loyalty.generate.context import BANNERS, Ctx, Window
from loyalty.generate.members import TENDERS, with_persona
from loyalty.generate.rand import Rng, at, choose
from loyalty.generate.pools import literal_array
from loyalty.generate.reference import Reference, store_cols
from loyalty.generate.staples import category_of, department_of, staple_draws
from loyalty.generate.writer import cents_text

OTHER_STORE_SHARE = 0.15      # trips at a random store of the banner instead of the member's own
PROMO_PCTS = [0.10, 0.20, 0.25, 0.30]
TRIP_COLS = ["trip_key", "mid", "day", "sec", "b", "store_idx", "is_test", "offer_idx", "cat_target",
             "min_spend", "n_target", "n_basket", "staples", "st_sh", "pl", "promo", "p_idx", "tender_idx"]


def pick_day(win: Window, rng: Rng, lo: Column, hi: Column, pref_dow: Column, focus: Column, salt: str, *keys) -> Column:
    """A day in [lo, hi]: with probability ``focus`` on the preferred weekday (when one falls
    in the range), else uniform."""
    span = F.greatest(hi - lo + 1, F.lit(1))
    d0 = (lo + rng.below(span, f"{salt}:d0", *keys)).cast("int")
    d1 = d0 - F.pmod(win.dow_col(d0) - pref_dow, F.lit(7))
    d1 = F.when(d1 < lo, d1 + 7).otherwise(d1)
    return F.when((rng.u(f"{salt}:focus", *keys) < focus) & (d1 <= hi), d1).otherwise(d0).cast("int")


def pick_second(rng: Rng, pref_hour: Column, focus: Column, lo: int, hi: int, salt: str, *keys) -> Column:
    """Second of day: the preferred hour with probability ``focus``, else an hour in [lo, hi]."""
    hour = F.when(rng.u(f"{salt}:hf", *keys) < focus, pref_hour).otherwise(rng.between(lo, hi, f"{salt}:h", *keys))
    return (hour * 3600 + rng.below(3600, f"{salt}:s", *keys)).cast("int")


def trips(ctx: Ctx, members: DataFrame, ref: Reference, conversions: DataFrame) -> DataFrame:
    rng, win, n_st = ctx.rng, ctx.window, ref.stores_per_banner
    mid, k = F.col("mid"), F.col("k")
    m = with_persona(members, ["trips", "basket", "staples", "st_sh", "pl", "promo", "dow_f", "hour_f", "loyal"])
    m = m.withColumn("tender_idx", (F.array_position(literal_array(TENDERS), F.col("tender")) - 1).cast("int"))
    active = F.col("a_end") - F.col("a_start") + 1
    n = rng.count(F.col("trips") * F.col("trip_mult") * active / 7.0, "n_trips", mid)
    b = F.when(rng.u("trip_banner", mid, k) < F.col("loyal"), F.col("b_idx")).otherwise(1 - F.col("b_idx"))
    own = F.when(F.col("b") == F.col("b_idx"), F.col("home_store")).otherwise(F.col("alt_store"))
    regular = (m.withColumn("k", F.explode(F.when(n > 0, F.sequence(F.lit(0), n - 1))))
               .withColumn("trip_key", mid * (1 << 20) + k)
               .withColumn("day", pick_day(win, rng, F.col("a_start"), F.col("a_end"), F.col("pref_dow"), F.col("dow_f"), "trip", mid, k))
               .withColumn("sec", pick_second(rng, F.col("pref_hour"), F.col("hour_f"), 8, 21, "trip", mid, k))
               .withColumn("b", b)
               .withColumn("store_idx", F.when(rng.u("other_store", mid, k) < OTHER_STORE_SHARE,
                                               F.col("b") * n_st + rng.below(n_st, "any_store", mid, k)).otherwise(own))
               .withColumn("is_test", F.lit(False))
               .withColumn("offer_idx", F.lit(None).cast("int")).withColumn("cat_target", F.lit(None).cast("int"))
               .withColumn("min_spend", F.lit(None).cast("int")).withColumn("n_target", F.lit(0))
               .withColumn("n_basket", F.greatest(F.lit(1), F.round(F.col("basket") * (F.lit(0.35) + rng.u("basket", mid, k) * 1.3))).cast("int"))
               .select(*TRIP_COLS))
    conv = (with_persona(conversions.join(m.select("mid", "b_idx", "home_store", "alt_store", "tender_idx", "p_idx"), "mid"),
                         ["basket", "staples", "st_sh", "pl", "promo"])
            .withColumn("trip_key", mid * (1 << 20) + ids.CONVERSION_SLOT + F.col("offer_idx"))
            .withColumn("day", F.col("conv_day")).withColumn("sec", F.col("conv_sec"))
            .withColumn("store_idx", F.when(F.col("b") == F.col("b_idx"), F.col("home_store")).otherwise(F.col("alt_store")))
            .withColumn("is_test", F.lit(False)).withColumn("cat_target", F.col("cat_idx"))
            .withColumn("n_target", (2 + rng.below(2, "n_target", F.col("trip_key"))).cast("int"))
            .withColumn("n_basket", F.greatest(F.lit(1), F.round(F.col("basket") * (F.lit(0.35) + rng.u("basket", F.col("trip_key")) * 1.3))).cast("int"))
            .select(*TRIP_COLS))
    t = F.col("id")
    test = (ctx.spark.range(win.days * 2, numPartitions=1)
            .withColumn("trip_key", F.lit(ids.TEST_RECEIPT_BASE) + t)
            .withColumn("mid", rng.below(ctx.params.members, "test_member", t).cast("long"))
            .withColumn("day", F.floor(t / 2).cast("int"))
            .withColumn("sec", (rng.between(9, 17, "test_h", t) * 3600 + rng.below(3600, "test_s", t)).cast("int"))
            .withColumn("b", F.lit(0)).withColumn("store_idx", F.lit(ref.test_store_idx)).withColumn("is_test", F.lit(True))
            .withColumn("offer_idx", F.lit(None).cast("int")).withColumn("cat_target", F.lit(None).cast("int"))
            .withColumn("min_spend", F.lit(None).cast("int")).withColumn("n_target", F.lit(0))
            .withColumn("n_basket", (1 + rng.below(4, "test_lines", t)).cast("int"))
            .withColumn("staples", F.lit(1.0)).withColumn("st_sh", F.lit(0.0)).withColumn("pl", F.lit(0.3))
            .withColumn("promo", F.lit(0.0)).withColumn("p_idx", F.lit(len(PS.PERSONAS))).withColumn("tender_idx", F.lit(0))
            .select(*TRIP_COLS))
    return regular.unionByName(conv).unionByName(test)


def lines(ctx: Ctx, trips_df: DataFrame, ref: Reference) -> DataFrame:
    rng = ctx.rng
    key, ln, mid = F.col("trip_key"), F.col("line_no"), F.col("mid")
    j = rng.below(F.greatest(F.col("staples").cast("long"), F.lit(1)), "staple_j", key, ln)
    total = F.col("n_basket") + F.col("n_target")
    df = (trips_df.withColumn("line_no", F.explode(F.sequence(F.lit(1), total)))
          .withColumn("is_target", F.col("line_no") > F.col("n_basket"))
          .withColumn("staple", ~F.col("is_target") & (rng.u("staple", key, ln) < F.col("st_sh")))
          .withColumn("_j", j))
    st = F.col("staple")
    st_u, st_h = staple_draws(rng, mid, F.col("_j"))
    u_dept = F.when(st, st_u).otherwise(rng.u("dept", key, ln))
    h_cat = F.when(st, st_h).otherwise(rng.hash("cat", key, ln))
    u_pl = F.when(st, rng.u("st_pl", mid, F.col("_j"))).otherwise(rng.u("pl", key, ln))
    h_prod = F.when(st, rng.hash("st_prod", mid, F.col("_j"))).otherwise(rng.hash("prod", key, ln))
    dept = department_of(F.col("p_idx"), u_dept)
    cat = F.when(F.col("is_target"), F.col("cat_target")).otherwise(category_of(dept, h_cat))
    grp = F.col("_cat") * 2 + F.when(u_pl < F.col("pl"), 1).otherwise(0)
    pos = at(ref.grp_offset, grp) + F.pmod(h_prod, at(ref.grp_count, grp).cast("long")).cast("int")
    df = df.withColumn("_cat", cat).withColumn("pid", F.element_at(literal_array(ref.group_pids), pos + 1).cast("long"))
    product = lambda k: F.element_at(literal_array(ref.product_table[k]), F.col("pid").cast("int") + 1)   # noqa: E731
    df = df.withColumns({k: product(k) for k in ("cents", "new_cents", "changed")})
    unit = F.when(F.col("changed") & (F.col("day") >= ref.price_change_day), F.col("new_cents")).otherwise(F.col("cents"))
    qty_target = F.greatest(F.lit(1), F.ceil(F.col("min_spend") * 100.0 / F.col("n_target") / F.col("unit_cents")))
    qty = F.when(F.col("is_target"), qty_target).otherwise(choose(rng.u("qty", key, ln), [80, 14, 4, 2]) + 1).cast("int")
    pct = at(PROMO_PCTS, rng.below(len(PROMO_PCTS), "promo_pct", key, ln))
    promo = ~F.col("is_target") & (rng.u("promo", key, ln) < F.col("promo"))
    df = (df.withColumn("unit_cents", unit.cast("long"))
          .withColumn("qty", qty)
          .withColumn("discount_cents", F.when(promo, F.floor(F.col("qty") * F.col("unit_cents") * pct)).otherwise(F.lit(0)).cast("long"))
          .withColumn("line_cents", (F.col("qty") * F.col("unit_cents") - F.col("discount_cents")).cast("long")))
    # numbers only: the strings of a receipt (ids, store, tender) are derived once per receipt downstream
    return df.select("trip_key", "mid", "b", "store_idx", "day", "sec", "is_test", "offer_idx", "tender_idx", "line_no",
                     "pid", "is_target", "qty", "unit_cents", "discount_cents", "line_cents")


RECEIPT_KEYS = ["trip_key", "mid", "b", "store_idx", "day", "sec", "is_test", "offer_idx", "tender_idx"]


def receipt_cols(ctx: Ctx, ref: Reference) -> dict:
    """A receipt's strings and times from its numeric attributes (pure functions)."""
    store = store_cols(ref.store_province, ref.stores_per_banner, F.col("store_idx"))
    banner = at(list(BANNERS), F.col("b"))
    return {"banner": banner, "store_id": store["store_id"], "timezone": store["timezone"],
            "receipt_id": ids.receipt_id(banner, F.col("trip_key")), "card_no": ids.card_no(F.col("mid")),
            "tender": at(list(TENDERS), F.col("tender_idx")),
            "local_sec": ctx.window.wall_seconds(F.col("day"), F.col("sec"))}


def valumart_items(lines: DataFrame, ref: Reference) -> DataFrame:
    """ValuMart's nested receipt lines, per receipt (trip_key): the JSON array's inside, in
    dollars, built by hand (the values never need escaping) and ordered by line number."""
    upc = F.element_at(literal_array(ref.product_table["upc"]), F.col("pid").cast("int") + 1)
    item = F.concat(F.lit('{"lineNo":'), F.col("line_no").cast("string"), F.lit(',"upc":"'), upc,
                    F.lit('","qty":'), F.col("qty").cast("string"),
                    F.lit(',"unitPrice":'), cents_text(F.col("unit_cents")),
                    F.lit(',"discount":'), cents_text(F.col("discount_cents")),
                    F.lit(',"amount":'), cents_text(F.col("line_cents")), F.lit("}"))
    ordered = F.array_sort(F.collect_list(F.struct(F.col("line_no"), item.alias("j"))))
    return (lines.filter("b = 1").groupBy("trip_key")
            .agg(F.concat_ws(",", F.transform(ordered, lambda x: x["j"])).alias("items_json")))


def build(ctx: Ctx, members: DataFrame, ref: Reference, conversions: DataFrame, promo=None):
    """Stage the receipt lines, the receipts (one row per receipt, with totals, UTC time and
    points earned: 10 points per dollar of the net total), ValuMart's nested receipts and the
    promotions' truth (None without ``promo``). ``promo`` (calendar, competitor prices, response; see promos.py) reshapes the lines by the
    planted promotion response before anything is derived from them."""
    lines_df = ctx.stage(lines(ctx, trips(ctx, members, ref, conversions), ref), "retail_lines")
    promo_truth = None
    if promo is not None:
        cal, comp, resp = promo
        applied = promos.apply(ctx, lines_df, ref, cal, comp, resp)
        lines_df, promo_truth = ctx.stage(applied.lines, "retail_lines_promo"), applied.truth
    nested = ctx.stage(valumart_items(lines_df, ref), "valumart_receipts")
    local = F.col("local_sec")
    utc = F.unix_seconds(F.to_utc_timestamp(F.timestamp_seconds(local), F.col("timezone")))
    receipts = (lines_df.groupBy("trip_key")     # the receipt's attributes repeat on each of its lines
                .agg(*[F.first(c).alias(c) for c in RECEIPT_KEYS[1:]], F.sum("line_cents").alias("total_cents"),
                     F.sum(F.when(F.col("is_target"), F.col("line_cents")).otherwise(0)).alias("target_cents"),
                     F.count("*").alias("n_lines"))
                .withColumns(receipt_cols(ctx, ref))
                .withColumn("utc_sec", utc)
                .withColumn("points", F.floor(F.col("total_cents") / 10).cast("long")))
    return lines_df, ctx.stage(receipts, "retail_receipts"), nested, promo_truth

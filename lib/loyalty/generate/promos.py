"""Retail promotions: each banner's weekly promotion calendar (what a promo-planning export
holds), two competitors' weekly shelf prices, and the planted promotion response that shapes
the receipt lines.

The planted truth (per category c, parameters in ``Response``; written to data/truth):
- lift: promoting product p at banner b in week w at discount depth d, with or without an
  in-store display, adds ``base x (exp(beta_c d + display_c [display] + gap_c g) - 1)`` units,
  where base is p's expected weekly units at b without a promotion and g the competitor price
  gap (the cheapest competitor's shelf price minus our promoted price, over our regular price;
  0 for a product no competitor carries);
- cannibalization: a share ``cannibalization_c`` of those units is taken from the other
  products of the category that week (their lines switch to p), the rest is new demand (lines
  added to random receipts of that banner and week);
- post-promotion dip: the week after (when p is not promoted again), p sells
  ``dip_c x incremental units`` fewer (its lines are dropped with that expectation).
Loyalty bonus points and vendor funding are part of the calendar but move no units: bonus points
are a cost, vendor funding pays part of the discount.

The calendar starts ``HISTORY_WEEKS`` before the window (a year of plans, so "repeat the same
week last year" has a year to repeat); transactions exist only inside the window. Weeks start on
Monday; week 0 holds the window's first day. Everything is bounded by banners x weeks x products
(never by members), built in Spark with hash-based randomness like the rest of the generator."""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass

from pyspark.sql import Column, DataFrame, Window as W
from pyspark.sql import functions as F

from loyalty.generate.context import BANNERS, Ctx, Window
from loyalty.generate.pools import literal_array
from loyalty.generate.rand import at
from loyalty.generate.reference import CATEGORIES, Reference

HISTORY_WEEKS = 52                 # calendar weeks before the window's first week
PROMO_SHARE = 0.03                 # share of (banner, week, product) on promotion
SEASONAL_SHARE = 0.6               # of which tied to the week of the year (repeats each year)
DEPTHS = [0.10, 0.15, 0.20, 0.25, 0.30, 0.40]
DISPLAY_SHARE = 0.3
FLYER_PAGES = 8
BONUS_POINTS = [0, 0, 0, 50, 100, 250]
VENDOR_FUNDING = [0.0, 0.0, 0.25, 0.5]   # share of the discount a vendor pays
COMPETITORS = ("PRICECHOPPER", "SHOPWELL")
COMPETITOR_COVER = 0.4             # share of products a competitor carries (and is priced)
COMPETITOR_SPREAD = 0.08           # sd of a competitor's log price around ours
COMPETITOR_PROMO = (0.06, 0.20)    # a competitor's own promotions: share of weeks, depth
COMPETITOR_GAPS = 0.10             # share of (competitor, week, product) prices missing from the feed
MAX_SWITCH = 0.5                   # a sibling line switches to a promoted product at most this often
MAX_DIP = 0.9
ADDED_LINE_NO = 500                # lines of new demand are numbered from here on their receipt (a basket has fewer)


@dataclass(frozen=True)
class Response:
    """Planted promotion response, one value per category index (see the module doc)."""
    depth: list
    display: list
    gap: list
    cannibalization: list
    dip: list

    def lift(self, cat_idx: int, depth: float, display: bool, gap: float = 0.0) -> float:
        """Incremental units as a multiple of the base (the true lift of one promotion)."""
        return math.exp(self.depth[cat_idx] * depth + (self.display[cat_idx] if display else 0.0)
                        + self.gap[cat_idx] * gap) - 1.0

    def lift_col(self, cat: Column, depth: Column, display: Column, gap: Column) -> Column:
        arr = lambda v: F.element_at(literal_array([round(x, 6) for x in v]), cat + 1)   # noqa: E731
        return F.exp(arr(self.depth) * depth + F.when(display, arr(self.display)).otherwise(0.0)
                     + arr(self.gap) * gap) - 1.0

    def param_col(self, name: str, cat: Column) -> Column:
        return F.element_at(literal_array([round(x, 6) for x in getattr(self, name)]), cat + 1)

    def to_json(self) -> str:
        body = {"categories": [name for _d, name in CATEGORIES], **asdict(self),
                "formula": "incremental_units = base_units * (exp(depth*d + display*[display] + gap*g) - 1); "
                           "g = (cheapest competitor shelf price - promoted price) / regular price, 0 when no "
                           "competitor carries the product; a share 'cannibalization' of the incremental units is "
                           "taken from the category's other products; the next week (if not promoted again) the "
                           "product sells dip * incremental_units fewer"}
        return json.dumps(body, indent=2) + "\n"


def response(seed: int) -> Response:
    """Per-category parameters (a pure function of the seed)."""
    r = random.Random(f"{seed}:promo-response")
    n = len(CATEGORIES)
    return Response(depth=[round(1.0 + 2.0 * r.random(), 4) for _ in range(n)],
                    display=[round(0.05 + 0.35 * r.random(), 4) for _ in range(n)],
                    gap=[round(0.3 + 0.9 * r.random(), 4) for _ in range(n)],
                    cannibalization=[round(0.1 + 0.4 * r.random(), 4) for _ in range(n)],
                    dip=[round(0.1 + 0.3 * r.random(), 4) for _ in range(n)])


# -- weeks -------------------------------------------------------------------------------------
def week_offset(win: Window) -> int:
    return win.start.weekday()           # days of week 0 before the window's first day


def n_weeks(win: Window) -> int:
    """Weeks holding at least one day of the window."""
    return (win.days + week_offset(win) + 6) // 7


def week_of(win: Window, day: Column) -> Column:
    return F.floor((day + F.lit(week_offset(win))) / 7).cast("int")


def days_in_week(win: Window) -> list:
    off = week_offset(win)
    return [min(7, off + win.days - 7 * w) - max(0, off - 7 * w) for w in range(n_weeks(win))]


def week_start_col(win: Window, week: Column) -> Column:
    return F.date_add(F.lit(win.start), (week * 7 - F.lit(week_offset(win))).cast("int"))


# -- calendar and competitor prices ------------------------------------------------------------
def _price(ref: Reference, pid: Column, first_day: Column) -> Column:
    """Regular shelf price (cents) of a product in a week starting on day ``first_day``."""
    t = ref.product_table
    get = lambda k: F.element_at(literal_array(t[k]), pid.cast("int") + 1)   # noqa: E731
    return F.when(get("changed") & (first_day >= ref.price_change_day), get("new_cents")).otherwise(get("cents")).cast("long")


def calendar(ctx: Ctx, ref: Reference) -> DataFrame:
    """(b, week, pid, cat_idx, depth, display, flyer_page, bonus_points, vendor_funding,
    regular_cents): the promotions of both banners, weeks -HISTORY_WEEKS .. n_weeks-1."""
    rng, win, n_prod = ctx.rng, ctx.window, ctx.params.products
    first, weeks = -HISTORY_WEEKS, HISTORY_WEEKS + n_weeks(win)
    i = F.col("id")
    b = (i % 2).cast("int")
    week = (F.floor(i / 2) % weeks + first).cast("int")
    pid = F.floor(i / (2 * weeks)).cast("long")
    key = (b, week, pid)
    seasonal = rng.u("promo_season", b, F.pmod(week, F.lit(52)), pid) < PROMO_SHARE * SEASONAL_SHARE
    adhoc = rng.u("promo_adhoc", *key) < PROMO_SHARE * (1 - SEASONAL_SHARE)
    cats = literal_array(ref.product_table["cat_idx"])
    grid = ctx.spark.range(2 * weeks * n_prod, numPartitions=max(1, min(8, n_prod // 200)))
    return (grid.select(b.alias("b"), week.alias("week"), pid.alias("pid"), (seasonal | adhoc).alias("on"))
            .filter("on").drop("on")
            .withColumn("cat_idx", F.element_at(cats, F.col("pid").cast("int") + 1).cast("int"))
            .withColumn("depth", at(DEPTHS, rng.below(len(DEPTHS), "promo_depth", "b", "week", "pid")))
            .withColumn("display", rng.u("promo_display", "b", "week", "pid") < DISPLAY_SHARE)
            .withColumn("flyer_page", (1 + rng.below(FLYER_PAGES, "promo_page", "b", "week", "pid")).cast("int"))
            .withColumn("bonus_points", at(BONUS_POINTS, rng.below(len(BONUS_POINTS), "promo_bonus", "b", "week", "pid")).cast("int"))
            .withColumn("vendor_funding", at(VENDOR_FUNDING, rng.below(len(VENDOR_FUNDING), "promo_vendor", "b", "week", "pid")))
            .withColumn("regular_cents", _price(ref, F.col("pid"), F.col("week") * 7 - week_offset(win))))


def competitor_prices(ctx: Ctx, ref: Reference) -> DataFrame:
    """(competitor, week, pid, price_cents, reported): the weekly shelf price of the products
    each competitor carries, weeks 0 .. n_weeks-1; ``reported`` false for the feed's gaps (the
    price still holds for the planted response: the competitor charged it, nobody saw it)."""
    rng, win, n_prod, weeks = ctx.rng, ctx.window, ctx.params.products, n_weeks(ctx.window)
    i = F.col("id")
    c = (i % len(COMPETITORS)).cast("int")
    week = (F.floor(i / len(COMPETITORS)) % weeks).cast("int")
    pid = F.floor(i / (len(COMPETITORS) * weeks)).cast("long")
    grid = ctx.spark.range(len(COMPETITORS) * weeks * n_prod, numPartitions=max(1, min(8, n_prod // 200)))
    level = F.exp(rng.normal("comp_level", "c", "pid") * COMPETITOR_SPREAD)
    share, depth = COMPETITOR_PROMO
    promo = F.when(rng.u("comp_promo", "c", "week", "pid") < share, 1 - depth).otherwise(1.0)
    ours = _price(ref, F.col("pid"), F.col("week") * 7 - week_offset(win))
    return (grid.select(c.alias("c"), week.alias("week"), pid.alias("pid"))
            .filter(rng.u("comp_cover", "c", "pid") < COMPETITOR_COVER)
            .withColumn("competitor", at(list(COMPETITORS), F.col("c")))
            .withColumn("price_cents", (F.floor(ours * level * promo / 10) * 10 + 9).cast("long"))
            .withColumn("reported", rng.u("comp_gap", "c", "week", "pid") >= COMPETITOR_GAPS)
            .drop("c"))


def with_gap(cal: DataFrame, comp: DataFrame) -> DataFrame:
    """The calendar with ``gap``: (cheapest competitor price - promoted price) / regular price,
    from the true competitor prices (0 when no competitor carries the product that week)."""
    cheapest = comp.groupBy("week", "pid").agg(F.min("price_cents").alias("_comp"))
    promoted = F.col("regular_cents") * (1 - F.col("depth"))
    return (cal.join(F.broadcast(cheapest), ["week", "pid"], "left")
            .withColumn("gap", F.when(F.col("_comp").isNull(), 0.0)
                        .otherwise(F.round((F.col("_comp") - promoted) / F.col("regular_cents"), 4)))
            .drop("_comp"))


# -- the planted response, applied to the receipt lines ----------------------------------------
@dataclass
class Applied:
    lines: DataFrame     # the receipt lines with the promotions' effect (same columns as given)
    truth: DataFrame     # per promotion inside the window: base, planted lift and its parts


def apply(ctx: Ctx, lines: DataFrame, ref: Reference, cal: DataFrame, comp: DataFrame, resp: Response) -> Applied:
    """Reshape the (promotion-free) receipt lines by the planted response: drop lines in the
    week after a promotion (dip), switch sibling lines to the promoted product (cannibalization),
    add lines of new demand to random receipts of the banner and week, and price every line of a
    promoted product at the calendar's depth. Offer-conversion target lines and the test store
    are left alone. Returns the lines and the truth per promotion."""
    rng, win = ctx.rng, ctx.window
    nw = n_weeks(win)
    cats = literal_array(ref.product_table["cat_idx"])
    cat_of = lambda pid: F.element_at(cats, pid.cast("int") + 1).cast("int")   # noqa: E731
    cols = lines.columns
    wk = lines.withColumn("week", week_of(win, F.col("day")))
    free = ~F.col("is_test") & ~F.col("is_target")

    # expected weekly units without a promotion: the product's daily rate over the window x days of the week
    per_day = (wk.filter(free).groupBy("b", "pid").agg((F.sum("qty") / float(win.days)).alias("per_day")))
    week_days = literal_array(days_in_week(win))
    promos = (with_gap(cal.filter((F.col("week") >= 0) & (F.col("week") < nw)), comp)
              .join(per_day, ["b", "pid"], "left").fillna({"per_day": 0.0})
              .withColumn("base_units", F.col("per_day") * F.element_at(week_days, F.col("week") + 1))
              .withColumn("lift", resp.lift_col(F.col("cat_idx"), F.col("depth"), F.col("display"), F.col("gap")))
              .withColumn("incremental_units", F.col("base_units") * F.col("lift"))
              .withColumn("cannibalization", resp.param_col("cannibalization", F.col("cat_idx")))
              .withColumn("switched_units", F.col("incremental_units") * F.col("cannibalization"))
              .withColumn("added_units", F.col("incremental_units") - F.col("switched_units")))
    nxt = promos.select("b", (F.col("week") - 1).alias("week"), "pid", F.lit(True).alias("promoted_next"))
    promos = (promos.join(nxt, ["b", "week", "pid"], "left")
              .withColumn("dip_units", F.when(F.col("promoted_next").isNull() & (F.col("week") + 1 < nw),
                                              resp.param_col("dip", F.col("cat_idx")) * F.col("incremental_units"))
                          .otherwise(0.0))
              .drop("promoted_next"))
    promos = ctx.stage(promos, "promo_effects")

    # 1. post-promotion dip: lines of the product the week after, dropped with P = dip x lift (capped)
    dips = promos.filter("dip_units > 0").select(
        "b", (F.col("week") + 1).alias("week"), "pid",
        F.least(F.lit(MAX_DIP), resp.param_col("dip", F.col("cat_idx")) * F.col("lift")).alias("_drop"))
    wk = (wk.join(F.broadcast(dips), ["b", "week", "pid"], "left")
          .filter(~(free & F.col("_drop").isNotNull() & (rng.u("promo_dip", "trip_key", "line_no") < F.col("_drop"))))
          .drop("_drop"))

    # 2. cannibalization: sibling lines of the category switch to a promoted product of that week
    wk = wk.withColumn("_cat", cat_of(F.col("pid")))
    on_promo = promos.select("b", "week", "pid", F.lit(True).alias("_promoted"))
    units = (wk.filter(free).join(F.broadcast(on_promo), ["b", "week", "pid"], "left")
             .filter(F.col("_promoted").isNull())
             .groupBy("b", "week", "_cat").agg(F.sum("qty").alias("_sib_units")))
    pick = F.array_sort(F.collect_list(F.struct(F.col("switched_units").alias("w"), F.col("pid").alias("p"))))
    targets = (promos.filter("switched_units > 0").groupBy("b", "week", F.col("cat_idx").alias("_cat"))
               .agg(F.sum("switched_units").alias("_switch"), pick.alias("_targets"))
               .join(units, ["b", "week", "_cat"])
               .withColumn("_p_switch", F.least(F.lit(MAX_SWITCH), F.col("_switch") / F.col("_sib_units")))
               .withColumn("_cum", F.transform(F.col("_targets"), lambda t, k: F.aggregate(
                   F.slice(F.col("_targets"), 1, k + 1), F.lit(0.0), lambda acc, x: acc + x["w"]) / F.col("_switch"))))
    wk = wk.join(F.broadcast(on_promo), ["b", "week", "pid"], "left").join(F.broadcast(targets), ["b", "week", "_cat"], "left")
    switch = free & F.col("_promoted").isNull() & F.col("_p_switch").isNotNull() & \
        (rng.u("promo_switch", "trip_key", "line_no") < F.col("_p_switch"))
    u_pick = rng.u("promo_switch_to", "trip_key", "line_no")
    slot = F.array_position(F.transform(F.col("_cum"), lambda x: x > u_pick), True)
    new_pid = F.element_at(F.col("_targets"), F.greatest(slot, F.lit(1)).cast("int"))["p"]
    wk = wk.withColumn("pid", F.when(switch, new_pid).otherwise(F.col("pid")))
    wk = wk.withColumn("unit_cents", F.when(switch, _price(ref, F.col("pid"), F.col("day"))).otherwise(F.col("unit_cents")))
    wk = wk.select(*cols, "week")

    # 3. new demand: lines of the promoted product on random receipts of the banner and week
    # (a receipt's first line carries its attributes: no shuffle; one whose first line dipped away is no candidate)
    receipts = wk.filter(~F.col("is_test") & (F.col("line_no") == 1)).select(
        "trip_key", "mid", "b", "store_idx", "day", "sec", "is_test", "offer_idx", "tender_idx", "week")
    by_week = W.partitionBy("b", "week").orderBy("trip_key")
    receipts = receipts.withColumn("_idx", (F.row_number().over(by_week) - 1).cast("int"))
    n_trips = receipts.groupBy("b", "week").agg(F.count("*").alias("_n"))
    n_add = rng.count(F.col("added_units"), "promo_add", "b", "week", "pid")
    added = (promos.join(n_trips, ["b", "week"]).withColumn("_k", F.explode(F.when(n_add > 0, F.sequence(F.lit(0), n_add - 1))))
             .withColumn("_idx", rng.below(F.col("_n"), "promo_trip", "b", "week", "pid", "_k"))
             .select("b", "week", "pid", "_k", "_idx")
             .join(receipts, ["b", "week", "_idx"]))
    order = W.partitionBy("trip_key").orderBy("pid", "_k")
    added = (added.withColumn("line_no", (F.lit(ADDED_LINE_NO) + F.row_number().over(order)).cast("int"))
             .withColumn("is_target", F.lit(False)).withColumn("qty", F.lit(1))
             .withColumn("unit_cents", _price(ref, F.col("pid"), F.col("day")))
             .withColumn("discount_cents", F.lit(0).cast("long")).withColumn("line_cents", F.col("unit_cents")))
    wk = wk.unionByName(added.select(*cols, "week"))

    # 4. every line of a promoted product that week (not an offer's target line) at the calendar's depth
    depth = promos.select("b", "week", "pid", F.col("depth").alias("_depth"))
    wk = wk.join(F.broadcast(depth), ["b", "week", "pid"], "left")
    on = free & F.col("_depth").isNotNull()
    wk = (wk.withColumn("discount_cents", F.when(on, F.floor(F.col("qty") * F.col("unit_cents") * F.col("_depth")).cast("long"))
                        .otherwise(F.col("discount_cents")))
          .withColumn("line_cents", F.when(on, F.col("qty") * F.col("unit_cents") - F.col("discount_cents"))
                      .otherwise(F.col("line_cents")).cast("long")))
    truth = promos.select(
        F.element_at(literal_array(list(BANNERS)), F.col("b") + 1).alias("banner"), "week",
        week_start_col(win, F.col("week")).alias("week_start"), "pid", "cat_idx", "depth", "display", "gap",
        "per_day", "base_units", "lift", "incremental_units", "switched_units", "added_units", "dip_units")
    return Applied(wk.select(*cols), truth)

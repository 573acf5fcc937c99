"""The planted promotion response (generate/promos.py): the formula by hand, the week
arithmetic by hand, and on generated receipt lines the units the promotions really added,
switched and took away against what the truth says they planted."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import functions as F

from loyalty import conf
from loyalty.generate import members as M, offers, pools, promos, reference, retail
from loyalty.generate.context import Ctx, Window, params_from, window_of
from loyalty.generate.reference import CATEGORIES


def test_lift_is_the_planted_formula():
    r = promos.response(42)
    c = 3
    by_hand = math.exp(r.depth[c] * 0.25 + r.display[c] + r.gap[c] * 0.1) - 1
    assert r.lift(c, 0.25, True, 0.1) == pytest.approx(by_hand)
    assert r.lift(c, 0.0, False, 0.0) == 0.0
    assert r.lift(c, 0.30, False) > r.lift(c, 0.10, False) > 0          # deeper discount, more units
    assert len(r.depth) == len(r.dip) == len(CATEGORIES)
    assert promos.response(42) == r and promos.response(7) != r


def test_weeks_start_on_monday_and_cover_the_window():
    # 2026-09-02 is a Wednesday: week 0 runs Mon 08-31 .. Sun 09-06 and holds 5 window days
    win = Window(dt.date(2026, 9, 2), dt.date(2026, 9, 20), 19)
    assert promos.week_offset(win) == 2
    assert promos.n_weeks(win) == 3
    assert promos.days_in_week(win) == [5, 7, 7]
    assert sum(promos.days_in_week(win)) == win.days


@pytest.fixture(scope="module")
def applied(spark, tmp_path_factory):
    work = tmp_path_factory.mktemp("promos")
    cfg = conf.load("test", [f"data_root={work}"])
    params = params_from(cfg, members=400, days=42)
    ctx = Ctx(spark, params, window_of(params), pools.build(params.seed), str(work / "stage"))
    ref = reference.build(ctx)
    mem = M.build(ctx, ref)
    lines = ctx.stage(retail.lines(ctx, retail.trips(ctx, mem, ref, offers.conversions(offers.assignments(ctx, mem, ref))), ref), "cf")
    cal = ctx.stage(promos.calendar(ctx, ref), "cal")
    comp = ctx.stage(promos.competitor_prices(ctx, ref), "comp")
    out = promos.apply(ctx, lines, ref, cal, comp, promos.response(params.seed))
    return ctx, ref, lines, ctx.stage(out.lines, "promo"), out.truth, cal, comp


def test_calendar_holds_a_year_of_history_and_repeats_part_of_last_years_weeks(applied):
    ctx, _ref, _lines, _pl, _truth, cal, _comp = applied
    weeks = cal.agg(F.min("week"), F.max("week")).first()
    assert weeks[0] == -promos.HISTORY_WEEKS and weeks[1] == promos.n_weeks(ctx.window) - 1
    n = cal.count()
    grid = 2 * (promos.HISTORY_WEEKS + promos.n_weeks(ctx.window)) * ctx.params.products
    assert 0.6 * promos.PROMO_SHARE < n / grid < 1.4 * promos.PROMO_SHARE
    last_year = cal.select("b", (F.col("week") + 52).alias("week"), "pid")
    repeated = cal.filter("week >= 0").join(last_year, ["b", "week", "pid"]).count()
    assert repeated > 0.3 * cal.filter("week >= 0").count()              # the seasonal share repeats
    assert cal.filter("depth not in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)").count() == 0


def test_competitor_feed_has_gaps_but_prices_near_ours(applied):
    _ctx, _ref, _lines, _pl, _truth, _cal, comp = applied
    share_missing = comp.filter("not reported").count() / comp.count()
    assert 0.05 < share_missing < 0.15
    assert comp.select("competitor").distinct().count() == 2


def _units(df, win, name):
    return (df.filter("not is_test and not is_target").withColumn("week", promos.week_of(win, F.col("day")))
            .groupBy("b", "week", "pid").agg(F.sum("qty").alias(name)))


def test_realized_units_match_the_planted_lift_cannibalization_and_dip(applied):
    ctx, ref, lines, pl, truth, _cal, _comp = applied
    win = ctx.window
    both = _units(lines, win, "before").join(_units(pl, win, "after"), ["b", "week", "pid"], "full").fillna(0)
    t = truth.withColumn("b", F.when(F.col("banner") == "FRESHMART", 0).otherwise(1))
    assert t.count() > 20
    got = both.join(t, ["b", "week", "pid"]).agg(F.sum(F.col("after") - F.col("before")), F.sum("incremental_units")).first()
    assert got[0] == pytest.approx(got[1], rel=0.1)                      # the promoted products' extra units
    dip = both.join(t.filter("dip_units > 0").select("b", (F.col("week") + 1).alias("week"), "pid", "dip_units"),
                    ["b", "week", "pid"]).agg(F.sum(F.col("before") - F.col("after")), F.sum("dip_units")).first()
    assert dip[0] == pytest.approx(dip[1], rel=0.25)
    # siblings lose about the cannibalized units: the category gains about the added ones only
    cat = F.element_at(F.array(*[F.lit(c) for c in ref.product_table["cat_idx"]]), F.col("pid").cast("int") + 1)
    per_cat = both.withColumn("cat_idx", cat).groupBy("b", "week", "cat_idx").agg(F.sum(F.col("after") - F.col("before")).alias("d"))
    planted = t.groupBy("b", "week", "cat_idx").agg(F.sum("added_units").alias("added"), F.sum("switched_units").alias("sw"))
    c = per_cat.join(planted, ["b", "week", "cat_idx"]).agg(F.sum("d"), F.sum("added"), F.sum("sw")).first()
    assert c[0] < c[1] + 0.1 * c[2] and c[0] > 0.6 * c[1]                # not the whole increment: siblings paid for part


def test_promoted_lines_carry_the_calendar_discount_and_receipts_stay_whole(applied):
    ctx, _ref, lines, pl, truth, _cal, _comp = applied
    t = truth.withColumn("b", F.when(F.col("banner") == "FRESHMART", 0).otherwise(1)).select("b", "week", "pid", "depth")
    promoted = (pl.filter("not is_test and not is_target").withColumn("week", promos.week_of(ctx.window, F.col("day")))
                .join(t, ["b", "week", "pid"]))
    wrong = promoted.filter(F.col("discount_cents") != F.floor(F.col("qty") * F.col("unit_cents") * F.col("depth"))).count()
    assert promoted.count() > 0 and wrong == 0
    assert pl.filter("line_cents != qty * unit_cents - discount_cents").count() == 0
    assert pl.groupBy("trip_key", "line_no").count().filter("count > 1").count() == 0   # line numbers stay unique
    assert lines.filter("is_target").count() == pl.filter("is_target").count()          # offer lines untouched

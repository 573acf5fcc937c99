"""Partner activity: cinema tickets and concessions (theatre-local time, dollars, points
earned: 5 per dollar), and co-branded card spend (posted in UTC, points per dollar by
merchant category). True rows are staged; the feeds add the planted defects."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.generate import defects as D
from loyalty.generate import ids
from loyalty.generate import pools as P
from loyalty.generate.context import LOCAL_FORMAT, Ctx, fmt_seconds
from loyalty.generate.members import with_persona
from loyalty.generate.rand import at, choose, digits
from loyalty.generate.reference import Reference, timezone_of
from loyalty.generate.retail import pick_day
from loyalty.generate.writer import Feed, csv_line, monthly_name

CINEMA_POINTS_PER_DOLLAR = 5
CINEMA_COLUMNS = ["trans_id", "theatre_id", "theatre_province", "account_id", "trans_local_ts", "item_type",
                  "item_desc", "genre", "quantity", "amount", "points_earned"]
BANK_COLUMNS = ["txn_ref", "customer_ref", "posted_ts", "merchant_name", "mcc", "amount_cad", "points_earned"]


def cinema(ctx: Ctx, members: DataFrame, ref: Reference) -> DataFrame:
    rng, win = ctx.rng, ctx.window
    mid, v = F.col("mid"), F.col("v")
    m = with_persona(members.filter("uses_cinema"))
    active = F.col("a_end") - F.col("a_start") + 1
    n = rng.count(F.col("cin_pm") * F.col("trip_mult") * active / 30.4, "n_visits", mid)
    n_th = len(ref.theatre_province)
    visits = (m.withColumn("v", F.explode(F.when(n > 0, F.sequence(F.lit(0), n - 1))))
              .withColumn("day", pick_day(win, rng, F.col("a_start"), F.col("a_end"), 5 + rng.below(2, "cin_dow", mid),
                                          F.lit(0.45), "cinema", mid, v))
              .withColumn("sec", (at([13, 16, 18, 19, 20, 21], choose(rng.u("cin_h", mid, v), [1, 2, 2, 3, 3, 2])) * 3600
                                  + rng.below(3600, "cin_s", mid, v)).cast("int"))
              .withColumn("_th", F.when(rng.u("cin_home", mid, v) < 0.8, F.col("home_theatre"))
                          .otherwise(rng.below(n_th, "cin_th", mid, v)))
              .withColumn("theatre_id", F.concat(F.lit("TH"), digits(F.col("_th") + 101, 3)))
              .withColumn("theatre_province", F.element_at(P.literal_array(ref.theatre_province), F.col("_th") + 1))
              .withColumn("th_tz", timezone_of(F.col("theatre_province"))))
    movie = rng.below(ctx.pools.size("movie"), "movie", mid, v)
    tickets = visits.withColumns({"item_desc": ctx.pools.col("movie", movie, 0), "genre": ctx.pools.col("movie", movie, 1)})
    tuesday = win.dow_col(F.col("day")) == 2
    price = F.when(tuesday, F.lit(899)).otherwise(at([1299, 1449, 1599, 1699], rng.below(4, "tk_price", mid, v)))
    tickets = (tickets.withColumn("item_type", F.lit("TICKET"))
               .withColumn("quantity", (choose(rng.u("tk_qty", mid, v), [45, 30, 12, 13]) + 1).cast("int"))
               .withColumn("amount_cents", (F.col("quantity") * price).cast("long"))
               .withColumn("trans_key", mid * (1 << 16) + v * 2))
    snack = rng.below(ctx.pools.size("concession"), "snack", mid, v)
    conc = (visits.filter(rng.u("concession", mid, v) < 0.6)
            .withColumns({"item_desc": ctx.pools.col("concession", snack, 0), "unit": ctx.pools.col("concession", snack, 1)}))
    conc = (conc.withColumn("item_type", F.lit("CONCESSION")).withColumn("genre", F.lit(None).cast("string"))
            .withColumn("quantity", (choose(rng.u("cc_qty", mid, v), [70, 20, 10]) + 1).cast("int"))
            .withColumn("amount_cents", F.round(F.col("quantity") * F.col("unit") * 100).cast("long"))
            .withColumn("sec", F.least(F.col("sec") + 120 + rng.below(780, "cc_s", mid, v), F.lit(86399)))
            .withColumn("trans_key", mid * (1 << 16) + v * 2 + 1))
    cols = ["trans_key", "mid", "member_id", "cinema_account", "theatre_id", "theatre_province", "th_tz", "day", "sec",
            "item_type", "item_desc", "genre", "quantity", "amount_cents"]
    rows = tickets.select(*cols).unionByName(conc.select(*cols))
    return ctx.stage(rows.withColumn("points", F.floor(F.col("amount_cents") * CINEMA_POINTS_PER_DOLLAR / 100).cast("long"))
                     .withColumn("utc_sec", win.utc_seconds(F.col("day"), F.col("sec"), F.col("th_tz"))), "cinema")


def cinema_feed(ctx: Ctx, rows: DataFrame) -> Feed:
    rng, rate, win = ctx.rng, ctx.params.defect_rate, ctx.window
    key = F.col("trans_key")
    kinds = [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.BAD_AMOUNT, D.MALFORMED]
    df = (rows.withColumn("_kind", D.pick_kind(rng, "cinema", rate, kinds, key))
          .withColumn("_tag", win.month_col(F.col("day"))).withColumn("_key", key))
    df = D.move_copies(D.with_duplicates(df), rng, "cinema", win.month_tags)
    kind = F.col("_kind")
    day = F.when(kind == D.FUTURE, D.future_day(rng, win.days, "cinema", key)).otherwise(F.col("day"))
    amount = (F.col("amount_cents") / 100).cast("decimal(10,2)").cast("string")
    df = (df.withColumn("trans_id", ids.cinema_trans(key))
          .withColumn("account_id", F.when(kind == D.UNKNOWN, ids.unknown_cinema(rng, "cin_unknown", key))
                      .otherwise(F.col("cinema_account")))
          .withColumn("trans_local_ts", fmt_seconds(win.wall_seconds(day, F.col("sec")), LOCAL_FORMAT, win))
          .withColumn("amount", F.when(kind == D.BAD_AMOUNT, D.bad_number(amount, rng.u("cin_bad", key))).otherwise(amount))
          .withColumn("points_earned", F.col("points")))
    line = csv_line([F.col(c) for c in CINEMA_COLUMNS], ";")
    line = F.when(kind == D.MALFORMED, D.malform_csv(line, ";", rng.u("cin_malformed", key))).otherwise(line)
    out = df.select("_tag", "_key", "_kind", "_copy", win.wall_seconds(F.col("day"), F.col("sec")).alias("_s1"), F.col("trans_key").alias("_s2"),
                    line.alias("_line"))
    return Feed("cinema_transactions", out, monthly_name("marquee_cinema_trans", "csv"), ["_copy", "_s1", "_s2"],
                header=lambda t: ";".join(CINEMA_COLUMNS))


def bank(ctx: Ctx, members: DataFrame, ref: Reference) -> DataFrame:
    rng, win = ctx.rng, ctx.window
    mid, k = F.col("mid"), F.col("k")
    m = with_persona(members.filter("uses_bank"))
    active = F.col("a_end") - F.col("a_start") + 1
    n = rng.count(F.col("bank_pw") * F.col("trip_mult") * active / 7.0, "n_card", mid)
    n_merch = ctx.pools.size("merchant")
    merchant = F.when(rng.u("fav", mid, k) < 0.4, rng.below(n_merch, "fav_m", mid, rng.below(3, "fav_j", mid, k)))\
        .otherwise(rng.below(n_merch, "merchant", mid, k))
    df = (m.withColumn("k", F.explode(F.when(n > 0, F.sequence(F.lit(0), n - 1))))
          .withColumn("day", (F.col("a_start") + rng.below(active, "card_day", mid, k)).cast("int"))
          .withColumn("sec", (rng.between(7, 22, "card_h", mid, k) * 3600 + rng.below(3600, "card_s", mid, k)).cast("int")))
    df = df.withColumn("_m", merchant).withColumns(
        {c: ctx.pools.col("merchant", F.col("_m"), i) for i, c in enumerate(("merchant_name", "mcc", "lo", "hi", "rate"))})
    u = rng.u("card_amt", mid, k)
    amount = F.round((F.col("lo") + (F.col("hi") - F.col("lo")) * u * u) * 100).cast("long")
    utc = win.utc_seconds(F.col("day"), F.col("sec"), F.col("timezone"))
    df = (df.withColumn("txn_key", mid * (1 << 16) + k)
          .withColumn("amount_cents", amount)
          .withColumn("points", F.floor(F.col("amount_cents") * F.col("rate") / 100).cast("long"))
          .withColumn("utc_sec", utc)
          .withColumn("posted_utc", utc + 3600 * rng.between(2, 40, "posting", mid, k)))
    return ctx.stage(df.filter(F.col("posted_utc") < win.end_utc)
                     .select("txn_key", "mid", "member_id", "bank_ref", "day", "utc_sec", "posted_utc", "merchant_name", "mcc",
                             "amount_cents", "points"), "bank")


def bank_feed(ctx: Ctx, rows: DataFrame) -> Feed:
    rng, rate, win = ctx.rng, ctx.params.defect_rate, ctx.window
    key = F.col("txn_key")
    kinds = [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.BAD_AMOUNT]
    df = (rows.withColumn("_kind", D.pick_kind(rng, "bank", rate, kinds, key))
          .withColumn("_tag", win.utc_month_col(F.col("posted_utc"))).withColumn("_key", key))
    df = D.move_copies(D.with_duplicates(df), rng, "bank", win.month_tags)
    kind = F.col("_kind")
    future = win.wall_seconds(D.future_day(rng, win.days, "bank", key), F.pmod(F.col("posted_utc"), F.lit(86400)))
    amount = (F.col("amount_cents") / 100).cast("decimal(12,2)")
    df = (df.withColumn("txn_ref", ids.bank_txn(key))
          .withColumn("customer_ref", F.when(kind == D.UNKNOWN, ids.unknown_bank(rng, "bank_unknown", key))
                      .otherwise(F.col("bank_ref")))
          .withColumn("posted_ts", F.timestamp_seconds(F.when(kind == D.FUTURE, future).otherwise(F.col("posted_utc"))))
          .withColumn("amount_cad", F.when(kind == D.BAD_AMOUNT, -amount).otherwise(amount).cast("decimal(12,2)"))
          .withColumn("points_earned", F.col("points").cast("int")))
    out = df.select("_tag", "_key", "_kind", "_copy", *BANK_COLUMNS)
    return Feed("bank_card_spend", out, monthly_name("maplebank_card_spend", "parquet"), ["_copy", "posted_ts", "txn_ref"],
                fmt="parquet", columns=BANK_COLUMNS)

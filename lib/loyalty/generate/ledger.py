"""The program's points ledger (UTC, signed points), built from the true transactions:

- EARN: one row per receipt (10 points per dollar of the net total, partner = banner), per
  cinema and card transaction (the points_earned of those feeds), and per treated offer
  redemption (partner OFFER: the bonus, or (multiplier - 1) x the target-category points).
- ADJUST: the balance brought forward at the window start, and a few goodwill credits.
- REDEEM: in a month, with the persona's probability, the persona's share of the points
  earned the month before (in blocks of 1,000), so a balance never goes negative.
- EXPIRE: the remaining balance of members inactive for 90 days after churning.
Test-store receipts earn nothing; feed defects (garbled lines, unknown ids) are
transmission errors and do not change the ledger."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.generate import defects as D
from loyalty.generate import ids
from loyalty.generate.context import UTC_FORMAT, Ctx, fmt_seconds
from loyalty.generate.members import with_persona
from loyalty.generate.rand import digits
from loyalty.generate.writer import Feed, csv_line, monthly_name

POINTS_PER_DOLLAR = 10
EXPIRY_DAYS = 90
COLUMNS = ["entry_id", "member_id", "entry_ts", "partner", "entry_type", "points", "source_ref"]
_COLS = ["kind", "key", "mid", "ts", "partner", "entry_type", "points", "source_ref"]


def build(ctx: Ctx, members: DataFrame, receipts: DataFrame, cinema: DataFrame, bank: DataFrame,
          offer_events: DataFrame) -> DataFrame:
    rng, win = ctx.rng, ctx.window
    mid = F.col("mid")

    def rows(df, kind, key, ts, partner, etype, points, ref):
        return df.select(F.lit(kind).alias("kind"), key.cast("long").alias("key"), mid, ts.cast("long").alias("ts"),
                         partner.alias("partner"), F.lit(etype).alias("entry_type"), points.cast("long").alias("points"),
                         ref.cast("string").alias("source_ref"))

    key = F.col("trip_key")
    earn = rows(receipts.filter("NOT is_test AND points > 0"), 1, key, F.col("utc_sec") + 60 + rng.below(540, "l_rt", key),
                F.col("banner"), "EARN", F.col("points"), F.col("receipt_id"))
    key = F.col("trans_key")
    earn = earn.unionByName(rows(cinema.filter("points > 0"), 2, key, F.col("utc_sec") + 300 + rng.below(3600, "l_cin", key),
                                 F.lit("CINEMA"), "EARN", F.col("points"), ids.cinema_trans(key)))
    key = F.col("txn_key")
    earn = earn.unionByName(rows(bank.filter("points > 0"), 3, key, F.col("posted_utc") + 600, F.lit("BANK"), "EARN",
                                 F.col("points"), ids.bank_txn(key)))
    key = F.col("ev_key")
    bonus = F.when(F.col("offer_type") == "BONUS_POINTS", F.col("reward"))\
        .otherwise((F.col("reward") - 1) * F.floor(F.col("target_cents") / 10))
    earn = earn.unionByName(rows(offer_events.filter("event_type = 'REDEEMED'"), 4, key, F.col("ts") + 30, F.lit("OFFER"),
                                 "EARN", bonus, ids.offer_event(key)))
    earn = ctx.stage(earn, "ledger_earn")

    m = with_persona(members)
    start = win.start_epoch_day * 86400
    u = rng.u("opening", mid)
    opening = rows(m.filter("enroll_day < 0"), 5, mid, F.lit(start) + rng.below(3600, "l_open", mid), F.lit("PROGRAM"),
                   "ADJUST", F.floor(u * u * 3000) * 10, F.lit("BALANCE_FORWARD")).filter("points > 0")
    active = F.col("a_end") - F.col("a_start") + 1
    gday = F.col("a_start") + rng.below(active, "l_gw_day", mid)
    goodwill = rows(m.filter(rng.u("goodwill", mid) < 0.03), 6, mid,
                    win.utc_seconds(gday, rng.between(9 * 3600, 20 * 3600, "l_gw_s", mid), F.col("timezone")),
                    F.lit("PROGRAM"), "ADJUST", rng.between(5, 50, "l_gw_pts", mid) * 20,
                    F.concat(F.lit("CS-"), digits(rng.below(10 ** 7, "l_gw_ref", mid), 7)))

    months = win.months
    tags = F.array(*[F.lit(mo.tag) for mo in months])
    month_idx = (F.array_position(tags, win.utc_month_col(F.col("ts"))) - 1).cast("int")
    monthly = earn.groupBy("mid", month_idx.alias("mo")).agg(F.sum("points").alias("earned"))
    nxt = F.col("mo") + 1
    first = F.element_at(F.array(*[F.lit(mo.first) for mo in months]), nxt + 1)
    length = F.element_at(F.array(*[F.lit(mo.last - mo.first + 1) for mo in months]), nxt + 1)
    rday = first + rng.below(F.greatest(length, F.lit(1)), "l_rd_day", mid, nxt)
    amount = F.floor(F.col("earned") * F.col("burn") / 1000) * 1000
    redeem_src = (monthly.filter(nxt < len(months)).join(m.select("mid", "a_end", "redeem", "burn", "timezone", "home_banner",
                                                                  "uses_cinema"), "mid")
                  .filter((rng.u("redeem", mid, nxt) < F.col("redeem")) & (amount >= 1000))
                  .withColumn("rday", rday).filter(F.col("rday") <= F.col("a_end")))
    partner = F.when(F.col("uses_cinema") & (rng.u("l_rd_cin", mid, nxt) < 0.2), "CINEMA").otherwise(F.col("home_banner"))
    redeem = rows(redeem_src, 7, mid * 64 + nxt,
                  win.utc_seconds(F.col("rday"), rng.between(9 * 3600, 21 * 3600, "l_rd_s", mid, nxt), F.col("timezone")),
                  partner, "REDEEM", -amount, ids.redemption_ref(mid * 64 + nxt))

    balance = (earn.select("mid", "points").unionByName(opening.select("mid", "points"))
               .unionByName(goodwill.select("mid", "points")).unionByName(redeem.select("mid", "points"))
               .groupBy("mid").agg(F.sum("points").alias("balance")))
    exp_day = F.col("churn_day") + EXPIRY_DAYS
    expire_src = (m.filter(F.col("churned") & (exp_day <= win.days - 1)).join(balance, "mid")
                  .filter("balance > 0"))
    expire = rows(expire_src, 8, mid, win.utc_seconds(exp_day, F.lit(2 * 3600), F.col("timezone")), F.lit("PROGRAM"),
                  "EXPIRE", -F.col("balance"), F.lit("INACTIVITY_90D"))
    return ctx.stage(earn.unionByName(opening).unionByName(goodwill).unionByName(redeem).unionByName(expire), "ledger")


def feed(ctx: Ctx, ledger: DataFrame) -> Feed:
    rng, rate, win = ctx.rng, ctx.params.defect_rate, ctx.window
    key = F.col("kind") * (1 << 52) + F.col("key")       # unique per entry, for hashing only
    kinds = [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.MALFORMED]
    df = (ledger.withColumn("_k", key)
          .withColumn("_kind", D.pick_kind(rng, "ledger", rate, kinds, F.col("_k")))
          .withColumn("_tag", win.utc_month_col(F.col("ts"))).withColumn("_key", F.col("_k")))
    df = D.move_copies(D.with_duplicates(df), rng, "ledger", win.month_tags)
    kind = F.col("_kind")
    future = win.wall_seconds(D.future_day(rng, win.days, "ledger", F.col("_k")), F.pmod(F.col("ts"), F.lit(86400)))
    entry_id = F.lit(None).cast("string")
    for k in range(1, 9):
        entry_id = F.when(F.col("kind") == k, ids.ledger_entry(k, F.col("key"))).otherwise(entry_id)
    df = (df.withColumn("entry_id", entry_id)
          .withColumn("member_id", F.when(kind == D.UNKNOWN, ids.unknown_member_id(rng, "l_unknown", F.col("_k")))
                      .otherwise(ids.member_id(F.col("mid"))))
          .withColumn("entry_ts", fmt_seconds(F.when(kind == D.FUTURE, future).otherwise(F.col("ts")), UTC_FORMAT, win)))
    line = csv_line([F.col(c) for c in COLUMNS], ",")
    line = F.when(kind == D.MALFORMED, D.malform_csv(line, ",", rng.u("l_malformed", F.col("_k")))).otherwise(line)
    out = df.select("_tag", "_key", "_kind", "_copy", F.col("ts").alias("_s1"), F.col("_k").alias("_s2"),
                    line.alias("_line"))
    return Feed("points_ledger", out, monthly_name("points_ledger", "csv"), ["_copy", "_s1", "_s2"],
                header=lambda t: ",".join(COLUMNS))

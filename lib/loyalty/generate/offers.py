"""Offers: who is issued what (with a holdout group), who converts, and the lifecycle
events (ISSUED, VIEWED, ACTIVATED, REDEEMED) plus the offers catalog.

An offer of the window is issued to members active at its start, mostly those whose home
banner is the offer's, never to a member of the persistent global holdout (conf
offers.holdout, loyalty.offers.holdout). 15% of issues are a per-offer random control:
recorded as ISSUED with holdout_flag Y and nothing else. A member converts (buys the target
category for at least min_spend at the offer's banner inside the window) with the planted
response of response.py: P(convert | control) for the control, P(convert | treated) for the
others, which depend on persona, offer type, whether the member already buys the category,
the banner, the reward and two member factors; some members (sleeping dogs) respond less
when treated. Conversions are real receipts in the retail feeds, and a treated conversion is
REDEEMED with redemption_ref = that receipt. Channels are the member's preferred channel
(always consented) or the app. The catalog also holds offers starting after the window
(generator.future_offers), never issued, for the planner's first weeks."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.generate import defects as D
from loyalty.generate import ids
from loyalty.generate.context import BANNERS, LOCAL_FORMAT, UTC_FORMAT, Ctx, fmt_seconds
from loyalty.generate import response as RS
from loyalty.generate.members import OFFER_TRAITS, with_persona
from loyalty.generate.reference import Reference, offer_cols
from loyalty.generate.retail import pick_day, pick_second
from loyalty.generate.writer import Feed, csv_line, monthly_name, single_name

HOLDOUT_SHARE = 0.15
ISSUE_HOME, ISSUE_OTHER = 0.45, 0.08
EVENT_TYPES = ("ISSUED", "VIEWED", "ACTIVATED", "REDEEMED")
OFFER_COLUMNS = ["offer_id", "offer_name", "offer_type", "banner", "target_category", "reward_value",
                 "min_spend", "start_date", "end_date", "created_at"]
EVENT_COLUMNS = ["event_id", "offer_id", "member_id", "event_type", "channel", "event_ts", "holdout_flag",
                 "redemption_ref"]


def assignments(ctx: Ctx, members: DataFrame, ref: Reference) -> DataFrame:
    rng, win = ctx.rng, ctx.window
    mid, o = F.col("mid"), F.col("offer_idx")
    m = with_persona(members).select(
        "mid", "member_id", "persona", "home_banner", "a_start", "a_end", "pref_dow", "dow_f", "pref_hour",
        "engagement_hour", "pref_channel", "timezone", "view", *OFFER_TRAITS)
    # only the offers of the window are issued (the future ones are there to be planned)
    x = (m.withColumn("offer_idx", F.explode(F.sequence(F.lit(0), F.lit(ctx.params.offers - 1))))
         .withColumns(offer_cols(ctx, F.col("offer_idx").cast("long"))))
    eligible = (F.col("a_start") <= F.col("start_day")) & (F.col("a_end") >= F.col("start_day")) & ~F.col("global_holdout")
    p_issue = F.when(F.col("banner") == F.col("home_banner"), ISSUE_HOME).otherwise(ISSUE_OTHER)
    x = (x.filter(eligible & (rng.u("issue", mid, o) < p_issue))
         .withColumn("holdout", rng.u("holdout", mid, o) < HOLDOUT_SHARE))
    x = RS.with_response(x, RS.default_params())
    x = x.withColumn("_p", F.when(F.col("holdout"), F.col("true_p_control")).otherwise(F.col("true_p_treated")))
    lo = F.col("start_day") + 1
    hi = F.least(F.col("end_day"), F.col("a_end"))
    converts = (rng.u("convert", mid, o) < F.col("_p")) & (lo <= hi)
    return ctx.stage(
        x.withColumn("converted", converts)
        .withColumn("can_convert", lo <= hi)
        .withColumn("b", F.when(F.col("banner") == BANNERS[0], 0).otherwise(1))
        .withColumn("conv_day", F.when(converts, pick_day(win, rng, lo, hi, F.col("pref_dow"), F.col("dow_f"), "conv", mid, o)))
        .withColumn("conv_sec", F.when(converts, pick_second(rng, F.col("pref_hour"), F.lit(0.5), 9, 20, "conv", mid, o)))
        .withColumn("channel", F.when(rng.u("channel", mid, o) < 0.8, F.col("pref_channel")).otherwise("APP"))
        .withColumn("viewed", ~F.col("holdout") & (converts | (rng.u("view", mid, o) < F.col("view"))))
        .withColumn("activated", F.col("viewed") & (converts | (rng.u("activate", mid, o) < 0.5)))
        .withColumn("issue_utc", win.utc_seconds(F.col("start_day"), (8 * 3600 + rng.below(3 * 3600, "issue_s", mid, o)),
                                                 F.col("timezone")))
        .drop("view", "_p", "home_banner", "dow_f", "pref_dow", "pref_hour", "pref_channel", *OFFER_TRAITS),
        "offer_assignments")


def issues_truth(assign: DataFrame) -> DataFrame:
    """truth/offer_issues.parquet: every issue with its planted outcome and the probabilities it
    was drawn with (can_convert: the member was active on a day of the window after the issue)."""
    return assign.select("member_id", "offer_id", F.col("holdout").alias("is_holdout"), "converted", "can_convert",
                         "true_p_control", "true_p_treated", "true_uplift")


def conversions(assign: DataFrame) -> DataFrame:
    return assign.filter("converted").select("mid", "offer_idx", "b", "cat_idx", "min_spend", "conv_day", "conv_sec")


def events(ctx: Ctx, assign: DataFrame, receipts: DataFrame) -> DataFrame:
    """True offer events (before feed defects), one row each: ev_key, mid, member_id,
    offer_id, event_type, channel, ts (UTC seconds), holdout, redemption_ref, reward info."""
    rng = ctx.rng
    mid, o = F.col("mid"), F.col("offer_idx")
    conv_receipts = receipts.filter("offer_idx IS NOT NULL").select(
        "mid", "offer_idx", F.col("utc_sec").alias("conv_utc"), F.col("receipt_id").alias("conv_ref"), "target_cents")
    a = assign.join(conv_receipts, ["mid", "offer_idx"], "left")
    issue, conv = F.col("issue_utc"), F.col("conv_utc")
    view_ts = F.when(F.col("converted"), issue + F.floor(rng.u("view_t", mid, o) * (conv - issue) * 0.5))\
        .otherwise(issue + rng.below(3 * 86400, "view_t2", mid, o))
    a = a.withColumn("view_utc", view_ts.cast("long"))
    act_ts = F.when(F.col("converted"), F.col("view_utc") + F.floor(rng.u("act_t", mid, o) * (conv - F.col("view_utc")) * 0.5))\
        .otherwise(F.col("view_utc") + rng.below(86400, "act_t2", mid, o))
    a = a.withColumn("act_utc", act_ts.cast("long"))
    limit = F.least(F.lit(ctx.window.end_utc), ctx.window.wall_seconds(F.col("a_end") + 1, F.lit(0)))
    rows = [
        (0, F.lit(True), issue),
        (1, F.col("viewed"), F.col("view_utc")),
        (2, F.col("activated"), F.col("act_utc")),
        (3, F.col("converted") & ~F.col("holdout"), conv + 60 + rng.below(240, "redeem_t", mid, o)),
    ]
    out = None
    for t, cond, ts in rows:
        part = (a.filter(cond)
                .select("mid", "member_id", "offer_idx", "offer_id", "offer_type", "reward", "target_cents", "channel",
                        "holdout", (F.lit(EVENT_TYPES[t])).alias("event_type"), ts.cast("long").alias("ts"),
                        (F.when(F.lit(t == 3), F.col("conv_ref"))).cast("string").alias("redemption_ref"),
                        ((mid * 1024 + o) * 4 + t).alias("ev_key"), limit.alias("_limit")))
        out = part if out is None else out.unionByName(part)
    return ctx.stage(out.filter((F.col("event_type") == "REDEEMED") | (F.col("ts") < F.col("_limit"))).drop("_limit"),
                     "offer_events")


def events_feed(ctx: Ctx, ev: DataFrame) -> Feed:
    rng, rate, win = ctx.rng, ctx.params.defect_rate, ctx.window
    key = F.col("ev_key")
    kinds = [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.MALFORMED]
    df = (ev.withColumn("_kind", D.pick_kind(rng, "offer_events", rate, kinds, key))
          .withColumn("_tag", win.utc_month_col(F.col("ts"))).withColumn("_key", key))
    df = D.move_copies(D.with_duplicates(df), rng, "offer_events", win.month_tags)
    kind = F.col("_kind")
    future = win.wall_seconds(D.future_day(rng, win.days, "offer_events", key), F.pmod(F.col("ts"), F.lit(86400)))
    df = (df.withColumn("member_id", F.when(kind == D.UNKNOWN, ids.unknown_member_id(rng, "oe_unknown", key))
                        .otherwise(F.col("member_id")))
          .withColumn("ts", F.when(kind == D.FUTURE, future).otherwise(F.col("ts")))
          .withColumn("event_id", ids.offer_event(key))
          .withColumn("event_ts", fmt_seconds(F.col("ts"), UTC_FORMAT, win))
          .withColumn("holdout_flag", F.when(F.col("holdout"), "Y").otherwise("N")))
    line = csv_line([F.col(c) for c in EVENT_COLUMNS], ",")
    line = F.when(kind == D.MALFORMED, D.malform_csv(line, ",", rng.u("oe_malformed", key))).otherwise(line)
    rows = df.select("_tag", "_key", "_kind", F.col("ts").alias("_s1"), F.col("ev_key").alias("_s2"),
                     "_copy", line.alias("_line"))
    return Feed("offer_events", rows, monthly_name("offer_events", "csv"), ["_copy", "_s1", "_s2"],
                header=lambda t: ",".join(EVENT_COLUMNS))


ECONOMICS_COLUMNS = ["reward_cost", "margin_rate", "funding_partner", "campaign_budget"]


def first_catalog_day(ctx: Ctx) -> int:
    """Day of the first catalog file (the layout of before): the middle of the window."""
    return ctx.window.days // 2


def created_day(ctx: Ctx) -> Column:
    """An offer is created a week before it starts (the future ones at the latest on end_date)."""
    return F.least(F.col("start_day") - 7, F.lit(ctx.window.days - 1))


def catalog_feed(ctx: Ctx, ref: Reference) -> Feed:
    """Two deliveries. The first (mid-window) lists the offers created by then in the original
    layout; the second (end_date) restates the whole catalog, the future offers included, with
    the economics the partner added: reward_cost (dollars per redemption), margin_rate (of the
    target category), funding_partner (banner or partner), campaign_budget (dollars)."""
    win = ctx.window
    date = lambda c: F.date_format(win.date_col(F.col(c)), "yyyy-MM-dd")   # noqa: E731
    created = fmt_seconds(win.wall_seconds(created_day(ctx), F.lit(10 * 3600)), LOCAL_FORMAT)
    terms = [F.col("offer_id"), F.col("offer_name"), F.col("offer_type"), F.col("banner"), F.col("target_category"),
             F.col("reward").alias("reward_value"), F.col("min_spend").cast("decimal(8,2)").alias("min_spend"),
             date("start_day").alias("start_date"), date("end_day").alias("end_date"), created.alias("created_at")]
    economics = [F.col("reward_cost").cast("decimal(10,2)").alias("reward_cost"),
                 F.col("margin_rate").cast("decimal(5,3)").alias("margin_rate"), F.col("funding_partner"),
                 F.col("campaign_budget").cast("decimal(12,2)").alias("campaign_budget")]
    cut = first_catalog_day(ctx)

    def rows(df, tag, cols):
        return df.select(F.lit(tag).alias("_tag"), F.col("offer_idx").cast("long").alias("_key"),
                         F.lit(None).cast("string").alias("_kind"), "offer_idx", F.to_json(F.struct(*cols)).alias("_line"))

    first = rows(ref.offers.where(~F.col("future") & (created_day(ctx) <= cut)), win.date_of(cut).isoformat(), terms)
    restated = rows(ref.offers, win.end.isoformat(), terms + economics)
    return Feed("offers", first.unionByName(restated), single_name("offers_catalog", "jsonl"), ["offer_idx"])


def catalog_truth(ctx: Ctx, ref: Reference) -> DataFrame:
    """truth/offers.parquet: the whole catalog with its economics and where it was delivered."""
    win = ctx.window
    return ref.offers.select(
        "offer_id", "offer_idx", "offer_name", "offer_type", "banner", "target_category", "cat_idx",
        F.col("reward").alias("reward_value"), F.col("min_spend").cast("double").alias("min_spend"),
        win.date_col(F.col("start_day")).alias("start_date"), win.date_col(F.col("end_day")).alias("end_date"),
        win.date_col(created_day(ctx)).alias("created_date"), *ECONOMICS_COLUMNS,
        F.col("future").alias("is_future"),
        (~F.col("future") & (created_day(ctx) <= first_catalog_day(ctx))).alias("in_first_catalog"))

"""The contact plan from an allocation (pure): channel, send time, campaign control, the summary.

- Channel: the member's planned offers, best value first, go to their consented channels in order of
  gold.member_timing's channel_rank (channels without a timing row after those, in conf
  ``offers.plan.channel_order``), at most ``per_channel_week`` offers per channel. Only consented
  channels are ever listed (candidates.members_at), whatever the timing table says.
- Send time: the member's best local day of week and hour on that channel (conf defaults without a
  timing row) in the plan week, moved into the offer's validity when it starts or ends mid-week;
  send_at_local is the member's wall-clock time (timestamp without zone), send_at_utc that instant in
  UTC, through the time zone of the member's province.
- Control: per offer, the pairs whose seeded hash of (seed, plan week, offer, member) ranks lowest,
  round(control_share x pairs) of them, are campaign control: planned, flagged, never sent.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from loyalty.offers.settings import (CHANNELS, COST, MARGIN, MEMBER, OFFER, PARTNER, PLAN_COLUMNS, PLAN_WEEK, UPLIFT,
                                     VALUE, PlanSettings, week_end)

TIMING_COLUMNS = [MEMBER, "channel", "channel_rank", "best_dow", "best_hour"]


def channel_preferences(members: DataFrame, timing: DataFrame | None, s: PlanSettings) -> DataFrame:
    """(member_id, prefs): the member's consented channels (``channels``) ranked best first, each a
    struct(channel, dow, hour). gold.member_timing rows for channels not in ``channels`` are ignored."""
    ex = members.select(MEMBER, F.posexplode(CHANNELS).alias("_pos", "channel"))
    if timing is not None:
        t = timing.select(*TIMING_COLUMNS).dropDuplicates([MEMBER, "channel"])
        ex = ex.join(t, [MEMBER, "channel"], "left")
    else:
        ex = ex.select("*", *[F.lit(None).cast("int").alias(c) for c in ("channel_rank", "best_dow", "best_hour")])
    pref = F.struct(F.coalesce(F.col("channel_rank"), F.lit(1 << 20)).alias("k1"), F.col("_pos").alias("k2"),
                    F.col("channel").alias("channel"),
                    F.coalesce(F.col("best_dow").cast("int"), F.lit(s.default_dow)).alias("dow"),
                    F.coalesce(F.col("best_hour").cast("int"), F.lit(s.default_hour)).alias("hour"))
    return ex.groupBy(MEMBER).agg(F.sort_array(F.collect_list(pref)).alias("prefs"))


def assign_channels(selected: DataFrame, timing: DataFrame | None, s: PlanSettings) -> DataFrame:
    """Adds channel, dow, hour: the member's r-th best offer (by value, then offer_id) goes to their
    channel number floor((r - 1) / per_channel_week) + 1 in preference order."""
    prefs = channel_preferences(selected.select(MEMBER, CHANNELS).dropDuplicates([MEMBER]), timing, s)
    w = Window.partitionBy(MEMBER).orderBy(F.col(VALUE).desc(), F.col(OFFER))
    r = F.row_number().over(w)
    out = selected.withColumn("_r", r).join(prefs, MEMBER)
    slot = F.element_at(F.col("prefs"), (F.floor((F.col("_r") - 1) / F.lit(s.per_channel_week)) + 1).cast("int"))
    return (out.withColumn("_slot", slot)
            .withColumn("channel", F.col("_slot.channel")).withColumn("dow", F.col("_slot.dow"))
            .withColumn("hour", F.col("_slot.hour")).drop("_r", "_slot", "prefs"))


def zone_of(province: Column, province_timezones: dict, default: str) -> Column:
    """The IANA zone of a province code (conf reference.province_timezones), ``default`` otherwise."""
    m = F.create_map(*[x for k, v in sorted(province_timezones.items()) for x in (F.lit(str(k).upper()), F.lit(v))])
    return F.coalesce(m[F.upper(F.trim(province))], F.lit(default))


def with_send_times(df: DataFrame, week: date, zone: Column) -> DataFrame:
    """Adds send_at_local (timestamp_ntz: the member's wall clock) and send_at_utc from dow (1 = Monday),
    hour, the offer's start_date/end_date and ``zone``. The day is clamped into the plan week and the
    offer's validity."""
    first = F.greatest(F.lit(week), F.col("start_date"))
    last = F.least(F.lit(week_end(week)), F.col("end_date"))
    day = F.least(F.greatest(F.date_add(F.lit(week), (F.col("dow") - 1).cast("int")), first), last)
    text = F.concat(F.date_format(day, "yyyy-MM-dd"), F.lit(" "), F.lpad(F.col("hour").cast("int").cast("string"), 2, "0"),
                    F.lit(":00:00"))
    return (df.withColumn("send_at_local", F.to_timestamp_ntz(text))
            .withColumn("send_at_utc", F.to_utc_timestamp(F.to_timestamp(text), zone)))


def with_controls(df: DataFrame, week: date, seed: int, share: float) -> DataFrame:
    """Adds is_control: per offer the round(share x n) pairs lowest by xxhash64(seed, week, offer, member)."""
    h = F.xxhash64(F.lit(int(seed)), F.lit(week.isoformat()), F.col(OFFER), F.col(MEMBER))
    w = Window.partitionBy(OFFER).orderBy(h, F.col(MEMBER))
    n = F.count(F.lit(1)).over(Window.partitionBy(OFFER))
    return df.withColumn("is_control", F.row_number().over(w) <= F.round(F.lit(float(share)) * n))


def assemble(selected: DataFrame, members: DataFrame, timing: DataFrame | None, week: date, s: PlanSettings,
             province_timezones: dict, model_versions: dict) -> DataFrame:
    """gold.offer_plan rows for the week. ``selected``: the allocation (member_id, offer_id, value,
    expected_*, channels, start_date, end_date); ``members``: member_id, province (the member's record
    at the plan date); ``timing``: one gold.member_timing snapshot (or None)."""
    with_ch = assign_channels(selected, timing, s)
    zone = zone_of(F.col("province"), province_timezones, s.default_timezone)
    df = with_ch.join(members.select(MEMBER, "province").dropDuplicates([MEMBER]), MEMBER, "left")
    df = with_controls(with_send_times(df, week, zone), week, s.seed, s.control_share)
    versions = F.create_map(*[x for k, v in sorted(model_versions.items()) for x in (F.lit(str(k)), F.lit(str(v)))]) \
        if model_versions else F.create_map().cast("map<string,string>")
    return df.select(F.lit(week).alias(PLAN_WEEK), MEMBER, OFFER, "channel", "send_at_local", "send_at_utc",
                     F.col(UPLIFT).cast("double").alias(UPLIFT), F.col(MARGIN).cast("double").alias(MARGIN),
                     F.col(COST).cast("double").alias(COST), "is_control", versions.alias("model_versions"))


def summary(plan: DataFrame, offers: DataFrame, week: date) -> DataFrame:
    """gold.offer_plan_summary rows: per offer of ``offers`` (offer_id, funding_partner, weekly_budget)
    and plan week: budget, selected_cost (sent + control: what the allocation held within budget),
    planned_cost (sent only), contacts (sent), controls, expected incremental margin and net value of
    the sent contacts, budget_use = selected_cost / budget."""
    sent = ~F.col("is_control")
    per = plan.groupBy(PLAN_WEEK, OFFER).agg(
        F.sum(COST).alias("selected_cost"), F.sum(F.when(sent, F.col(COST)).otherwise(0.0)).alias("planned_cost"),
        F.sum(F.when(sent, 1).otherwise(0)).alias("contacts"), F.sum(F.when(sent, 0).otherwise(1)).alias("controls"),
        F.sum(F.when(sent, F.col(MARGIN)).otherwise(0.0)).alias("expected_incremental_margin"),
        F.sum(F.when(sent, F.col(MARGIN) - F.col(COST)).otherwise(0.0)).alias("expected_net_value"))
    o = offers.select(F.lit(week).alias(PLAN_WEEK), OFFER, PARTNER, F.col("weekly_budget").alias("budget"))
    out = o.join(per, [PLAN_WEEK, OFFER], "left").fillna(
        0, subset=["selected_cost", "planned_cost", "contacts", "controls", "expected_incremental_margin",
                   "expected_net_value"])
    return out.select(PLAN_WEEK, OFFER, PARTNER, "budget", "selected_cost", "planned_cost",
                      F.col("contacts").cast("long").alias("contacts"), F.col("controls").cast("long").alias("controls"),
                      "expected_incremental_margin", "expected_net_value",
                      F.when(F.col("budget") > 0, F.col("selected_cost") / F.col("budget")).alias("budget_use"))


def channel_mix(plan: DataFrame) -> DataFrame:
    """Rows per channel and control flag (a handful of rows: for notebooks)."""
    return plan.groupBy("channel", "is_control").count().orderBy("channel", "is_control")


def send_time_mix(plan: DataFrame) -> DataFrame:
    """Sent contacts per member-local day of week (1 = Monday) and hour (at most 7 x 24 rows)."""
    local = F.col("send_at_local")
    return (plan.where(~F.col("is_control"))
            .groupBy(((F.dayofweek(local) + 5) % 7 + 1).alias("dow"), F.hour(local).alias("hour")).count()
            .orderBy("dow", "hour"))


def uplift_histogram(plan: DataFrame, bins: int = 20) -> DataFrame:
    """Planned pairs per bin of expected_uplift (bounded: ``bins`` rows): bin, lo, hi, count."""
    stats = plan.agg(F.min(UPLIFT).alias("lo"), F.max(UPLIFT).alias("hi"))
    width = F.greatest((F.col("hi") - F.col("lo")) / bins, F.lit(1e-12))
    b = F.least(F.floor((F.col(UPLIFT) - F.col("lo")) / width), F.lit(bins - 1)).cast("int")
    return (plan.crossJoin(stats).withColumn("bin", b).groupBy("bin", "lo", "hi").count()
            .select("bin", (F.col("lo") + F.col("bin") * (F.col("hi") - F.col("lo")) / bins).alias("from"),
                    (F.col("lo") + (F.col("bin") + 1) * (F.col("hi") - F.col("lo")) / bins).alias("to"), "count")
            .orderBy("bin"))


__all__ = ["assemble", "channel_mix", "send_time_mix", "uplift_histogram", "assign_channels", "channel_preferences", "summary", "with_controls", "with_send_times",
           "zone_of", "PLAN_COLUMNS"]

"""Digital events: app and web sessions, email and push opens and clicks (UTC ISO-8601).
Most of a member's events use the preferred channel and fall in the engagement hour (the
member's local time); email and push only reach members who consented to them."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.generate import defects as D
from loyalty.generate import ids
from loyalty.generate.context import Ctx
from loyalty.generate.members import with_persona
from loyalty.generate.retail import pick_second
from loyalty.generate.writer import Feed, monthly_name

COLUMNS = ["event_id", "member_id", "channel", "event_type", "event_ts", "device", "campaign_id", "session_id"]
PREFERRED_SHARE = 0.65
ENGAGEMENT_FOCUS = 0.6


def events(ctx: Ctx, members: DataFrame) -> DataFrame:
    rng, win = ctx.rng, ctx.window
    mid, k = F.col("mid"), F.col("k")
    m = with_persona(members)
    active = F.col("a_end") - F.col("a_start") + 1
    n = rng.count(F.col("dig_pw") * F.col("trip_mult") * active / 7.0, "n_digital", mid)
    allowed = F.filter(F.array(F.lit("APP"), F.lit("WEB"),
                               F.when(F.col("consent_email") == "Y", F.lit("EMAIL")),
                               F.when(F.col("consent_push") == "Y", F.lit("PUSH"))), lambda c: c.isNotNull())
    preferred = F.when(F.col("pref_channel") == "SMS", F.lit("APP")).otherwise(F.col("pref_channel"))
    other = F.element_at(allowed, rng.below(F.size(allowed), "dg_other", mid, k) + 1)
    channel = F.when(rng.u("dg_pref", mid, k) < PREFERRED_SHARE, preferred).otherwise(other)
    df = (m.withColumn("k", F.explode(F.when(n > 0, F.sequence(F.lit(0), n - 1))))
          .withColumn("channel", channel)
          .withColumn("day", (F.col("a_start") + rng.below(active, "dg_day", mid, k)).cast("int"))
          .withColumn("sec", pick_second(rng, F.col("engagement_hour"), F.lit(ENGAGEMENT_FOCUS), 7, 23, "dg", mid, k))
          .withColumn("ts", win.utc_seconds(F.col("day"), F.col("sec"), F.col("timezone")) * 1000
                      + rng.below(1000, "dg_ms", mid, k))
          .withColumn("ev_key", mid * (1 << 20) + k))
    messaging = F.col("channel").isin("EMAIL", "PUSH")
    week = F.floor(F.col("day") / 7)
    return (df.withColumn("event_type", F.when(~messaging, "SESSION")
                          .when(rng.u("dg_click", mid, k) < 0.3, "CLICK").otherwise("OPEN"))
            .withColumn("device", F.when(F.col("channel") == "WEB",
                                         F.when(rng.u("dg_web", mid, k) < 0.6, "desktop").otherwise("mobile_web"))
                        .when(F.col("channel") == "EMAIL", F.when(rng.u("dg_mail", mid, k) < 0.5, "desktop")
                              .otherwise(F.col("device"))).otherwise(F.col("device")))
            .withColumn("campaign_id", F.when(messaging, F.concat(F.lit("CMP-"), F.col("channel"), F.lit("-"),
                                                                   F.lpad(week.cast("string"), 3, "0"))))
            .withColumn("session_id", F.when(~messaging, F.lower(F.hex(rng.hash("dg_session", mid, k)))))
            .select("ev_key", "mid", "channel", "event_type", "ts", "device", "campaign_id", "session_id"))


def feed(ctx: Ctx, ev: DataFrame) -> Feed:
    rng, rate, win = ctx.rng, ctx.params.defect_rate, ctx.window
    key = F.col("ev_key")
    kinds = [D.DUPLICATE, D.UNKNOWN, D.FUTURE, D.MALFORMED]
    seconds = F.floor(F.col("ts") / 1000)
    df = (ev.withColumn("_kind", D.pick_kind(rng, "digital", rate, kinds, key))
          .withColumn("_tag", win.utc_month_col(seconds)).withColumn("_key", key))
    df = D.move_copies(D.with_duplicates(df), rng, "digital", win.month_tags)
    kind = F.col("_kind")
    future = win.wall_seconds(D.future_day(rng, win.days, "digital", key), F.pmod(seconds, F.lit(86400))) * 1000 \
        + F.pmod(F.col("ts"), F.lit(1000))
    ts = F.when(kind == D.FUTURE, future).otherwise(F.col("ts"))
    df = (df.withColumn("event_id", ids.digital_event(key))
          .withColumn("member_id", F.when(kind == D.UNKNOWN, ids.unknown_member_id(rng, "dg_unknown", key))
                      .otherwise(ids.member_id(F.col("mid"))))
          .withColumn("event_ts", F.date_format(F.timestamp_millis(ts), "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")))
    line = F.to_json(F.struct(*[F.col(c) for c in COLUMNS]), {"ignoreNullFields": "false"})
    line = F.when(kind == D.MALFORMED, D.malform_json(line, rng.u("dg_malformed", key))).otherwise(line)
    out = df.select("_tag", "_key", "_kind", "_copy", F.col("ts").alias("_s1"), F.col("ev_key").alias("_s2"),
                    line.alias("_line"))
    return Feed("digital_events", out, monthly_name("digital_events", "jsonl"), ["_copy", "_s1", "_s2"])

"""Pure: who can be contacted at as_of (SCD2 members, consent) and the engagement and shopping events
of a window in member-local time. DataFrame in, DataFrame out; dates come in as arguments.

Event rows (``events``): member_id, kind (digital | offer | shopping), channel (null when the event
says nothing about a contact channel: a web session, a shopping trip), local_dow (ISO 1 = Monday),
local_hour, and the weights it carries toward the channel, day-of-week and hour patterns.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.timing.settings import CHANNEL, DOW, HOUR, MEMBER, Params

EVENT_COLUMNS = [MEMBER, "kind", CHANNEL, DOW, HOUR, "w_channel", "w_dow", "w_hour"]


def _ts(day: date) -> Column:
    return F.to_timestamp(F.lit(day.isoformat()))


def members_at(members: DataFrame, as_of: date, province_tz: dict[str, str], default_tz: str) -> DataFrame:
    """The version of each member valid at the start of ``as_of`` (SCD2: valid_from < as_of <= valid_to)
    for members ACTIVE then and enrolled before as_of: member_id, timezone (from the province;
    ``default_tz`` when it maps to none) and the consent columns of that version."""
    ts = _ts(as_of)
    zone = None
    for province, tz in sorted(province_tz.items()):
        zone = (F.when(F.col("province") == province, F.lit(tz)) if zone is None
                else zone.when(F.col("province") == province, F.lit(tz)))
    zone = F.lit(default_tz) if zone is None else zone.otherwise(F.lit(default_tz))
    consents = [c for c in members.columns if c.startswith("consent_")]
    return (members.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))
            .where((F.col("status") == "ACTIVE") & (F.col("enrollment_date") < F.lit(as_of)))
            .select(MEMBER, zone.alias("timezone"), *[F.coalesce(F.col(c), F.lit(False)).alias(c) for c in consents])
            .dropDuplicates([MEMBER]))


def consented_channels(members: DataFrame, p: Params) -> DataFrame:
    """(member_id, channel, channel_order) for every channel of ``p.channels`` the member may be
    contacted on: its consent column is true in ``members`` (``members_at``), or it needs none
    (``p.consent_free_channels``). A member with no such channel has no row."""
    parts = []
    for order, channel in enumerate(p.channels):
        column = p.consent_column(channel)
        rows = members if column is None else members.where(F.col(column))
        parts.append(rows.select(MEMBER, F.lit(channel).alias(CHANNEL), F.lit(order).alias("channel_order")))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def with_local_time(df: DataFrame, ts_col: str, zone_col: str) -> DataFrame:
    """Adds local_dow (ISO: 1 = Monday .. 7 = Sunday) and local_hour of the UTC instant ``ts_col`` in
    the time zone ``zone_col`` (the session time zone must be UTC, as conf spark.conf sets it)."""
    local = F.from_utc_timestamp(F.col(ts_col), F.col(zone_col))
    return (df.withColumn(DOW, ((F.dayofweek(local) + 5) % 7 + 1).cast("int"))
            .withColumn(HOUR, F.hour(local).cast("int")))


def in_window(df: DataFrame, ts_col: str, start: date, end: date) -> DataFrame:
    """Rows whose ``ts_col`` falls in [start, end) (UTC midnights): nothing at or after ``end`` leaks in."""
    return df.where((F.col(ts_col) >= _ts(start)) & (F.col(ts_col) < _ts(end)))


def events(digital: DataFrame, offer_events: DataFrame, transactions: DataFrame, zones: DataFrame,
           start: date, end: date, p: Params) -> DataFrame:
    """The window's engagement and shopping events of the members in ``zones`` (member_id, timezone),
    in member-local time (``EVENT_COLUMNS``):

    - digital (silver.digital_events of ``p.digital_event_types``): channel when it is a contact
      channel (EMAIL opens, PUSH opens, APP sessions), null otherwise (WEB); weight 1 toward each pattern;
    - offer responses (silver.offer_events of ``p.offer_event_types``) on a contact channel: weight
      ``p.offer_event_weight`` toward the channel only (the sender chose when the offer went out, so its
      timing says little about the member's habits);
    - shopping trips (silver.transactions): no channel, ``p.shopping_weight_dow`` / ``_hour``.
    """
    channels = list(p.channels)
    dig = (in_window(digital, "event_ts", start, end)
           .where(F.col("event_type").isin(list(p.digital_event_types)))
           .select(MEMBER, F.lit("digital").alias("kind"),
                   F.when(F.col(CHANNEL).isin(channels), F.col(CHANNEL)).alias(CHANNEL),
                   F.col("event_ts").alias("_ts"), F.lit(1.0).alias("w_channel"), F.lit(1.0).alias("w_dow"),
                   F.lit(1.0).alias("w_hour")))
    off = (in_window(offer_events, "event_ts", start, end)
           .where(F.col("event_type").isin(list(p.offer_event_types)) & F.col(CHANNEL).isin(channels))
           .select(MEMBER, F.lit("offer").alias("kind"), F.col(CHANNEL), F.col("event_ts").alias("_ts"),
                   F.lit(float(p.offer_event_weight)).alias("w_channel"), F.lit(0.0).alias("w_dow"),
                   F.lit(0.0).alias("w_hour")))
    shop = (in_window(transactions, "txn_ts", start, end)
            .select(MEMBER, F.lit("shopping").alias("kind"), F.lit(None).cast("string").alias(CHANNEL),
                    F.col("txn_ts").alias("_ts"), F.lit(0.0).alias("w_channel"),
                    F.lit(float(p.shopping_weight_dow)).alias("w_dow"),
                    F.lit(float(p.shopping_weight_hour)).alias("w_hour")))
    df = dig.unionByName(off).unionByName(shop).join(zones.select(MEMBER, "timezone"), MEMBER, "inner")
    return with_local_time(df, "_ts", "timezone").select(*EVENT_COLUMNS)

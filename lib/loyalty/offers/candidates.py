"""Candidate (member, offer) pairs for a plan week, as pure transforms (DataFrame in, DataFrame out).

A pair is a candidate when
- the offer is active in the week (start_date <= Sunday and end_date >= Monday),
- the member's record valid at the plan date (SCD2: valid_from <= Monday 00:00 UTC < valid_to) is
  ACTIVE, enrolled before the week, and consents to at least one planned channel,
- the member is not in the persistent global holdout (``holdout.in_global_holdout``),
- every eligibility rule holds (conf ``offers.eligibility.rules``: banner, target segment, category),
- the member did not redeem the same offer (or, with ``no_repeat_by: category``, an offer of the same
  banner and target category) in the ``no_repeat_days`` before the week,
and each member carries ``capacity`` = min(per_member_week, per_channel_week x consented channels):
how many offers the caps let the allocation give them. Nothing here reads a table or the clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.conf import ConfigError
from loyalty.offers.holdout import in_global_holdout
from loyalty.offers.settings import CAPACITY, CHANNELS, MEMBER, OFFER, PARTNER, PlanSettings, week_end

OFFER_COLUMNS = [OFFER, "offer_type", "banner", "target_category", PARTNER, "reward_cost", "margin_rate",
                 "min_spend", "campaign_budget", "start_date", "end_date"]
ECONOMICS = ["reward_cost", "margin_rate", PARTNER, "campaign_budget"]
MEMBER_COLUMNS = ["home_banner", "province", "age_band"]


def plan_ts(day: date) -> Column:
    """Midnight (UTC) of ``day`` as a timestamp literal: the instant the SCD2 version is taken at."""
    return F.lit(datetime(day.year, day.month, day.day).isoformat()).cast("timestamp")


def members_at(members: DataFrame, at: date, consent_columns: dict, channel_order: tuple) -> DataFrame:
    """The member's version valid at ``at`` (valid_from <= at < valid_to), ACTIVE and enrolled before
    ``at``, with ``channels``: the consented planned channels in ``channel_order`` (members without
    one are left out). Columns: member_id, home_banner, province, age_band (if present), channels."""
    ts = plan_ts(at)
    valid = (F.col("valid_from") <= ts) & (F.col("valid_to").isNull() | (F.col("valid_to") > ts))
    cur = members.where(valid & (F.col("status") == "ACTIVE") & (F.col("enrollment_date") < F.lit(at)))
    consented = F.filter(F.array(*[F.when(F.coalesce(F.col(consent_columns[c]), F.lit(False)), F.lit(c))
                                   for c in channel_order]), lambda c: c.isNotNull())
    keep = [c for c in MEMBER_COLUMNS if c in members.columns]
    out = cur.select(MEMBER, *keep, consented.alias(CHANNELS)).where(F.size(CHANNELS) > 0)
    return out.dropDuplicates([MEMBER])


def active_offers(offers: DataFrame, week: date, pacing: str = "prorata") -> DataFrame:
    """Offers active in the plan week, with their economics as doubles and ``weekly_budget``: the
    campaign budget x (days of the offer in this week / days of the offer) with ``prorata``, all of
    it with ``full`` (null budget: no budget constraint)."""
    missing = [c for c in OFFER_COLUMNS if c not in offers.columns]
    if missing:
        raise ValueError(f"silver.offers has no column {', '.join(missing)} (offer economics: reward_cost, "
                         f"margin_rate, funding_partner, campaign_budget come with the offers feed)")
    mon, sun = F.lit(week), F.lit(week_end(week))
    active = offers.where((F.col("start_date") <= sun) & (F.col("end_date") >= mon))
    overlap = F.datediff(F.least(F.col("end_date"), sun), F.greatest(F.col("start_date"), mon)) + 1
    length = F.datediff(F.col("end_date"), F.col("start_date")) + 1
    budget = F.col("campaign_budget").cast("double")
    weekly = budget * overlap / length if pacing == "prorata" else budget
    return active.select(
        *[c for c in OFFER_COLUMNS if c not in ("reward_cost", "margin_rate", "min_spend", "campaign_budget")],
        F.col("reward_cost").cast("double").alias("reward_cost"),
        F.col("margin_rate").cast("double").alias("margin_rate"),
        F.col("min_spend").cast("double").alias("min_spend"),
        F.col("campaign_budget").cast("double").alias("campaign_budget"),
        weekly.alias("weekly_budget")).dropDuplicates([OFFER])


def recent_redemptions(events: DataFrame, offers: DataFrame, week: date, days: int, by: str) -> DataFrame:
    """(member_id, offer_id) of redemptions in the ``days`` before the week; with ``by='category'``
    (member_id, banner, target_category) of the redeemed offers instead."""
    since = week - timedelta(days=days)
    red = (events.where((F.col("event_type") == "REDEEMED") & (F.col("event_date") >= F.lit(since))
                        & (F.col("event_date") < F.lit(week)))
           .select(MEMBER, OFFER).where(F.col(MEMBER).isNotNull()).distinct())
    if by == "offer_id":
        return red
    return (red.join(offers.select(OFFER, "banner", "target_category").dropDuplicates([OFFER]), OFFER)
            .select(MEMBER, "banner", "target_category").distinct())


def not_in_global_holdout(members: DataFrame, salt: str, share: float) -> DataFrame:
    return members.where(~in_global_holdout(F.col(MEMBER), salt, share))


def with_capacity(members: DataFrame, s: PlanSettings) -> DataFrame:
    """capacity = min(per_member_week, per_channel_week x number of consented channels)."""
    return members.withColumn(CAPACITY, F.least(F.lit(s.per_member_week),
                                                F.lit(s.per_channel_week) * F.size(CHANNELS)).cast("int"))


def apply_rules(pairs: DataFrame, s: PlanSettings) -> DataFrame:
    """Keep the pairs every eligibility rule allows (a null condition counts as false)."""
    from pyspark.errors import AnalysisException, ParseException

    out = pairs
    for i, rule in enumerate(s.rules):
        try:
            applies = F.coalesce(F.expr(rule.offers), F.lit(False))
            allows = F.coalesce(F.expr(rule.members), F.lit(False))
            out = out.where(~applies | allows)
        except (AnalysisException, ParseException) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"setting 'offers.eligibility.rules[{i}]' ({rule.name!r}) is not a valid condition "
                              f"on the pair's columns: {first}") from None
    return out


def candidate_pairs(members: DataFrame, offers: DataFrame, week: date, s: PlanSettings, *, salt: str,
                    holdout_share: float, segments: DataFrame | None = None, features: DataFrame | None = None,
                    redemptions: DataFrame | None = None) -> DataFrame:
    """Candidate pairs for the week starting ``week`` (a Monday).

    ``members``: silver.members (SCD2); ``offers``: silver.offers; ``segments``: member_id,
    segment_id, segment_name (one snapshot); ``features``: one gold.member_features snapshot;
    ``redemptions``: silver.offer_events. Returns member_id, offer_id, the offer's columns
    (offer_type, banner, target_category, funding_partner, reward_cost, margin_rate, min_spend,
    campaign_budget, weekly_budget, start_date, end_date), channels, capacity."""
    m = members_at(members, week, s.consent_columns, s.channel_order)
    m = with_capacity(not_in_global_holdout(m, salt, holdout_share), s)
    member_cols = set(m.columns)
    if segments is not None:
        m = m.join(segments.select(MEMBER, "segment_id", "segment_name").dropDuplicates([MEMBER]), MEMBER, "left")
        member_cols |= {"segment_id", "segment_name"}
    o = active_offers(offers, week, s.budget_pacing)
    if features is not None:
        drop = (member_cols | set(o.columns) | {"as_of"}) - {MEMBER}
        f = features.select(*[c for c in features.columns if c not in drop]).dropDuplicates([MEMBER])
        m = m.join(f, MEMBER, "inner" if s.require_features else "left")
    pairs = m.crossJoin(F.broadcast(o))
    pairs = apply_rules(pairs, s)
    if redemptions is not None and s.no_repeat_days > 0:
        red = recent_redemptions(redemptions, offers, week, s.no_repeat_days, s.no_repeat_by)
        keys = [MEMBER, OFFER] if s.no_repeat_by == "offer_id" else [MEMBER, "banner", "target_category"]
        pairs = pairs.join(red, keys, "left_anti")
    offer_out = [c for c in o.columns if c != OFFER]
    return pairs.select(MEMBER, OFFER, *offer_out, CHANNELS, CAPACITY)

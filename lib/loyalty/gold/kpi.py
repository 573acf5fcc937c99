"""The KPI marts of the gold layer: daily and weekly activity and engagement, cross-banner shopping,
points and liability, the offer funnel and the member lifecycle. Contract: docs/gold.md, "KPI marts".

The mart functions are pure (DataFrames in, DataFrame out; as_of and parameters are arguments).
Every mart covers business dates in [as_of - lookback_days, as_of) and carries the period
columns ``period`` ('day' | 'week'), ``period_start``, ``period_end`` (exclusive) and
``is_complete``. ``build`` reads pinned silver versions, computes every mart and overwrites its as_of
partition in each gold.kpi_* table (partitioned by as_of: one snapshot per as_of, like the features).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.conf import Config, ConfigError
from loyalty.gold import snapshots

log = logging.getLogger("loyalty")

DAY, WEEK = "day", "week"
ALL = "ALL"
UNKNOWN = "UNKNOWN"
DEFAULT_DIMENSIONS = ("FRESHMART", "VALUMART", "CINEMA", "BANK")
FUNNEL = ("ISSUED", "VIEWED", "ACTIVATED", "REDEEMED")

PERIOD = ["period", "period_start", "period_end", "is_complete"]
ACTIVITY_COLUMNS = ["as_of", *PERIOD, "dimension", "active_members", "enrolled_members", "engagement_rate"]
CROSS_BANNER_COLUMNS = ["as_of", *PERIOD, "banners_active", "members", "share_of_active"]
OVERLAP_COLUMNS = ["as_of", *PERIOD, "dim_a", "dim_b", "members", "share_of_a"]
POINTS_COLUMNS = ["as_of", *PERIOD, "partner", "earned_points", "redeemed_points", "expired_points",
                  "adjusted_points", "net_points", "liability_points", "liability_dollars"]
FUNNEL_COLUMNS = ["as_of", *PERIOD, "offer_id", "offer_name", "channel", "issued", "viewed", "activated",
                  "redeemed", "holdout_issued", "view_rate", "activation_rate", "redemption_rate",
                  "conversion_rate"]
LIFECYCLE_COLUMNS = ["as_of", *PERIOD, "new_members", "lapsed_members", "reactivated_members"]

TABLES = ["gold.kpi_activity", "gold.kpi_cross_banner", "gold.kpi_banner_overlap", "gold.kpi_points",
          "gold.kpi_offer_funnel", "gold.kpi_member_lifecycle"]   # in build order
INPUTS = ["silver.members", "silver.transactions", "silver.partner_transactions", "silver.points_ledger",
          "silver.offer_events", "silver.offers"]


@dataclass(frozen=True)
class KpiParams:
    lookback_days: int = 400
    lapse_days: int = 90
    dollar_value_per_point: float = 0.001
    dimensions: tuple[str, ...] = DEFAULT_DIMENSIONS


# -- helpers -----------------------------------------------------------------------------------

def _d(value: date) -> Column:
    return F.lit(value).cast("date")


def _ratio(num: str, den: str) -> Column:
    """num / den as a double, 0 when the denominator is 0."""
    return F.when(F.col(den) > 0, F.col(num).cast("double") / F.col(den)).otherwise(F.lit(0.0))


def _values(spark: SparkSession, name: str, values, kind: str = "string") -> DataFrame:
    return spark.createDataFrame([(v,) for v in values], f"{name} {kind}")


def calendar(spark: SparkSession, as_of: date, lookback_days: int) -> DataFrame:
    """One row per (business date in [as_of - lookback_days, as_of), period it belongs to):
    day, period, period_start, period_end (exclusive), is_complete. Weeks start on Monday (ISO);
    a week is complete when all its seven days are inside the window."""
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be >= 1, got {lookback_days}")
    start = as_of - timedelta(days=lookback_days)
    days = spark.range(lookback_days).select(F.date_add(_d(start), F.col("id").cast("int")).alias("day"))
    week_start = F.trunc("day", "week")
    rows = (days.select("day", F.lit(DAY).alias("period"), F.col("day").alias("period_start"),
                        F.date_add("day", 1).alias("period_end"))
            .unionByName(days.select("day", F.lit(WEEK).alias("period"), week_start.alias("period_start"),
                                     F.date_add(week_start, 7).alias("period_end"))))
    return rows.withColumn("is_complete", (F.col("period_start") >= _d(start)) & (F.col("period_end") <= _d(as_of)))


def periods(spark: SparkSession, as_of: date, lookback_days: int) -> DataFrame:
    """The distinct periods of the window: period, period_start, period_end, is_complete."""
    return calendar(spark, as_of, lookback_days).drop("day").distinct()


def _in_periods(df: DataFrame, date_col: str, cal: DataFrame) -> DataFrame:
    """Rows of ``df`` dated inside the window, once per period they fall in (day and week)."""
    return df.join(F.broadcast(cal), df[date_col] == cal["day"], "inner").drop("day")


def _with_as_of(df: DataFrame, as_of: date, columns: list[str]) -> DataFrame:
    return df.withColumn("as_of", _d(as_of)).select(*columns)


# -- inputs --------------------------------------------------------------------------------------

def members_as_of(members: DataFrame, as_of: date) -> DataFrame:
    """The version of each silver.members record valid at as_of (SCD2: valid_from < as_of <= valid_to,
    open rows may have a null valid_to), members enrolled before as_of: member_id, enrollment_date."""
    ts = _d(as_of).cast("timestamp")
    valid = members.where((F.col("valid_from") < ts) & (F.col("valid_to").isNull() | (F.col("valid_to") >= ts)))
    return (valid.where(F.col("member_id").isNotNull() & (F.col("enrollment_date") < _d(as_of)))
            .groupBy("member_id").agg(F.min("enrollment_date").alias("enrollment_date")))


def member_activity(transactions: DataFrame, partner_transactions: DataFrame, as_of: date) -> DataFrame:
    """Member-day activity over all history before as_of: one row per (member_id, activity_date,
    dimension) with a retail receipt (dimension = banner) or a partner transaction (= partner)."""
    retail = transactions.select("member_id", F.col("business_date").alias("activity_date"),
                                 F.coalesce(F.upper("banner"), F.lit(UNKNOWN)).alias("dimension"))
    partner = partner_transactions.select("member_id", F.col("business_date").alias("activity_date"),
                                          F.coalesce(F.upper("partner"), F.lit(UNKNOWN)).alias("dimension"))
    both = retail.unionByName(partner)
    return (both.where(F.col("member_id").isNotNull() & F.col("activity_date").isNotNull()
                       & (F.col("activity_date") < _d(as_of)))
            .distinct())


# -- marts ---------------------------------------------------------------------------------------

def dimension_sets(activity_days: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """Per period, how many members were active in exactly each set of dimensions: PERIOD columns,
    dims_mask (bit i set = active in p.dimensions[i]), members. At most 2^len(dimensions) - 1 rows
    per period: the activity, cross-banner and overlap marts are sums over it, so the member-level
    work (one aggregation per member and period) is done once."""
    cal = calendar(activity_days.sparkSession, as_of, p.lookback_days)
    dims = list(p.dimensions)
    bit = F.coalesce(*[F.when(F.col("dimension") == d, F.lit(1 << i)) for i, d in enumerate(dims)])
    act = _in_periods(activity_days.where(F.col("dimension").isin(dims)), "activity_date", cal)
    per_member = act.groupBy(*PERIOD, "member_id").agg(F.bit_or(bit).alias("dims_mask"))
    return per_member.groupBy(*PERIOD, "dims_mask").agg(F.count(F.lit(1)).alias("members"))


def _bits(spark: SparkSession, name: str, dims: list[str]) -> DataFrame:
    return spark.createDataFrame([(d, 1 << i) for i, d in enumerate(dims)], f"{name} string, _bit_{name} int")


def _has(bit_col: str) -> Column:
    return F.col("dims_mask").bitwiseAND(F.col(bit_col)) != 0


def activity(sets: DataFrame, members: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_activity from ``dimension_sets``: per period and dimension (each of p.dimensions,
    and ALL = any of them), active members, enrolled members (program-wide, enrollment_date <
    period end) and their ratio."""
    spark = sets.sparkSession
    dims = list(p.dimensions)
    per_dim = (sets.crossJoin(F.broadcast(_bits(spark, "dimension", dims))).where(_has("_bit_dimension"))
               .groupBy(*PERIOD, "dimension").agg(F.sum("members").alias("active_members")))
    any_dim = sets.groupBy(*PERIOD).agg(F.sum("members").alias("active_members")).withColumn("dimension", F.lit(ALL))
    active = per_dim.unionByName(any_dim)
    per = periods(spark, as_of, p.lookback_days)
    enrolled = _enrolled(members, per, as_of)
    grid = per.crossJoin(F.broadcast(_values(spark, "dimension", dims + [ALL])))
    out = (grid.join(active, PERIOD + ["dimension"], "left").join(enrolled, PERIOD, "left")
           .fillna(0, ["active_members", "enrolled_members"])
           .withColumn("active_members", F.col("active_members").cast("long"))
           .withColumn("engagement_rate", _ratio("active_members", "enrolled_members")))
    return _with_as_of(out, as_of, ACTIVITY_COLUMNS)


def _enrolled(members: DataFrame, per: DataFrame, as_of: date) -> DataFrame:
    """Per period: members enrolled before min(period_end, as_of) (members are already before as_of)."""
    by_date = (members.where(F.col("enrollment_date") < _d(as_of))
               .groupBy("enrollment_date").agg(F.countDistinct("member_id").alias("_n")))
    return (per.join(by_date, by_date["enrollment_date"] < per["period_end"], "inner")
            .groupBy(*PERIOD).agg(F.sum("_n").cast("long").alias("enrolled_members")))


def cross_banner(sets: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_cross_banner from ``dimension_sets``: per period, members by the number of dimensions
    (banners and partners) they were active in, 1..len(p.dimensions), and their share of the
    period's active members."""
    spark = sets.sparkSession
    counts = (sets.withColumn("banners_active", F.bit_count("dims_mask").cast("int"))
              .groupBy(*PERIOD, "banners_active").agg(F.sum("members").alias("members")))
    grid = periods(spark, as_of, p.lookback_days).crossJoin(
        F.broadcast(_values(spark, "banners_active", range(1, len(p.dimensions) + 1), "int")))
    out = (grid.join(counts, PERIOD + ["banners_active"], "left").fillna(0, ["members"])
           .withColumn("members", F.col("members").cast("long")))
    total = F.sum("members").over(Window.partitionBy("period", "period_start"))
    out = out.withColumn("_active", total).withColumn("share_of_active", _ratio("members", "_active"))
    return _with_as_of(out, as_of, CROSS_BANNER_COLUMNS)


def banner_overlap(sets: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_banner_overlap from ``dimension_sets``: per period, for every ordered pair
    (dim_a, dim_b) of dimensions, the members active in both; the diagonal (dim_a = dim_b) is the
    members active in dim_a. share_of_a = members / diagonal of dim_a."""
    spark = sets.sparkSession
    dims = list(p.dimensions)
    pairs = (sets.crossJoin(F.broadcast(_bits(spark, "dim_a", dims).crossJoin(_bits(spark, "dim_b", dims))))
             .where(_has("_bit_dim_a") & _has("_bit_dim_b"))
             .groupBy(*PERIOD, "dim_a", "dim_b").agg(F.sum("members").alias("members")))
    grid = (periods(spark, as_of, p.lookback_days)
            .crossJoin(F.broadcast(_values(spark, "dim_a", dims)))
            .crossJoin(F.broadcast(_values(spark, "dim_b", dims))))
    out = (grid.join(pairs, PERIOD + ["dim_a", "dim_b"], "left").fillna(0, ["members"])
           .withColumn("members", F.col("members").cast("long")))
    diagonal = F.max(F.when(F.col("dim_a") == F.col("dim_b"), F.col("members"))).over(
        Window.partitionBy("period", "period_start", "dim_a"))
    out = out.withColumn("_diag", diagonal).withColumn("share_of_a", _ratio("members", "_diag"))
    return _with_as_of(out, as_of, OVERLAP_COLUMNS)


def points(ledger: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_points: per period and ledger partner (and ALL): points earned, redeemed and expired
    (positive numbers), adjusted (ADJUST and any other entry type, signed) and net (signed sum).
    On the ALL rows only: the outstanding liability (every ledger entry dated before the period
    end, all history) in points and dollars."""
    spark = ledger.sparkSession
    cal = calendar(spark, as_of, p.lookback_days)
    led = (ledger.where(F.col("entry_date").isNotNull() & (F.col("entry_date") < _d(as_of)))
           .select("entry_date", F.coalesce(F.upper("partner"), F.lit(UNKNOWN)).alias("partner"),
                   F.upper("entry_type").alias("entry_type"), F.col("points").cast("long").alias("points")))
    kind = F.col("entry_type")
    daily = led.groupBy("entry_date", "partner").agg(
        F.sum(F.when(kind == "EARN", F.col("points"))).alias("_earned"),
        F.sum(F.when(kind == "REDEEM", -F.col("points"))).alias("_redeemed"),
        F.sum(F.when(kind == "EXPIRE", -F.col("points"))).alias("_expired"),
        F.sum(F.when(~kind.isin("EARN", "REDEEM", "EXPIRE") | kind.isNull(), F.col("points"))).alias("_adjusted"),
        F.sum("points").alias("_net"))
    in_window = (_in_periods(daily, "entry_date", cal)
                 .withColumn("partner", F.explode(F.array(F.col("partner"), F.lit(ALL)))))
    measures = ["earned", "redeemed", "expired", "adjusted", "net"]
    sums = in_window.groupBy(*PERIOD, "partner").agg(
        *[F.sum(f"_{m}").cast("long").alias(f"{m}_points") for m in measures])
    partners = daily.select("partner").distinct().unionByName(_values(spark, "partner", [ALL]))
    per = periods(spark, as_of, p.lookback_days)
    balance_by_date = daily.groupBy("entry_date").agg(F.sum("_net").alias("_net"))
    liability = (per.join(balance_by_date, balance_by_date["entry_date"] < per["period_end"], "inner")
                 .groupBy(*PERIOD).agg(F.sum("_net").cast("long").alias("liability_points"))
                 .withColumn("partner", F.lit(ALL)))
    out = (per.crossJoin(F.broadcast(partners)).join(sums, PERIOD + ["partner"], "left")
           .fillna(0, [f"{m}_points" for m in measures])
           .join(liability, PERIOD + ["partner"], "left")
           .withColumn("liability_points", F.when(F.col("partner") == ALL,
                                                  F.coalesce(F.col("liability_points"), F.lit(0).cast("long"))))
           .withColumn("liability_dollars",
                       F.round(F.col("liability_points").cast("double") * F.lit(float(p.dollar_value_per_point)), 2)))
    return _with_as_of(out, as_of, POINTS_COLUMNS)


def offer_funnel(offer_events: DataFrame, offers: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_offer_funnel: per period, offer and channel with at least one event, the distinct
    members with an ISSUED, VIEWED, ACTIVATED, REDEEMED event dated in the period (holdout rows
    excluded), holdout members issued, and step rates."""
    spark = offer_events.sparkSession
    cal = calendar(spark, as_of, p.lookback_days)
    ev = (offer_events.where(F.col("member_id").isNotNull() & F.col("offer_id").isNotNull())
          .select("offer_id", "member_id", F.upper("event_type").alias("event_type"),
                  F.coalesce(F.upper("channel"), F.lit(UNKNOWN)).alias("channel"), "event_date",
                  F.coalesce(F.col("is_holdout"), F.lit(False)).alias("is_holdout")))
    ev = _in_periods(ev, "event_date", cal).select(*PERIOD, "offer_id", "channel", "member_id", "event_type",
                                                   "is_holdout").distinct()
    kind, holdout = F.col("event_type"), F.col("is_holdout")
    steps = [F.count(F.when(~holdout & (kind == e), True)).alias(e.lower()) for e in FUNNEL]
    counts = ev.groupBy(*PERIOD, "offer_id", "channel").agg(
        *steps, F.count(F.when(holdout & (kind == "ISSUED"), True)).alias("holdout_issued"))
    names = offers.groupBy("offer_id").agg(F.max("offer_name").alias("offer_name"))
    out = (counts.join(F.broadcast(names), "offer_id", "left")
           .withColumn("view_rate", _ratio("viewed", "issued"))
           .withColumn("activation_rate", _ratio("activated", "viewed"))
           .withColumn("redemption_rate", _ratio("redeemed", "activated"))
           .withColumn("conversion_rate", _ratio("redeemed", "issued")))
    return _with_as_of(out, as_of, FUNNEL_COLUMNS)


def lifecycle_events(activity_days: DataFrame, members: DataFrame, as_of: date, lapse_days: int) -> DataFrame:
    """(member_id, event_date, event) with event NEW (enrollment_date), LAPSED (the day a member's
    last activity is lapse_days old with no activity in between) and REACTIVATED (an activity whose
    previous activity was more than lapse_days earlier); all dated before as_of. Window functions
    over the member-day activity set, partitioned by member."""
    days = (activity_days.where(F.col("member_id").isNotNull() & (F.col("activity_date") < _d(as_of)))
            .select("member_id", "activity_date").distinct())
    w = Window.partitionBy("member_id").orderBy("activity_date")
    days = (days.withColumn("_prev", F.lag("activity_date").over(w))
            .withColumn("_next", F.lead("activity_date").over(w)))
    lapse_date = F.date_add("activity_date", lapse_days)
    lapsed = (days.where(F.col("_next").isNull() | (F.col("_next") > lapse_date))
              .select("member_id", lapse_date.alias("event_date"), F.lit("LAPSED").alias("event")))
    reactivated = (days.where(F.col("_prev").isNotNull()
                              & (F.datediff("activity_date", "_prev") > lapse_days))
                   .select("member_id", F.col("activity_date").alias("event_date"),
                           F.lit("REACTIVATED").alias("event")))
    new = members.select("member_id", F.col("enrollment_date").alias("event_date"), F.lit("NEW").alias("event"))
    events = new.unionByName(lapsed).unionByName(reactivated)
    return events.where(F.col("event_date").isNotNull() & (F.col("event_date") < _d(as_of)))


def member_lifecycle(activity_days: DataFrame, members: DataFrame, as_of: date, p: KpiParams) -> DataFrame:
    """gold.kpi_member_lifecycle: per period, distinct members new, lapsed and reactivated in it."""
    spark = activity_days.sparkSession
    cal = calendar(spark, as_of, p.lookback_days)
    ev = (_in_periods(lifecycle_events(activity_days, members, as_of, p.lapse_days), "event_date", cal)
          .select(*PERIOD, "event", "member_id").distinct())
    e = F.col("event")
    counts = ev.groupBy(*PERIOD).agg(
        F.count(F.when(e == "NEW", True)).alias("new_members"),
        F.count(F.when(e == "LAPSED", True)).alias("lapsed_members"),
        F.count(F.when(e == "REACTIVATED", True)).alias("reactivated_members"))
    out = (periods(spark, as_of, p.lookback_days).join(counts, PERIOD, "left")
           .fillna(0, ["new_members", "lapsed_members", "reactivated_members"]))
    return _with_as_of(out, as_of, LIFECYCLE_COLUMNS)


# -- build ---------------------------------------------------------------------------------------

def params(cfg: Config) -> KpiParams:
    lookback = cfg.typed("gold.kpi.lookback_days", int)
    lapse = cfg.typed("gold.kpi.lapse_days", int)
    value = cfg.typed("gold.points.dollar_value_per_point", float)
    dims = cfg.get("gold.kpi.dimensions", list(DEFAULT_DIMENSIONS))
    if lookback < 1 or lapse < 1:
        raise ConfigError(f"gold.kpi.lookback_days and gold.kpi.lapse_days in {cfg.where('gold.kpi')} must be >= 1, "
                          f"got {lookback} and {lapse}")
    if (not isinstance(dims, list) or not 0 < len(dims) <= 30 or not all(isinstance(d, str) for d in dims)
            or len({d.upper() for d in dims}) != len(dims)):
        raise ConfigError(f"setting 'gold.kpi.dimensions' in {cfg.where('gold.kpi.dimensions')} must be a "
                          f"list of 1 to 30 distinct banner/partner names, got {dims!r}")
    return KpiParams(lookback_days=lookback, lapse_days=lapse, dollar_value_per_point=value,
                     dimensions=tuple(d.upper() for d in dims))


def marts(spark: SparkSession, cfg: Config, as_of: date, *, inputs: snapshots.Inputs | None = None
          ) -> tuple[dict[str, DataFrame], list[DataFrame]]:
    """Every mart by gold table name, from the pinned silver ``inputs`` (default: the current
    versions), and the persisted frames they share (the member-day activity set and the dimension
    sets; the caller unpersists them)."""
    p = params(cfg)
    inputs = inputs or snapshots.pin(cfg, INPUTS, "the KPI marts")
    r = lambda name: inputs.read(spark, cfg, name)  # noqa: E731
    members = members_as_of(r("silver.members"), as_of)
    act = member_activity(r("silver.transactions"), r("silver.partner_transactions"), as_of)
    act = act.persist(StorageLevel.MEMORY_AND_DISK)
    sets = dimension_sets(act, as_of, p).persist(StorageLevel.MEMORY_AND_DISK)
    return {
        "gold.kpi_activity": activity(sets, members, as_of, p),
        "gold.kpi_cross_banner": cross_banner(sets, as_of, p),
        "gold.kpi_banner_overlap": banner_overlap(sets, as_of, p),
        "gold.kpi_points": points(r("silver.points_ledger"), as_of, p),
        "gold.kpi_offer_funnel": offer_funnel(r("silver.offer_events"), r("silver.offers"), as_of, p),
        "gold.kpi_member_lifecycle": member_lifecycle(act, members, as_of, p),
    }, [sets, act]   # keys: TABLES


def build(spark: SparkSession, cfg: Config, as_of: date, *, inputs: snapshots.Inputs | None = None,
          run_id: str | None = None) -> list[dict]:
    """Compute every KPI mart for ``as_of`` and overwrite its ``as_of`` partition in each gold.kpi_*
    table (snapshots of other dates stay), recording the silver versions read in ops.gold_snapshots.
    An as_of without silver data in the shortest feature window before it is a NoDataError before
    anything is written. One dict per table: table, rows,
    version, seconds."""
    inputs = inputs or snapshots.pin(cfg, INPUTS, "the KPI marts")
    inputs.require_data(spark, cfg, as_of)
    run_id = run_id or snapshots.new_run_id()
    tables, persisted = marts(spark, cfg, as_of, inputs=inputs)
    report = []
    try:
        for table, df in tables.items():
            started = time.time()
            info = _write_snapshot(spark, cfg, table, df.coalesce(1), as_of)
            snapshots.record(spark, cfg, table, as_of, info, inputs.of(INPUTS), run_id)
            seconds = time.time() - started
            log.info("%s as_of %s: %s rows, version %s, %.1fs", table, as_of, f"{info.rows:,}", info.version, seconds)
            report.append({"table": table, "rows": info.rows, "version": info.version, "seconds": round(seconds, 1)})
    finally:
        for df in persisted:
            df.unpersist()
    return report


def _write_snapshot(spark: SparkSession, cfg: Config, table: str, df: DataFrame, as_of: date) -> lake.CommitInfo:
    """Overwrite the as_of partition. A mart written before marts were partitioned (one snapshot,
    whole table) is rewritten once as a partitioned table, keeping its snapshot if it is of
    another date."""
    part = [{"as_of": as_of.isoformat()}]
    if not lake.exists(cfg, table) or _partitioned_by_as_of(cfg, table):
        return lake.overwrite(df, cfg, table, partition_by=["as_of"], partitions=part)
    old = lake.read(spark, cfg, table, version=lake.version(cfg, table)).where(F.col("as_of") != F.lit(as_of))
    log.info("%s: not partitioned by as_of yet (written by an older build_gold); rewriting it partitioned", table)
    return lake.overwrite(df.unionByName(old), cfg, table, partition_by=["as_of"])


def _partitioned_by_as_of(cfg: Config, table: str) -> bool:
    return list(lake.delta_table(cfg, table).metadata().partition_columns) == ["as_of"]

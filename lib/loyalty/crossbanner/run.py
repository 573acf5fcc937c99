"""The only module of the crossbanner package that reads and writes tables:

    result = run.build(spark, cfg, as_of)   # gold.cross_banner_adoption + gold.cross_banner_opportunities for as_of
    adopted, seg_as_of = run.measured_adoption(spark, cfg, as_of)   # member-level adoption (benchmarks; not collected)

Windows for an as_of A (conf cross_banner): history cutoff C = A - adoption_horizon_days; members are
classified on [C - lookback_days, C) and counted as adopters on [C, A) (with their segment of the
latest gold.member_segments snapshot at or before C); opportunities are for the members classified on
[A - lookback_days, A), with the segment snapshot at or before A. Nothing member-level reaches the
driver: the adoption rates (targets x segments rows) and a few counts per target.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from loyalty import lake
from loyalty.cli import UsageError
from loyalty.conf import Config
from loyalty.crossbanner import activity as A
from loyalty.crossbanner import opportunities as O
from loyalty.crossbanner.settings import (ADOPTION_COLUMNS, MEMBER, SEGMENT, TARGET, CrossBannerError, Params,
                                          from_conf)

log = logging.getLogger(__name__)

TXNS, LINES, PRODUCTS, PARTNER_TXNS, OFFERS = ("silver.transactions", "silver.transaction_lines", "silver.products",
                                               "silver.partner_transactions", "silver.offers")
SEGMENTS_TABLE, CATEGORY_RECS, FEATURES_TABLE = ("gold.member_segments", "gold.category_recommendations",
                                                 "gold.member_features")
OPPORTUNITIES_TABLE, ADOPTION_TABLE = "gold.cross_banner_opportunities", "gold.cross_banner_adoption"
REQUIRED = [TXNS, LINES, PRODUCTS, PARTNER_TXNS, OFFERS]
OPTIONAL = [SEGMENTS_TABLE, CATEGORY_RECS]


def resolve_as_of(spark: SparkSession, cfg: Config, text: str | None) -> date:
    """``--as-of`` (YYYY-MM-DD), else the latest gold.member_features snapshot."""
    if text:
        try:
            return date.fromisoformat(str(text).strip())
        except ValueError:
            raise UsageError(f"--as-of must be YYYY-MM-DD, got {text!r}") from None
    if not lake.exists(cfg, FEATURES_TABLE):
        raise CrossBannerError(f"{FEATURES_TABLE} does not exist: run build_gold first, or give --as-of YYYY-MM-DD")
    latest = lake.read(spark, cfg, FEATURES_TABLE).agg(F.max("as_of")).first()[0]
    if latest is None:
        raise CrossBannerError(f"{FEATURES_TABLE} has no snapshot: run build_gold first, or give --as-of YYYY-MM-DD")
    return latest


def check_inputs(cfg: Config) -> dict[str, bool]:
    """Which inputs exist; a missing silver table is a CrossBannerError."""
    present = {t: lake.exists(cfg, t) for t in REQUIRED + OPTIONAL}
    missing = [t for t in REQUIRED if not present[t]]
    if missing:
        raise CrossBannerError(f"{', '.join(missing)} missing: run build_silver first")
    return present


def latest_at(spark: SparkSession, cfg: Config, table: str, at: date, present: dict) -> tuple[DataFrame | None, date | None]:
    """The rows of ``table``'s latest as_of snapshot at or before ``at``, and that as_of (None, None when
    the table or such a snapshot does not exist)."""
    if not present.get(table):
        return None, None
    df = lake.read(spark, cfg, table).where(F.col("as_of") <= F.lit(at))
    snap = df.agg(F.max("as_of")).first()[0]
    if snap is None:
        return None, None
    return df.where(F.col("as_of") == F.lit(snap)), snap


@dataclass
class Windows:
    as_of: date
    cutoff: date                 # history: classify on [base_start, cutoff), adoption on [cutoff, as_of)
    base_start: date
    current_start: date          # opportunities: classify on [current_start, as_of)

    @classmethod
    def of(cls, as_of: date, p: Params) -> "Windows":
        cutoff = as_of - timedelta(days=p.adoption_horizon_days)
        return cls(as_of, cutoff, cutoff - timedelta(days=p.lookback_days), as_of - timedelta(days=p.lookback_days))


def measured_adoption(spark: SparkSession, cfg: Config, as_of: date, p: Params | None = None,
                      present: dict | None = None) -> tuple[DataFrame, date | None]:
    """Member-level history behind gold.cross_banner_adoption (member_id, home_banner, target_banner, kind,
    outcome_visits, adopted, segment_name) and the segment snapshot used; not collected."""
    p = p or from_conf(cfg)
    present = present if present is not None else check_inputs(cfg)
    w = Windows.of(as_of, p)
    tx, ptx = lake.read(spark, cfg, TXNS), lake.read(spark, cfg, PARTNER_TXNS)
    base = A.targets(A.visits(tx, ptx, w.base_start, w.cutoff, p.banners, p.partners), p.banners, p.partners,
                     p.min_trips)
    adopted = A.adoption(base, A.visits(tx, ptx, w.cutoff, w.as_of, p.banners, p.partners))
    segs, seg_as_of = latest_at(spark, cfg, SEGMENTS_TABLE, w.cutoff, present)
    return A.with_segment(adopted, segs), seg_as_of


@dataclass
class BuildResult:
    as_of: date
    windows: Windows
    rows: int
    members: int
    by_target: dict              # target -> (members, rows, expected value sum)
    adoption: list[dict]         # gold.cross_banner_adoption rows (targets x segments)
    adoption_rows: int
    history_segments_as_of: date | None
    segments_as_of: date | None
    recommendations_as_of: date | None
    targets_without_starters: list[str]
    partners: tuple[str, ...]
    seconds: float


def build(spark: SparkSession, cfg: Config, as_of: date) -> BuildResult:
    """Measure adoption from history and write the ``as_of`` partitions of gold.cross_banner_adoption and
    gold.cross_banner_opportunities (a re-run replaces only its as_of)."""
    started = time.monotonic()
    p = from_conf(cfg)
    present = check_inputs(cfg)
    w = Windows.of(as_of, p)
    log.info("cross_banner %s: history classified on [%s, %s), adoption on [%s, %s); opportunities classified "
             "on [%s, %s)", as_of, w.base_start, w.cutoff, w.cutoff, as_of, w.current_start, as_of)
    lines, products = lake.read(spark, cfg, LINES), lake.read(spark, cfg, PRODUCTS)
    tx, ptx = lake.read(spark, cfg, TXNS), lake.read(spark, cfg, PARTNER_TXNS)

    adopted, hist_seg_as_of = measured_adoption(spark, cfg, as_of, p, present)
    adopted = adopted.persist(StorageLevel.MEMORY_AND_DISK)
    cached = [adopted]
    try:
        rates = A.adoption_rates(adopted, p.prior_strength).persist()
        cached.append(rates)
        outcome_lines = O.category_lines(lines, products, w.cutoff, as_of, p.banners, as_of).unionByName(
            O.partner_category_lines(ptx, w.cutoff, as_of, p.partners))
        spend = O.adopter_spend(adopted, outcome_lines).persist()
        cached.append(spend)

        adoption_out = (rates.withColumns({"as_of": F.lit(as_of), "segments_as_of": F.lit(hist_seg_as_of).cast("date"),
                                           "base_start": F.lit(w.base_start), "cutoff": F.lit(w.cutoff),
                                           "outcome_end": F.lit(as_of)})
                        .select(*ADOPTION_COLUMNS))
        a_info = lake.overwrite(adoption_out, cfg, ADOPTION_TABLE, partition_by=["as_of"],
                                partitions=[{"as_of": as_of.isoformat()}])
        adoption_rows = [r.asDict() for r in lake.read(spark, cfg, ADOPTION_TABLE)
                         .where(F.col("as_of") == F.lit(as_of)).orderBy(TARGET, SEGMENT).collect()]  # targets x segments

        current = A.targets(A.visits(tx, ptx, w.current_start, as_of, p.banners, p.partners), p.banners, p.partners,
                            p.min_trips).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(current)
        cur_lines = O.category_lines(lines, products, w.current_start, as_of, p.banners, as_of).persist(
            StorageLevel.MEMORY_AND_DISK)
        cached.append(cur_lines)
        recs, recs_as_of = latest_at(spark, cfg, CATEGORY_RECS, as_of, present)
        segs, seg_as_of = latest_at(spark, cfg, SEGMENTS_TABLE, as_of, present)
        segs = segs.select(MEMBER, SEGMENT) if segs is not None else current.select(
            MEMBER, F.lit(None).cast("string").alias(SEGMENT)).distinct()
        rec_depth = int(cfg.get("ml.recommender.category_top_n", 5))
        scored = O.banner_scores(current, O.category_mix(cur_lines), recs, O.sold_categories(cur_lines),
                                 p.mix_weight, rec_depth).unionByName(O.partner_scores(current, spend))
        out = O.with_expected_value(O.top_categories(scored, p.top_n), current, segs, rates, spend,
                                    O.category_margins(lake.read(spark, cfg, OFFERS)), as_of,
                                    assumed_uplift_ratio=p.assumed_uplift_ratio,
                                    default_margin_rate=p.default_margin_rate,
                                    partner_margin_rate=p.partner_margin_rate)
        info = lake.overwrite(out, cfg, OPPORTUNITIES_TABLE, partition_by=["as_of"],
                              partitions=[{"as_of": as_of.isoformat()}])
        starters = {r[TARGET] for r in spend.select(TARGET).distinct().collect()}   # a handful of targets
    finally:
        for df in cached:
            df.unpersist()
    written = lake.read(spark, cfg, OPPORTUNITIES_TABLE).where(F.col("as_of") == F.lit(as_of))
    by_target = {r[TARGET]: (int(r["members"]), int(r["rows"]), float(r["ev"] or 0.0)) for r in
                 written.groupBy(TARGET).agg(F.countDistinct(MEMBER).alias("members"), F.count("*").alias("rows"),
                                             F.sum("expected_value").alias("ev")).collect()}
    members = written.select(MEMBER).distinct().count()
    no_starters = sorted(t for t in (*p.banners, *p.partners) if t not in starters)
    return BuildResult(as_of, w, info.rows, members, by_target, adoption_rows, a_info.rows, hist_seg_as_of, seg_as_of,
                       recs_as_of, no_starters, p.partners, time.monotonic() - started)

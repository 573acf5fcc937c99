"""Synthetic partner feeds for the Loyalty Lakehouse, with the truth they were planted from.

``generate(spark, cfg)`` writes every landing source declared in conf/sources.yaml (folder,
format and columns as declared) under ``paths.landing``, and the planted truth (member
personas and traits, persona parameters, the offer catalog, issues and response function,
defects, manifest) under ``paths.truth``.
Everything is generated in Spark from ``spark.range`` with hash-based randomness, so the
same seed and parameters give the same rows on any machine or cluster; Faker only fills
small value pools on the driver. See personas.py for the planted behaviour and
defects.py for the planted defects."""

from __future__ import annotations

import json
import logging
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from loyalty import fs
from loyalty.cli import UserError
from loyalty.conf import Config
from loyalty.generate import digital, ledger, members as M, offers, partners, personas, pools, promos, reference, response
from loyalty.generate import promo_feeds, retail
from loyalty.generate import retail_feeds, writer
from loyalty.generate.context import Ctx, Params, params_from, window_of

log = logging.getLogger(__name__)

def generate(spark: SparkSession, cfg: Config, *, members: int | None = None, days: int | None = None,
             seed: int | None = None, end_date=None, defect_rate: float | None = None, force: bool = False) -> dict:
    """Generate the landing feeds and the truth. Returns a report: status ('generated' or
    'skipped'), params, window, and per source its files, rows and planted defects."""
    params = params_from(cfg, members=members, days=days, seed=seed, end_date=end_date, defect_rate=defect_rate)
    landing, truth = cfg.get("paths.landing"), cfg.get("paths.truth")
    work = cfg.get("generator.work_dir", f"{cfg.get('data_root')}/_generator_work")
    previous = _previous(spark, landing, truth)
    if previous is not None and not force:
        if previous.get("params") == params.as_dict():
            log.info("landing %s already holds feeds generated with these parameters: nothing to do", landing)
            return {"status": "skipped", "reason": "already generated with the same parameters",
                    "params": params.as_dict(), "sources": previous.get("sources", {}), "landing": landing, "truth": truth}
        what = ("was generated with different parameters "
                f"({_diff(previous.get('params') or {}, params.as_dict())})" if previous else "holds files")
        raise UserError(f"landing {landing} {what}; pass --force (force=True) to clear landing and truth and regenerate")
    if previous is not None or fs.list_files(spark, landing) or fs.list_files(spark, truth):
        log.info("clearing %s and %s", landing, truth)
        fs.delete(spark, landing)
        fs.delete(spark, truth)
    fs.delete(spark, work)
    settings = {
        "spark.sql.session.timeZone": "UTC",         # wall clocks are formatted as if UTC
        # generated code over HotSpot's 8000-byte limit runs interpreted (2-3x slower here): let Spark
        # split such stages instead (see spark.sql.codegen.hugeMethodLimit in the Spark docs)
        "spark.sql.codegen.hugeMethodLimit": "8000",
    }
    saved = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    started = time.time()
    try:
        report = _run(spark, params, landing, truth, work)
    finally:
        for k, v in saved.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)
        fs.delete(spark, work)
    report["seconds"] = round(time.time() - started, 1)
    return report


def _previous(spark, landing: str, truth: str) -> dict | None:
    """The manifest of what landing holds (written last, so a complete run); {} when landing
    holds files but no manifest (an interrupted run, or files from elsewhere); None when empty."""
    if not fs.list_files(spark, landing):
        return None
    manifest = f"{truth}/manifest.json"
    return json.loads(fs.read_text(spark, manifest)) if fs.exists(spark, manifest) else {}


def _diff(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)) or "unknown"


def _run(spark: SparkSession, params: Params, landing: str, truth: str, work: str) -> dict:
    win = window_of(params)
    log.info("generating %d members x %d days (%s..%s), seed %d, defect rate %.3f",
             params.members, params.days, win.start, win.end, params.seed, params.defect_rate)
    clock = [time.time()]

    def step(what: str) -> None:
        log.info("  %-34s %6.1fs", what, time.time() - clock[0])
        clock[0] = time.time()

    ctx = Ctx(spark, params, win, pools.build(params.seed), work)
    ref = reference.build(ctx)
    mem = M.build(ctx, ref)
    step("pools, reference data, members")
    assign = offers.assignments(ctx, mem, ref)
    promo_resp = promos.response(params.seed)
    calendar = ctx.stage(promos.calendar(ctx, ref), "promo_calendar")
    competitors = ctx.stage(promos.competitor_prices(ctx, ref), "competitor_prices")
    lines, receipts, valumart, promo_truth = retail.build(ctx, mem, ref, offers.conversions(assign),
                                                          promo=(calendar, competitors, promo_resp))
    step("offer assignments, receipts")
    cinema = partners.cinema(ctx, mem, ref)
    bank = partners.bank(ctx, mem, ref)
    offer_events = offers.events(ctx, assign, receipts)
    points = ledger.build(ctx, mem, receipts, cinema, bank, offer_events)
    step("partners, offer events, ledger")
    inventory_feed, inventory_truth = promo_feeds.inventory_feed(ctx, ref, lines)
    feeds = [
        M.crm_feed(ctx, mem), M.links_feed(ctx, mem), reference.stores_feed(ctx, ref), reference.products_feed(ctx, ref),
        retail_feeds.freshmart_feed(ctx, lines, ref), retail_feeds.valumart_feed(ctx, receipts, valumart),
        partners.cinema_feed(ctx, cinema), partners.bank_feed(ctx, bank), ledger.feed(ctx, points),
        offers.catalog_feed(ctx, ref), offers.events_feed(ctx, offer_events),
        digital.feed(ctx, digital.events(ctx, mem)),
        promo_feeds.calendar_feed(ctx, ref, calendar), promo_feeds.competitor_feed(ctx, ref, competitors),
        inventory_feed, promo_feeds.rewards_feed(ctx),
    ]
    sources = {}
    written = writer.write_all(ctx, feeds, landing)
    step("landing files")
    for out in written:
        sources[out.source] = {"files": out.files, "rows": out.rows, "defects": out.defects}
        log.info("%-20s %3d files %10d rows  defects %s", out.source, len(out.files), out.rows, out.defects or "-")
    _truth(ctx, mem, ref, assign, truth, params, win, sources)
    _promo_truth(ctx, ref, promo_truth, promo_resp, inventory_truth, competitors, truth)
    step("truth")
    return {"status": "generated", "params": params.as_dict(),
            "window": {"start": win.start.isoformat(), "end": win.end.isoformat()},
            "sources": sources, "landing": landing, "truth": truth}


def _single_parquet(ctx: Ctx, df, sort: list, name: str, truth: str) -> None:
    """One truth table as one Parquet file (sorted, so the bytes are the same on every run)."""
    spark, tmp = ctx.spark, f"{ctx.work}/truth_{name}"
    df.repartition(1).sortWithinPartitions(*sort).write.mode("overwrite").parquet(tmp)
    part = [f for f in fs.list_files(spark, tmp) if f.path.endswith(".parquet")]
    writer.move(spark, part[0].path, f"{truth}/{name}.parquet")


def _promo_truth(ctx: Ctx, ref, promo_truth, resp, inventory, competitors, truth: str) -> None:
    """The planted promotion response: its parameters; per promotion inside the window the base
    units, true lift and its parts (cannibalized, added, dip); every product's expected weekly
    units per banner without a promotion; inventory and competitor prices, the unreported ones too."""
    ids = ref.products.select("pid", "product_id", "upc")
    _single_parquet(ctx, promo_truth.join(ids, "pid").drop("pid"), ["banner", "week", "product_id"], "promotions", truth)
    _single_parquet(ctx, inventory.join(ids, "pid").drop("pid"), ["store_id", "week_start", "product_id"], "inventory", truth)
    comp = competitors.withColumn("week_start", promos.week_start_col(ctx.window, F.col("week"))).join(ids, "pid").drop("pid")
    _single_parquet(ctx, comp, ["competitor", "week", "product_id"], "competitor_prices", truth)
    writer.write_small(ctx.spark, f"{truth}/promo_response.json", resp.to_json())


def _truth(ctx: Ctx, mem, ref, assign, truth: str, params: Params, win, sources: dict) -> None:
    spark = ctx.spark
    fs.mkdirs(spark, truth)
    _single_parquet(ctx, M.truth(ctx, mem, ref), ["member_id"], "members", truth)
    _single_parquet(ctx, offers.catalog_truth(ctx, ref), ["offer_idx"], "offers", truth)
    _single_parquet(ctx, offers.issues_truth(assign), ["offer_id", "member_id"], "offer_issues", truth)
    writer.write_small(spark, f"{truth}/offer_response.json", response.default_params().to_json())
    dump = lambda obj: json.dumps(obj, indent=2, sort_keys=False) + "\n"   # noqa: E731
    writer.write_small(spark, f"{truth}/personas.json", dump(personas.describe()))
    writer.write_small(spark, f"{truth}/defects.json", dump({
        "defect_rate": params.defect_rate,
        "window": {"start": win.start.isoformat(), "end": win.end.isoformat()},
        "notes": {
            "future_timestamp": "event time moved 2 to 121 days after end_date",
            "late_file": "rows of the late retail_valumart file (an earlier month, delivered separately)",
            "new_column": "rows of retail_freshmart files that carry the extra fulfillment_type column",
            "test_store_rows": "receipt lines at the test store (is_test_store = Y): not a defect, to filter out",
            "duplicate": "extra copies of a row (or of all lines of a receipt) sent again, possibly in another file",
            "malformed_line": "truncated (the first field stays readable) or garbled line: fewer CSV fields, invalid JSON",
            "unknown_member": "card / account / member id from a range no member has",
            "bad_amount": "amount made negative or non-numeric (N/A, #VALUE!)",
            "exclusive": "a row carries at most one row-level kind; late_file, new_column and test_store_rows overlap",
        },
        "sources": {s: {"rows": v["rows"], "kinds": v["defects"]} for s, v in sources.items()},
    }))
    writer.write_small(spark, f"{truth}/manifest.json", dump({
        "params": params.as_dict(), **{k: params.as_dict()[k] for k in ("seed", "members", "days", "end_date", "defect_rate")},
        "window": {"start": win.start.isoformat(), "end": win.end.isoformat()},
        "truth_columns": {
            "preferred_dow": "ISO weekday (1 = Monday) most of the member's grocery trips fall on",
            "preferred_hour": "store-local hour most trips start in",
            "engagement_hour": "hour (member's local time, column timezone) most digital events fall in",
            "offer_baseline": "mean over the window's offers of P(conversion) without the offer (control)",
            "offer_uplift": "mean over the window's offers of the added P(conversion) when treated (negative: sleeping dog)",
            "regular_categories": "categories of the member's staples: the member already buys them",
            "offer_base_effect": "member factor (lognormal, mean 1) on P(conversion | control)",
            "offer_responsiveness": "member factor (lognormal, mean 1) on the uplift",
            "sleeping_dog": "an offer lowers this member's conversion (p_treated = p_control x (1 - sleeping_dog_factor))",
            "global_holdout": "in the persistent global holdout (offers.holdout): never issued an offer",
            "churn_date": "first day without any activity (churned members)",
        },
        "truth_files": {
            "members.parquet": "one row per member: persona, planted traits (truth_columns)",
            "offers.parquet": "the offer catalog with its economics; is_future: starts after end_date, never issued",
            "offer_issues.parquet": "every issued (member, offer): is_holdout (per-offer control), converted (planted), "
                                    "can_convert, and the true probabilities it was drawn with",
            "offer_response.json": "parameters of the response function (loyalty.generate.response.true_response)",
            "promotions.parquet": "every promotion inside the window: base_units (expected weekly units without it), "
                                  "gap, lift, incremental_units and their parts (switched from siblings, added, dip "
                                  "the week after); weeks start on Monday (week_start)",
            "promo_response.json": "per category parameters of the promotion response (loyalty.generate.promos.Response)",
            "inventory.parquet": "on-hand units per store, week and product, reported or not, and the file it came in",
            "competitor_prices.parquet": "competitors' weekly shelf prices, reported or not (the feed's gaps)",
        },
        "sources": {s: {"rows": v["rows"], "files": v["files"]} for s, v in sources.items()},
    }))

"""build_cross_banner end to end on the tiny lake (generate -> bronze -> silver -> gold -> segments ->
category recommendations), checked against silver.transactions and silver.partner_transactions
counted here in Python (a few thousand rows on this lake): only single-banner (partner-skipping)
members appear, each offered a banner (partner) they did not visit; the adoption table's counts; a
re-run replacing only its as_of; exit codes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from jobs import build_cross_banner, recommend, score_segments, train_recommender, train_segments
from loyalty import lake
from loyalty.crossbanner import run
from loyalty.crossbanner.settings import ADOPTION_COLUMNS, OPPORTUNITY_COLUMNS

AS_OF = date(2026, 11, 1)              # the latest snapshot tiny_gold builds (tests/conftest.py GOLD_AS_OF)
SETTINGS = ["cross_banner.lookback_days=21", "cross_banner.adoption_horizon_days=14", "cross_banner.min_trips=2"]
BANNERS, PARTNERS = ("FRESHMART", "VALUMART"), ("CINEMA", "BANK")


@pytest.fixture(scope="module")
def crossed(tiny_gold):
    cfg, args = tiny_gold
    args = args + [a for s in SETTINGS for a in ("--set", s)]
    assert train_segments.main(args + ["--as-of", "2026-10-15"]) == 0
    assert score_segments.main(args + ["--all"]) == 0
    assert train_recommender.main(args) == 0
    assert recommend.main(args) == 0
    assert build_cross_banner.main(args) == 0                      # default as_of: the latest features snapshot
    return cfg.with_overrides(SETTINGS), args


def place_counts(spark, cfg, start, end):
    """Independent reference: {member: {place: visits}} in [start, end), from the silver rows in Python."""
    out: dict = {}
    for r in lake.read(spark, cfg, "silver.transactions").select("member_id", "banner", "business_date").collect():
        if r["member_id"] and start <= r["business_date"] < end and r["banner"] in BANNERS:
            out.setdefault(r["member_id"], {}).setdefault(r["banner"], 0)
            out[r["member_id"]][r["banner"]] += 1
    for r in lake.read(spark, cfg, "silver.partner_transactions").select("member_id", "partner", "business_date").collect():
        if r["member_id"] and start <= r["business_date"] < end and r["partner"] in PARTNERS:
            out.setdefault(r["member_id"], {}).setdefault(r["partner"], 0)
            out[r["member_id"]][r["partner"]] += 1
    return out


def expected_targets(counts) -> set:
    pairs = set()
    for member, places in counts.items():
        shopped = [b for b in BANNERS if places.get(b)]
        if sum(places.get(b, 0) for b in BANNERS) < 2:
            continue
        if len(shopped) == 1:
            pairs |= {(member, b) for b in BANNERS if b not in shopped}
        pairs |= {(member, p) for p in PARTNERS if not places.get(p)}
    return pairs


def test_only_single_banner_and_partner_skipping_members_are_offered_the_other_place(spark, crossed):
    cfg, _ = crossed
    table = lake.read(spark, cfg, run.OPPORTUNITIES_TABLE)
    assert table.columns == OPPORTUNITY_COLUMNS
    rows = table.where(F.col("as_of") == F.lit(AS_OF)).collect()
    allowed = expected_targets(place_counts(spark, cfg, AS_OF - timedelta(days=21), AS_OF))
    got = {(r["member_id"], r["target_banner"]) for r in rows}
    banner_pairs = {pair for pair in got if pair[1] in BANNERS}
    assert len(banner_pairs) >= 10                                       # the table is filled with banner targets
    assert got <= allowed, sorted(got - allowed)[:5]                     # never a member who shops both, never home
    expected_banner = {pair for pair in allowed if pair[1] in BANNERS}
    assert len(banner_pairs) >= 0.8 * len(expected_banner)               # most single-banner members get categories
    per: dict = {}
    for r in rows:
        assert 0.0 < r["score"] <= 1.0 and r["expected_value"] >= 0.0 and r["category"], r
        per.setdefault((r["member_id"], r["target_banner"]), []).append(r["category"])
    assert all(len(c) == len(set(c)) <= 3 for c in per.values())         # top_n distinct categories
    assert any(r["expected_value"] > 0 for r in rows if r["target_banner"] in BANNERS)


def test_adoption_table_counts_the_members_of_the_history_window(spark, crossed):
    cfg, _ = crossed
    cutoff = AS_OF - timedelta(days=14)
    rows = [r.asDict() for r in lake.read(spark, cfg, run.ADOPTION_TABLE).where(F.col("as_of") == F.lit(AS_OF)).collect()]
    assert rows and list(rows[0]) == ADOPTION_COLUMNS
    base = expected_targets(place_counts(spark, cfg, cutoff - timedelta(days=21), cutoff))
    later = place_counts(spark, cfg, cutoff, AS_OF)
    population = {r["target_banner"]: r for r in rows if r["segment_name"] == "ALL"}
    for target in BANNERS:
        members = {m for m, t in base if t == target}
        adopters = {m for m in members if later.get(m, {}).get(target)}
        assert (population[target]["members"], population[target]["adopters"]) == (len(members), len(adopters))
        segs = [r for r in rows if r["target_banner"] == target and r["segment_name"] != "ALL"]
        assert sum(r["members"] for r in segs) <= len(members) and segs
        for r in segs:
            assert r["adoption_rate"] == pytest.approx(r["adopters"] / r["members"])
            lo, hi = sorted([r["adoption_rate"], population[target]["adoption_rate"]])
            assert lo - 1e-9 <= r["shrunk_rate"] <= hi + 1e-9             # shrunk toward the population
    assert all(r["cutoff"] == cutoff and r["base_start"] == cutoff - timedelta(days=21) for r in rows)
    assert {r["segments_as_of"] for r in rows} == {date(2026, 10, 15)}   # the snapshot at or before the cutoff


def test_rerun_replaces_only_its_as_of(spark, crossed):
    cfg, args = crossed
    def counts(table):
        return {r[0]: r[1] for r in lake.read(spark, cfg, table).groupBy("as_of").count().collect()}
    before = counts(run.OPPORTUNITIES_TABLE)[AS_OF]
    assert build_cross_banner.main(args + ["--as-of", "2026-10-25"]) == 0
    assert build_cross_banner.main(args + ["--as-of", str(AS_OF)]) == 0
    after = counts(run.OPPORTUNITIES_TABLE)
    assert set(after) == {AS_OF, date(2026, 10, 25)} and after[AS_OF] == before
    assert set(counts(run.ADOPTION_TABLE)) == {AS_OF, date(2026, 10, 25)}
    dupes = (lake.read(spark, cfg, run.OPPORTUNITIES_TABLE).groupBy("member_id", "as_of", "target_banner", "category")
             .count().where("count > 1").count())
    assert dupes == 0


def test_bad_arguments_and_settings_exit_2_with_one_line(crossed, caplog):
    _, args = crossed
    for bad in (["--as-of", "2026-02-30"], ["--set", "cross_banner.mix_weight=2"], ["--set", "cross_banner.top=3"]):
        caplog.clear()
        assert build_cross_banner.main(args + bad) == 2
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage(), errors


def test_missing_silver_is_one_line_exit_1(tmp_path, caplog):
    assert build_cross_banner.main(["--env", "test", "--set", f"data_root={tmp_path}/empty",
                                    "--as-of", "2026-11-01"]) == 1
    assert "silver.transactions" in caplog.text and "run build_silver first" in caplog.text

"""crossbanner's pure transforms on tiny hand-made frames, with every expected value computed by hand,
and its settings' checks."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from loyalty.conf import ConfigError
from loyalty.crossbanner import activity as A
from loyalty.crossbanner import opportunities as O
from loyalty.crossbanner.settings import OPPORTUNITY_COLUMNS, from_conf

BANNERS, PARTNERS = ("FRESHMART", "VALUMART"), ("CINEMA", "BANK")
START, END = date(2026, 9, 1), date(2026, 10, 1)
IN, BEFORE = date(2026, 9, 10), date(2026, 8, 20)


def test_targets_single_banner_and_partner_skippers(spark):
    tx = spark.createDataFrame([
        ("A", "FRESHMART", IN, 10.0), ("A", "FRESHMART", IN, 20.0), ("A", "FRESHMART", IN, 5.0),  # FM only
        ("B", "FRESHMART", IN, 10.0), ("B", "FRESHMART", IN, 10.0), ("B", "VALUMART", IN, 10.0),  # both
        ("C", "VALUMART", IN, 10.0),                                                              # one trip: too few
        ("D", "VALUMART", IN, 10.0), ("D", "VALUMART", IN, 10.0), ("D", "FRESHMART", BEFORE, 9.0),  # FM before window
        (None, "FRESHMART", IN, 10.0), (None, "FRESHMART", IN, 10.0),
    ], "member_id string, banner string, business_date date, total_amount double")
    ptx = spark.createDataFrame([
        ("A", "CINEMA", IN, 12.0), ("D", "BANK", IN, 40.0), ("D", "CINEMA", END, 12.0),  # D's cinema: after the window
    ], "member_id string, partner string, business_date date, amount double")
    v = A.visits(tx, ptx, START, END, BANNERS, PARTNERS)
    assert {(r["member_id"], r["place"]): (r["visits"], r["spend"]) for r in v.collect()} == {
        ("A", "FRESHMART"): (3, 35.0), ("A", "CINEMA"): (1, 12.0), ("B", "FRESHMART"): (2, 20.0),
        ("B", "VALUMART"): (1, 10.0), ("C", "VALUMART"): (1, 10.0), ("D", "VALUMART"): (2, 20.0),
        ("D", "BANK"): (1, 40.0)}
    got = A.targets(v, BANNERS, PARTNERS, min_trips=2)
    expected = spark.createDataFrame([
        ("A", "FRESHMART", "VALUMART", "BANNER"), ("A", "FRESHMART", "BANK", "PARTNER"),
        ("B", "FRESHMART", "CINEMA", "PARTNER"), ("B", "FRESHMART", "BANK", "PARTNER"),
        ("D", "VALUMART", "FRESHMART", "BANNER"), ("D", "VALUMART", "CINEMA", "PARTNER"),
    ], "member_id string, home_banner string, target_banner string, kind string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_adoption_and_rates_shrunk_toward_the_population(spark):
    base = spark.createDataFrame([(m, "FRESHMART", "VALUMART", "BANNER") for m in ("a", "b", "c", "d", "e", "f")],
                                 "member_id string, home_banner string, target_banner string, kind string")
    later = spark.createDataFrame([("a", "VALUMART", 2, 30.0), ("e", "VALUMART", 1, 9.0), ("b", "FRESHMART", 4, 50.0)],
                                  "member_id string, place string, visits long, spend double")
    segments = spark.createDataFrame([("a", "S1"), ("b", "S1"), ("c", "S1"), ("d", "S1"), ("e", "S2")],
                                     "member_id string, segment_name string")      # f: no segment
    adopted = A.with_segment(A.adoption(base, later), segments)
    assert {r["member_id"]: (r["adopted"], r["outcome_visits"]) for r in adopted.collect()} == {
        "a": (True, 2), "b": (False, 0), "c": (False, 0), "d": (False, 0), "e": (True, 1), "f": (False, 0)}
    rates = A.adoption_rates(adopted, prior_strength=2.0)
    # population 2 / 6; S1: (1 + 2/3) / (4 + 2); S2: (1 + 2/3) / (1 + 2); SE S1 sqrt(.25 x .75 / 4)
    expected = spark.createDataFrame([
        ("VALUMART", "BANNER", "S1", 4, 1, 0.25, 0.2165064, 0.2777778),
        ("VALUMART", "BANNER", "S2", 1, 1, 1.0, 0.0, 0.5555556),
        ("VALUMART", "BANNER", "ALL", 6, 2, 1 / 3, 0.1924501, 1 / 3),
    ], "target_banner string, kind string, segment_name string, members long, adopters long, adoption_rate double, "
       "adoption_rate_se double, shrunk_rate double")
    assert_approx_df_equality(rates, expected, 1e-6, ignore_row_order=True, ignore_nullable=True)


def test_adopter_spend_counts_starters_at_the_target_only(spark):
    adopted = spark.createDataFrame([("m1", "VALUMART", True), ("m2", "VALUMART", True), ("m3", "VALUMART", False)],
                                    "member_id string, target_banner string, adopted boolean")
    lines = spark.createDataFrame([
        ("m1", "VALUMART", "CHIPS", 6.0), ("m2", "VALUMART", "CHIPS", 4.0), ("m2", "VALUMART", "DAIRY", 8.0),
        ("m3", "VALUMART", "CHIPS", 100.0),      # not a starter
        ("m1", "FRESHMART", "CHIPS", 50.0),      # the home banner, not the target
    ], "member_id string, place string, category string, amount double")
    expected = spark.createDataFrame([("VALUMART", "CHIPS", 2, 2, 5.0), ("VALUMART", "DAIRY", 2, 1, 4.0)],
                                     "target_banner string, category string, adopters long, buyers long, "
                                     "spend_per_adopter double")
    assert_approx_df_equality(O.adopter_spend(adopted, lines), expected, 1e-9, ignore_row_order=True,
                              ignore_nullable=True)


def test_category_lines_take_the_catalog_version_valid_at_as_of(spark):
    lines = spark.createDataFrame([("m1", "FRESHMART", IN, "u1", 3.0), ("m1", "FRESHMART", IN, "u2", 1.0),
                                   ("m1", "FRESHMART", BEFORE, "u1", 99.0), ("m1", "FRESHMART", IN, "u9", 7.0)],
                                  "member_id string, banner string, business_date date, upc string, line_amount double")
    products = spark.createDataFrame([
        ("P1", "u1", "SNACKS", datetime(2026, 1, 1), datetime(2026, 9, 20)),
        ("P1", "u1", "CHIPS", datetime(2026, 9, 20), datetime(9999, 12, 31)),    # valid at END: CHIPS
        ("P2", "u2", "DAIRY", datetime(2026, 1, 1), datetime(9999, 12, 31)),
    ], "product_id string, upc string, category string, valid_from timestamp, valid_to timestamp")
    got = O.category_lines(lines, products, START, END, BANNERS, END)
    assert sorted(tuple(r) for r in got.collect()) == [("m1", "FRESHMART", "CHIPS", 3.0), ("m1", "FRESHMART", "DAIRY", 1.0)]
    mix = {r["category"]: r["mix_share"] for r in O.category_mix(got).collect()}
    assert mix == pytest.approx({"CHIPS": 0.75, "DAIRY": 0.25})


def test_scores_top_categories_and_expected_value(spark):
    as_of = END
    targets = spark.createDataFrame([("A", "FRESHMART", "VALUMART", "BANNER"), ("A", "FRESHMART", "BANK", "PARTNER")],
                                    "member_id string, home_banner string, target_banner string, kind string")
    mix = spark.createDataFrame([("A", "DAIRY", 0.75), ("A", "FRUIT", 0.25)],
                                "member_id string, category string, mix_share double")
    recs = spark.createDataFrame([("A", "CHIPS", 1), ("A", "FRUIT", 2), ("A", "BREAD", 2)],
                                 "member_id string, category string, rank int")
    sold = spark.createDataFrame([("VALUMART", "DAIRY"), ("VALUMART", "FRUIT"), ("VALUMART", "CHIPS")],
                                 "target_banner string, category string")          # BREAD not sold there
    banner = O.banner_scores(targets, mix, recs, sold, mix_weight=0.5, rec_depth=2)
    # rank score (depth + 1 - rank) / depth: CHIPS 1.0, FRUIT 0.5; score = 0.5 mix + 0.5 rank score
    assert {r["category"]: r["score"] for r in banner.collect()} == pytest.approx(
        {"CHIPS": 0.5, "DAIRY": 0.375, "FRUIT": 0.375})
    spend = spark.createDataFrame([("VALUMART", "CHIPS", 10.0), ("VALUMART", "DAIRY", 4.0),
                                   ("BANK", "DINING", 30.0), ("BANK", "TRAVEL", 10.0)],
                                  "target_banner string, category string, spend_per_adopter double")
    partner = O.partner_scores(targets, spend)
    assert {r["category"]: r["score"] for r in partner.collect()} == pytest.approx({"DINING": 0.75, "TRAVEL": 0.25})
    top = O.top_categories(banner.unionByName(partner), 2)          # DAIRY beats FRUIT on the name at a tie
    segments = spark.createDataFrame([("A", "S1")], "member_id string, segment_name string")
    rates = spark.createDataFrame([("VALUMART", "S1", 0.25), ("VALUMART", "ALL", 0.5), ("BANK", "ALL", 0.1)],
                                  "target_banner string, segment_name string, shrunk_rate double")
    offers = spark.createDataFrame([("CHIPS", 0.3), ("CHIPS", 0.5), ("FRUIT", 0.2)],
                                   "target_category string, margin_rate double")
    got = O.with_expected_value(top, targets, segments, rates, spend, O.category_margins(offers), as_of,
                                assumed_uplift_ratio=2.0, default_margin_rate=0.3, partner_margin_rate=0.02)
    assert got.columns == OPPORTUNITY_COLUMNS
    # VALUMART: S1's rate 0.25 x ratio 2; CHIPS 10 x mean margin 0.4, DAIRY 4 x default 0.3.
    # BANK: S1 not measured there -> the population's 0.1 x 2 x spend x partner margin 0.02
    expected = spark.createDataFrame([
        ("A", as_of, "VALUMART", "CHIPS", 0.5, 0.25 * 2 * 10 * 0.4),
        ("A", as_of, "VALUMART", "DAIRY", 0.375, 0.25 * 2 * 4 * 0.3),
        ("A", as_of, "BANK", "DINING", 0.75, 0.1 * 2 * 30 * 0.02),
        ("A", as_of, "BANK", "TRAVEL", 0.25, 0.1 * 2 * 10 * 0.02),
    ], "member_id string, as_of date, target_banner string, category string, score double, expected_value double")
    assert_approx_df_equality(got, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_settings_are_checked_with_the_key_and_file(cfg):
    p = from_conf(cfg)
    assert p.banners == BANNERS and p.partners == PARTNERS and p.lookback_days == 90
    for bad, key in (("cross_banner.banners=[FRESHMART]", "cross_banner.banners"),
                     ("cross_banner.partners=[CINEMA, FRESHMART]", "cross_banner.partners"),
                     ("cross_banner.mix_weight=1.5", "cross_banner.mix_weight"),
                     ("cross_banner.min_trips=0", "cross_banner.min_trips"),
                     ("cross_banner.lookback_days=ninety", "cross_banner.lookback_days")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            from_conf(cfg.with_overrides([bad]))

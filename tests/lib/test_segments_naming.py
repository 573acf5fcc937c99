"""Segments: naming rules (conf/base.yaml ml.segments.naming) on hand-made centroids, segment means."""

import pytest

from loyalty import conf
from loyalty.conf import ConfigError
from loyalty.ml.segments import naming as N
from loyalty.ml.segments import settings


RULE_COLUMNS = ["recency_days", "trips_90d", "trips_365d", "spend_365d", "bank_txns_365d", "cinema_visits_365d",
                "private_label_share", "spend_share_valumart", "digital_sessions_90d"]


POP = dict(recency_days=30.0, trips_90d=8.0, trips_365d=30.0, spend_365d=1500.0, bank_txns_365d=20.0,
           cinema_visits_365d=3.0, private_label_share=0.3, spend_share_valumart=0.4, digital_sessions_90d=10.0)


def centroids(spark, rows):
    """Hand-made per-segment means: (segment_id, members, overrides of the population means)."""
    out = []
    for segment_id, members, values in rows:
        row = {"segment_id": segment_id, "members": members, "share": members / 1000.0, **POP, **values}
        row.update({f"pop_{c}": v for c, v in POP.items()})
        out.append(row)
    cols = ["segment_id", "members", "share", *RULE_COLUMNS, *[f"pop_{c}" for c in RULE_COLUMNS]]
    schema = "segment_id int, members long, " + ", ".join(f"{c} double" for c in cols[2:])
    return spark.createDataFrame([tuple(r[c] for c in cols) for r in out], schema)


def test_base_naming_rules_name_hand_made_centroids(spark):
    rules = settings.from_conf(conf.load("test")).rules
    means = centroids(spark, [
        (0, 100, dict(recency_days=120.0, trips_90d=0.2, trips_365d=4.0, spend_365d=200.0)),          # gone quiet
        (1, 150, dict(spend_365d=4000.0, trips_90d=16.0, trips_365d=60.0)),                           # big, frequent
        (2, 120, dict(bank_txns_365d=90.0)),                                                          # the card
        (3, 90, dict(cinema_visits_365d=14.0)),                                                       # the movies
        (4, 200, dict(private_label_share=0.55, spend_share_valumart=0.8)),                           # value
        (5, 80, dict(recency_days=60.0, trips_365d=25.0)),                                            # slipping
        (6, 140, dict(digital_sessions_90d=30.0)),                                                    # the app
        (7, 60, dict(trips_90d=2.0, trips_365d=8.0)),                                                 # rare
        (8, 60, {}),                                                                                  # average
    ])
    assert N.name_segments(means, rules) == {
        0: "Lapsed", 1: "VIP champions", 2: "Bank-linked points maximizers", 3: "Cinema-first",
        4: "Deal seekers / value shoppers", 5: "At-risk regulars", 6: "Digital-engaged convenience",
        7: "Occasional shoppers", 8: "Core shoppers"}


def test_naming_order_wins_repeats_are_numbered_by_size_and_unmatched_get_an_id(spark):
    rules = settings.parse_rules([{"name": "Movie buffs", "when": "cinema_visits_365d > 2 * pop_cinema_visits_365d"},
                           {"name": "Card users", "when": "bank_txns_365d > 40"}])
    means = centroids(spark, [(0, 50, dict(cinema_visits_365d=9.0, bank_txns_365d=90.0)),   # first rule wins
                              (1, 300, dict(cinema_visits_365d=12.0)),
                              (2, 70, dict(bank_txns_365d=50.0)),
                              (3, 10, {})])
    assert N.name_segments(means, rules) == {0: "Movie buffs #2", 1: "Movie buffs", 2: "Card users", 3: "Segment 3"}


def test_a_rule_on_an_unknown_column_is_a_config_error(spark):
    means = centroids(spark, [(0, 10, {})])
    with pytest.raises(ConfigError, match="ml.segments.naming"):
        N.name_segments(means, settings.parse_rules([{"name": "X", "when": "no_such_column > 1"}]))
    with pytest.raises(ConfigError, match=r"naming\[0\]"):
        settings.parse_rules([{"name": "X"}])


def test_segment_means_are_in_original_units_with_nulls_filled(spark):
    scored = spark.createDataFrame([(0, 10.0, None), (0, 30.0, 5), (1, 100.0, 1)],
                                   "segment_id int, spend double, recency int")
    means = {r["segment_id"]: r.asDict() for r in
             N.segment_means(scored, ["spend", "recency"], fill={"recency": 365.0}).collect()}
    assert means[0]["members"] == 2 and means[0]["share"] == pytest.approx(2 / 3)
    assert means[0]["spend"] == pytest.approx(20.0) and means[0]["recency"] == pytest.approx(185.0)
    assert means[1]["pop_spend"] == pytest.approx(140 / 3)

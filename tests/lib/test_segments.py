"""Segments: naming rules, ARI, migration counts, the model's prep stages and distances."""

import math
from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.ml.linalg import Vectors
from sklearn.metrics import adjusted_rand_score

from loyalty import conf
from loyalty.conf import ConfigError
from loyalty.ml import segments as S
from loyalty.transforms.gold import segments as T

# ---------------------------------------------------------------------------------------------
# adjusted Rand index
# ---------------------------------------------------------------------------------------------


def test_ari_on_a_hand_computed_table():
    # clusters x classes: [[2, 1], [0, 3]]; n = 6, rows (3, 3), columns (2, 4)
    # index = C(2,2) + C(3,2) = 1 + 3 = 4; sum_a = 3 + 3 = 6; sum_b = 1 + 6 = 7; C(6,2) = 15
    # expected = 6 * 7 / 15 = 2.8; max = (6 + 7) / 2 = 6.5; ARI = (4 - 2.8) / (6.5 - 2.8) = 12 / 37
    assert S.adjusted_rand_index([[2, 1], [0, 3]]) == pytest.approx(12 / 37)


def test_ari_matches_sklearn_and_its_fixed_points():
    labels_a = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3]
    labels_b = ["x", "x", "y", "y", "y", "z", "z", "z", "z", "x", "z"]
    table = [[sum(1 for a, b in zip(labels_a, labels_b) if a == i and b == j) for j in "xyz"] for i in range(4)]
    assert S.adjusted_rand_index(table) == pytest.approx(adjusted_rand_score(labels_b, labels_a))
    assert S.adjusted_rand_index([[5, 0, 0], [0, 4, 0], [0, 0, 7]]) == pytest.approx(1.0)      # same partition
    assert S.adjusted_rand_index([[0, 4], [5, 0]]) == pytest.approx(1.0)                        # relabelled
    assert S.adjusted_rand_index([[10, 10], [10, 10]]) < 0.0                                    # no agreement
    with pytest.raises(ValueError):
        S.adjusted_rand_index([[1, -1]])


def test_contingency_counts_pairs_in_spark(spark):
    df = spark.createDataFrame([(0, "a"), (0, "a"), (0, "b"), (1, "b"), (1, "b"), (1, "b")], "seg int, persona string")
    rows, cols, table = S.contingency(df, "seg", "persona")
    assert (rows, cols, table) == ([0, 1], ["a", "b"], [[2, 1], [0, 3]])
    assert S.adjusted_rand_index(table) == pytest.approx(12 / 37)


# ---------------------------------------------------------------------------------------------
# naming rules (conf/base.yaml ml.segments.naming) on hand-made centroids
# ---------------------------------------------------------------------------------------------

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
    rules = S.settings(conf.load("test")).rules
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
    assert S.name_segments(means, rules) == {
        0: "Lapsed", 1: "VIP champions", 2: "Bank-linked points maximizers", 3: "Cinema-first",
        4: "Deal seekers / value shoppers", 5: "At-risk regulars", 6: "Digital-engaged convenience",
        7: "Occasional shoppers", 8: "Core shoppers"}


def test_naming_order_wins_repeats_are_numbered_by_size_and_unmatched_get_an_id(spark):
    rules = S.parse_rules([{"name": "Movie buffs", "when": "cinema_visits_365d > 2 * pop_cinema_visits_365d"},
                           {"name": "Card users", "when": "bank_txns_365d > 40"}])
    means = centroids(spark, [(0, 50, dict(cinema_visits_365d=9.0, bank_txns_365d=90.0)),   # first rule wins
                              (1, 300, dict(cinema_visits_365d=12.0)),
                              (2, 70, dict(bank_txns_365d=50.0)),
                              (3, 10, {})])
    assert S.name_segments(means, rules) == {0: "Movie buffs #2", 1: "Movie buffs", 2: "Card users", 3: "Segment 3"}


def test_a_rule_on_an_unknown_column_is_a_config_error(spark):
    means = centroids(spark, [(0, 10, {})])
    with pytest.raises(ConfigError, match="ml.segments.naming"):
        S.name_segments(means, S.parse_rules([{"name": "X", "when": "no_such_column > 1"}]))
    with pytest.raises(ConfigError, match=r"naming\[0\]"):
        S.parse_rules([{"name": "X"}])


def test_segment_means_are_in_original_units_with_nulls_filled(spark):
    scored = spark.createDataFrame([(0, 10.0, None), (0, 30.0, 5), (1, 100.0, 1)],
                                   "segment_id int, spend double, recency int")
    means = {r["segment_id"]: r.asDict() for r in
             S.segment_means(scored, ["spend", "recency"], fill={"recency": 365.0}).collect()}
    assert means[0]["members"] == 2 and means[0]["share"] == pytest.approx(2 / 3)
    assert means[0]["spend"] == pytest.approx(20.0) and means[0]["recency"] == pytest.approx(185.0)
    assert means[1]["pop_spend"] == pytest.approx(140 / 3)


# ---------------------------------------------------------------------------------------------
# settings, pipeline stages, distance
# ---------------------------------------------------------------------------------------------


def test_settings_refuse_log_features_outside_the_feature_list():
    cfg = conf.load("test", ["ml.segments.log_features=[tenure_days]"])
    with pytest.raises(ConfigError, match="ml.segments.log_features"):
        S.settings(cfg)
    with pytest.raises(ConfigError, match="k_min"):
        S.settings(conf.load("test", ["ml.segments.k_min=1"]))


def test_prep_stage_fills_nulls_and_takes_log1p(spark):
    df = spark.createDataFrame([("a", None, 0), ("b", 10, 3)], "member_id string, recency_days int, trips_90d long")
    stmt = S.prepare_statement(features=["recency_days", "trips_90d"], log_features=["trips_90d"],
                               fill={"recency_days": 365})
    from pyspark.ml.feature import SQLTransformer
    out = {r["member_id"]: r for r in SQLTransformer(statement=stmt).transform(df).collect()}
    assert out["a"]["_seg_x_recency_days"] == 365.0 and out["a"]["_seg_x_trips_90d"] == 0.0
    assert out["b"]["_seg_x_recency_days"] == 10.0 and out["b"]["_seg_x_trips_90d"] == pytest.approx(math.log(4))


def test_pipeline_separates_two_groups_and_distance_is_to_own_centroid(spark):
    rows = [(f"a{i}", 2.0 + 0.1 * (i % 3), 100.0 + i) for i in range(12)] + \
           [(f"b{i}", 40.0 + 0.1 * (i % 3), 1.0 + i) for i in range(12)]
    df = spark.createDataFrame(rows, "member_id string, x double, y double")
    model = S.build_pipeline(features=["x", "y"], log_features=["y"], k=2, seed=1).fit(df)
    model = type(model)([*model.stages, S.naming_stage({0: "It's zero", 1: "One"})])
    scored = S.with_distance(model.transform(df), S.kmeans_stage(model).clusterCenters())
    got = {r["member_id"]: r for r in scored.select("member_id", "segment_id", "segment_name", "distance").collect()}
    assert len({got[f"a{i}"]["segment_id"] for i in range(12)}) == 1
    assert got["a0"]["segment_id"] != got["b0"]["segment_id"]
    assert {r["segment_name"] for r in got.values()} == {"It's zero", "One"}
    assert all(0.0 <= r["distance"] < 1.5 for r in got.values())


def test_with_distance_is_euclidean_to_the_assigned_center(spark):
    df = spark.createDataFrame([(Vectors.dense([3.0, 4.0]), 0), (Vectors.dense([1.0, 1.0]), 1)],
                               ["_seg_features", "segment_id"])
    d = [r["distance"] for r in S.with_distance(df, [[0.0, 0.0], [1.0, 2.0]]).orderBy("segment_id").collect()]
    assert d == [pytest.approx(5.0), pytest.approx(1.0)]


def test_choose_k_takes_highest_silhouette_smaller_k_on_ties():
    curve = [S.KResult(k, sil, 0.0, 0.0, []) for k, sil in [(4, 0.2), (5, 0.31), (6, 0.31), (7, 0.1)]]
    assert S.choose_k(curve).k == 5


# ---------------------------------------------------------------------------------------------
# migration counts
# ---------------------------------------------------------------------------------------------


def test_migration_counts_with_new_and_gone_members(spark):
    before = spark.createDataFrame([("m1", "VIP"), ("m2", "VIP"), ("m3", "Lapsed"), ("m4", "Core")],
                                   "member_id string, segment_name string")
    after = spark.createDataFrame([("m1", "VIP"), ("m2", "Lapsed"), ("m3", "Lapsed"), ("m5", "Core"), ("m6", "VIP")],
                                  "member_id string, segment_name string")
    a, b = date(2026, 10, 1), date(2026, 11, 1)
    got = T.migration_counts(before, after, a, b)
    expected = spark.createDataFrame(
        [(a, b, "VIP", "VIP", 1), (a, b, "VIP", "Lapsed", 1), (a, b, "Lapsed", "Lapsed", 1), (a, b, "Core", "GONE", 1),
         (a, b, "NEW", "Core", 1), (a, b, "NEW", "VIP", 1)],
        "from_as_of date, to_as_of date, from_segment string, to_segment string, members long")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert got.columns == T.MIGRATION_COLUMNS


def test_migration_counts_keep_the_model_version_of_each_side(spark):
    before = spark.createDataFrame([("m1", "VIP", 1), ("m2", "VIP", 1)], "member_id string, segment_name string, v int")
    after = spark.createDataFrame([("m1", "VIP", 2), ("m3", "Core", 2)], "member_id string, segment_name string, v int")
    got = {(r["from_segment"], r["to_segment"]): (r["from_model_version"], r["to_model_version"], r["members"])
           for r in T.migration_counts(before, after, date(2026, 10, 1), date(2026, 11, 1), version_col="v").collect()}
    assert got == {("VIP", "VIP"): (1, 2, 1), ("VIP", "GONE"): (1, None, 1), ("NEW", "Core"): (None, 2, 1)}

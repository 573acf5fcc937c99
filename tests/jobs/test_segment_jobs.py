"""train_segments -> register + promotion gate -> score_segments, on a tiny gold.member_features
with two snapshots in a temporary lake and a temporary MLflow store."""

from datetime import date

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from jobs import score_segments, train_segments
from loyalty import lake
from loyalty.ml.segments import run as segments

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
VIP, LAPSED = "VIP champions", "Lapsed"
COLUMNS = ["member_id", "as_of", "recency_days", "trips_90d", "trips_365d", "avg_basket_365d", "spend_share_freshmart",
           "spend_share_valumart", "private_label_share", "dept_share_prepared_meals", "cinema_visits_365d",
           "bank_txns_365d", "points_redeemed_365d", "digital_sessions_90d", "spend_90d", "spend_365d",
           "points_earned_365d", "points_balance", "offer_redemption_rate", "email_opens_90d", "push_opens_90d",
           "tenure_days"]


def member(i: int, as_of: date, kind: str) -> tuple:
    j = i % 5                                           # a little spread inside each group
    if kind == "vip":
        trips, basket = 80 + j, 60.0 + j
        row = dict(recency_days=2 + j, trips_90d=20 + j, trips_365d=trips, avg_basket_365d=basket,
                   spend_share_freshmart=0.8, spend_share_valumart=0.2, private_label_share=0.2 + 0.01 * j,
                   dept_share_prepared_meals=0.05, cinema_visits_365d=3, bank_txns_365d=20 + j,
                   points_redeemed_365d=5000 + 100 * j, digital_sessions_90d=12 + j, spend_90d=20 * basket,
                   spend_365d=trips * basket, points_earned_365d=50000, points_balance=3000,
                   offer_redemption_rate=0.3, email_opens_90d=5, push_opens_90d=5, tenure_days=900)
    else:
        row = dict(recency_days=None if j == 0 else 150 + 10 * j, trips_90d=0, trips_365d=1 + (j % 2),
                   avg_basket_365d=25.0 + j, spend_share_freshmart=0.5, spend_share_valumart=0.5,
                   private_label_share=0.3, dept_share_prepared_meals=0.1, cinema_visits_365d=0, bank_txns_365d=0,
                   points_redeemed_365d=0, digital_sessions_90d=j % 2, spend_90d=0.0, spend_365d=30.0,
                   points_earned_365d=300, points_balance=300, offer_redemption_rate=0.0, email_opens_90d=0,
                   push_opens_90d=0, tenure_days=700)
    return (f"M{i:03d}", as_of, *[row[c] for c in COLUMNS[2:]])


def write_features(spark, cfg):
    # October: M000-M029 VIP, M030-M059 lapsed. November: M025-M029 lapse, M055-M059 leave,
    # M060-M064 join as VIPs.
    oct_rows = [member(i, OCT, "vip" if i < 30 else "lapsed") for i in range(60)]
    nov_rows = [member(i, NOV, "vip" if i < 25 or i >= 60 else "lapsed") for i in [*range(55), *range(60, 65)]]
    for as_of, rows in ((OCT, oct_rows), (NOV, nov_rows)):
        write_snapshot(spark, cfg, as_of, rows)


def write_snapshot(spark, cfg, as_of, rows):
    types = {"member_id": "string", "as_of": "date", "recency_days": "int", "tenure_days": "int"}
    example = member(1, as_of, "vip")
    schema = ", ".join(f"{c} {types.get(c, 'long' if isinstance(example[i], int) else 'double')}"
                       for i, c in enumerate(COLUMNS))
    lake.overwrite(spark.createDataFrame(rows, schema), cfg, segments.FEATURES_TABLE, partition_by=["as_of"],
                   partitions=[{"as_of": as_of.isoformat()}])


def test_train_register_gate_score_round_trip(spark, cfg, tmp_path):
    write_features(spark, cfg)
    args = ["--env", "test", "--set", f"data_root={tmp_path}/data"]

    # train on October: k in 2..3 by silhouette, first version becomes champion
    assert train_segments.main(args + ["--as-of", OCT.isoformat()]) == 0
    client = MlflowClient()
    v1 = client.get_model_version_by_alias("loyalty_segments", "champion")
    assert str(v1.version) == "1" and v1.tags["segments.k"] == "2"
    run = client.get_run(v1.run_id)
    assert run.data.params["as_of"] == OCT.isoformat()
    assert run.data.params["data.gold.member_features.version"] == str(lake.version(cfg, segments.FEATURES_TABLE))
    assert run.data.params["chosen_k"] == "2" and run.data.metrics["silhouette"] > 0.5
    assert [m.step for m in client.get_metric_history(run.info.run_id, "silhouette_by_k")] == [2, 3]
    # algorithm "best" (conf default): KMeans and the Gaussian mixture on the same rows, the winner said
    assert [m.step for m in client.get_metric_history(run.info.run_id, "silhouette_by_k_gmm")] == [2, 3]
    winner = run.data.tags["segments.winner"]
    assert winner in ("kmeans", "gmm") and run.data.params["chosen_algorithm"] == winner == v1.tags["segments.algorithm"]
    assert run.data.metrics["silhouette"] == max(run.data.metrics["kmeans_silhouette"], run.data.metrics["gmm_silhouette"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"silhouette_curve.png", "silhouette_curve.json", "segment_profile.json", "segment_profile.png"} <= artifacts

    # a worse model (k forced to 3 splits a tight group) is registered but the gate keeps version 1
    assert train_segments.main(args + ["--as-of", OCT.isoformat(), "--set", "ml.segments.k_min=3",
                                       "--set", "ml.segments.k_max=3"]) == 0
    v2 = client.get_model_version("loyalty_segments", "2")
    assert v2.tags["gate.promoted"] == "false" and "worse" in v2.tags["gate.reason"]
    assert float(v2.tags["gate.value"]) < float(v1.tags["gate.value"])
    assert str(client.get_model_version_by_alias("loyalty_segments", "champion").version) == "1"

    # score both snapshots (November by default: the latest as_of) with the champion
    assert score_segments.main(args + ["--as-of", OCT.isoformat()]) == 0
    assert score_segments.main(args) == 0
    seg = lake.read(spark, cfg, segments.SEGMENTS_TABLE)
    assert seg.columns == ["member_id", "as_of", "segment_id", "segment_name", "distance", "segment_probability",
                           "segment_probabilities", "model_version"]
    soft = seg.where(F.col("segment_probability").isNotNull()).count()
    assert soft == (120 if winner == "gmm" else 0)
    assert {r[0] for r in seg.select("model_version").distinct().collect()} == {1}
    names = {(r["member_id"], r["as_of"]): r["segment_name"] for r in seg.collect()}
    assert len(names) == 60 + 60
    assert names[("M000", OCT)] == VIP and names[("M040", OCT)] == LAPSED
    assert names[("M027", NOV)] == LAPSED and names[("M062", NOV)] == VIP
    assert seg.where(F.col("distance").isNull() | (F.col("distance") < 0)).count() == 0

    rows = lake.read(spark, cfg, segments.MIGRATION_TABLE).where(F.col("to_as_of") == NOV).collect()
    assert {(r["from_as_of"], r["to_as_of"]) for r in rows} == {(OCT, NOV)}
    assert {r["from_model_version"] for r in rows if r["from_segment"] != "NEW"} == {1}
    mig = {(r["from_segment"], r["to_segment"]): r["members"] for r in rows}
    assert mig == {(VIP, VIP): 25, (VIP, LAPSED): 5, (LAPSED, LAPSED): 25, (LAPSED, "GONE"): 5, ("NEW", VIP): 5}
    counts = {d: seg.where(F.col("as_of") == d).count() for d in (OCT, NOV)}
    assert sum(n for (a, _), n in mig.items() if a != "NEW") == counts[OCT]
    assert sum(n for (_, b), n in mig.items() if b != "GONE") == counts[NOV]

    prof = {(r["as_of"], r["segment_name"]): r for r in lake.read(spark, cfg, segments.PROFILES_TABLE).collect()}
    assert prof[(NOV, VIP)]["members"] == 30 and prof[(NOV, LAPSED)]["members"] == 30
    assert prof[(OCT, VIP)]["model_version"] == 1 and prof[(OCT, VIP)]["top_banner"] == "FRESHMART"
    assert prof[(OCT, VIP)]["mean_features"]["trips_90d"] == 22.0
    assert prof[(OCT, LAPSED)]["mean_features"]["recency_days"] == (365 + 160 + 170 + 180 + 190) / 5   # null -> fill

    # re-scoring October rewrites only its partitions and keeps the migration consistent
    assert score_segments.main(args + ["--as-of", OCT.isoformat()]) == 0
    assert lake.read(spark, cfg, segments.SEGMENTS_TABLE).count() == 120
    assert lake.read(spark, cfg, segments.MIGRATION_TABLE).agg(F.sum("members")).first()[0] == sum(mig.values())


def test_scoring_without_a_champion_fails_cleanly(spark, cfg, tmp_path):
    write_features(spark, cfg)
    assert score_segments.main(["--env", "test", "--set", f"data_root={tmp_path}/data"]) == 1
    assert not lake.exists(cfg, segments.SEGMENTS_TABLE)


def noisy(i: int, as_of: date, kind: str) -> tuple:
    """``member`` with every count and amount scaled by a factor in 0.1..1.9: the same two groups, spread."""
    f = 1 + 0.9 * (((i * 37) % 11) - 5) / 5
    row = member(i, as_of, kind)
    return (*row[:2], *[v if v is None or c == "tenure_days" else type(v)(v * f) for c, v in zip(COLUMNS[2:], row[2:])])


def test_gate_rescores_the_champion_on_the_new_snapshot(spark, cfg, tmp_path):
    write_features(spark, cfg)
    sep = date(2026, 9, 1)
    write_snapshot(spark, cfg, sep, [noisy(i, sep, "vip" if i < 30 else "lapsed") for i in range(60)])
    args = ["--env", "test", "--set", f"data_root={tmp_path}/data"]

    # v1 on the spread-out September snapshot: VIP vs lapsed, a modest silhouette
    assert train_segments.main(args + ["--as-of", sep.isoformat()]) == 0
    client = MlflowClient()                                                    # on this test's store
    v1 = client.get_model_version("loyalty_segments", "1")
    # v2 on the tight October snapshot with k forced to 3: its silhouette beats v1's recorded one,
    # but v1's two segments of the same October members are better still
    assert train_segments.main(args + ["--as-of", OCT.isoformat(), "--set", "ml.segments.k_min=3",
                                       "--set", "ml.segments.k_max=3"]) == 0
    v2 = client.get_model_version("loyalty_segments", "2")
    assert float(v2.tags["gate.value"]) > float(v1.tags["gate.value"])        # recorded values would promote v2
    assert v2.tags["gate.promoted"] == "false"
    assert v2.tags["gate.compared_on"].startswith(f"gold.member_features as_of {OCT} (60 members")
    assert str(client.get_model_version_by_alias("loyalty_segments", "champion").version) == "1"

    # the champion's number is the silhouette of VIP vs lapsed in v2's standardized space, computed
    # here with scikit-learn (squared Euclidean, as Spark's ClusteringEvaluator)
    from mlflow import spark as mlflow_spark
    from sklearn.metrics import silhouette_score
    model = mlflow_spark.load_model("models:/loyalty_segments/2")
    scaled = model.transform(segments.read_features(spark, cfg, OCT)).select("member_id", "_seg_features").collect()
    vectors = [r["_seg_features"].toArray() for r in scaled]
    truth = [0 if int(r["member_id"][1:]) < 30 else 1 for r in scaled]
    expected = silhouette_score(vectors, truth, metric="sqeuclidean")
    assert float(v2.tags["gate.champion_value"]) == pytest.approx(expected, rel=1e-6)
    assert float(v2.tags["gate.value_on_comparison"]) == pytest.approx(float(v2.tags["gate.value"]), rel=1e-9)
    run = client.get_run(v2.run_id).data
    assert run.tags["gate.champion_rescored"].startswith(f"yes: version 1 on gold.member_features as_of {OCT}")
    assert run.metrics["champion_silhouette"] == pytest.approx(expected, rel=1e-6)

"""Round trip through the job entrypoints on a tiny hand-made silver lake and a temporary MLflow
store: train_recommender (evaluate, log, register, promote) -> recommend (load the champion by
alias) -> gold.recommendations and gold.category_recommendations read back from Delta."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from jobs import recommend, train_recommender
from loyalty import lake

AS_OF = "2026-10-01"
CATEGORY = {1: "C1", 2: "C1", 3: "C1", 4: "C1", 5: "C2", 6: "C2", 7: "C2", 8: "C2", 9: "C3", 10: "C3", 11: "C3", 12: "C3"}
HISTORY = range(1, 16)          # m01..m15 buy; m16..m19 have no history (cold start); m20 enrolls after AS_OF
SEGMENT_1 = [1, 2, 3, 4, 5, 6, 7, 8, 16, 17]    # m16, m17: cold with a segment; m18, m19: cold without


def pid(i):
    return f"P{i:02d}"


def mid(i):
    return f"m{i:02d}"


def preferred(i):
    """Members 1-8 buy C1 products, 9-15 C2 and C3."""
    return [1, 2, 3, 4] if i <= 8 else [5, 6, 7, 8, 9, 10, 11, 12]


def routine_product(i):
    return preferred(i)[i % len(preferred(i))]


def write_silver(spark, cfg):
    change = datetime(2026, 10, 20)     # after AS_OF: P01 moves to category C9, P02 gets a new upc
    products = [(pid(i), f"U{i:02d}", f"product {i}", "brand", False, "DEPT", CATEGORY[i], "SUB",
                 Decimal("2.50"), datetime(2025, 1, 1), change if i in (1, 2) else None, i not in (1, 2))
                for i in CATEGORY]
    products += [(pid(1), "U01", "product 1", "brand", False, "DEPT", "C9", "SUB", Decimal("2.50"), change, None, True),
                 (pid(2), "U02N", "product 2", "brand", False, "DEPT", CATEGORY[2], "SUB", Decimal("2.50"), change,
                  None, True)]
    lake.overwrite(spark.createDataFrame(products, "product_id string, upc string, name string, brand string, "
                   "is_private_label boolean, department string, category string, subcategory string, "
                   "regular_price decimal(12,2), valid_from timestamp, valid_to timestamp, is_current boolean"),
                   cfg, "silver.products")
    members = [(mid(i), "ACTIVE", date(2025, 1, 1) if i < 20 else date(2026, 10, 15),
                datetime(2025, 1, 1), None, True) for i in range(1, 21)]
    lake.overwrite(spark.createDataFrame(members, "member_id string, status string, enrollment_date date, "
                   "valid_from timestamp, valid_to timestamp, is_current boolean"), cfg, "silver.members")
    lines = []
    start = date(2026, 6, 5)
    for i in HISTORY:
        pref = preferred(i)
        for week in range(17):                     # weekly trips up to 2026-09-29
            day = start + timedelta(days=7 * week + i % 3)
            if day >= date(2026, 10, 1):
                continue
            for line_no, product in enumerate({routine_product(i), pref[(i + week) % len(pref)]}, 1):
                lines.append((f"R{i}-{week}", line_no, "FRESHMART", "S1", mid(i), datetime(day.year, day.month, day.day, 12),
                              day, f"U{product:02d}", 1, Decimal("2.50"), Decimal("2.50"), Decimal("0.00")))
    lines.append(("R-late", 1, "FRESHMART", "S1", mid(1), datetime(2026, 10, 2, 12), date(2026, 10, 2), "U12", 1,
                  Decimal("2.50"), Decimal("2.50"), Decimal("0.00")))     # on/after AS_OF: must not count
    lake.overwrite(spark.createDataFrame(lines, "receipt_id string, line_no int, banner string, store_id string, "
                   "member_id string, txn_ts timestamp, business_date date, upc string, quantity int, "
                   "unit_price decimal(12,2), line_amount decimal(12,2), discount_amount decimal(12,2)"),
                   cfg, "silver.transaction_lines")
    segments = [(mid(i), date(2026, 9, 15), 1 if i in SEGMENT_1 else 2, "seg", 0.1, 1) for i in range(1, 18)
                if i in SEGMENT_1 or i in HISTORY]
    segments += [(mid(i), date(2026, 11, 15), 3, "future", 0.1, 1) for i in range(1, 20)]   # after AS_OF: ignored
    lake.overwrite(spark.createDataFrame(segments, "member_id string, as_of date, segment_id int, "
                   "segment_name string, distance double, model_version int"), cfg, "gold.member_segments")


@pytest.fixture
def args(spark, cfg):
    write_silver(spark, cfg)
    return ["--env", "test", "--set", f"data_root={cfg['data_root']}", "--as-of", AS_OF]


def test_train_register_and_score_round_trip(spark, cfg, args):
    assert recommend.main(args) == 1                       # no champion yet: one clear line, exit 1
    assert train_recommender.main(args) == 0

    client = MlflowClient()
    champion = client.get_model_version_by_alias("loyalty_recommender", "champion")
    assert int(champion.version) == 1
    run = client.get_run(champion.run_id)
    assert run.data.params["as_of"] == AS_OF
    assert run.data.params["served_model"] == champion.tags["served_model"] == "evaluated"   # refit: false
    assert run.data.tags["served_model"].startswith("the evaluated model itself")
    assert run.data.params["data.silver.transaction_lines.version"] == "0"
    for name in ("als", "popularity"):
        for metric in ("precision", "recall", "ndcg", "map", "coverage", "diversity"):
            assert 0.0 <= run.data.metrics[f"{name}_{metric}_at_10"] <= 1.0
    assert run.data.metrics["interactions"] > 0 and run.data.metrics["fit_seconds"] > 0
    assert run.data.metrics["products"] == 12       # P02's lines (upc U02 until after AS_OF) are P02's
    # the gate judges what members are served: routine products left out, cold members on fallbacks
    for name in ("served", "served_popularity"):
        for metric in ("precision", "recall", "ndcg", "map", "coverage", "diversity", "novelty"):
            assert 0.0 <= run.data.metrics[f"{name}_{metric}_at_10"] <= 1.0
    assert run.data.metrics["served_members"] == len(HISTORY)     # served at the cutoff and bought after it
    assert champion.tags["gate.metric"] == "served_ndcg_at_10"
    assert float(champion.tags["gate.value"]) == pytest.approx(run.data.metrics["served_ndcg_at_10"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/served_vs_popularity.png", "plots/als_vs_popularity.png",
                         "plots/category_als_vs_popularity.png"}
    index = lake.read(spark, cfg, "gold.recommender_member_index")
    assert index.where("model_version = 1").count() == len(HISTORY)

    assert recommend.main(args) == 0
    recs = lake.read(spark, cfg, "gold.recommendations").where(F.col("as_of") == AS_OF).cache()
    assert {r[0] for r in recs.select("model_version").distinct().collect()} == {1}
    members = {r[0] for r in recs.select("member_id").distinct().collect()}
    assert members == {mid(i) for i in range(1, 20)}      # m20 enrolls after AS_OF
    sources = {r["member_id"]: r["sources"] for r in
               recs.groupBy("member_id").agg(F.collect_set("source").alias("sources")).collect()}
    for i in HISTORY:
        assert "als" in sources[mid(i)], i
    first = {r["member_id"]: r["source"] for r in recs.where("rank = 1").collect()}
    assert first[mid(16)] == first[mid(17)] == "segment_popularity"   # segment 1 buys 4 products ...
    assert set(sources[mid(16)]) == {"segment_popularity", "popularity"}  # ... the rest comes from overall
    assert sources[mid(18)] == sources[mid(19)] == ["popularity"]
    ranks = recs.groupBy("member_id").agg(F.sort_array(F.collect_list("rank")).alias("ranks"),
                                          F.countDistinct("product_id").alias("n")).collect()
    for r in ranks:   # 12 products, at most 1 routine per member: a full top 10 everywhere
        assert r["ranks"] == list(range(1, 11)) and r["n"] == 10, r
    routine = {(mid(i), pid(routine_product(i))) for i in HISTORY}
    listed = {(r["member_id"], r["product_id"]) for r in recs.select("member_id", "product_id").collect()}
    assert not routine & listed
    assert recs.where(F.col("score").isNull()).count() == 0

    cats = lake.read(spark, cfg, "gold.category_recommendations").where(F.col("as_of") == AS_OF)
    assert cats.count() == 19 * 3                         # 3 categories < category_top_n (5)
    assert {r[0] for r in cats.select("category").distinct().collect()} == {"C1", "C2", "C3"}   # not C9: after AS_OF
    assert {r[0] for r in cats.select("source").distinct().collect()} == {"als", "segment_popularity", "popularity"}
    assert {r[0] for r in cats.select("model_version").distinct().collect()} == {1}



def test_training_without_data_before_as_of_fails_cleanly(spark, cfg, args):
    assert train_recommender.main(args[:-1] + ["2026-01-01"]) == 1
    run = mlflow.search_runs(experiment_names=["loyalty/loyalty_recommender"], output_format="list")
    assert [r.info.status for r in run] == ["FAILED"]


def test_gate_rescores_the_champion_on_the_same_window(spark, cfg, args):
    worse = ["--set", "ml.recommender.rank=1", "--set", "ml.recommender.max_iter=1",
             "--set", "ml.recommender.reg_param=100"]

    def run_of(version):
        return client.get_run(client.get_model_version("loyalty_recommender", str(version)).run_id)

    assert train_recommender.main(args) == 0                                   # v1 (refit: false in test conf)
    client = MlflowClient()                                                    # on this test's store
    assert train_recommender.main(args + worse) == 0                           # v2: a much weaker model
    first, second = run_of(1).data, run_of(2).data
    # v1 served on v2's test window by the same code gives exactly v1's own evaluation
    assert second.tags["gate.champion_rescored"].startswith("yes: version 1 on test window 2026-09-17..2026-10-01")
    for metric in ("ndcg", "precision", "coverage", "novelty"):
        assert second.metrics[f"champion_served_{metric}_at_10"] == \
            pytest.approx(first.metrics[f"served_{metric}_at_10"])
    v2 = client.get_model_version("loyalty_recommender", "2").tags
    assert second.metrics["served_ndcg_at_10"] < first.metrics["served_ndcg_at_10"]
    assert v2["gate.promoted"] == "false" and v2["gate.compared_on"].startswith("test window 2026-09-17..2026-10-01")
    assert float(v2["gate.champion_value"]) == pytest.approx(first.metrics["served_ndcg_at_10"])
    assert float(v2["gate.baseline_value"]) == pytest.approx(second.metrics["served_popularity_ndcg_at_10"])
    assert v2["train.data_end"] == "2026-09-17"                                 # not refitted: the cutoff

    # a refitted champion learned from the whole window: it cannot be re-scored there, recorded values decide
    assert train_recommender.main(args + ["--set", "ml.recommender.refit=true"]) == 0   # v3: same as v1, a tie
    assert str(client.get_model_version_by_alias("loyalty_recommender", "champion").version) == "3"
    v3 = client.get_model_version("loyalty_recommender", "3").tags
    assert (v3["train.data_end"], v3["served_model"], run_of(3).data.params["served_model"]) == \
        (AS_OF, "refit", "refit")
    assert train_recommender.main(args + worse) == 0                           # v4
    fourth = run_of(4).data
    assert fourth.tags["gate.champion_rescored"].startswith("no: version 3 learned from data up to 2026-10-01")
    v4 = client.get_model_version("loyalty_recommender", "4").tags
    assert v4["gate.compared_on"] == "recorded values" and v4["gate.promoted"] == "false"

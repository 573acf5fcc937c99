"""MLflow tracking and registry: where runs go, what a training run records, the promotion gate,
and loading the champion by alias (each test has its own temporary sqlite store)."""

import os

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.ml.feature import StringIndexer

from loyalty import lake
from loyalty.ml import tracking


@pytest.fixture
def tiny_model(spark):
    df = spark.createDataFrame([("a",), ("b",), ("b",)], "item string")
    return PipelineModel([StringIndexer(inputCol="item", outputCol="idx").fit(df)])


@pytest.fixture
def logged(cfg, tiny_model):
    """One logged model (in a finished run) that tests register several times."""
    with tracking.training_run(cfg, "tiny", "2026-10-01", []):
        info = tracking.log_spark_model(tiny_model)
    return info.model_uri


def test_configure_prefers_conf_then_environment_then_local_store(cfg, tmp_path, monkeypatch):
    assert tracking.configure(cfg) == os.environ["MLFLOW_TRACKING_URI"]
    other = f"sqlite:///{tmp_path}/other.db"
    assert tracking.configure(cfg.with_overrides([f"ml.tracking_uri={other}"])) == other
    assert mlflow.get_tracking_uri() == other and mlflow.get_registry_uri() == other
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    local = tracking.configure(cfg)
    assert local == f"sqlite:///{cfg['paths.mlflow']}/mlflow.db"
    assert os.path.isdir(cfg["paths.mlflow"])
    # the default exported to the environment by mlflow is not mistaken for a user's choice
    moved = cfg.with_overrides([f"data_root={tmp_path}/elsewhere"])
    assert tracking.configure(moved) == f"sqlite:///{moved['paths.mlflow']}/mlflow.db"


def test_training_run_records_as_of_and_input_versions_with_artifacts_under_conf_root(spark, cfg):
    lake.overwrite(spark.createDataFrame([(1,)], "x int"), cfg, "silver.things")
    lake.overwrite(spark.createDataFrame([(2,)], "x int"), cfg, "silver.things")
    with tracking.training_run(cfg, "tiny", "2026-10-01", ["silver.things", "silver.absent"]) as run:
        mlflow.log_metric("m", 1.0)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["as_of"] == "2026-10-01"
    assert got.data.params["data.silver.things.version"] == "1"
    assert got.data.params["data.silver.absent.version"] == "none"
    experiment = MlflowClient().get_experiment(got.info.experiment_id)
    assert experiment.name == "loyalty/tiny"
    assert experiment.artifact_location.replace("file://", "").startswith(cfg["ml.artifact_root"])


def test_a_failed_training_run_is_marked_failed(cfg):
    with pytest.raises(RuntimeError):
        with tracking.training_run(cfg, "tiny", "2026-10-01", []) as run:
            raise RuntimeError("boom")
    assert MlflowClient().get_run(run.info.run_id).info.status == "FAILED"


def test_promotion_gate_moves_champion_only_for_at_least_as_good(cfg, logged):
    first = tracking.register_and_promote(cfg, "tiny", logged, "ndcg_at_10", 0.30)
    assert (first.version, first.promoted, first.champion_before) == (1, True, None)
    worse = tracking.register_and_promote(cfg, "tiny", logged, "ndcg_at_10", 0.29)
    assert (worse.version, worse.promoted, worse.champion_before, worse.champion_metric) == (2, False, 1, 0.30)
    assert "worse" in worse.reason and "stays at version 1" in worse.reason
    client = MlflowClient()
    assert int(client.get_model_version_by_alias("tiny", "champion").version) == 1
    assert client.get_model_version("tiny", "2").tags["gate.promoted"] == "false"
    tie = tracking.register_and_promote(cfg, "tiny", logged, "ndcg_at_10", 0.30)
    assert (tie.version, tie.promoted, tie.champion_before) == (3, True, 1)
    assert int(client.get_model_version_by_alias("tiny", "champion").version) == 3


def test_gate_for_lower_is_better_and_decision_logged_on_the_run(cfg, logged):
    with tracking.training_run(cfg, "tiny", "2026-10-02", []) as run:
        tracking.register_and_promote(cfg, "tiny", logged, "rmse", 1.0, greater_is_better=False)
    with tracking.training_run(cfg, "tiny", "2026-10-03", []) as run2:
        refused = tracking.register_and_promote(cfg, "tiny", logged, "rmse", 1.5, greater_is_better=False)
    assert not refused.promoted
    tags = MlflowClient().get_run(run2.info.run_id).data.tags
    assert tags["promotion.promoted"] == "False" and tags["promotion.champion_before"] == "1"
    assert "worse" in tags["promotion.reason"]
    assert MlflowClient().get_run(run.info.run_id).data.tags["promotion.promoted"] == "True"


def test_load_champion_by_alias(spark, cfg, logged):
    with pytest.raises(LookupError, match="no 'champion'"):
        tracking.load_champion(cfg, "tiny")
    tracking.register_and_promote(cfg, "tiny", logged, "ndcg_at_10", 0.5)
    tracking.register_and_promote(cfg, "tiny", logged, "ndcg_at_10", 0.1)   # refused: champion stays 1
    model, version = tracking.load_champion(cfg, "tiny")
    assert version == 1
    out = model.transform(spark.createDataFrame([("b",)], "item string")).first()
    assert out["idx"] == 0.0


def test_gate_compares_with_the_champion_rescored_on_the_same_data(cfg, logged):
    client = MlflowClient()
    tracking.register_and_promote(cfg, "tiny", logged, "served_ndcg_at_10", 0.10)      # v1, recorded on its window
    # v2 scores 0.15 on its window: better than v1's recorded 0.10, but v1 re-scored there scores 0.20
    worse = tracking.register_and_promote(
        cfg, "tiny", logged, "served_ndcg_at_10", 0.15,
        comparison=tracking.Comparison(champion_version=1, champion_value=0.20, value=0.15, on="test window W"))
    assert (worse.promoted, worse.champion_before, worse.champion_metric, worse.compared_on) == (False, 1, 0.20,
                                                                                                  "test window W")
    assert worse.reason == ("served_ndcg_at_10 0.150000 vs champion version 1's 0.200000 on test window W is "
                            "worse: champion stays at version 1")
    assert int(client.get_model_version_by_alias("tiny", "champion").version) == 1
    tags = client.get_model_version("tiny", "2").tags
    assert (tags["gate.promoted"], tags["gate.champion_version"], float(tags["gate.champion_value"]),
            tags["gate.compared_on"]) == ("false", "1", 0.20, "test window W")
    # v3 is compared on the part of its window the champion did not learn from: 0.13 there vs 0.12
    better = tracking.register_and_promote(
        cfg, "tiny", logged, "served_ndcg_at_10", 0.09,
        comparison=tracking.Comparison(champion_version=1, champion_value=0.12, value=0.13, on="days W2"))
    assert better.promoted and int(client.get_model_version_by_alias("tiny", "champion").version) == 3
    assert float(client.get_model_version("tiny", "3").tags["gate.value_on_comparison"]) == 0.13
    # a comparison with a version that is no longer the champion decides nothing
    stale = tracking.register_and_promote(
        cfg, "tiny", logged, "served_ndcg_at_10", 0.5,
        comparison=tracking.Comparison(champion_version=1, champion_value=0.1, value=0.5, on="W"))
    assert not stale.promoted and "moved to version 3" in stale.reason


def test_a_version_worse_than_the_baseline_is_never_promoted(cfg, logged):
    client = MlflowClient()
    popularity = tracking.Baseline("served_popularity_ndcg_at_10", 0.07)
    with tracking.training_run(cfg, "tiny", "2026-10-01", []) as run:
        first = tracking.register_and_promote(cfg, "tiny", logged, "served_ndcg_at_10", 0.05, baseline=popularity)
    assert not first.promoted and tracking.champion(cfg, "tiny") is None          # not even the first version
    assert first.reason == ("served_ndcg_at_10 0.050000 is worse than the baseline served_popularity_ndcg_at_10 "
                            "0.070000: not promoted, no champion")
    got = client.get_run(run.info.run_id).data
    assert got.tags["promotion.promoted"] == "False" and got.tags["promotion.baseline_value"] == "0.07"
    assert (got.metrics["gate.served_ndcg_at_10"], got.metrics["gate.baseline.served_popularity_ndcg_at_10"]) == \
        (0.05, 0.07)
    assert tracking.register_and_promote(cfg, "tiny", logged, "served_ndcg_at_10", 0.08, baseline=popularity).promoted
    # better than the champion on the same window, but below the baseline there: refused
    refused = tracking.register_and_promote(
        cfg, "tiny", logged, "served_ndcg_at_10", 0.5, baseline=tracking.Baseline("served_popularity_ndcg_at_10", 0.6),
        comparison=tracking.Comparison(champion_version=2, champion_value=0.4, value=0.5, on="W"))
    assert not refused.promoted and "worse than the baseline" in refused.reason
    assert int(client.get_model_version_by_alias("tiny", "champion").version) == 2
    assert client.get_model_version("tiny", "3").tags["gate.baseline_value"] == "0.6"

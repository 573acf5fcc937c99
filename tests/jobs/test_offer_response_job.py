"""train_offer_response end to end: on a hand-made lake with a planted uplift (the gate must promote
the first version, re-score it against a worse second one on the same evaluation issues and keep
it; the planner's load_champion -> pair_features -> score path), and on the generated test lake."""

import random
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from jobs import build_gold, train_offer_response
from loyalty import conf, lake
from loyalty.cli import UserError
from loyalty.offers.response import features as FT
from loyalty.offers.response import run, serve

AS_OF = "2026-11-01"
MODEL = "loyalty_offer_response"
OFFERS = [  # id, type, banner, category, start, end: two closed before the split (10-04), two after
    ("O1", "BONUS_POINTS", "FRESHMART", "DAIRY", date(2026, 9, 1), date(2026, 9, 14)),
    ("O2", "MULTIPLIER", "VALUMART", "SNACKS", date(2026, 9, 10), date(2026, 9, 24)),
    ("O3", "BONUS_POINTS", "FRESHMART", "DAIRY", date(2026, 10, 5), date(2026, 10, 18)),
    ("O4", "MULTIPLIER", "VALUMART", "SNACKS", date(2026, 10, 10), date(2026, 10, 24))]
UPC = {"DAIRY": "U1", "SNACKS": "U2"}
N = 600


def digital(i):
    return i % 2 == 1


def heavy(i):
    return i % 4 >= 2


def effect(i):
    """Light digital members are persuadable (+0.35); heavy buyers buy anyway (0.6) and an offer puts
    them off a little (-0.1): propensity ranks them first, uplift last."""
    return 0.35 if digital(i) and not heavy(i) else -0.1 if heavy(i) else 0.0


def write_lake(spark, cfg):
    rnd = random.Random(42)
    lake.overwrite(spark.createDataFrame(
        [(o, t, b, c, Decimal("500"), Decimal("10.00"), s, e) for o, t, b, c, s, e in OFFERS],
        "offer_id string, offer_type string, banner string, target_category string, reward_value decimal(10,2), "
        "min_spend decimal(12,2), start_date date, end_date date"), cfg, "silver.offers")
    lake.overwrite(spark.createDataFrame(
        [("P1", "U1", "DAIRY", datetime(2025, 1, 1), datetime(9999, 12, 31)),
         ("P2", "U2", "SNACKS", datetime(2025, 1, 1), datetime(9999, 12, 31))],
        "product_id string, upc string, category string, valid_from timestamp, valid_to timestamp"),
        cfg, "silver.products")
    events, lines = [], []
    for i in range(N):
        m = f"m{i:03d}"
        for o, _t, banner, cat, start, _end in OFFERS:
            treated = rnd.random() < 0.5
            issued = datetime(start.year, start.month, start.day, 9)
            events.append((f"E{m}{o}", o, m, "ISSUED", "EMAIL", issued, not treated))
            p = (0.6 if heavy(i) else 0.05) + (effect(i) if treated else 0.0)
            day = start + timedelta(days=2)
            amount = Decimal("15.00") if rnd.random() < p else Decimal("4.00")   # below min_spend: no conversion
            lines.append((f"R{m}{o}", 1, banner, m, datetime(day.year, day.month, day.day, 12), day, UPC[cat], amount))
    lake.overwrite(spark.createDataFrame(events, "event_id string, offer_id string, member_id string, event_type string, "
                                                 "channel string, event_ts timestamp, is_holdout boolean"),
                   cfg, "silver.offer_events")
    lake.overwrite(spark.createDataFrame(lines, "receipt_id string, line_no int, banner string, member_id string, "
                                                "txn_ts timestamp, business_date date, upc string, "
                                                "line_amount decimal(12,2)"), cfg, "silver.transaction_lines")
    for as_of in (date(2026, 9, 1), date(2026, 10, 1)):
        lake.overwrite(features(spark, as_of), cfg, "gold.member_features", partition_by=["as_of"],
                       partitions=[{"as_of": as_of.isoformat()}])


def features(spark, as_of):
    cols = {c: F.lit(0.0) for c in FT.MEMBER_FEATURES + FT.DEPT_SHARES}
    cols.update({"digital_sessions_90d": (F.col("id") % 2 == 1).cast("double") * 10.0,
                 "trips_90d": (F.col("id") % 4 >= 2).cast("double") * 30.0,
                 "avg_basket_365d": F.lit(40.0), "home_banner": F.lit("FRESHMART"),
                 "spend_share_freshmart": F.lit(0.6), "spend_share_valumart": F.lit(0.4)})
    return (spark.range(N).withColumn("member_id", F.format_string("m%03d", F.col("id"))).withColumns(cols)
            .withColumn("as_of", F.lit(as_of)).drop("id"))


def test_train_register_gate_and_serve_on_a_planted_lake(spark, cfg, tmp_path):
    write_lake(spark, cfg)
    args = ["--env", "test", "--set", f"data_root={tmp_path}/data", "--set", "offers.response.eval_days=28",
            "--set", "offers.response.refit=false", "--set", "offers.response.bootstrap=50",
            "--set", "offers.response.max_iter=30", "--as-of", AS_OF]
    assert train_offer_response.main(args) == 0
    client = MlflowClient()
    v1 = client.get_model_version_by_alias(MODEL, "champion")
    assert str(v1.version) == "1" and v1.tags["gate.promoted"] == "true"
    assert v1.tags["train.data_end"] == "2026-10-04" and v1.tags["gate.metric"] == "uplift_qini"
    r = client.get_run(v1.run_id).data
    m = r.metrics
    for name in ("uplift", "propensity", "random"):
        for metric in ("qini", "auuc"):
            assert m[f"{name}_{metric}_ci_low"] <= m[f"{name}_{metric}"] <= m[f"{name}_{metric}_ci_high"]
    # 600 members x 2 offers in each window; the planted effect averages (0.35 - 0.1 - 0.1) / 4
    assert m["train_rows"] == 1200 and m["eval_rows"] == 1200 and m["rows_without_features"] == 0
    assert m["eval_ate"] == pytest.approx(0.0375, abs=0.05)
    assert m["uplift_qini"] > m["propensity_qini"] and m["uplift_minus_propensity_qini_ci_low"] > 0
    assert m["random_qini_ci_low"] < 0 < m["random_qini_ci_high"]
    assert r.params["data.silver.offer_events.version"] == str(lake.version(cfg, "silver.offer_events"))
    assert r.params["split_date"] == "2026-10-04" and r.tags["promotion.promoted"] == "True"
    arts = {a.path for a in client.list_artifacts(v1.run_id)} | {a.path for a in client.list_artifacts(v1.run_id, "plots")}
    assert {"qini_curves.json", "uplift_by_decile.json", "plots/qini_curve.png", "plots/uplift_curve.png"} <= arts
    assert float(v1.tags["gate.value"]) == pytest.approx(m["uplift_qini"])

    # a worse model (an arm regularized to a constant: no ranking) is re-scored against the champion
    # on the same evaluation issues and not promoted
    assert train_offer_response.main(args + ["--set", "offers.response.reg_param=1000"]) == 0
    v2 = client.get_model_version(MODEL, "2")
    assert v2.tags["gate.promoted"] == "false" and "worse" in v2.tags["gate.reason"]
    assert v2.tags["gate.compared_on"].startswith("evaluation issues 2026-10-04")
    assert float(v2.tags["gate.champion_value"]) == pytest.approx(m["uplift_qini"], rel=1e-6)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"

    # the planner's path: champion by alias, pair features of one snapshot, score
    model, version = run.load_champion(cfg)
    assert version == 1
    pairs = spark.createDataFrame([("m001", "O3"), ("m002", "O3")], "member_id string, offer_id string")
    rows = FT.pair_features(pairs, lake.read(spark, cfg, "gold.member_features").where("as_of = '2026-10-01'"),
                            lake.read(spark, cfg, "silver.offers"), lake.read(spark, cfg, "silver.transaction_lines"),
                            lake.read(spark, cfg, "silver.products"))
    got = {r["member_id"]: r for r in serve.score(model, rows).collect()}
    assert got["m001"]["uplift"] > got["m002"]["uplift"] + 0.2         # persuadable vs a heavy buyer
    assert got["m001"]["uplift"] == pytest.approx(got["m001"]["p_treated"] - got["m001"]["p_control"])


def test_no_champion_and_bad_settings_fail_cleanly(spark, cfg, tmp_path):
    with pytest.raises(UserError, match="no 'champion' version.*run train_offer_response first"):
        run.load_champion(cfg)
    args = ["--env", "test", "--set", f"data_root={tmp_path}/data", "--as-of", AS_OF]
    assert train_offer_response.main(args + ["--set", "offers.response.learner=forest"]) == 2
    assert train_offer_response.main(args) == 1                        # no tables yet: one line, exit 1


def test_job_on_the_generated_test_lake(spark, tiny_gold, tmp_path):
    cfg0, _ = tiny_gold            # features as of 10-15 and 11-01; three weekly snapshots added on a copy
    root = tmp_path / "lake"
    shutil.copytree(cfg0["data_root"], root)
    args = ["--env", "test", "--set", f"data_root={root}"]
    cfg = conf.load("test", [f"data_root={root}"])
    ev = lake.read(spark, cfg, "silver.offer_events").where(
        (F.col("event_type") == "ISSUED") & F.col("is_holdout").isNotNull() & F.col("member_id").isNotNull())
    first = ev.agg(F.min(F.to_date("event_ts"))).first()[0] + timedelta(days=2)   # after the first issues
    added = [(first + timedelta(days=7 * k)).isoformat() for k in range(3)]
    assert build_gold.main(args + ["--as-of", ",".join(added), "--only", "features"]) == 0
    before_first = ev.where(F.to_date("event_ts") < F.lit(first)).select("member_id", "offer_id").distinct().count()
    assert before_first > 0
    settings = ["--set", "offers.response.eval_days=20", "--set", "offers.response.min_rows_per_arm=5",
                "--set", "offers.response.bootstrap=30"]
    assert train_offer_response.main(args + settings + ["--as-of", "2026-11-01"]) == 0
    client = MlflowClient()
    v1 = client.get_model_version(MODEL, "1")
    m = client.get_run(v1.run_id).data.metrics
    assert m["eval_rows"] > 0 and m["train_rows"] > 0 and m["issues"] >= m["rows_with_features"] > 0
    # issues before the first snapshot have no features: left out, counted
    assert m["rows_without_features"] >= before_first
    assert m["uplift_qini_ci_low"] <= m["uplift_qini"] <= m["uplift_qini_ci_high"]
    # the gate's decision follows its numbers: never above the propensity baseline's Qini
    promoted = m["uplift_qini"] >= m["propensity_qini"]
    assert v1.tags["gate.promoted"] == str(promoted).lower()
    assert lake.exists(cfg, "gold.member_features")

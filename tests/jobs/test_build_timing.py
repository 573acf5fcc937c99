"""build_timing end to end on the tiny lake (generate -> bronze -> silver -> gold -> segments), checked
against silver.members at as_of (consent, activity) and the generator's planted truth."""

import os
from datetime import date, datetime

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from jobs import build_timing, score_segments, train_segments
from loyalty import lake
from loyalty.timing import evaluate, run
from loyalty.timing.settings import CONSENT_COLUMNS, SOURCES, TIMING_COLUMNS

AS_OF = date(2026, 11, 1)              # the latest snapshot tiny_gold builds (tests/conftest.py GOLD_AS_OF)


@pytest.fixture(scope="module")
def timed(tiny_gold, tmp_path_factory):
    cfg, args = tiny_gold
    args = args + ["--set", "timing.eval_days=14"]
    assert train_segments.main(args + ["--as-of", "2026-10-15"]) == 0
    assert score_segments.main(args) == 0                       # latest snapshot: 2026-11-01
    assert build_timing.main(args) == 0                         # default as_of: the latest features snapshot
    return cfg.with_overrides(["timing.eval_days=14"]), args


def active_members_at(spark, cfg, as_of):
    """Independent reference in Python: the silver.members version valid at as_of, per member."""
    cut = datetime(as_of.year, as_of.month, as_of.day)
    out = {}
    for r in lake.read(spark, cfg, "silver.members").collect():        # a few hundred rows in this test
        if r["valid_from"] < cut and (r["valid_to"] is None or r["valid_to"] >= cut):
            if r["status"] == "ACTIVE" and r["enrollment_date"] < as_of:
                out[r["member_id"]] = {ch: bool(r[col]) for ch, col in CONSENT_COLUMNS.items()}
    return out


def test_table_covers_every_active_member_on_consented_channels_only(spark, timed):
    cfg, _ = timed
    table = lake.read(spark, cfg, run.TIMING_TABLE)
    assert table.columns == TIMING_COLUMNS
    rows = table.where(F.col("as_of") == F.lit(AS_OF)).collect()
    active = active_members_at(spark, cfg, AS_OF)
    assert len(active) > 100
    assert {r["member_id"] for r in rows} == set(active)                 # nobody dropped, nobody extra
    for r in rows:
        assert r["channel"] == "APP" or active[r["member_id"]][r["channel"]], r   # APP needs no consent
        assert r["source"] in SOURCES and 0.0 <= r["confidence"] <= 1.0
        assert 0 <= r["best_hour"] <= 23 and 1 <= r["best_dow"] <= 7
    per = {}
    for r in rows:
        per.setdefault(r["member_id"], []).append(r)
    for member, mine in per.items():
        consented = {ch for ch, ok in active[member].items() if ok} | {"APP"}
        assert {r["channel"] for r in mine} == consented                 # every consented channel, ranked
        assert sorted(r["channel_rank"] for r in mine) == list(range(1, len(mine) + 1))
        assert sum(r["channel_score"] for r in mine) == pytest.approx(1.0)
        assert len({(r["best_dow"], r["best_hour"], r["confidence"], r["source"]) for r in mine}) == 1
    sources = {r["source"] for r in rows}
    assert "member" in sources and "segment" in sources                  # segments exist: no population prior


def test_hit_rates_against_the_planted_truth_and_the_population(spark, timed, capsys):
    cfg, _ = timed
    truth = spark.read.parquet(os.path.join(cfg["paths.truth"], "members.parquet"))
    served = lake.read(spark, cfg, run.TIMING_TABLE).where(F.col("as_of") == F.lit(AS_OF))
    fitted = run.fit_at(spark, cfg, AS_OF)
    try:
        m = evaluate.hit_rates(evaluate.top_choice(served), fitted.baseline, evaluate.truth_targets(truth))
    finally:
        fitted.unpersist()
    with capsys.disabled():
        print(f"\ntiming vs planted truth on the tiny lake ({m['channel_members']} members): top-1 channel "
              f"{m['channel_hit']:.3f} vs population {m['channel_hit_baseline']:.3f}; hour within one "
              f"{m['hour_hit']:.3f} vs population {m['hour_hit_baseline']:.3f}")
    assert m["channel_members"] > 100 and m["hour_members"] == m["channel_members"]
    assert m["channel_hit"] > m["channel_hit_baseline"] + 2 * m["channel_hit_lift_se"]
    assert m["hour_hit"] > m["hour_hit_baseline"]


def test_rerun_replaces_only_its_as_of_and_logs_the_run(spark, timed):
    cfg, args = timed
    before = lake.read(spark, cfg, run.TIMING_TABLE).where(F.col("as_of") == F.lit(AS_OF)).count()
    assert build_timing.main(args + ["--as-of", "2026-10-15"]) == 0
    assert build_timing.main(args + ["--as-of", str(AS_OF)]) == 0
    counts = {r[0]: r[1] for r in lake.read(spark, cfg, run.TIMING_TABLE).groupBy("as_of").count().collect()}
    assert counts[AS_OF] == before and set(counts) == {AS_OF, date(2026, 10, 15)}
    client = MlflowClient()                       # this test's store (tests/conftest.py): the two runs above
    exp = client.get_experiment_by_name("loyalty/build_timing")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"build_timing-2026-10-15", f"build_timing-{AS_OF}"}
    data = runs[f"build_timing-{AS_OF}"].data
    assert data.params["as_of"] == str(AS_OF) and data.params["eval_cutoff"] == "2026-10-18"
    assert data.params["data.gold.member_segments.version"] == str(lake.version(cfg, run.SEGMENTS_TABLE))
    assert data.params["prior_strength"] == "5.0" and data.params["segments_as_of"] == str(AS_OF)
    for key in ("eval_channel_hit", "eval_channel_hit_baseline", "eval_hour_hit", "eval_hour_hit_baseline",
                "eval_channel_hit_lift_se", "eval_channel_members"):
        assert key in data.metrics
    assert data.metrics["members"] * 1 == lake.read(spark, cfg, run.TIMING_TABLE).where(
        F.col("as_of") == F.lit(AS_OF)).select("member_id").distinct().count()


def test_bad_arguments_and_settings_exit_2(timed):
    _, args = timed
    assert build_timing.main(args + ["--as-of", "2026-11-31"]) == 2
    assert build_timing.main(args + ["--set", "timing.prior_strength=-1"]) == 2

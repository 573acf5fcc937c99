"""plan_offers end to end on a small lake written here: the guarantees (consent at the plan date
under SCD2, global holdout, caps, budgets and partner caps), controls, a re-run replacing only its
week with the same plan, the summary and holdout tables, the MLflow run, and exit codes.

The response scores come from a fixed formula (``fake_scorer``), so the test checks the planner and
not the model; the model has its own tests (offers.response)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from jobs import plan_offers
from loyalty import conf, lake
from loyalty.offers import run
from loyalty.offers.holdout import python_in_global_holdout

WEEK, WEEK2 = date(2026, 11, 2), date(2026, 11, 9)
N = 240
HIGH = datetime(9999, 12, 31)
CONSENT_CUT, LATE_CUT = datetime(2026, 10, 30), datetime(2026, 11, 5)
OFFERS = [  # offer, banner, category, partner, reward_cost, margin_rate, min_spend, budget, start, end
    ("OF-1", "FRESHMART", "FRUIT", "FRESHMART", "1.50", 0.30, "20.00", "60.00", date(2026, 10, 26), date(2026, 11, 15)),
    ("OF-2", "VALUMART", "CHIPS", "BANK", "1.00", 0.25, "15.00", "1000.00", date(2026, 11, 2), date(2026, 11, 15)),
    ("OF-3", "FRESHMART", "CHEESE", "BANK", "2.00", 0.35, "25.00", "1000.00", date(2026, 11, 4), date(2026, 11, 10)),
    ("OF-4", "VALUMART", "COFFEE", "VALUMART", "1.00", 0.30, "10.00", "20.00", date(2026, 11, 1), date(2026, 11, 21)),
    ("OF-9", "FRESHMART", "FRUIT", "FRESHMART", "1.00", 0.30, "10.00", "500.00", date(2026, 9, 1), date(2026, 10, 31)),
]
BANK_CAP = 25.0


def consents(i: int, version: int) -> tuple[bool, bool, bool, bool]:
    """(email, sms, push, mail) of member i's version (0: from the start; 1: from CONSENT_CUT for i % 10 == 0,
    email withdrawn; 2: from LATE_CUT for i % 10 == 1, everything withdrawn after the plan date)."""
    email, sms, push, mail = i % 3 != 0, i % 4 == 0, i % 2 == 0, i % 5 == 0
    if version == 1:
        email = False
    if version == 2:
        email = sms = push = mail = False
    return email, sms, push, mail


def member_rows():
    rows = []
    for i in range(N):
        mid = f"M{i:04d}"
        base = (mid, "FRESHMART" if i % 2 else "VALUMART", "BC" if i % 7 == 0 else "ON", "35-44", date(2025, 1, 1),
                "INACTIVE" if i % 17 == 5 else "ACTIVE")
        cut = CONSENT_CUT if i % 10 == 0 else LATE_CUT if i % 10 == 1 else None
        if cut is None:
            rows.append((*base, *consents(i, 0), datetime(2025, 1, 1), HIGH, True))
        else:
            rows.append((*base, *consents(i, 0), datetime(2025, 1, 1), cut, False))
            rows.append((*base, *consents(i, 1 if i % 10 == 0 else 2), cut, HIGH, True))
    return rows


def valid_version(rows, mid, at: datetime):
    hits = [r for r in rows if r[0] == mid and r[10] <= at < r[11]]
    assert len(hits) <= 1
    return hits[0] if hits else None


def fake_scorer(pairs, features, offers):
    u = (F.pmod(F.xxhash64("member_id", "offer_id"), F.lit(1000)) / 1000.0)
    scores = pairs.select("member_id", "offer_id", (0.05 + 0.25 * u).alias("uplift"),
                          (0.10 + 0.05 * u).alias("p_control"))
    return scores.withColumn("p_treated", F.col("p_control") + F.col("uplift")), {"fake_response": "1"}


@pytest.fixture(scope="module")
def plan_lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    cfg = conf.load("test", [f"data_root={root}"])
    mrows = member_rows()
    lake.overwrite(spark.createDataFrame(mrows, "member_id string, home_banner string, province string, age_band string, "
                                                "enrollment_date date, status string, consent_email boolean, "
                                                "consent_sms boolean, consent_push boolean, consent_mail boolean, "
                                                "valid_from timestamp, valid_to timestamp, is_current boolean"),
                   cfg, "silver.members")
    lake.overwrite(spark.createDataFrame(
        [(o, "BONUS_POINTS", b, c, p, Decimal(rc), mr, Decimal(ms), Decimal(bu), s, e, Decimal("500"))
         for o, b, c, p, rc, mr, ms, bu, s, e in OFFERS],
        "offer_id string, offer_type string, banner string, target_category string, funding_partner string, "
        "reward_cost decimal(10,2), margin_rate double, min_spend decimal(10,2), campaign_budget decimal(12,2), "
        "start_date date, end_date date, reward_value decimal(10,2)"), cfg, "silver.offers")
    lake.overwrite(spark.createDataFrame(
        [(f"E{i}", "OF-1", f"M{i:04d}", "REDEEMED", date(2026, 10, 20)) for i in range(3, N, 9)],
        "event_id string, offer_id string, member_id string, event_type string, event_date date"),
        cfg, "silver.offer_events")
    lake.overwrite(spark.createDataFrame(
        [(f"M{i:04d}", date(2026, 11, 1), 0.5 + 0.5 * (i % 2), 0.5 - 0.5 * (i % 2) + 0.25 * (i % 4 == 0), 0.0)
         for i in range(N)],
        "member_id string, as_of date, spend_share_freshmart double, spend_share_valumart double, "
        "dept_share_baby double"), cfg, "gold.member_features", partition_by=["as_of"])
    # timing ranks SMS first for everyone, and APP (never a planned channel) above all for some
    timing = [(f"M{i:04d}", date(2026, 11, 1), ch, rank, 1.0, 1 + i % 7, 8 + i % 12, 0.5, "member")
              for i in range(N) for ch, rank in (("SMS", 1), ("PUSH", 2), ("EMAIL", 3), ("MAIL", 4))]
    timing += [(f"M{i:04d}", date(2026, 11, 1), "APP", 0, 1.0, 3, 12, 0.5, "member") for i in range(0, N, 3)]
    lake.overwrite(spark.createDataFrame(timing, "member_id string, as_of date, channel string, channel_rank int, "
                                                 "channel_score double, best_dow int, best_hour int, confidence double, "
                                                 "source string"), cfg, "gold.member_timing", partition_by=["as_of"])
    return cfg, root, mrows


def run_job(root, week, monkeypatch, *extra):
    monkeypatch.setattr(run, "champion_scorer", lambda cfg: fake_scorer)
    return plan_offers.main(["--env", "test", "--set", f"data_root={root}", "--week", week.isoformat(),
                             "--set", f"offers.plan.partner_caps.BANK={BANK_CAP}", *extra])


def collect_plan(spark, cfg, week):
    return sorted(tuple(r) for r in lake.read(spark, cfg, "gold.offer_plan").where(F.col("plan_week") == F.lit(week))
                  .drop("model_versions").collect())


def weekly_budget(offer, week):
    _o, _b, _c, _p, _rc, _mr, _ms, budget, start, end = next(x for x in OFFERS if x[0] == offer)
    lo, hi = max(start, week), min(end, week + timedelta(days=6))
    return float(budget) * ((hi - lo).days + 1) / ((end - start).days + 1)


def test_plan_guarantees_rerun_and_tables(spark, plan_lake, monkeypatch):
    cfg, root, mrows = plan_lake
    assert run_job(root, WEEK, monkeypatch) == 0
    first = collect_plan(spark, cfg, WEEK)
    plan = lake.read(spark, cfg, "gold.offer_plan").where(F.col("plan_week") == F.lit(WEEK)).collect()
    assert len(plan) > 50
    at = datetime(WEEK.year, WEEK.month, WEEK.day)
    holdout = {f"M{i:04d}" for i in range(N) if python_in_global_holdout(f"M{i:04d}", "loyalty-global-holdout-v1", 0.05)}
    assert holdout                                           # the lake has holdout members to leave out
    per_member, per_channel, cost = {}, {}, {}
    flags = {"EMAIL": 6, "SMS": 7, "PUSH": 8, "MAIL": 9}
    for r in plan:
        v = valid_version(mrows, r["member_id"], at)
        assert v is not None and v[5] == "ACTIVE"
        assert r["channel"] in flags and v[flags[r["channel"]]], (r["member_id"], r["channel"])   # consent at the plan date
        assert r["member_id"] not in holdout
        per_member[r["member_id"]] = per_member.get(r["member_id"], 0) + 1
        key = (r["member_id"], r["channel"])
        per_channel[key] = per_channel.get(key, 0) + 1
        cost[r["offer_id"]] = cost.get(r["offer_id"], 0.0) + r["expected_cost"]
        assert WEEK <= r["send_at_local"].date() <= WEEK + timedelta(days=6)
    assert max(per_member.values()) <= 2 and max(per_channel.values()) <= 1
    assert "OF-9" not in cost                                # ended before the week
    assert not any(r["member_id"] == f"M{i:04d}" and r["offer_id"] == "OF-1" for r in plan for i in range(3, N, 9))
    for offer, spent in cost.items():
        assert spent <= weekly_budget(offer, WEEK) * 1.005, offer
    assert cost.get("OF-2", 0.0) + cost.get("OF-3", 0.0) <= BANK_CAP * 1.005
    # members whose consent changed: M..0 lost email before the plan date, M..1 lost all after it
    assert not any(r["member_id"] == f"M{i:04d}" and r["channel"] == "EMAIL" for r in plan for i in range(0, N, 10))
    assert any(int(r["member_id"][1:]) % 10 == 1 for r in plan)
    # controls: round(10%) of each offer's pairs
    for offer in cost:
        n = sum(1 for r in plan if r["offer_id"] == offer)
        assert sum(1 for r in plan if r["offer_id"] == offer and r["is_control"]) == round(0.1 * n + 1e-9)
    # summary: one row per active offer, numbers equal to the plan's
    summary = {r["offer_id"]: r for r in lake.read(spark, cfg, "gold.offer_plan_summary")
               .where(F.col("plan_week") == F.lit(WEEK)).collect()}
    assert set(summary) == {"OF-1", "OF-2", "OF-3", "OF-4"}
    for offer, spent in cost.items():
        assert summary[offer]["selected_cost"] == pytest.approx(spent)
        assert summary[offer]["budget"] == pytest.approx(weekly_budget(offer, WEEK))
    got_holdout = {r["member_id"] for r in lake.read(spark, cfg, "gold.global_holdout").collect()}
    assert got_holdout == holdout
    assert {tuple(sorted(r["model_versions"].items())) for r in plan} == {
        (("fake_response", "1"), ("gold.member_features.as_of", "2026-11-01"), ("gold.member_timing.as_of", "2026-11-01"))}

    # another week, then the first again: same plan, the other week untouched
    assert run_job(root, WEEK2, monkeypatch) == 0
    second = collect_plan(spark, cfg, WEEK2)
    assert second
    assert run_job(root, WEEK, monkeypatch) == 0
    assert collect_plan(spark, cfg, WEEK) == first
    assert collect_plan(spark, cfg, WEEK2) == second

    # the MLflow run holds the plan's numbers
    from mlflow.tracking import MlflowClient
    from loyalty.ml import tracking
    tracking.configure(cfg)
    exp = MlflowClient().get_experiment_by_name("loyalty/offer_plan")
    runs = MlflowClient().search_runs([exp.experiment_id])
    assert len(runs) == 3
    m = runs[0].data.metrics
    assert m["objective"] <= m["dual_bound"] + 1e-9 and m["max_budget_use"] <= 1.005


def test_bad_arguments_and_missing_inputs(spark, plan_lake, monkeypatch, tmp_path):
    _cfg, root, _ = plan_lake
    assert run_job(root, date(2026, 11, 4), monkeypatch) == 2                      # not a Monday
    assert run_job(root, WEEK, monkeypatch, "--set", "offers.plan.control_share=2") == 2
    assert run_job(root, date(2027, 6, 7), monkeypatch) == 1                       # no offer active that week
    assert run_job(tmp_path, WEEK, monkeypatch) == 1                               # an empty lake

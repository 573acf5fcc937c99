"""The planted offer truth: the response function (recomputed from the truth files by
true_response, against the probabilities the history was drawn with and against a plain-Python
reimplementation of the documented formula), the planted conversions against those
probabilities, regular categories against the receipts, the persistent global holdout, and the
catalog (economics added part-way, future offers) through bronze and silver.

One generation at the test env's scale (300 members x 60 days, 6 + 6 offers) for the module."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs import build_silver, ingest_bronze
from loyalty import conf, lake
from loyalty.generate import generate
from loyalty.generate.offers import ECONOMICS_COLUMNS
from loyalty.generate.reference import CATEGORIES, DEPARTMENT_MARGIN, RETAIL_POINTS_PER_DOLLAR
from loyalty.generate.response import ResponseParams, default_params, true_response
from loyalty.offers.holdout import python_in_global_holdout

MEMBERS, DAYS, SEED = 300, 60, 11


@pytest.fixture(scope="module")
def gen(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("gen_offers")
    args = ["--env", "test", "--set", f"data_root={root}"]
    cfg = conf.load("test", [f"data_root={root}"])
    report = generate(spark, cfg, members=MEMBERS, days=DAYS, seed=SEED, defect_rate=0.0)
    truth = Path(cfg.get("paths.truth"))
    read = lambda name: pq.read_table(truth / name).to_pylist()   # noqa: E731
    return SimpleNamespace(
        cfg=cfg, args=args, report=report, truth=truth, landing=Path(cfg.get("paths.landing")),
        end=dt.date.fromisoformat(report["window"]["end"]), start=dt.date.fromisoformat(report["window"]["start"]),
        members={m["member_id"]: m for m in read("members.parquet")},
        offers={o["offer_id"]: o for o in read("offers.parquet")},
        issues=read("offer_issues.parquet"),
        params=ResponseParams.from_json((truth / "offer_response.json").read_text()))


def python_response(p: ResponseParams, m: dict, o: dict) -> tuple[float, float]:
    """The formula of offer_response.json, written again in plain Python: (p_control, p_treated)."""
    regular = o["target_category"] in (m["regular_categories"] or [])
    banner = 1.0 if o["banner"] == m["home_banner"] else p.other_banner_mult
    pc = min(p.p_max, p.base[m["persona"]] * m["offer_base_effect"] * (p.regular_base_mult if regular else 1.0) * banner)
    strength = o["reward_cost"] / max(o["min_spend"], 0.01)
    lift = (p.uplift[m["persona"]][o["offer_type"]] * m["offer_responsiveness"]
            * (p.regular_uplift_mult[o["offer_type"]] if regular else 1.0) * banner
            * (max(strength, 1e-6) / p.strength_ref) ** p.reward_elasticity)
    if m["sleeping_dog"]:
        lift = -p.sleeping_dog_factor * pc
    return pc, min(p.p_max, max(0.0, pc + lift))


# -- the response function -------------------------------------------------------------------
def test_response_parameters_round_trip_and_are_the_planted_ones(gen):
    assert gen.params == default_params()
    text = (gen.truth / "offer_response.json").read_text()
    assert "formula" in json.loads(text) and ResponseParams.from_json(default_params().to_json()) == gen.params


def test_true_response_reproduces_the_probabilities_the_history_was_drawn_with(spark, gen):
    issues = spark.read.parquet(str(gen.truth / "offer_issues.parquet"))
    pairs = issues.select("member_id", "offer_id", *[F.col(c).alias(f"drawn_{c}") for c in
                                                     ("true_p_control", "true_p_treated", "true_uplift")])
    got = true_response(spark, str(gen.truth), pairs)
    worst = got.select(*[F.max(F.abs(F.col(c) - F.col(f"drawn_{c}"))).alias(c)
                         for c in ("true_p_control", "true_p_treated", "true_uplift")]).first()
    assert got.count() == len(gen.issues) > 200
    assert all(v is not None and v < 1e-12 for v in worst), worst


def test_true_response_matches_an_independent_python_formula_for_every_pair(spark, gen):
    pairs = spark.createDataFrame([(m, o) for m in sorted(gen.members) for o in sorted(gen.offers)] +
                                  [("M99999999", sorted(gen.offers)[0])], "member_id string, offer_id string")
    got = {(r["member_id"], r["offer_id"]): r for r in true_response(spark, str(gen.truth), pairs).collect()}
    assert got[("M99999999", sorted(gen.offers)[0])]["true_uplift"] is None      # unknown member: no truth
    for (mid, oid), r in got.items():
        if mid == "M99999999":
            continue
        pc, pt = python_response(gen.params, gen.members[mid], gen.offers[oid])
        assert r["true_p_control"] == pytest.approx(pc, abs=1e-12) and r["true_p_treated"] == pytest.approx(pt, abs=1e-12)


def test_uplift_is_heterogeneous_with_null_and_negative_responders(spark, gen):
    """Over every (member, offer of the window) pair: who gains, who does not, who loses."""
    rows = []
    for m in gen.members.values():
        for o in gen.offers.values():
            if not o["is_future"]:
                pc, pt = python_response(gen.params, m, o)
                rows.append((m, o, pt - pc))
    regular = lambda m, o: o["target_category"] in m["regular_categories"]   # noqa: E731
    mean = lambda xs: sum(xs) / len(xs)                                     # noqa: E731
    sleepers = [u for m, _o, u in rows if m["sleeping_dog"]]
    assert sleepers and max(sleepers) < 0                                   # an offer lowers their response
    bonus = [(regular(m, o), u) for m, o, u in rows if o["offer_type"] == "BONUS_POINTS" and not m["sleeping_dog"]]
    on_reg, off_reg = [u for r, u in bonus if r], [u for r, u in bonus if not r]
    assert on_reg and off_reg and mean(on_reg) < 0.2 * mean(off_reg)       # bonus on what they buy anyway: ~nothing
    by_type = defaultdict(list)            # over the whole catalog: both types in it
    for m in gen.members.values():
        for o in gen.offers.values():
            if not m["sleeping_dog"] and not regular(m, o):
                pc, pt = python_response(gen.params, m, o)
                by_type[(m["persona"], o["offer_type"])].append(pt - pc)
    assert mean(by_type[("budget_value", "BONUS_POINTS")]) > 1.5 * mean(by_type[("budget_value", "MULTIPLIER")])
    assert mean(by_type[("vip_family", "MULTIPLIER")]) > 1.3 * mean(by_type[("vip_family", "BONUS_POINTS")])
    by_persona = defaultdict(list)
    for m, _o, u in rows:
        by_persona[m["persona"]].append(u)
    assert mean(by_persona["lapsing"]) < 0.01 < mean(by_persona["points_maximizer_bank"])
    # the member averages in members.parquet are those pairs' means
    per_member = defaultdict(list)
    for m, _o, u in rows:
        per_member[m["member_id"]].append(u)
    for mid, us in per_member.items():
        assert gen.members[mid]["offer_uplift"] == pytest.approx(mean(us), abs=1e-9)


def test_planted_conversions_agree_with_the_true_probabilities_within_sampling_error(gen):
    for holdout, column in ((False, "true_p_treated"), (True, "true_p_control")):
        rows = [i for i in gen.issues if i["is_holdout"] == holdout and i["can_convert"]]
        rate = sum(i["converted"] for i in rows) / len(rows)
        expected = sum(i[column] for i in rows) / len(rows)
        se = math.sqrt(sum(i[column] * (1 - i[column]) for i in rows)) / len(rows)
        assert abs(rate - expected) < 4 * se, (holdout, rate, expected, se, len(rows))
    assert not [i for i in gen.issues if i["converted"] and not i["can_convert"]]


def test_the_landing_events_carry_the_planted_outcomes(gen):
    """REDEEMED events (clean feed: defect rate 0) are exactly the treated planted conversions."""
    redeemed, issued = set(), {}
    for path in sorted((gen.landing / "offer_events").iterdir()):
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        for line in lines[1:]:
            e = dict(zip(header, line.split(",")))
            if e["event_type"] == "REDEEMED":
                redeemed.add((e["member_id"], e["offer_id"]))
            elif e["event_type"] == "ISSUED":
                issued[(e["member_id"], e["offer_id"])] = e["holdout_flag"] == "Y"
    truth = {(i["member_id"], i["offer_id"]): i for i in gen.issues}
    assert issued == {k: v["is_holdout"] for k, v in truth.items()}
    assert redeemed == {k for k, v in truth.items() if v["converted"] and not v["is_holdout"]}


def test_regular_categories_are_what_the_member_buys_again_and_again(gen):
    """From the FreshMart lines alone: a member buys each of its regular categories far more
    often than each other category."""
    category = {}
    for line in (gen.landing / "products").glob("*.jsonl"):
        for row in line.read_text().splitlines():
            p = json.loads(row)
            category[p["upc"]] = p["category"]
    card = {m["loyalty_card_no"]: m for m in gen.members.values()}
    counts = defaultdict(Counter)
    for path in (gen.landing / "retail_freshmart").glob("*.csv"):
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        for line in lines[1:]:
            r = dict(zip(header, line.split(",")))
            if r["card_no"] in card and r["store_no"] != "FM9999":
                counts[r["card_no"]][category[r["upc"]]] += 1
    ratios = []
    for c, cats in counts.items():
        if sum(cats.values()) < 40:
            continue
        reg = set(card[c]["regular_categories"])
        on = sum(n for k, n in cats.items() if k in reg) / len(reg)
        off = sum(n for k, n in cats.items() if k not in reg) / (len(CATEGORIES) - len(reg))
        ratios.append(on / max(off, 0.5))
    assert len(ratios) >= 20
    assert sorted(ratios)[len(ratios) // 2] > 2.5, sorted(ratios)


# -- the persistent global holdout ---------------------------------------------------------------
def test_global_holdout_is_the_keyed_hash_and_never_gets_an_offer(gen):
    share, salt = gen.cfg.get("offers.holdout.share"), gen.cfg.get("offers.holdout.salt")
    flagged = {mid for mid, m in gen.members.items() if m["global_holdout"]}
    assert flagged == {mid for mid in gen.members if python_in_global_holdout(mid, salt, share)}
    assert 3 <= len(flagged) <= 30                                   # ~5% of 300
    assert not flagged & {i["member_id"] for i in gen.issues}
    ids = set()
    for path in (gen.landing / "offer_events").iterdir():
        ids |= {line.split(",")[2] for line in path.read_text().splitlines()[1:]}
    assert ids and not flagged & ids


# -- the catalog -------------------------------------------------------------------------------
def test_catalog_economics_arrive_in_a_later_restatement_of_every_offer(gen):
    files = sorted((gen.landing / "offers").iterdir())
    first, later = ([json.loads(x) for x in f.read_text().splitlines()] for f in files)
    mid_window = gen.start + dt.timedelta(days=DAYS // 2)
    assert [f.name for f in files] == [f"offers_catalog_{mid_window}.jsonl", f"offers_catalog_{gen.end}.jsonl"]
    assert all(not set(ECONOMICS_COLUMNS) & set(o) for o in first)
    assert {o["offer_id"] for o in first} == {k for k, o in gen.offers.items() if o["in_first_catalog"]}
    assert 0 < len(first) < len(later) == len(gen.offers) == 12
    for o in later:
        t = gen.offers[o["offer_id"]]
        cost = (o["reward_value"] * 0.001 if o["offer_type"] == "BONUS_POINTS"
                else (o["reward_value"] - 1) * RETAIL_POINTS_PER_DOLLAR * o["min_spend"] * 0.001)
        assert o["reward_cost"] == pytest.approx(round(cost, 2)) == pytest.approx(t["reward_cost"])
        dept = next(d for d, name in CATEGORIES if name == o["target_category"])
        assert abs(o["margin_rate"] - DEPARTMENT_MARGIN[dept]) <= 0.0305
        assert o["campaign_budget"] >= 10 and o["funding_partner"] in (o["banner"], "CINEMA", "BANK")
    assert {o["funding_partner"] for o in later} >= {"CINEMA", "BANK", "FRESHMART", "VALUMART"}


def test_future_offers_start_after_the_window_and_are_never_issued(gen):
    future = [o for o in gen.offers.values() if o["is_future"]]
    assert len(future) == 6
    for o in future:
        assert gen.end + dt.timedelta(days=1) <= o["start_date"] <= gen.end + dt.timedelta(days=21)
        assert 7 <= (o["end_date"] - o["start_date"]).days + 1 <= 28
    first_week = [o for o in future if o["start_date"] <= gen.end + dt.timedelta(days=7)]
    assert first_week and {o["banner"] for o in future} == {"FRESHMART", "VALUMART"}
    assert not {o["offer_id"] for o in future} & {i["offer_id"] for i in gen.issues}
    history = [o for o in gen.offers.values() if not o["is_future"]]
    assert all(o["end_date"] <= gen.end for o in history)


def test_silver_offers_carry_the_economics_from_the_generated_feed(spark, gen):
    assert ingest_bronze.main(gen.args + ["--sources", "offers"]) == 0
    assert build_silver.main(gen.args + ["--sources", "offers"]) == 0
    got = {r["offer_id"]: r for r in lake.read(spark, gen.cfg, "silver.offers").collect()}
    assert set(got) == set(gen.offers)
    for oid, r in got.items():
        t = gen.offers[oid]
        assert float(r["reward_cost"]) == pytest.approx(t["reward_cost"])
        assert float(r["campaign_budget"]) == pytest.approx(t["campaign_budget"])
        assert float(r["margin_rate"]) == pytest.approx(t["margin_rate"]) and r["funding_partner"] == t["funding_partner"]
        assert r["start_date"] == t["start_date"] and r["_source_file"].endswith(f"offers_catalog_{gen.end}.jsonl")

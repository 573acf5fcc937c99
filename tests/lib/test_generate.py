"""The synthetic feed generator, checked on what it writes: the landing files against the
contract in conf/sources.yaml, defects detected independently in the files against
defects.json, the planted structure recovered from the rows, and determinism.

One generation (tiny scale, defect rate 0.05 for statistical power) is shared by the module;
a second one, through the job's main(), must be byte-identical."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter, defaultdict
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from jobs import generate_feeds
from loyalty import conf
from loyalty.cli import UserError
from loyalty.generate import generate, members as gen_members, pools, reference
from loyalty.generate.context import Ctx, params_from, window_of
from loyalty.generate.offers import ECONOMICS_COLUMNS
from loyalty.generate.personas import NAMES, PERSONAS

MEMBERS, DAYS, SEED, RATE = 200, 45, 42, 0.05
TEXT_SEP = {"retail_freshmart": ",", "cinema_transactions": ";", "points_ledger": ",", "offer_events": ",",
            "crm_members": ",", "partner_links": ",", "stores": ","}


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gen(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    cfg = conf.load("test", [f"data_root={root}"])
    report = generate(spark, cfg, members=MEMBERS, days=DAYS, seed=SEED, defect_rate=RATE)
    landing, truth = Path(cfg.get("paths.landing")), Path(cfg.get("paths.truth"))
    return SimpleNamespace(cfg=cfg, report=report, landing=landing, truth=truth, root=root,
                           defects=json.loads((truth / "defects.json").read_text()),
                           manifest=json.loads((truth / "manifest.json").read_text()),
                           end=dt.date.fromisoformat(report["window"]["end"]))


@pytest.fixture(scope="module")
def feeds(gen):
    """Every landing row parsed: {source: [(file, row dict or None when malformed, raw line)]}."""
    sources = gen.cfg.section("sources")
    out = {}
    for name, src in sources.items():
        rows = []
        for path in _files(gen.landing, src["path"]):
            if src["format"] == "parquet":
                rows += [(path.name, r, None) for r in pq.read_table(path).to_pylist()]
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            if src["format"] == "csv":
                sep = src["options"]["sep"]
                header = lines[0].split(sep)
                for line in lines[1:]:
                    values = next(csv.reader(io.StringIO(line), delimiter=sep))
                    rows.append((path.name, dict(zip(header, values)) if len(values) == len(header) else None, line))
            else:
                for line in lines:
                    try:
                        rows.append((path.name, json.loads(line), line))
                    except json.JSONDecodeError:
                        rows.append((path.name, None, line))
        out[name] = rows
    return out


@pytest.fixture(scope="module")
def truth_members(gen):
    return {r["member_id"]: r for r in pq.read_table(gen.truth / "members.parquet").to_pylist()}


@pytest.fixture(scope="module")
def crm(feeds):
    """Member records: the full export overlaid by the later delta."""
    ordered = sorted(((f, r) for f, r, _ in feeds["crm_members"] if r), key=lambda x: x[0])
    return {r["member_id"]: r for _f, r in ordered}


def _files(landing: Path, pattern: str) -> list[Path]:
    folder, glob = pattern.split("/", 1)
    return sorted(p for p in (landing / folder).iterdir() if fnmatch(p.name, glob))


def _good(feeds, source):
    return [r for _f, r, _l in feeds[source] if r is not None]


# -- the contract ---------------------------------------------------------------------------
def test_every_source_lands_in_its_folder_with_the_contract_columns(gen):
    sources = gen.cfg.section("sources")
    assert set(gen.report["sources"]) == set(sources)
    for name, src in sources.items():
        files = _files(gen.landing, src["path"])
        assert files, f"no files for {name}"
        listed = sorted(f["file"] for f in gen.report["sources"][name]["files"])
        assert listed == sorted(p.name for p in files), name
        assert not [p for p in (gen.landing / src["path"].split("/")[0]).iterdir() if p.name.startswith(".")]
        for path in files:
            if src["format"] == "parquet":
                assert pq.read_schema(path).names == src["columns"], path.name
            elif src["format"] == "csv":
                lines = path.read_text(encoding="utf-8").splitlines()
                header = lines[0].split(src["options"]["sep"])
                extra = ["fulfillment_type"] if name == "retail_freshmart" and len(header) > len(src["columns"]) else []
                assert header == src["columns"] + extra, path.name
                assert lines.count(lines[0]) == 1, f"{path.name}: one header, on the first line"
            else:
                keys = next(list(json.loads(line)) for line in path.read_text().splitlines()
                            if line.startswith("{") and line.endswith("}") and _parses(line))
                # the offers restatement carries the economics the partner added part-way
                extra = ECONOMICS_COLUMNS if name == "offers" and len(keys) > len(src["columns"]) else []
                assert keys == src["columns"] + extra, path.name


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:
        return False


def test_files_are_monthly_partner_named_and_counted_in_the_manifest(gen, feeds):
    assert gen.manifest["params"]["members"] == MEMBERS and gen.manifest["seed"] == SEED
    fresh = sorted(p.name for p in _files(gen.landing, "retail_freshmart/*.csv"))
    assert fresh == ["freshmart_pos_2026-09_001.csv", "freshmart_pos_2026-10_001.csv"]
    for source, meta in gen.manifest["sources"].items():
        assert meta["rows"] == len(feeds[source]) == gen.report["sources"][source]["rows"], source
    schema = pq.read_schema(_files(gen.landing, "bank_card_spend/*.parquet")[0])
    assert str(schema.field("posted_ts").type).startswith("timestamp[us")
    assert str(schema.field("amount_cad").type).startswith("decimal")
    assert str(schema.field("points_earned").type) == "int32"


def test_rerun_with_same_parameters_does_nothing_and_other_parameters_are_refused(spark, gen):
    again = generate(spark, gen.cfg, members=MEMBERS, days=DAYS, seed=SEED, defect_rate=RATE)
    assert again["status"] == "skipped"
    with pytest.raises(UserError, match="different parameters"):
        generate(spark, gen.cfg, members=MEMBERS + 1, days=DAYS, seed=SEED, defect_rate=RATE)


# -- planted defects --------------------------------------------------------------------------
ID_KEYS = {"retail_freshmart": ("receipt_no", "line_no"), "retail_valumart": ("receiptId",),
           "cinema_transactions": ("trans_id",), "bank_card_spend": ("txn_ref",), "points_ledger": ("entry_id",),
           "offer_events": ("event_id",), "digital_events": ("event_id",)}
TS_FIELD = {"retail_freshmart": "txn_local_ts", "retail_valumart": "timestamp", "cinema_transactions": "trans_local_ts",
            "bank_card_spend": "posted_ts", "points_ledger": "entry_ts", "offer_events": "event_ts",
            "digital_events": "event_ts"}


def _detected(source: str, feeds, crm, gen) -> Counter:
    """Defects found in the files themselves, without looking at how they were planted."""
    cards = {r["loyalty_card_no"] for r in crm.values()}
    links = defaultdict(set)
    for r in _good(feeds, "partner_links"):
        links[r["partner"]].add(r["partner_account_id"])
    member_ok = {
        "retail_freshmart": lambda r: r["card_no"] in cards, "retail_valumart": lambda r: r["loyaltyId"] in cards,
        "cinema_transactions": lambda r: r["account_id"] in links["CINEMA"],
        "bank_card_spend": lambda r: r["customer_ref"] in links["BANK"],
    }.get(source, lambda r: r["member_id"] in crm)
    amount_bad = {
        "retail_freshmart": lambda r: not re.fullmatch(r"\d+", r["line_amount_cents"]),
        "retail_valumart": lambda r: not isinstance(r["total"], (int, float)) or r["total"] < 0,
        "cinema_transactions": lambda r: not re.fullmatch(r"\d+\.\d\d", r["amount"]),
        "bank_card_spend": lambda r: r["amount_cad"] < 0,
    }.get(source, lambda r: False)
    future_from = gen.end + dt.timedelta(days=2)
    found, seen = Counter(), Counter()
    for _f, r, _line in feeds[source]:
        if r is None:
            found["malformed_line"] += 1
            continue
        key = tuple(r[k] for k in ID_KEYS[source])
        seen[key] += 1
        if seen[key] > 1:
            found["duplicate"] += 1
        if source == "retail_freshmart" and r["store_no"] == "FM9999":
            found["test_store_rows"] += 1
        if not member_ok(r):
            found["unknown_member"] += 1
        ts = r[TS_FIELD[source]]
        day = ts.date() if isinstance(ts, dt.datetime) else dt.date.fromisoformat(ts[:10])
        if day >= future_from:
            found["future_timestamp"] += 1
        if amount_bad(r):
            found["bad_amount"] += 1
    return found


@pytest.mark.parametrize("source", sorted(ID_KEYS))
def test_defects_found_in_the_files_match_defects_json(source, gen, feeds, crm):
    recorded = gen.defects["sources"][source]["kinds"]
    found = _detected(source, feeds, crm, gen)
    file_level = {"late_file", "new_column"}
    assert dict(found) == {k: v for k, v in recorded.items() if k not in file_level}
    rows = gen.defects["sources"][source]["rows"]
    assert rows == len(feeds[source])
    if rows >= 500:      # enough rows to judge the rate
        for kind in ("duplicate", "unknown_member", "future_timestamp"):
            assert 0.4 * RATE <= found[kind] / rows <= 1.7 * RATE, (kind, found[kind], rows)


def test_reference_feeds_stay_clean(gen, feeds):
    for source in ("crm_members", "partner_links", "stores", "products", "offers"):
        assert gen.defects["sources"][source]["kinds"] == {}
        assert all(r is not None for _f, r, _l in feeds[source]), source
    stores = _good(feeds, "stores")
    assert [s["store_id"] for s in stores if s["is_test_store"] == "Y"] == ["FM9999"]
    assert all(s["timezone"].startswith("America/") for s in stores)


def test_new_column_appears_only_in_the_later_freshmart_files(gen):
    counts = {}
    for path in _files(gen.landing, "retail_freshmart/*.csv"):
        lines = path.read_text().splitlines()
        counts[path.name] = (lines[0].endswith(",fulfillment_type"), len(lines) - 1)
    assert counts["freshmart_pos_2026-09_001.csv"][0] is False
    assert counts["freshmart_pos_2026-10_001.csv"][0] is True
    planted = gen.defects["sources"]["retail_freshmart"]["kinds"]["new_column"]
    assert planted == sum(n for has, n in counts.values() if has)


def test_late_valumart_file_holds_an_earlier_month(gen, feeds):
    late = gen.landing / "retail_valumart" / "valumart_receipts_2026-09_late.jsonl"
    assert late.exists()
    rows = [r for f, r, _ in feeds["retail_valumart"] if f == late.name and r and r["timestamp"][:10] < "2026-10-01"]
    assert rows and all(r["timestamp"].startswith("2026-09") and int(r["timestamp"][8:10]) >= 28 for r in rows)
    on_time = [r for f, r, _ in feeds["retail_valumart"]
               if f == "valumart_receipts_2026-09_001.jsonl" and r and r["timestamp"][:10] <= gen.end.isoformat()]
    assert not [r for r in on_time if r["timestamp"][:7] == "2026-09" and int(r["timestamp"][8:10]) >= 28]
    assert gen.defects["sources"]["retail_valumart"]["kinds"]["late_file"] == sum(
        1 for f, _r, _l in feeds["retail_valumart"] if f == late.name)


# -- planted structure ------------------------------------------------------------------------
def test_personas_all_present_with_plausible_shares(gen, truth_members):
    shares = Counter(m["persona"] for m in truth_members.values())
    assert set(shares) == set(NAMES)
    for p in PERSONAS:
        assert abs(shares[p.name] / MEMBERS - p.share) < 0.09, (p.name, shares[p.name])
    params = json.loads((gen.truth / "personas.json").read_text())
    assert set(params) == set(NAMES) and params["lapsing"]["churn"] > params["vip_family"]["churn"]
    churned = [m for m in truth_members.values() if m["churned"]]
    assert churned and all(m["churn_date"] is not None for m in churned)


def _receipts(feeds, crm, gen):
    """(member_id, local datetime, receipt id, banner) of every clean receipt, both banners."""
    by_card = {r["loyalty_card_no"]: m for m, r in crm.items()}
    out = {}
    for r in _good(feeds, "retail_freshmart"):
        if r["store_no"] != "FM9999" and r["card_no"] in by_card:
            out[r["receipt_no"]] = (by_card[r["card_no"]], dt.datetime.fromisoformat(r["txn_local_ts"]), "FRESHMART")
    for r in _good(feeds, "retail_valumart"):
        if r["loyaltyId"] in by_card:
            out[r["receiptId"]] = (by_card[r["loyaltyId"]], dt.datetime.fromisoformat(r["timestamp"][:19]), "VALUMART")
    return {k: v for k, v in out.items() if v[1].date() <= gen.end}


def test_preferred_day_and_hour_are_recovered_from_the_receipts(feeds, crm, gen, truth_members):
    trips = defaultdict(list)
    for member, when, _banner in _receipts(feeds, crm, gen).values():
        trips[member].append(when)
    regular = {m: t for m, t in trips.items() if len(t) >= 6}
    assert len(regular) >= 40
    dow_hits = sum(Counter(w.isoweekday() for w in t).most_common(1)[0][0] == truth_members[m]["preferred_dow"]
                   for m, t in regular.items())
    hour_hits = sum(Counter(w.hour for w in t).most_common(1)[0][0] == truth_members[m]["preferred_hour"]
                    for m, t in regular.items())
    assert dow_hits / len(regular) >= 0.7
    assert hour_hits / len(regular) >= 0.7


def test_ledger_earn_points_match_the_transactions(feeds):
    earn = defaultdict(dict)
    for r in _good(feeds, "points_ledger"):
        if r["entry_type"] == "EARN":
            earn[r["partner"]][r["source_ref"]] = int(r["points"])
    lines = defaultdict(list)
    for r in _good(feeds, "retail_freshmart"):
        lines[r["receipt_no"]].append(r)
    bad = {r["receipt_no"] for r in _good(feeds, "retail_freshmart") if not r["line_amount_cents"].isdigit()}
    # a malformed line keeps its receipt number readable but loses its amount: skip its receipt
    garbled = {re.split(r"[,|]", line)[0] for _f, r, line in feeds["retail_freshmart"] if r is None}
    eligible = [k for k, rows in lines.items() if k not in bad | garbled and rows[0]["store_no"] != "FM9999"]
    assert len(eligible) >= 0.3 * len(lines)     # at rate 0.05 per line, many receipts carry a bad line
    matched = [k for k in eligible if k in earn["FRESHMART"]]
    assert len(matched) >= 0.85 * len(eligible)      # the rest lost to the ledger feed's own defects
    for receipt in matched:
        unique = {r["line_no"]: r for r in lines[receipt]}
        assert earn["FRESHMART"][receipt] == sum(int(r["line_amount_cents"]) for r in unique.values()) // 10, receipt
    assert not set(earn["FRESHMART"]) & {r["receipt_no"] for r in _good(feeds, "retail_freshmart")
                                          if r["store_no"] == "FM9999"}
    for r in _good(feeds, "cinema_transactions"):
        if r["trans_id"] in earn["CINEMA"]:
            assert earn["CINEMA"][r["trans_id"]] == int(r["points_earned"])
    matched = [r for r in _good(feeds, "bank_card_spend") if r["txn_ref"] in earn["BANK"]]
    assert len(matched) >= 0.8 * len(_good(feeds, "bank_card_spend"))
    assert all(earn["BANK"][r["txn_ref"]] == r["points_earned"] for r in matched)
    kinds = Counter(r["entry_type"] for r in _good(feeds, "points_ledger"))
    assert kinds["EARN"] and kinds["REDEEM"] and kinds["ADJUST"]
    assert all(int(r["points"]) < 0 for r in _good(feeds, "points_ledger") if r["entry_type"] in ("REDEEM", "EXPIRE"))


def test_offer_events_respect_holdout_consent_and_point_at_real_receipts(feeds, crm, gen):
    events = _good(feeds, "offer_events")
    holdout = {(e["offer_id"], e["member_id"]) for e in events if e["holdout_flag"] == "Y"}
    assert holdout
    after_issue = [e for e in events if (e["offer_id"], e["member_id"]) in holdout and e["event_type"] != "ISSUED"]
    assert after_issue == []
    consent = {"EMAIL": "consent_email", "SMS": "consent_sms", "PUSH": "consent_push"}
    for e in events:
        if e["member_id"] in crm and e["channel"] in consent:
            assert crm[e["member_id"]][consent[e["channel"]]] == "Y", e
    offers = {o["offer_id"]: o for o in _good(feeds, "offers")}
    receipts = _receipts(feeds, crm, gen)
    redeemed = [e for e in events if e["event_type"] == "REDEEMED" and e["member_id"] in crm]
    assert redeemed
    found = [e for e in redeemed if e["redemption_ref"] in receipts]
    assert len(found) >= 0.8 * len(redeemed)
    for e in found:
        member, _when, banner = receipts[e["redemption_ref"]]
        assert member == e["member_id"] and banner == offers[e["offer_id"]]["banner"]


def test_treated_members_convert_more_than_holdout_members(feeds, crm, gen):
    """Conversion read from the receipts alone: target-category spend of at least min_spend at
    the offer's banner inside its window."""
    category = {p["upc"]: p["category"] for p in _good(feeds, "products")}
    by_card = {r["loyalty_card_no"]: m for m, r in crm.items()}
    spend = defaultdict(float)          # (member, banner, local date, receipt, category) -> dollars
    for r in _good(feeds, "retail_freshmart"):
        if r["card_no"] in by_card and r["line_amount_cents"].isdigit():
            key = (by_card[r["card_no"]], "FRESHMART", r["txn_local_ts"][:10], r["receipt_no"], category.get(r["upc"]))
            spend[key] += int(r["line_amount_cents"]) / 100
    for r in _good(feeds, "retail_valumart"):
        if r["loyaltyId"] in by_card:
            for item in r["items"]:
                key = (by_card[r["loyaltyId"]], "VALUMART", r["timestamp"][:10], r["receiptId"], category.get(item["upc"]))
                spend[key] += item["amount"]
    bought = defaultdict(list)
    for (member, banner, day, _receipt, cat), dollars in spend.items():
        bought[(member, banner, cat)].append((day, dollars))
    offers = {o["offer_id"]: o for o in _good(feeds, "offers")}
    rates = {"Y": [], "N": []}
    for e in _good(feeds, "offer_events"):
        if e["event_type"] == "ISSUED" and e["member_id"] in crm:
            o = offers[e["offer_id"]]
            hits = bought[(e["member_id"], o["banner"], o["target_category"])]
            rates[e["holdout_flag"]].append(any(o["start_date"] <= day <= o["end_date"] and dollars >= o["min_spend"]
                                                for day, dollars in hits))
    treated, holdout = (sum(v) / len(v) for v in (rates["N"], rates["Y"]))
    assert len(rates["Y"]) >= 20 and treated > holdout + 0.02, (treated, holdout, len(rates["N"]), len(rates["Y"]))


def test_channels_and_engagement_hours_are_planted_in_digital_events(feeds, truth_members):
    by_member = defaultdict(list)
    for e in _good(feeds, "digital_events"):
        if e["member_id"] in truth_members:
            by_member[e["member_id"]].append(e)
    busy = {m: ev for m, ev in by_member.items() if len(ev) >= 8}
    assert len(busy) >= 20
    hits = 0
    for m, ev in busy.items():
        preferred = truth_members[m]["preferred_channel"]
        top = Counter(e["channel"] for e in ev).most_common(1)[0][0]
        hits += top == ("APP" if preferred == "SMS" else preferred)
    assert hits / len(busy) >= 0.8


# -- determinism ------------------------------------------------------------------------------
def test_job_reproduces_identical_files_and_refuses_other_parameters(spark, gen, tmp_path):
    args = ["--env", "test", "--set", f"data_root={tmp_path}", "--members", str(MEMBERS), "--days", str(DAYS),
            "--seed", str(SEED), "--defect-rate", str(RATE)]
    assert generate_feeds.main(args) == 0              # the suite's running session is reused, not stopped
    other = tmp_path / "landing"
    names = sorted(str(p.relative_to(gen.landing)) for p in gen.landing.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(other)) for p in other.rglob("*") if p.is_file())
    for name in names:
        assert (gen.landing / name).read_bytes() == (other / name).read_bytes(), name
    assert (gen.truth / "members.parquet").read_bytes() == (tmp_path / "truth" / "members.parquet").read_bytes()
    assert generate_feeds.main(args) == 0                             # same parameters: nothing to do
    assert generate_feeds.main(args[:-4] + ["--seed", "7"]) == 1      # other parameters: refused without --force


def test_a_different_seed_gives_different_members(spark, gen, tmp_path):
    cfg = conf.load("test", [f"data_root={tmp_path}"])
    params = params_from(cfg, members=MEMBERS, days=DAYS, seed=7, defect_rate=RATE)
    ctx = Ctx(spark, params, window_of(params), pools.build(7), str(tmp_path / "work"))
    lines = {r["_line"] for r in gen_members.crm_feed(ctx, gen_members.build(ctx, reference.build(ctx))).df.collect()}
    landed = set()
    for path in _files(gen.landing, "crm_members/*.csv"):
        landed |= set(path.read_text().splitlines()[1:])
    assert len(lines) > 0.9 * MEMBERS and len(lines & landed) < 0.05 * len(lines)

"""conf ``offers.eligibility``, ``offers.caps`` and ``offers.plan`` -> ``PlanSettings`` (checked: a bad
value names the key and the file), the plan week, and the column names the planning modules share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from loyalty.conf import Config, ConfigError

MEMBER, OFFER = "member_id", "offer_id"
PLAN_WEEK = "plan_week"
PARTNER = "funding_partner"
VALUE, COST, UPLIFT, MARGIN = "value", "expected_cost", "expected_uplift", "expected_margin"
P_TREATED = "p_treated"
CHANNELS = "channels"          # array<string>: the member's consented channels at the plan date, best first
CAPACITY = "capacity"          # offers the member may still get this week (caps)
NO_REPEAT_KEYS = ("offer_id", "category")

PLAN_COLUMNS = [PLAN_WEEK, MEMBER, OFFER, "channel", "send_at_local", "send_at_utc", UPLIFT, MARGIN, COST,
                "is_control", "model_versions"]


class PlanError(Exception):
    """An expected failure of a plan run (no offer active that week, no candidates): one line, exit 1."""


@dataclass(frozen=True)
class Rule:
    """An eligibility rule: pairs whose offer satisfies ``offers`` (Spark SQL over the offer's columns)
    are kept only when the member satisfies ``members`` (SQL over member, segment and feature columns)."""
    name: str
    offers: str
    members: str


@dataclass(frozen=True)
class PlanSettings:
    # eligibility
    rules: tuple[Rule, ...]
    require_features: bool
    # caps
    per_member_week: int
    per_channel_week: int
    no_repeat_days: int
    no_repeat_by: str
    # channels
    consent_columns: dict          # channel -> consent column of silver.members
    channel_order: tuple[str, ...] # fallback ranking where gold.member_timing has no row
    default_dow: int               # 1 = Monday ... 7 = Sunday (member-local)
    default_hour: int
    default_timezone: str
    # allocation
    budget_pacing: str             # prorata | full
    partner_caps: dict             # funding partner -> weekly cap on expected cost (None: no cap)
    max_iterations: int
    tolerance: float               # budgets are met within this share before repair
    control_share: float
    seed: int
    experiment: str = "offer_plan"
    extra: dict = field(default_factory=dict)

    def log_params(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("rules", "extra", "partner_caps", "consent_columns")}
        out["rules"] = ";".join(r.name for r in self.rules) or "none"
        out["partner_caps"] = ",".join(f"{k}={v}" for k, v in sorted(self.partner_caps.items())) or "none"
        out["channel_order"] = ",".join(self.channel_order)
        return out


def from_conf(cfg: Config) -> PlanSettings:
    """Read and check conf ``offers.eligibility``, ``offers.caps`` and ``offers.plan``."""
    def where(key: str) -> str:
        return cfg.where(key)

    def get(key, kind, low=None, high=None):
        value = cfg.typed(key, kind)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if (low is not None and value < low) or (high is not None and value > high):
                span = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise ConfigError(f"setting '{key}' in {where(key)} must be {span}, got {value!r}")
        return value

    rules = []
    raw_rules = cfg.typed("offers.eligibility.rules", list)
    for i, item in enumerate(raw_rules):
        key = f"offers.eligibility.rules[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "offers", "members"} or "members" not in item:
            raise ConfigError(f"setting '{key}' in {where('offers.eligibility.rules')} must be a mapping "
                              f"{{name, offers, members}} (offers and members: Spark SQL conditions), got {item!r}")
        if not all(isinstance(item.get(k, ""), str) for k in ("name", "offers", "members")):
            raise ConfigError(f"setting '{key}' in {where('offers.eligibility.rules')}: name, offers and members "
                              f"must be text, got {item!r}")
        rules.append(Rule(item.get("name") or f"rule {i + 1}", item.get("offers") or "true", item["members"]))
    consent = cfg.typed("offers.plan.consent_columns", dict)
    for channel, column in consent.items():
        if not isinstance(column, str) or not column:
            raise ConfigError(f"setting 'offers.plan.consent_columns.{channel}' in {where('offers.plan.consent_columns')} "
                              f"must name a consent column of silver.members, got {column!r}")
    order = tuple(cfg.typed("offers.plan.channel_order", list))
    unknown = [c for c in order if c not in consent]
    if unknown or sorted(order) != sorted(set(order)):
        raise ConfigError(f"setting 'offers.plan.channel_order' in {where('offers.plan.channel_order')} must list "
                          f"channels of offers.plan.consent_columns ({', '.join(consent)}) once each, got {list(order)}")
    caps = {}
    for partner, value in (cfg.typed("offers.plan.partner_caps", dict) or {}).items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ConfigError(f"setting 'offers.plan.partner_caps.{partner}' in {where('offers.plan.partner_caps')} "
                              f"must be a number >= 0 (currency per week) or null (no cap), got {value!r}")
        caps[str(partner)] = None if value is None else float(value)
    s = PlanSettings(
        rules=tuple(rules),
        require_features=get("offers.eligibility.require_features", bool),
        per_member_week=get("offers.caps.per_member_week", int, 1),
        per_channel_week=get("offers.caps.per_channel_week", int, 1),
        no_repeat_days=get("offers.caps.no_repeat_days", int, 0),
        no_repeat_by=get("offers.caps.no_repeat_by", str),
        consent_columns=dict(consent), channel_order=order,
        default_dow=get("offers.plan.default_dow", int, 1, 7),
        default_hour=get("offers.plan.default_hour", int, 0, 23),
        default_timezone=get("offers.plan.default_timezone", str),
        budget_pacing=get("offers.plan.budget_pacing", str),
        partner_caps=caps,
        max_iterations=get("offers.plan.max_iterations", int, 1),
        tolerance=get("offers.plan.tolerance", float, 0.0, 0.5),
        control_share=get("offers.plan.control_share", float, 0.0, 0.9),
        seed=get("offers.plan.seed", int),
    )
    if s.no_repeat_by not in NO_REPEAT_KEYS:
        raise ConfigError(f"setting 'offers.caps.no_repeat_by' in {where('offers.caps.no_repeat_by')} must be one of "
                          f"{', '.join(NO_REPEAT_KEYS)}, got {s.no_repeat_by!r}")
    if s.budget_pacing not in ("prorata", "full"):
        raise ConfigError(f"setting 'offers.plan.budget_pacing' in {where('offers.plan.budget_pacing')} must be "
                          f"'prorata' or 'full', got {s.budget_pacing!r}")
    return s


def parse_week(text: str) -> date:
    """``--week YYYY-MM-DD``: the Monday that starts the plan week (ValueError with a clear message)."""
    try:
        week = date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"--week must be a date YYYY-MM-DD, got {text!r}") from None
    if week.weekday() != 0:
        monday = week - timedelta(days=week.weekday())
        raise ValueError(f"--week must be the Monday that starts the plan week, got {week} (a "
                         f"{week.strftime('%A')}; that week starts on {monday})")
    return week


def week_end(week: date) -> date:
    """The last day (Sunday) of the plan week starting on ``week``."""
    return week + timedelta(days=6)

"""The rule model: data quality rules declared in conf under ``dq.tables."<table>"``, parsed and
validated up front so a bad rule stops the job before Spark runs anything.

    dq:
      tables:
        silver.transactions:
          - {name: amount_non_negative, type: range, column: total_amount, min: 0, action: quarantine}

Every rule has ``name``, ``type``, ``action`` (warn | quarantine | fail), optional ``reason`` (text
shown in quarantine reasons and results) and optional ``where`` (a Spark SQL filter: the rule applies
only to rows where it is TRUE). Type-specific keys are listed in ``TYPE_KEYS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Sequence

from loyalty.cli import UserError
from loyalty.conf import Config, ConfigError

TYPES = ("not_null", "unique", "accepted_values", "range", "regex", "ref", "expr", "freshness")
ACTIONS = ("warn", "quarantine", "fail")
BLOCKING = ("quarantine", "fail")  # actions whose failing rows leave the valid output
TABLE_LEVEL = ("freshness",)  # rules judged on the whole table, not row by row

COMMON_KEYS = ("name", "type", "action", "reason", "where")
# type -> (required keys, optional keys)
TYPE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "not_null": (("column",), ()),
    "unique": ((), ("column", "columns")),  # exactly one of the two
    "accepted_values": (("column", "values"), ()),
    "range": (("column",), ("min", "max")),  # at least one of the two
    "regex": (("column", "pattern"), ()),
    "ref": (("column", "ref"), ("ref_column",)),
    "expr": (("expr",), ("null_ok",)),
    "freshness": (("column", "max_age_hours"), ()),
}
AS_OF = "{as_of}"  # placeholder in expr/where, replaced by apply(..., as_of=...) as a UTC timestamp
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]*$")


class DQError(UserError):
    """A data quality step could not run or refused the data (reported as one line by the cli)."""


class RuleError(ConfigError):
    """A rule that does not fit the data it is applied to (missing column, unknown ref, bad SQL)."""


@dataclass(frozen=True)
class Rule:
    name: str
    type: str
    action: str
    columns: tuple[str, ...] = ()
    values: tuple | None = None
    min: Any = None
    max: Any = None
    pattern: str | None = None
    expr: str | None = None
    ref: str | None = None
    ref_column: str | None = None
    max_age_hours: float | None = None
    null_ok: bool = False
    reason: str | None = None
    where: str | None = None
    origin: str = "<code>"  # "dq.tables.<table>[i] in <file>", for error messages

    @property
    def column(self) -> str | None:
        """The checked column (for multi-column unique rules: the columns joined by ', ')."""
        return ", ".join(self.columns) if self.columns else None

    @property
    def blocking(self) -> bool:
        return self.action in BLOCKING

    @property
    def table_level(self) -> bool:
        return self.type in TABLE_LEVEL

    def describe(self) -> str:
        """What a failure of this rule means, in words (the ``reason`` if given)."""
        if self.reason:
            return self.reason
        col = self.column
        if self.type == "not_null":
            return f"{col} is null"
        if self.type == "unique":
            return f"({col}) is not unique"
        if self.type == "accepted_values":
            return f"{col} not in {short_list(self.values or ())}"
        if self.type == "range":
            return f"{col} outside {bounds(self)}"
        if self.type == "regex":
            return f"{col} does not match {self.pattern}"
        if self.type == "ref":
            return f"{col} not found in {self.ref}.{self.ref_column}"
        if self.type == "expr":
            return f"not true: {self.expr}" + ("" if self.null_ok else " (null fails)")
        return f"max({col}) older than {_num(self.max_age_hours)} h"


def bounds(rule: Rule) -> str:
    low = "-inf" if rule.min is None else str(rule.min)
    high = "+inf" if rule.max is None else str(rule.max)
    return f"[{low}, {high}]"


def short_list(values: Sequence, limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in list(values)[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _num(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


# -- parsing -------------------------------------------------------------------------------------
def rules_for(cfg: Config, table: str, required: bool = False) -> list[Rule]:
    """The validated rules of ``table`` from ``dq.tables."<table>"`` (none if the table has no entry,
    unless ``required``). A malformed rule is a ConfigError naming ``dq.tables.<table>[i]`` and its file."""
    tables = cfg.get("dq.tables", None)
    if tables is None:
        tables = {}
    if not isinstance(tables, dict):
        raise ConfigError(f"setting 'dq.tables' in {cfg.where('dq.tables')} must be a mapping "
                          f"of table name -> list of rules")
    key = f"dq.tables.{table}"
    if table not in tables:
        if required:
            raise ConfigError(f"missing setting '{key}': no data quality rules for {table} "
                              f"(looked in {', '.join(cfg.files) or 'no files'})")
        return []
    return parse_rules(tables[table], table, key=key, source=cfg.where(key))


def parse_rules(raw: Any, table: str, key: str | None = None, source: str = "<code>") -> list[Rule]:
    """Parse and validate a list of rule mappings (as written in conf)."""
    key = key or f"dq.tables.{table}"
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"setting '{key}' in {source} must be a list of rules, got {type(raw).__name__}")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        rule = parse_rule(item, f"{key}[{i}]", source)
        if rule.name in seen:
            raise ConfigError(f"setting '{key}[{i}]' in {source}: rule name '{rule.name}' is already used "
                              f"by {key}[{seen[rule.name]}]; names must be unique per table")
        seen[rule.name] = i
        rules.append(rule)
    return rules


def parse_rule(raw: Any, key: str, source: str = "<code>") -> Rule:
    """One rule mapping -> Rule; ConfigError naming ``key`` and ``source`` when it is malformed."""
    label = ""

    def bad(message: str) -> ConfigError:
        return ConfigError(f"setting '{key}' in {source}: {label}{message}")

    if isinstance(raw, Rule):
        return raw
    if not isinstance(raw, dict):
        raise bad(f"a rule must be a mapping with name, type, action, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad(f"rule needs a 'name' of letters, digits, '_', '.', ':' or '-', got {name!r}")
    label = f"rule '{name}': "
    kind = raw.get("type")
    if kind not in TYPES:
        raise bad(f"unknown rule type {kind!r} (known: {', '.join(TYPES)})")
    action = raw.get("action")
    if action not in ACTIONS:
        raise bad(f"unknown or missing action {action!r} (known: {', '.join(ACTIONS)})")
    required, optional = TYPE_KEYS[kind]
    allowed = set(COMMON_KEYS) | set(required) | set(optional)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(unknown)} for a {kind} rule (allowed: {', '.join(sorted(allowed))})")
    missing = [k for k in required if raw.get(k) is None]
    if missing:
        raise bad(f"a {kind} rule needs {', '.join(missing)}")
    for text_key in ("reason", "where", "pattern", "expr", "ref", "ref_column"):
        value = raw.get(text_key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise bad(f"'{text_key}' must be a non-empty string, got {value!r}")

    fields: dict[str, Any] = {"name": name, "type": kind, "action": action, "reason": raw.get("reason"),
                              "where": raw.get("where"), "origin": f"{key} in {source}"}
    if kind == "unique":
        if ("column" in raw) == ("columns" in raw):
            raise bad("a unique rule needs exactly one of 'column' or 'columns'")
        cols = [raw["column"]] if "column" in raw else raw["columns"]
        if not isinstance(cols, list) or not cols:
            raise bad(f"'columns' must be a non-empty list of column names, got {cols!r}")
    else:
        cols = [raw["column"]] if "column" in raw else []
    for col in cols:
        if not isinstance(col, str) or not col.strip():
            raise bad(f"a column name must be a non-empty string, got {col!r}")
    if len(set(cols)) != len(cols):
        raise bad(f"columns repeat: {cols}")
    fields["columns"] = tuple(cols)

    if kind == "accepted_values":
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise bad(f"'values' must be a non-empty list, got {values!r}")
        if any(v is None or isinstance(v, (dict, list)) for v in values):
            raise bad(f"'values' must hold scalars (no null, lists or mappings), got {values!r}")
        fields["values"] = tuple(values)
    elif kind == "range":
        low, high = raw.get("min"), raw.get("max")
        if low is None and high is None:
            raise bad("a range rule needs 'min', 'max' or both")
        for bound_key, bound in (("min", low), ("max", high)):
            if bound is not None and (isinstance(bound, bool)
                                      or not isinstance(bound, (int, float, str, date, datetime))):
                raise bad(f"'{bound_key}' must be a number, date or string, got {bound!r}")
        if low is not None and high is not None:
            try:
                if low > high:
                    raise bad(f"'min' ({low}) is greater than 'max' ({high})")
            except TypeError:
                raise bad(f"'min' ({low!r}) and 'max' ({high!r}) are of different kinds") from None
        fields["min"], fields["max"] = low, high
    elif kind == "regex":
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise bad(f"'pattern' {raw['pattern']!r} is not a valid regular expression: {exc}") from None
        fields["pattern"] = raw["pattern"]
    elif kind == "ref":
        fields["ref"] = raw["ref"]
        fields["ref_column"] = raw.get("ref_column") or raw["column"]
    elif kind == "expr":
        null_ok = raw.get("null_ok", False)
        if not isinstance(null_ok, bool):
            raise bad(f"'null_ok' must be true or false, got {null_ok!r}")
        fields["expr"], fields["null_ok"] = raw["expr"], null_ok
    elif kind == "freshness":
        hours = raw["max_age_hours"]
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
            raise bad(f"'max_age_hours' must be a positive number, got {hours!r}")
        if action == "quarantine":
            raise bad("freshness is a table-level rule: its action must be warn or fail, not quarantine")
        fields["max_age_hours"] = float(hours)
    return Rule(**fields)

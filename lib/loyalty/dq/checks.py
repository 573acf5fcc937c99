"""Rule -> Spark expressions. Each row-level rule becomes three columns over the input rows:
``applies`` (the rule's ``where`` is TRUE), ``fails`` (a violation; never null) and ``reason`` (a
readable string with the offending value, only read on failing rows). ``ref`` and ``unique`` first
add helper columns (a left join to the distinct reference keys, a window count per key).

Nothing here runs a Spark job: analysis errors are turned into RuleErrors naming the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable
from datetime import date, datetime, timezone

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty.dq.rules import AS_OF, Rule, RuleError, bounds, short_list

HELPER = "__dq_"  # prefix of the temporary columns added while checking
MAX_VALUE_CHARS = 80


@dataclass
class Check:
    rule: Rule
    index: int
    applies: Column
    fails: Column | None = None  # None for table-level rules
    reason: Callable[[], Column] | None = None  # built only for rules whose reasons are shown
    dup_weight: Column | None = None  # unique: 1/n per failing row, sums to the number of duplicated keys
    max_micros: Column | None = None  # freshness: epoch micros of the checked column (where it applies)


def qcol(name: str) -> Column:
    """A top-level column by its exact name (dots and spaces are not nested-field access)."""
    return F.col("`" + name.replace("`", "``") + "`")


def as_of_micros(as_of: datetime | date) -> int:
    """Epoch microseconds of ``as_of`` (a naive datetime is UTC; a date is its UTC midnight)."""
    if not isinstance(as_of, datetime):
        as_of = datetime(as_of.year, as_of.month, as_of.day)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    delta = as_of - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def sql_text(text: str, rule: Rule, as_of: datetime | date | None) -> str:
    """``text`` with ``{as_of}`` replaced by a timestamp literal of apply's ``as_of``."""
    if AS_OF not in text:
        return text
    if as_of is None:
        raise RuleError(f"rule '{rule.name}' ({rule.origin}) uses {AS_OF}: pass apply(..., as_of=...)")
    return text.replace(AS_OF, f"timestamp_micros({as_of_micros(as_of)}L)")


# -- validation against the data -----------------------------------------------------------------
def validate(df: DataFrame, rules: list[Rule], refs: dict[str, DataFrame], as_of) -> None:
    """Every rule fits ``df``: its columns exist, its ref is given and has the key, its SQL parses
    to a boolean, freshness has an ``as_of``. Raises RuleError naming the rule."""
    columns = set(df.columns)
    clash = sorted(c for c in columns if c.startswith(HELPER))
    if clash:
        raise RuleError(f"input columns {clash} use the prefix {HELPER!r} reserved for data quality checks")
    for rule in rules:
        where = f"rule '{rule.name}' ({rule.type}, {rule.origin})"
        for col in rule.columns:
            if col not in columns:
                raise RuleError(f"{where} refers to column '{col}', which the data does not have "
                                f"(columns: {', '.join(df.columns)})")
        if rule.type == "ref":
            if rule.ref not in refs:
                raise RuleError(f"{where} needs the reference '{rule.ref}', but apply(refs=...) has "
                                f"{sorted(refs) or 'none'}")
            if rule.ref_column not in refs[rule.ref].columns:
                raise RuleError(f"{where}: reference '{rule.ref}' has no column '{rule.ref_column}' "
                                f"(columns: {', '.join(refs[rule.ref].columns)})")
        if rule.type == "freshness" and as_of is None:
            raise RuleError(f"{where} is judged against a reference time: pass apply(..., as_of=datetime)")
        for label, text in (("expr", rule.expr), ("where", rule.where)):
            if text is not None:
                _check_boolean(df, sql_text(text, rule, as_of), f"{where}: '{label}' {text!r}")


def _check_boolean(df: DataFrame, text: str, where: str) -> None:
    try:
        kind = df.select(F.expr(text).alias("x")).schema["x"].dataType
    except AnalysisException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuleError(f"{where} is not valid Spark SQL on this data: {first}") from None
    if not isinstance(kind, (T.BooleanType, T.NullType)):
        raise RuleError(f"{where} must be a boolean expression, but it gives {kind.simpleString()}")


# -- building -----------------------------------------------------------------------------------
def build(df: DataFrame, rule: Rule, index: int, refs: dict[str, DataFrame], as_of) -> tuple[DataFrame, Check]:
    """Add the helper columns ``rule`` needs to ``df`` and return its Check."""
    applies = F.lit(True) if rule.where is None else F.coalesce(F.expr(sql_text(rule.where, rule, as_of)),
                                                                 F.lit(False))
    builder = _BUILDERS[rule.type]
    return builder(df, rule, index, applies, refs, as_of)


def _value(col: Column) -> Column:
    """The offending value as readable text: null -> 'null', long values cut."""
    text = F.coalesce(col.cast("string"), F.lit("null"))
    return F.when(F.length(text) > MAX_VALUE_CHARS,
                  F.concat(F.substring(text, 1, MAX_VALUE_CHARS), F.lit("..."))).otherwise(text)


def _reason(rule: Rule, detail: Callable[[], Column] | str, value_cols: tuple[str, ...] = ()) -> Column:
    """'<name>: <detail>' where a configured ``reason`` replaces the detail and the offending values
    follow in parentheses."""
    parts: list[Column] = [F.lit(f"{rule.name}: ")]
    if rule.reason:
        parts.append(F.lit(rule.reason))
        if value_cols:
            parts.append(F.lit(" ("))
            for i, name in enumerate(value_cols):
                parts += [F.lit(("" if i == 0 else ", ") + f"{name}="), _value(qcol(name))]
            parts.append(F.lit(")"))
    else:
        parts.append(F.lit(detail) if isinstance(detail, str) else detail())
    return F.concat(*parts)


def _col_and(rule: Rule, text: str) -> Column:
    """'<column>=<value><text>' for single-column rules."""
    name = rule.columns[0]
    return F.concat(F.lit(f"{name}="), _value(qcol(name)), F.lit(text))


def _not_null(df, rule, i, applies, refs, as_of):
    col = qcol(rule.columns[0])
    fails = applies & col.isNull()
    return df, Check(rule, i, applies, fails, partial(_reason, rule, f"{rule.columns[0]} is null", rule.columns))


def _accepted_values(df, rule, i, applies, refs, as_of):
    col = qcol(rule.columns[0])
    values = list(rule.values)
    if isinstance(df.schema[rule.columns[0]].dataType, T.StringType):
        values = [str(v) for v in values]  # YAML may read codes like 01 as numbers; compare as text
    fails = applies & col.isNotNull() & ~col.isin(*values)
    detail = partial(_col_and, rule, " not in " + short_list(rule.values))
    return df, Check(rule, i, applies, F.coalesce(fails, F.lit(False)), partial(_reason, rule, detail, rule.columns))


def _range(df, rule, i, applies, refs, as_of):
    col = qcol(rule.columns[0])
    outside = F.lit(False)
    if rule.min is not None:
        outside = outside | (col < F.lit(rule.min))
    if rule.max is not None:
        outside = outside | (col > F.lit(rule.max))
    fails = applies & col.isNotNull() & F.coalesce(outside, F.lit(False))
    detail = partial(_col_and, rule, f" outside {bounds(rule)}")
    return df, Check(rule, i, applies, fails, partial(_reason, rule, detail, rule.columns))


def _regex(df, rule, i, applies, refs, as_of):
    col = qcol(rule.columns[0])
    fails = applies & col.isNotNull() & ~col.cast("string").rlike(rule.pattern)
    detail = partial(_col_and, rule, f" does not match {rule.pattern}")
    return df, Check(rule, i, applies, F.coalesce(fails, F.lit(False)), partial(_reason, rule, detail, rule.columns))


def _ref(df, rule, i, applies, refs, as_of):
    key, flag = f"{HELPER}r{i}_key", f"{HELPER}r{i}_found"
    ref_keys = (refs[rule.ref].select(qcol(rule.ref_column).alias(key)).where(F.col(key).isNotNull())
                .distinct().withColumn(flag, F.lit(True)))
    col = qcol(rule.columns[0])
    joined = df.join(ref_keys, col == F.col(key), "left").drop(key)
    fails = applies & col.isNotNull() & F.col(flag).isNull()
    detail = partial(_col_and, rule, f" not found in {rule.ref}.{rule.ref_column}")
    return joined, Check(rule, i, applies, fails, partial(_reason, rule, detail, rule.columns))


def _unique(df, rule, i, applies, refs, as_of):
    count = f"{HELPER}u{i}_n"
    keys = [qcol(c) for c in rule.columns]
    partition = keys if rule.where is None else [applies, *keys]  # with `where`: unique among matching rows
    counted = df.withColumn(count, F.count(F.lit(1)).over(Window.partitionBy(*partition)))
    all_keys = F.lit(True)
    for key in keys:
        all_keys = all_keys & key.isNotNull()
    fails = applies & all_keys & (F.col(count) > 1)

    def detail() -> Column:
        if len(keys) == 1:
            shown = F.concat(F.lit(f"{rule.column}="), _value(keys[0]))
        else:
            shown = F.concat(F.lit(f"({rule.column})=("), F.concat_ws(", ", *[_value(k) for k in keys]), F.lit(")"))
        return F.concat(shown, F.lit(" occurs "), F.col(count).cast("string"), F.lit(" times"))

    check = Check(rule, i, applies, fails, partial(_reason, rule, detail, rule.columns))
    check.dup_weight = F.when(fails, F.lit(1.0) / F.col(count))
    return counted, check


def _expr(df, rule, i, applies, refs, as_of):
    value = F.expr(sql_text(rule.expr, rule, as_of))
    fails = applies & ~F.coalesce(value, F.lit(rule.null_ok))

    def detail() -> Column:
        return F.concat(F.lit("expression is "), F.when(value.isNull(), F.lit("null")).otherwise(F.lit("false")),
                        F.lit(f": {rule.expr}"))

    return df, Check(rule, i, applies, fails, partial(_reason, rule, detail))


def _freshness(df, rule, i, applies, refs, as_of):
    col = qcol(rule.columns[0])
    kind = df.schema[rule.columns[0]].dataType
    if not isinstance(kind, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        raise RuleError(f"rule '{rule.name}' ({rule.origin}): freshness needs a timestamp or date column, "
                        f"'{rule.columns[0]}' is {kind.simpleString()}")
    micros = F.when(applies, F.unix_micros(col.cast("timestamp")))
    return df, Check(rule, i, applies, max_micros=micros)


_BUILDERS = {
    "not_null": _not_null, "accepted_values": _accepted_values, "range": _range, "regex": _regex,
    "ref": _ref, "unique": _unique, "expr": _expr, "freshness": _freshness,
}

"""Typed values from bronze's raw strings. Spark 4 runs with ANSI casts, so every parse uses a
try_ form: a value that does not parse becomes null, and the DQ rules that check the raw text
(``*_raw`` columns kept beside the typed ones) quarantine the row with the reason."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

MONEY = "decimal(12,2)"
NUMERIC_RE = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


def _c(col: Column | str) -> Column:
    return F.col(col) if isinstance(col, str) else col


def money_from_cents(col: Column | str) -> Column:
    """'12345' (integer cents) -> 123.45 CAD."""
    return (F.trim(_c(col)).try_cast("decimal(18,0)") / F.lit(100)).try_cast(MONEY)


def money_from_dollars(col: Column | str) -> Column:
    """'45.12' (dollars) -> 45.12 CAD."""
    return F.trim(_c(col)).try_cast("decimal(18,4)").try_cast(MONEY)


def is_numeric(col: Column | str) -> Column:
    return _c(col).rlike(NUMERIC_RE)


def to_int(col: Column | str) -> Column:
    return F.trim(_c(col)).try_cast("decimal(18,4)").try_cast("int")


def to_long(col: Column | str) -> Column:
    return F.trim(_c(col)).try_cast("decimal(20,4)").try_cast("long")


def utc_from_local(col: Column | str, tz: Column | str, fmt: str = "yyyy-MM-dd HH:mm:ss") -> Column:
    """A wall-clock time in zone ``tz`` (IANA name column) -> UTC timestamp."""
    wall = F.try_to_timestamp(_c(col), F.lit(fmt))
    return F.to_utc_timestamp(wall, _c(tz))


def utc_from_iso(col: Column | str) -> Column:
    """ISO-8601 with an offset or Z ('2026-05-03T14:22:10-04:00') -> UTC timestamp."""
    return F.trim(_c(col)).try_cast("timestamp")


def local_date(ts_utc: Column | str, tz: Column | str) -> Column:
    """The business date of a UTC instant in the store's or partner's time zone."""
    return F.to_date(F.from_utc_timestamp(_c(ts_utc), _c(tz)))


def local_hour(ts_utc: Column | str, tz: Column | str) -> Column:
    return F.hour(F.from_utc_timestamp(_c(ts_utc), _c(tz)))


def to_date(col: Column | str) -> Column:
    return F.try_to_timestamp(F.trim(_c(col)), F.lit("yyyy-MM-dd")).cast("date")


def yes_no(col: Column | str) -> Column:
    """Y/N, true/false, 1/0 -> boolean; anything else null."""
    v = F.upper(F.trim(_c(col)))
    return (F.when(v.isin("Y", "YES", "TRUE", "T", "1"), F.lit(True))
            .when(v.isin("N", "NO", "FALSE", "F", "0"), F.lit(False)))


def code(col: Column | str, mapping: dict[str, str] | None = None) -> Column:
    """Upper-cased, trimmed code, optionally mapped to the shared vocabulary; unmapped stays as is."""
    v = F.upper(F.trim(_c(col)))
    if not mapping:
        return v
    m = F.create_map(*[x for k, val in mapping.items() for x in (F.lit(k.upper()), F.lit(val))])
    return F.coalesce(m[v], v)

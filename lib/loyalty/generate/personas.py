"""The planted member personas and every behavioural parameter they drive, in one table.

Each member draws one persona (by ``share``). The persona sets the member's banner,
shopping rhythm, basket, partner use, digital habits, points behaviour, response to offers
and churn. The truth folder holds these parameters (personas.json) and each member's
persona, so tests and benchmarks can check what the pipeline recovers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from pyspark.sql import Column
from pyspark.sql import functions as F

from loyalty.generate.pools import literal_array, sql_literal
from loyalty.generate.rand import cumulative

# Columns of PERSONA_TABLE (one persona per row):
#   share      share of members              home_fm   P(home banner is FreshMart)
#   loyal      share of trips at home banner trips     grocery trips per week
#   basket     mean lines per receipt        pl        private-label share of non-staple lines
#   staples    repeat products per member    st_sh     share of lines that are a staple
#   promo      share of lines on promotion   dow_f     P(trip on the preferred weekday)
#   hour_f     P(trip in the preferred hour) cin_use   P(uses the cinema partner)
#   cin_pm     cinema visits per month       bank_use  P(holds the co-branded card)
#   bank_pw    card transactions per week    dig_pw    digital events per week
#   redeem     P(redeem in a month)          burn      share of last month's points redeemed
#   base       P(offer conversion) without the offer (control), before the member and offer factors
#   up_bonus   added P(conversion) when treated with a BONUS_POINTS offer   } before the member and
#   up_mult    added P(conversion) when treated with a MULTIPLIER offer     } offer factors (response.py)
#   sleep      share of "sleeping dogs": members whom any offer makes less likely to convert
#   view       P(views an issued offer it does not convert on)
#   churn      P(stops all activity at a churn date inside the window)
#   age_lo/hi  age range (years)
PERSONA_TABLE = """
name                   share home_fm loyal trips basket  pl  staples st_sh promo dow_f hour_f cin_use cin_pm bank_use bank_pw dig_pw redeem burn base up_bonus up_mult sleep view churn age_lo age_hi
vip_family              0.13  0.70   0.85  1.8   14    0.25   14    0.45  0.12  0.65  0.55   0.45    1.5   0.50     4.0    1.5    0.30  0.60 0.08   0.08    0.18   0.02  0.55 0.03   32     52
budget_value            0.21  0.15   0.90  1.1   10    0.55   10    0.50  0.25  0.60  0.50   0.08    0.6   0.15     1.5    0.6    0.55  0.90 0.07   0.16    0.08   0.02  0.45 0.05   25     70
urban_convenience       0.17  0.80   0.75  2.0    4    0.20    6    0.40  0.08  0.55  0.60   0.30    1.2   0.30     3.0    2.5    0.20  0.50 0.05   0.04    0.12   0.04  0.60 0.06   22     40
cinema_first            0.10  0.55   0.80  0.6    6    0.30    5    0.35  0.10  0.50  0.50   0.95    3.5   0.25     2.0    1.5    0.25  0.70 0.04   0.06    0.03   0.05  0.50 0.05   18     35
points_maximizer_bank   0.12  0.60   0.80  1.1   10    0.35    9    0.45  0.15  0.60  0.55   0.35    1.0   0.95     7.0    1.2    0.60  0.85 0.10   0.20    0.16   0.01  0.65 0.02   28     60
occasional              0.17  0.50   0.70  0.3    5    0.30    4    0.30  0.10  0.45  0.45   0.10    0.5   0.08     1.0    0.2    0.10  0.50 0.03   0.03    0.01   0.15  0.25 0.15   20     80
lapsing                 0.10  0.50   0.75  0.8    7    0.30    6    0.35  0.12  0.55  0.50   0.15    0.8   0.20     2.0    0.5    0.10  0.50 0.04   0.01    0.00   0.45  0.30 0.70   20     75
"""

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")       # preferred_dow 1..7 (ISO)
CHANNELS = ("EMAIL", "PUSH", "APP", "SMS")
DEPARTMENTS = ("produce", "dairy_eggs", "meat_seafood", "bakery", "pantry", "snacks",
               "beverages", "frozen", "household", "personal_care", "baby", "prepared_meals")

# Weight of each weekday (Mon..Sun) as the member's preferred shopping day.
DOW_WEIGHTS = {
    "vip_family":            (1, 1, 1, 1, 2, 6, 4),
    "budget_value":          (2, 4, 4, 2, 2, 3, 1),
    "urban_convenience":     (3, 3, 3, 3, 3, 1, 1),
    "cinema_first":          (1, 1, 1, 2, 3, 3, 2),
    "points_maximizer_bank": (2, 2, 2, 3, 3, 3, 2),
    "occasional":            (1, 1, 1, 1, 1, 2, 2),
    "lapsing":               (1, 1, 1, 1, 2, 2, 1),
}
# {store-local hour: weight} for the member's preferred shopping hour.
HOUR_WEIGHTS = {
    "vip_family":            {9: 2, 10: 4, 11: 3, 16: 1, 17: 1},
    "budget_value":          {9: 2, 10: 2, 11: 2, 13: 2, 14: 2, 15: 1},
    "urban_convenience":     {7: 1, 12: 2, 17: 3, 18: 4, 19: 3, 20: 1},
    "cinema_first":          {12: 1, 16: 2, 17: 2, 18: 2, 19: 2, 20: 1},
    "points_maximizer_bank": {10: 2, 11: 2, 15: 2, 16: 2, 17: 2, 18: 2},
    "occasional":            {10: 1, 11: 1, 12: 1, 13: 1, 14: 1, 15: 1, 16: 1, 17: 1},
    "lapsing":               {10: 1, 13: 1, 15: 1, 17: 1, 19: 1},
}
# Preferred digital channel (EMAIL, PUSH, APP, SMS); the member always consents to it.
CHANNEL_WEIGHTS = {
    "vip_family":            (3.0, 2.0, 5.0, 0.5),
    "budget_value":          (5.0, 1.0, 2.0, 2.5),
    "urban_convenience":     (1.5, 4.5, 4.0, 0.5),
    "cinema_first":          (1.5, 3.0, 5.0, 0.5),
    "points_maximizer_bank": (4.0, 1.5, 4.0, 0.5),
    "occasional":            (7.0, 0.5, 1.0, 1.5),
    "lapsing":               (6.0, 1.0, 2.0, 1.0),
}
# {member-local hour: weight} for the member's digital engagement hour.
ENGAGEMENT_HOURS = {
    "vip_family":            {7: 2, 20: 3, 21: 3},
    "budget_value":          {8: 2, 12: 3, 19: 2},
    "urban_convenience":     {7: 2, 8: 3, 12: 2, 22: 2},
    "cinema_first":          {13: 1, 19: 2, 21: 3, 22: 2},
    "points_maximizer_bank": {7: 2, 12: 2, 20: 2},
    "occasional":            {10: 1, 12: 1, 18: 1, 20: 1},
    "lapsing":               {9: 1, 14: 1, 20: 1},
}
# Department mix of the lines a persona buys (order of DEPARTMENTS).
DEPARTMENT_MIX = {
    #                        prod dairy meat bake pantry snack bev froz house pers baby prep
    "vip_family":            (16, 14, 13, 7, 11, 8, 7, 7, 6, 4, 5, 2),
    "budget_value":          (12, 12, 10, 6, 20, 7, 6, 12, 7, 5, 2, 1),
    "urban_convenience":     (12, 8, 5, 10, 5, 12, 14, 4, 2, 4, 0, 24),
    "cinema_first":          (8, 8, 6, 6, 8, 24, 22, 8, 3, 3, 0, 4),
    "points_maximizer_bank": (14, 12, 12, 6, 13, 8, 8, 8, 7, 6, 2, 4),
    "occasional":            (12, 12, 10, 8, 12, 10, 10, 8, 6, 6, 2, 4),
    "lapsing":               (12, 12, 10, 8, 12, 10, 10, 8, 6, 6, 2, 4),
}


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    home_fm: float
    loyal: float
    trips: float
    basket: float
    pl: float
    staples: int
    st_sh: float
    promo: float
    dow_f: float
    hour_f: float
    cin_use: float
    cin_pm: float
    bank_use: float
    bank_pw: float
    dig_pw: float
    redeem: float
    burn: float
    base: float
    up_bonus: float
    up_mult: float
    sleep: float
    view: float
    churn: float
    age_lo: int
    age_hi: int


def _parse(table: str) -> tuple[Persona, ...]:
    lines = [ln.split() for ln in table.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    names = [f.name for f in fields(Persona)]
    if header != names:
        raise ValueError(f"PERSONA_TABLE header {header} does not match Persona fields {names}")
    kinds = {f.name: f.type for f in fields(Persona)}
    out = []
    for row in rows:
        values = {}
        for key, text in zip(header, row):
            kind = kinds[key]
            values[key] = text if kind == "str" else int(text) if kind == "int" else float(text)
        out.append(Persona(**values))
    return tuple(out)


PERSONAS: tuple[Persona, ...] = _parse(PERSONA_TABLE)
NAMES = tuple(p.name for p in PERSONAS)


def describe() -> dict:
    """The parameters as written to truth/personas.json."""
    out = {}
    for p in PERSONAS:
        item = asdict(p)
        item["preferred_dow_weights"] = dict(zip(DAYS, DOW_WEIGHTS[p.name]))
        item["preferred_hour_weights"] = HOUR_WEIGHTS[p.name]
        item["channel_weights"] = dict(zip(CHANNELS, CHANNEL_WEIGHTS[p.name]))
        item["engagement_hour_weights"] = ENGAGEMENT_HOURS[p.name]
        item["department_mix"] = dict(zip(DEPARTMENTS, DEPARTMENT_MIX[p.name]))
        out[p.name] = item
    return out


def _table(name: str) -> list:
    if name == "persona":
        return [p.name for p in PERSONAS]
    weights = {"dow_cum": lambda p: cumulative(DOW_WEIGHTS[p.name]),
               "hour_cum": lambda p: cumulative(list(HOUR_WEIGHTS[p.name].values())),
               "channel_cum": lambda p: cumulative(CHANNEL_WEIGHTS[p.name]),
               "eng_cum": lambda p: cumulative(list(ENGAGEMENT_HOURS[p.name].values())),
               "dept_cum": lambda p: cumulative(DEPARTMENT_MIX[p.name]),
               "hour_vals": lambda p: list(HOUR_WEIGHTS[p.name]),
               "eng_vals": lambda p: list(ENGAGEMENT_HOURS[p.name])}
    if name in weights:
        return [weights[name](p) for p in PERSONAS]
    return [float(getattr(p, name)) for p in PERSONAS]


def param(name: str, p_idx: Column) -> Column:
    """The persona parameter ``name`` for the row's persona index (a constant-array lookup:
    the table rides in the query plan, no join). Array parameters (dow_cum, hour_cum,
    channel_cum, eng_cum, dept_cum: cumulative weights; hour_vals, eng_vals) come as arrays."""
    values = _table(name)
    if isinstance(values[0], list):
        inner = ["array(" + ", ".join(sql_literal(float(v) if name.endswith("_cum") else v) for v in row) + ")"
                 for row in values]
        table = F.expr("array(" + ", ".join(inner) + ")")
    else:
        table = literal_array(values)
    return F.element_at(table, p_idx + 1)

"""A member's staples: the repeat products a persona's member buys trip after trip. Their
departments follow the persona's department mix; the retail lines and the truth's
``regular_categories`` (the categories a member already buys, which the offer response
depends on) are computed with the same expressions here."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from loyalty.generate import personas as PS
from loyalty.generate.pools import literal_array
from loyalty.generate.rand import Rng, at, cumulative
from loyalty.generate.reference import CATEGORIES, DEPT_CAT_COUNT, DEPT_CAT_OFFSET

CDF_BUCKETS = 1000


def department_table() -> Column:
    """Per persona (plus a last, uniform row for test-store baskets) the department of each of
    CDF_BUCKETS equal slices of [0, 1): an inverse CDF, so a draw is two array lookups."""
    rows = []
    for weights in [PS.DEPARTMENT_MIX[p.name] for p in PS.PERSONAS] + [[1] * len(PS.DEPARTMENTS)]:
        cum = cumulative(weights)
        rows.append([next(i for i, c in enumerate(cum) if (b + 0.5) / CDF_BUCKETS < c) for b in range(CDF_BUCKETS)])
    return F.expr("array(" + ", ".join("array(" + ", ".join(map(str, r)) + ")" for r in rows) + ")")


def department_of(p_idx: Column, u: Column) -> Column:
    """The department index drawn with the persona's mix from a uniform ``u``."""
    return F.element_at(F.element_at(department_table(), p_idx + 1), F.floor(u * CDF_BUCKETS).cast("int") + 1)


def category_of(dept: Column, h: Column) -> Column:
    """A category index of department ``dept`` picked by the hash ``h``."""
    return at(DEPT_CAT_OFFSET, dept) + F.pmod(h, at(DEPT_CAT_COUNT, dept).cast("long")).cast("int")


def staple_draws(rng: Rng, mid: Column, j: Column) -> tuple[Column, Column]:
    """(uniform for the department, hash for the category) of the member's staple ``j`` (int)."""
    return rng.u("st_dept", mid, j), rng.hash("st_cat", mid, j)


def staple_categories(rng: Rng, mid: Column, p_idx: Column, staples: Column) -> Column:
    """Sorted distinct category indexes of the member's staples 0 .. staples-1 (as in the lines)."""
    n = F.greatest(staples.cast("int"), F.lit(1))

    def cat(j):
        u, h = staple_draws(rng, mid, j)
        return category_of(department_of(p_idx, u), h)

    return F.array_sort(F.array_distinct(F.transform(F.sequence(F.lit(0), n - 1), cat)))


def category_names(cat_idx: Column) -> Column:
    """Category indexes (an array) as the catalog's category names."""
    names = literal_array([name for _d, name in CATEGORIES])
    return F.transform(cat_idx, lambda c: F.element_at(names, c + 1))

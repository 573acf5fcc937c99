"""Evaluation: agreement of a segmentation with known groups (contingency table in Spark, adjusted
Rand index), used by the benchmark against the planted personas."""

from __future__ import annotations

import math
from typing import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def contingency(df: DataFrame, a_col: str, b_col: str) -> tuple[list, list, list[list[int]]]:
    """Counts of (a, b) pairs as a table: (a labels, b labels, rows of counts). Bounded by the
    number of distinct labels (segments x personas), computed in Spark."""
    cells = df.groupBy(a_col, b_col).agg(F.count(F.lit(1)).alias("n")).collect()
    a_labels = sorted({r[a_col] for r in cells}, key=str)
    b_labels = sorted({r[b_col] for r in cells}, key=str)
    ai, bi = {v: i for i, v in enumerate(a_labels)}, {v: i for i, v in enumerate(b_labels)}
    table = [[0] * len(b_labels) for _ in a_labels]
    for r in cells:
        table[ai[r[a_col]]][bi[r[b_col]]] += int(r["n"])
    return a_labels, b_labels, table


def adjusted_rand_index(table: Sequence[Sequence[int]]) -> float:
    """Adjusted Rand index (Hubert & Arabie) from a contingency table n[i][j] = items in cluster i
    and class j:  (sum_ij C(n_ij,2) - E) / ((sum_i C(a_i,2) + sum_j C(b_j,2)) / 2 - E),  with
    E = sum_i C(a_i,2) * sum_j C(b_j,2) / C(n,2). 1 = identical partitions, ~0 = chance.
    Degenerate cases (one cluster and one class, or every item alone) give 1.0."""
    def c2(x: int) -> int:
        return x * (x - 1) // 2
    rows = [list(map(int, r)) for r in table]
    if any(v < 0 for r in rows for v in r):
        raise ValueError("contingency counts must be >= 0")
    n = sum(map(sum, rows))
    if n < 2:
        return 1.0
    a = [sum(r) for r in rows]
    b = [sum(col) for col in zip(*rows)] if rows else []
    index = sum(c2(v) for r in rows for v in r)
    sa, sb = sum(map(c2, a)), sum(map(c2, b))
    expected = sa * sb / c2(n)
    maximum = (sa + sb) / 2
    if math.isclose(maximum, expected):
        return 1.0
    return (index - expected) / (maximum - expected)

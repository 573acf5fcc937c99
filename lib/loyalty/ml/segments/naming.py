"""Naming: conf rules evaluated on each segment's mean features in original units (after the null
fill, before log and scaling), and the model stage that maps ``segment_id`` to its name."""

from __future__ import annotations

from typing import Sequence

from pyspark.ml.feature import SQLTransformer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty.conf import ConfigError
from loyalty.ml.segments.pipeline import quote
from loyalty.ml.segments.settings import KEY, SEGMENT_ID, SEGMENT_NAME, Rule


def naming_stage(names: dict[int, str], *, segment_col: str = SEGMENT_ID,
                 name_col: str = SEGMENT_NAME) -> SQLTransformer:
    """The last stage of the model: ``segment_id`` -> its business name."""
    def lit(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    cases = " ".join(f"WHEN {int(i)} THEN {lit(n)}" for i, n in sorted(names.items()))
    return SQLTransformer(statement=f"SELECT *, CASE {quote(segment_col)} {cases} END AS {quote(name_col)} "
                                    f"FROM __THIS__")


def filled(c: str, fill: dict[str, float]) -> Column:
    return F.coalesce(F.col(c).cast("double"), F.lit(float(fill.get(c, 0.0))))


def segment_means(scored: DataFrame, columns: Sequence[str], *, fill: dict[str, float] | None = None,
                  segment_col: str = SEGMENT_ID) -> DataFrame:
    """One row per segment (k rows): ``segment_id``, ``members``, ``share`` of all members, the mean
    of each column in original units (nulls filled as the model fills them), and ``pop_<column>``,
    the population mean, so rules can say ``spend_365d > 1.5 * pop_spend_365d``."""
    fill = fill or {}
    per = scored.groupBy(segment_col).agg(F.count(F.lit(1)).alias("members"),
                                          *[F.avg(filled(c, fill)).alias(c) for c in columns])
    pop = scored.agg(F.count(F.lit(1)).alias("_n"), *[F.avg(filled(c, fill)).alias(f"pop_{c}") for c in columns])
    return (per.crossJoin(F.broadcast(pop))
            .withColumn("share", F.col("members") / F.col("_n")).drop("_n")
            .orderBy(segment_col))


def name_segments(means: DataFrame, rules: Sequence[Rule], *, segment_col: str = SEGMENT_ID) -> dict[int, str]:
    """``{segment_id: name}``: the first rule whose ``when`` holds on the segment's mean row (Spark
    SQL over ``segment_means`` columns); "Segment <id>" when none does. Two segments that get the
    same name are told apart by size: the larger keeps the name, the next gets " #2", and so on."""
    expr = None
    for i, rule in enumerate(rules):
        try:
            cond = F.coalesce(F.expr(rule.when).cast("boolean"), F.lit(False))
        except Exception as exc:  # a parse error in a conf rule
            raise ConfigError(f"setting '{KEY}.naming[{i}]' ({rule.name!r}): cannot parse when: {rule.when!r}: "
                              f"{exc}") from None
        expr = F.when(cond, F.lit(rule.name)) if expr is None else expr.when(cond, F.lit(rule.name))
    fallback = F.concat(F.lit("Segment "), F.col(segment_col).cast("string"))
    label = fallback if expr is None else expr.otherwise(fallback)
    try:
        rows = means.select(F.col(segment_col).cast("int").alias("id"), F.col("members").cast("long").alias("n"),
                            label.alias("name")).collect()      # k rows
    except Exception as exc:  # an unknown column in a rule
        raise ConfigError(f"setting '{KEY}.naming': a rule does not evaluate on the segment means "
                          f"(columns: {', '.join(means.columns)}): {str(exc).splitlines()[0]}") from None
    return disambiguate({r["id"]: (r["name"], r["n"]) for r in rows})


def disambiguate(named: dict[int, tuple[str, int]]) -> dict[int, str]:
    """``{id: (name, size)}`` -> ``{id: unique name}``: repeats get " #2", " #3" by decreasing size."""
    out: dict[int, str] = {}
    by_name: dict[str, list[tuple[int, int]]] = {}
    for i, (name, n) in named.items():
        by_name.setdefault(name, []).append((i, n))
    for name, members in by_name.items():
        for rank, (i, _) in enumerate(sorted(members, key=lambda m: (-m[1], m[0]))):
            out[i] = name if rank == 0 else f"{name} #{rank + 1}"
    return dict(sorted(out.items()))


def mean_rows(df: DataFrame) -> list[dict]:
    """The k rows of ``segment_means`` as dicts (rounded, without the population columns)."""
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.asDict().items() if not k.startswith("pop_")}
            for r in df.collect()]

"""Scoring (pure): a fitted response model (``model.fit``, or the champion from
``run.load_champion``) on rows from ``features.pair_features``.

    scored = score(model, rows)   # rows + p_treated, p_control, uplift (doubles)

uplift = p_treated - p_control: the expected incremental conversion probability of issuing the
offer to that member. p_treated alone is the propensity a marketer would rank by.
"""

from __future__ import annotations

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from loyalty.offers.response.model import ARMS
from loyalty.offers.response.settings import P_CONTROL, P_TREATED, UPLIFT


def score(model, rows: DataFrame) -> DataFrame:
    """``rows`` with p_treated, p_control and uplift appended (every input column kept as it was)."""
    keep = [c for c in rows.columns if c not in (P_TREATED, P_CONTROL, UPLIFT)]
    out = model.transform(rows.select(*keep))
    p_t = vector_to_array(F.col(ARMS["treated"][0]))[1]
    p_c = vector_to_array(F.col(ARMS["control"][0]))[1]
    return out.select(*keep, p_t.alias(P_TREATED), p_c.alias(P_CONTROL)).withColumn(
        UPLIFT, F.col(P_TREATED) - F.col(P_CONTROL))

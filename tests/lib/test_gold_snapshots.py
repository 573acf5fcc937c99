"""gold snapshots: pinned input versions."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty import lake
from loyalty.gold import snapshots as S

def test_pinned_inputs_read_the_pinned_version(spark, cfg):
    df = spark.createDataFrame([(1, date(2026, 10, 1))], "n int, business_date date")
    lake.overwrite(df, cfg, "silver.transactions")
    inputs = S.pin(cfg, ["silver.transactions"], "a test")
    lake.append(df, cfg, "silver.transactions")
    assert inputs.read(spark, cfg, "silver.transactions").count() == 1
    assert lake.read(spark, cfg, "silver.transactions").count() == 2
    with pytest.raises(lake.LakeError, match="cannot build a test: silver table.*missing: silver.offers"):
        S.pin(cfg, ["silver.transactions", "silver.offers"], "a test")

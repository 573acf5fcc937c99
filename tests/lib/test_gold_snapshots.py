"""gold snapshots: when an as_of has data, pinned input versions, and reading the latest snapshot."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from loyalty import lake
from loyalty.gold import snapshots as S

DAYS = [date(2026, 9, 1) + timedelta(days=i) for i in range(61)]     # 2026-09-01 .. 2026-10-31


@pytest.mark.parametrize("as_of", [date(2026, 9, 2), date(2026, 11, 1), date(2026, 11, 30), date(2026, 9, 15)])
def test_an_as_of_with_data_in_the_window_before_it_passes(as_of):
    S.require_data(DAYS, as_of, 30)


@pytest.mark.parametrize("as_of", [date(2026, 9, 1), date(2020, 1, 1), date(2026, 12, 1), date(2030, 1, 1)])
def test_an_as_of_without_data_in_the_window_is_one_line_naming_what_works(as_of):
    with pytest.raises(S.NoDataError) as err:
        S.require_data(DAYS, as_of, 30)
    msg = str(err.value)
    assert msg.startswith(f"no data for as_of {as_of}: ") and "\n" not in msg
    assert "from 2026-09-01 to 2026-10-31, so as_of can be 2026-09-02 to 2026-11-30" in msg


def test_no_dated_rows_at_all():
    with pytest.raises(S.NoDataError, match="no dated rows at all"):
        S.require_data([], date(2026, 11, 1), 30)


def test_a_gap_before_as_of_only_warns(caplog):
    S.require_data(DAYS, date(2026, 11, 5), 30)
    assert "no activity on the 4 day(s) before it (latest 2026-10-31)" in caplog.text


def test_pinned_inputs_read_the_pinned_version(spark, cfg):
    df = spark.createDataFrame([(1, date(2026, 10, 1))], "n int, business_date date")
    lake.overwrite(df, cfg, "silver.transactions")
    inputs = S.pin(cfg, ["silver.transactions"], "a test")
    lake.append(df, cfg, "silver.transactions")
    assert inputs.read(spark, cfg, "silver.transactions").count() == 1
    assert lake.read(spark, cfg, "silver.transactions").count() == 2
    assert inputs.activity_dates(spark, cfg) == [date(2026, 10, 1)]
    with pytest.raises(lake.LakeError, match="cannot build a test: silver table.*missing: silver.offers"):
        S.pin(cfg, ["silver.transactions", "silver.offers"], "a test")


def test_read_gives_the_latest_snapshot_by_default(spark, cfg):
    rows = [(date(2026, 10, 1), 1), (date(2026, 11, 1), 2), (date(2026, 11, 1), 3)]
    lake.overwrite(spark.createDataFrame(rows, "as_of date, v int"), cfg, "gold.kpi_x", partition_by=["as_of"])
    assert S.as_of_dates(spark, cfg, "gold.kpi_x") == [date(2026, 10, 1), date(2026, 11, 1)]
    assert sorted(r["v"] for r in S.read(spark, cfg, "gold.kpi_x").collect()) == [2, 3]
    assert [r["v"] for r in S.read(spark, cfg, "gold.kpi_x", "2026-10-01").collect()] == [1]

"""Bounded gold summaries used by the notebooks, on a tiny features table with hand-computed answers."""

import pandas as pd
import pytest

from loyalty import notebook
from loyalty.gold import analysis as A


@pytest.fixture
def features(spark):
    return spark.createDataFrame([
        ("M1", 5, 5, "Champions", 12, 900.0, 0.7, 0.3, 2, 0, 4),
        ("M2", 5, 5, "Champions", 10, 500.0, 1.0, 0.0, 0, 3, 2),
        ("M3", 1, 2, "Hibernating", 1, 20.0, 0.0, 1.0, 0, 0, 1),
        ("M4", 0, 0, "Lost", 0, 0.0, 0.0, 0.0, 1, 0, 1),
    ], "member_id string, rfm_recency_score int, rfm_frequency_score int, rfm_label string, trips_365d long, "
       "spend_365d double, spend_share_freshmart double, spend_share_valumart double, cinema_visits_365d long, "
       "bank_txns_365d long, partners_active_365d int")


def test_rfm_heatmap_and_labels(features):
    heat = notebook.small(A.rfm_heatmap(features))
    assert heat.to_dict("records") == [
        {"rfm_recency_score": 1, "rfm_frequency_score": 2, "members": 1, "avg_spend_365d": 20.0},
        {"rfm_recency_score": 5, "rfm_frequency_score": 5, "members": 2, "avg_spend_365d": 700.0}]
    labels = notebook.small(A.rfm_labels(features)).set_index("rfm_label")
    assert labels.loc["Champions", "members"] == 2 and labels.loc["Champions", "member_share"] == 0.5
    assert labels.loc["Champions", "spend_share"] == pytest.approx(1400 / 1420)
    assert labels.loc["Lost", "avg_trips_365d"] == 0


def test_histogram_buckets(features):
    h = notebook.small(A.histogram(features, "spend_365d", [0, 100, 600]))
    assert h[["from", "members"]].to_dict("records") == [{"from": 0.0, "members": 2}, {"from": 100.0, "members": 1},
                                                         {"from": 600.0, "members": 1}]
    with pytest.raises(ValueError, match="increasing"):
        A.histogram(features, "spend_365d", [5, 1])


def test_overlap_matrix_and_banner_count(features):
    m = notebook.small(A.overlap_matrix(features, ["FRESHMART", "VALUMART"]))
    got = {(r.a, r.b): r.members for r in m.itertuples()}
    assert len(got) == 16
    assert got[("FRESHMART", "FRESHMART")] == 2 and got[("FRESHMART", "VALUMART")] == 1
    assert got[("VALUMART", "CINEMA")] == 1 and got[("CINEMA", "BANK")] == 0 and got[("BANK", "BANK")] == 1
    assert got[("FRESHMART", "VALUMART")] == got[("VALUMART", "FRESHMART")]
    counts = notebook.small(A.banner_count(features))
    assert counts.to_dict("records") == [{"partners_active_365d": 1, "members": 2},
                                         {"partners_active_365d": 2, "members": 1},
                                         {"partners_active_365d": 4, "members": 1}]


def test_small_refuses_large_results(features):
    with pytest.raises(notebook.TooLarge, match="more than 3"):
        notebook.small(features, max_rows=3)
    assert isinstance(notebook.small(features, max_rows=4), pd.DataFrame)

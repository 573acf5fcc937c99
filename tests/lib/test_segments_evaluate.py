"""Segments: agreement with known groups (contingency table, adjusted Rand index)."""

import pytest
from sklearn.metrics import adjusted_rand_score

from loyalty.ml.segments import evaluate as E


def test_ari_on_a_hand_computed_table():
    # clusters x classes: [[2, 1], [0, 3]]; n = 6, rows (3, 3), columns (2, 4)
    # index = C(2,2) + C(3,2) = 1 + 3 = 4; sum_a = 3 + 3 = 6; sum_b = 1 + 6 = 7; C(6,2) = 15
    # expected = 6 * 7 / 15 = 2.8; max = (6 + 7) / 2 = 6.5; ARI = (4 - 2.8) / (6.5 - 2.8) = 12 / 37
    assert E.adjusted_rand_index([[2, 1], [0, 3]]) == pytest.approx(12 / 37)


def test_ari_matches_sklearn_and_its_fixed_points():
    labels_a = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3]
    labels_b = ["x", "x", "y", "y", "y", "z", "z", "z", "z", "x", "z"]
    table = [[sum(1 for a, b in zip(labels_a, labels_b) if a == i and b == j) for j in "xyz"] for i in range(4)]
    assert E.adjusted_rand_index(table) == pytest.approx(adjusted_rand_score(labels_b, labels_a))
    assert E.adjusted_rand_index([[5, 0, 0], [0, 4, 0], [0, 0, 7]]) == pytest.approx(1.0)      # same partition
    assert E.adjusted_rand_index([[0, 4], [5, 0]]) == pytest.approx(1.0)                        # relabelled
    assert E.adjusted_rand_index([[10, 10], [10, 10]]) < 0.0                                    # no agreement
    with pytest.raises(ValueError):
        E.adjusted_rand_index([[1, -1]])


def test_contingency_counts_pairs_in_spark(spark):
    df = spark.createDataFrame([(0, "a"), (0, "a"), (0, "b"), (1, "b"), (1, "b"), (1, "b")], "seg int, persona string")
    rows, cols, table = E.contingency(df, "seg", "persona")
    assert (rows, cols, table) == ([0, 1], ["a", "b"], [[2, 1], [0, 3]])
    assert E.adjusted_rand_index(table) == pytest.approx(12 / 37)

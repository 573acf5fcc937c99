"""Segments: choosing k."""

from loyalty.ml.segments import fit as F


def test_choose_k_takes_highest_silhouette_smaller_k_on_ties():
    curve = [F.KResult(k, sil, 0.0, 0.0, []) for k, sil in [(4, 0.2), (5, 0.31), (6, 0.31), (7, 0.1)]]
    assert F.choose_k(curve).k == 5

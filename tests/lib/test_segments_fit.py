"""Segments: choosing k."""

from loyalty.ml.segments import fit as F


def test_choose_k_takes_highest_silhouette_smaller_k_on_ties():
    curve = [F.KResult(k, sil, 0.0, 0.0, []) for k, sil in [(4, 0.2), (5, 0.31), (6, 0.31), (7, 0.1)]]
    assert F.choose_k(curve).k == 5


def test_choose_k_skips_fits_with_an_empty_segment():
    curve = [F.KResult(3, 0.9, 0.0, 0.0, [20, 20, 20], "gmm"), F.KResult(4, 0.95, 0.0, 0.0, [20, 0, 20, 20], "gmm"),
             F.KResult(3, 0.9, 0.0, 0.0, [20, 20, 20], "kmeans")]
    assert (F.choose_k(curve).k, F.choose_k(curve).algorithm) == (3, "kmeans")     # tie on silhouette: KMeans
    assert F.choose_k(curve[1:2]).k == 4                                           # nothing better to take

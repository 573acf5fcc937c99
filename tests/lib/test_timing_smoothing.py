"""Dirichlet smoothing on hand-computed counts (lib/loyalty/timing/smoothing.py)."""

import pytest

from loyalty.timing import smoothing

CH = ("EMAIL", "PUSH")


def counts_df(spark, rows):
    return spark.createDataFrame(rows, "member_id string, dim string, key string, n double")


def members_df(spark, rows):
    return spark.createDataFrame(rows, "member_id string, segment_id int")


def theta(post):
    return {(r["member_id"], r["dim"], r["key"]): r["theta"] for r in post.collect()}


@pytest.fixture
def setup(spark):
    # A (seg 1): EMAIL 3, PUSH 1; B (seg 1): PUSH 2; E (seg 2): EMAIL 6; C (seg 2) and D (no segment): nothing
    counts = counts_df(spark, [("A", "channel", "EMAIL", 3.0), ("A", "channel", "PUSH", 1.0),
                               ("B", "channel", "PUSH", 2.0), ("E", "channel", "EMAIL", 6.0),
                               ("A", "hour", "9", 2.0)])
    members = members_df(spark, [("A", 1), ("B", 1), ("C", 2), ("D", None), ("E", 2)])
    grid = smoothing.key_grid(spark, CH)
    pop = smoothing.population_pattern(counts, grid)
    seg = smoothing.segment_pattern(counts, members, pop, beta=4.0)
    return counts, members, pop, seg


def test_population_and_segment_patterns_by_hand(setup):
    _, _, pop, seg = setup
    p = {(r["dim"], r["key"]): r["p"] for r in pop.collect()}
    # population: EMAIL 9 of 12, PUSH 3 of 12; days have no counts: uniform; hours: all at 9
    assert p[("channel", "EMAIL")] == pytest.approx(0.75) and p[("channel", "PUSH")] == pytest.approx(0.25)
    assert all(p[("dow", str(d))] == pytest.approx(1 / 7) for d in range(1, 8))
    assert p[("hour", "9")] == pytest.approx(1.0) and p[("hour", "10")] == 0.0
    assert len(p) == 2 + 7 + 24
    s = {(r["segment_id"], r["dim"], r["key"]): r["p"] for r in seg.collect()}
    # segment 1: EMAIL (3 + 4 * .75) / (6 + 4) = .6; segment 2: EMAIL (6 + 3) / (6 + 4) = .9
    assert s[(1, "channel", "EMAIL")] == pytest.approx(0.6) and s[(1, "channel", "PUSH")] == pytest.approx(0.4)
    assert s[(2, "channel", "EMAIL")] == pytest.approx(0.9) and s[(2, "channel", "PUSH")] == pytest.approx(0.1)
    # segment 1 hours: (2 + 4 * 1) / (2 + 4) = 1 at 9; segment 2 has no hour counts: the population's
    assert s[(1, "hour", "9")] == pytest.approx(1.0) and s[(2, "hour", "9")] == pytest.approx(1.0)


def test_member_posterior_by_hand(setup):
    counts, members, pop, seg = setup
    post = smoothing.posterior(members, counts, pop, seg, alpha=2.0)
    t = theta(post)
    assert post.count() == 5 * (2 + 7 + 24)
    # A: EMAIL (3 + 2 * .6) / (4 + 2) = .7
    assert t[("A", "channel", "EMAIL")] == pytest.approx(0.7) and t[("A", "channel", "PUSH")] == pytest.approx(0.3)
    # no events: exactly the segment prior (C), the population when there is no segment (D)
    assert t[("C", "channel", "EMAIL")] == pytest.approx(0.9) and t[("C", "channel", "PUSH")] == pytest.approx(0.1)
    assert t[("D", "channel", "EMAIL")] == pytest.approx(0.75) and t[("D", "dow", "3")] == pytest.approx(1 / 7)
    # E: (6 + 2 * .9) / (6 + 2)
    assert t[("E", "channel", "EMAIL")] == pytest.approx(7.8 / 8)
    src = {(r["member_id"]): (r["prior_source"], r["n_dim"]) for r in post.where("dim = 'channel'").collect()}
    assert src == {"A": ("segment", 4.0), "B": ("segment", 2.0), "C": ("segment", 0.0), "D": ("population", 0.0),
                   "E": ("segment", 6.0)}


def test_many_events_dominate_the_prior(spark):
    # segment 1's other member always uses EMAIL; M used PUSH 1000 times and EMAIL 10 times
    counts = counts_df(spark, [("M", "channel", "PUSH", 1000.0), ("M", "channel", "EMAIL", 10.0),
                               ("O", "channel", "EMAIL", 5000.0)])
    members = members_df(spark, [("M", 1), ("O", 1), ("N", 1)])
    pop = smoothing.population_pattern(counts, smoothing.key_grid(spark, CH))
    seg = smoothing.segment_pattern(counts, members, pop, beta=50.0)
    t = theta(smoothing.posterior(members, counts, pop, seg, alpha=5.0))
    # the segment's prior says EMAIL (about .83), the member's own share says PUSH (1000 / 1010 = .990)
    assert t[("N", "channel", "EMAIL")] > 0.8
    assert t[("M", "channel", "PUSH")] == pytest.approx(1000 / 1010, abs=0.005)
    # by hand: segment PUSH = (1000 + 50 * 1000/6010) / (6010 + 50); member = (1000 + 5 * that) / 1015
    seg_push = (1000 + 50 * 1000 / 6010) / 6060
    assert t[("M", "channel", "PUSH")] == pytest.approx((1000 + 5 * seg_push) / 1015)


def test_without_segments_every_member_gets_the_population(spark):
    counts = counts_df(spark, [("A", "channel", "PUSH", 1.0)])
    members = members_df(spark, [("A", None), ("B", None)])
    pop = smoothing.population_pattern(counts, smoothing.key_grid(spark, CH))
    t = theta(smoothing.posterior(members, counts, pop, None, alpha=1.0))
    assert t[("B", "channel", "PUSH")] == pytest.approx(1.0) and t[("B", "channel", "EMAIL")] == 0.0
    # A: (1 + 1 * 1) / (1 + 1) = 1 for PUSH; EMAIL (0 + 0) / 2
    assert t[("A", "channel", "PUSH")] == pytest.approx(1.0)

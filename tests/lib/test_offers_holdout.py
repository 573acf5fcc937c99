"""The global holdout (lib/loyalty/offers/holdout.py): Spark and plain Python agree member by
member, the share is about right, and the salt draws an independent holdout."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from loyalty.offers.holdout import in_global_holdout, python_in_global_holdout

SALT = "loyalty-global-holdout-v1"


def test_spark_and_python_pick_the_same_members(spark):
    ids = [f"M{i:08d}" for i in range(4000)]
    df = spark.createDataFrame([(m,) for m in ids], "member_id string")
    got = {r.member_id for r in df.filter(in_global_holdout(F.col("member_id"), SALT, 0.05)).collect()}
    want = {m for m in ids if python_in_global_holdout(m, SALT, 0.05)}
    assert got == want
    assert 0.04 < len(want) / len(ids) < 0.06                     # binomial sd at n=4000 is 0.0034
    other = {m for m in ids if python_in_global_holdout(m, "another-salt", 0.05)}
    assert len(other & want) < 0.2 * len(want)                   # independent: ~5 % overlap expected


def test_the_holdout_grows_by_adding_members_never_by_swapping():
    ids = [f"M{i:08d}" for i in range(3000)]
    small = {m for m in ids if python_in_global_holdout(m, SALT, 0.03)}
    large = {m for m in ids if python_in_global_holdout(m, SALT, 0.06)}
    assert small < large


@pytest.mark.parametrize("share", [-0.1, 1.0, 2])
def test_a_share_outside_0_1_is_refused(share):
    with pytest.raises(ValueError, match="share must be in"):
        python_in_global_holdout("M1", SALT, share)

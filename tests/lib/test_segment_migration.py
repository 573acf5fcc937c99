"""Segment migration counts between two snapshots (loyalty.transforms.gold.segments)."""

from datetime import date

from chispa import assert_df_equality

from loyalty.transforms.gold import segments as T


def test_migration_counts_with_new_and_gone_members(spark):
    before = spark.createDataFrame([("m1", "VIP"), ("m2", "VIP"), ("m3", "Lapsed"), ("m4", "Core")],
                                   "member_id string, segment_name string")
    after = spark.createDataFrame([("m1", "VIP"), ("m2", "Lapsed"), ("m3", "Lapsed"), ("m5", "Core"), ("m6", "VIP")],
                                  "member_id string, segment_name string")
    a, b = date(2026, 10, 1), date(2026, 11, 1)
    got = T.migration_counts(before, after, a, b)
    expected = spark.createDataFrame(
        [(a, b, "VIP", "VIP", 1), (a, b, "VIP", "Lapsed", 1), (a, b, "Lapsed", "Lapsed", 1), (a, b, "Core", "GONE", 1),
         (a, b, "NEW", "Core", 1), (a, b, "NEW", "VIP", 1)],
        "from_as_of date, to_as_of date, from_segment string, to_segment string, members long")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert got.columns == T.MIGRATION_COLUMNS


def test_migration_counts_keep_the_model_version_of_each_side(spark):
    before = spark.createDataFrame([("m1", "VIP", 1), ("m2", "VIP", 1)], "member_id string, segment_name string, v int")
    after = spark.createDataFrame([("m1", "VIP", 2), ("m3", "Core", 2)], "member_id string, segment_name string, v int")
    got = {(r["from_segment"], r["to_segment"]): (r["from_model_version"], r["to_model_version"], r["members"])
           for r in T.migration_counts(before, after, date(2026, 10, 1), date(2026, 11, 1), version_col="v").collect()}
    assert got == {("VIP", "VIP"): (1, 2, 1), ("VIP", "GONE"): (1, None, 1), ("NEW", "Core"): (None, 2, 1)}

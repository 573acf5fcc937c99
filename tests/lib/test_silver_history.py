from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from loyalty.transforms.silver.history import DUP_RANK, HIGH_DATE, record_hash, scd2_changes, with_duplicate_rank

HIGH = datetime.strptime(HIGH_DATE, "%Y-%m-%d %H:%M:%S")
T1, T2, T3 = datetime(2026, 1, 1), datetime(2026, 3, 1), datetime(2026, 6, 1)


def _current(spark, rows):
    df = spark.createDataFrame(rows, "member_id string, city string, valid_from timestamp")
    return (df.withColumn("valid_to", F.lit(HIGH_DATE).cast("timestamp")).withColumn("is_current", F.lit(True))
            .withColumn("record_hash", record_hash(["city"])))


def _incoming(spark, rows):
    return spark.createDataFrame(rows, "member_id string, city string, updated_at timestamp")


def _rows(df):
    return sorted((r["member_id"], r["city"], r["valid_from"], r["valid_to"], r["is_current"]) for r in df.collect())


def test_change_closes_old_row_and_opens_new_one(spark):
    out = scd2_changes(_current(spark, [("M1", "Toronto", T1)]), _incoming(spark, [("M1", "Ottawa", T2)]),
                       ["member_id"], ["city"], "updated_at")
    assert _rows(out) == [("M1", "Ottawa", T2, HIGH, True), ("M1", "Toronto", T1, T2, False)]


def test_unchanged_record_writes_nothing_and_older_version_is_ignored(spark):
    cur = _current(spark, [("M1", "Toronto", T2)])
    assert scd2_changes(cur, _incoming(spark, [("M1", "Toronto", T3)]), ["member_id"], ["city"], "updated_at").count() == 0
    assert scd2_changes(cur, _incoming(spark, [("M1", "Halifax", T1)]), ["member_id"], ["city"], "updated_at").count() == 0


def test_new_key_and_several_versions_in_one_batch_form_a_chain(spark):
    cur = _current(spark, [("M1", "Toronto", T1)])
    inc = _incoming(spark, [("M2", "Regina", T1), ("M1", "Toronto", T2), ("M1", "Ottawa", T2), ("M1", "Laval", T3)])
    out = _rows(scd2_changes(cur, inc, ["member_id"], ["city"], "updated_at"))
    assert ("M2", "Regina", T1, HIGH, True) in out
    m1 = [r for r in out if r[0] == "M1"]
    assert ("M1", "Toronto", T1, T2, False) in m1 and ("M1", "Laval", T3, HIGH, True) in m1
    assert sum(1 for r in m1 if r[4]) == 1


def test_duplicate_rank_keeps_latest_ingested(spark):
    df = spark.createDataFrame([("R1", 1, "a"), ("R1", 2, "b"), ("R2", 1, "c")], "receipt string, batch int, v string")
    kept = with_duplicate_rank(df, ["receipt"], [F.col("batch").desc()]).where(F.col(DUP_RANK) == 1).drop(DUP_RANK)
    assert_df_equality(kept, spark.createDataFrame([("R1", 2, "b"), ("R2", 1, "c")], df.schema), ignore_row_order=True)

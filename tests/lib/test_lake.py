"""Contract tests of the lake layer, run against every available backend. Each test writes a
tiny table under its own temporary data root and asserts on what reads back."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import lake

SCHEMA = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("store", T.StringType()),
    T.StructField("as_of", T.DateType()),
    T.StructField("amount", T.DecimalType(10, 2)),
])
D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def rows_df(spark, rows, schema=SCHEMA):
    return spark.createDataFrame(rows, schema)


def row(i, store="S1", as_of=D1, amount="1.00"):
    return (i, store, as_of, Decimal(amount))


def assert_rows(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def live_paths(cfg, name):
    return {f.path for f in _snapshot_files(cfg, name)}


def _snapshot_files(cfg, name):
    from loyalty.lake.log import Snapshot

    return Snapshot(lake.delta_table(cfg, name), lake.table_path(cfg, name), name).files()


# The contract runs against both backends: delta-spark (Delta's JVM writer, the default) and
# delta-rs (Spark-written Parquet committed by deltalake, the fallback without the jars).
IMPLEMENTED_BACKENDS = ["delta-spark", "delta-rs"]


@pytest.fixture(params=IMPLEMENTED_BACKENDS)
def lcfg(request, spark, cfg):
    """The test config with ``lake.backend`` set to each implemented backend in turn."""
    return cfg.with_overrides([f"lake.backend={request.param}"])


# -- names, paths, errors -------------------------------------------------------------------------
def test_table_path_and_bad_names(cfg):
    assert lake.table_path(cfg, "bronze.retail_freshmart") == os.path.join(cfg["paths.lake"], "bronze",
                                                                           "retail_freshmart")
    moved = cfg.with_overrides(["tables.bronze.pos.path=/elsewhere/pos"])
    assert lake.table_path(moved, "bronze.pos") == "/elsewhere/pos"
    for bad in ["pos", "bronze.pos.x", "bronze/pos", "", "bronze."]:
        with pytest.raises(lake.LakeError, match="bad table name"):
            lake.table_path(cfg, bad)


def test_missing_table(spark, lcfg):
    with pytest.raises(lake.TableNotFoundError) as err:
        lake.read(spark, lcfg, "silver.nothing_here")
    assert "silver.nothing_here" in str(err.value)
    assert lake.table_path(lcfg, "silver.nothing_here") in str(err.value)
    assert not lake.exists(lcfg, "silver.nothing_here")
    assert lake.version(lcfg, "silver.nothing_here") is None
    assert lake.batch_version(lcfg, "silver.nothing_here", "app") is None


# -- create, append, read, time travel --------------------------------------------------------------
def test_empty_first_write_creates_table_then_append_adds_rows(spark, lcfg):
    info = lake.append(rows_df(spark, []), lcfg, "silver.sales")
    assert (info.version, info.rows) == (0, 0)   # (Delta's writer commits one empty file, delta-rs none)
    empty = lake.read(spark, lcfg, "silver.sales")
    assert empty.count() == 0
    assert [(f.name, f.dataType) for f in empty.schema] == [(f.name, f.dataType) for f in SCHEMA]

    first = rows_df(spark, [row(1), row(2, "S2")])
    info = lake.append(first, lcfg, "silver.sales", metadata={"loyalty.run_id": "r1"})
    assert (info.version, info.rows) == (1, 2)
    more = rows_df(spark, [row(3, amount="9.99")])
    assert lake.append(more, lcfg, "silver.sales").rows == 1
    assert_rows(lake.read(spark, lcfg, "silver.sales"), first.unionByName(more))
    assert lake.version(lcfg, "silver.sales") == 2
    assert lake.exists(lcfg, "silver.sales")


def test_time_travel_by_version_and_timestamp(spark, lcfg):
    v0 = rows_df(spark, [row(1)])
    lake.append(v0, lcfg, "silver.tt")
    lake.append(rows_df(spark, [row(2)]), lcfg, "silver.tt")
    lake.overwrite(rows_df(spark, [row(9)]), lcfg, "silver.tt")
    assert_rows(lake.read(spark, lcfg, "silver.tt", version=0), v0)
    assert lake.read(spark, lcfg, "silver.tt", version=1).count() == 2
    assert [r.id for r in lake.read(spark, lcfg, "silver.tt").collect()] == [9]
    stamps = {h["version"]: h["timestamp"] for h in lake.history(lcfg, "silver.tt")}
    between = stamps[0] + (stamps[1] - stamps[0]) / 2
    assert_rows(lake.read(spark, lcfg, "silver.tt", timestamp=between.isoformat()), v0)
    assert lake.read(spark, lcfg, "silver.tt", timestamp=stamps[2] + timedelta(seconds=1)).count() == 1


def test_history_lists_operations_and_metadata(spark, lcfg):
    df = rows_df(spark, [row(1)])
    lake.append(df, lcfg, "silver.h", metadata={"loyalty.run_id": "run-7"})
    lake.overwrite(df, lcfg, "silver.h")
    lake.merge(df, lcfg, "silver.h", ["id"])
    hist = lake.history(lcfg, "silver.h")
    assert [(h["version"], h["operation"]) for h in hist] == [(2, "merge"), (1, "overwrite"), (0, "append")]
    assert hist[2]["metadata"]["loyalty.run_id"] == "run-7"
    assert hist[2]["metadata"]["loyalty.table"] == "silver.h"
    assert all(isinstance(h["timestamp"], datetime) and h["timestamp"].tzinfo for h in hist)


def test_txn_append_is_exactly_once(spark, lcfg):
    batch = rows_df(spark, [row(1), row(2)])
    first = lake.append(batch, lcfg, "bronze.pos", txn=("ingest_pos", 5))
    again = lake.append(batch, lcfg, "bronze.pos", txn=("ingest_pos", 5))
    older = lake.append(batch, lcfg, "bronze.pos", txn=("ingest_pos", 4))
    assert not first.skipped and again.skipped and older.skipped
    assert again.version == first.version == lake.version(lcfg, "bronze.pos")
    assert lake.read(spark, lcfg, "bronze.pos").count() == 2
    assert lake.batch_version(lcfg, "bronze.pos", "ingest_pos") == 5
    assert lake.batch_version(lcfg, "bronze.pos", "other_app") is None
    assert lake.append(batch, lcfg, "bronze.pos", txn=("ingest_pos", 6)).rows == 2
    assert lake.batch_version(lcfg, "bronze.pos", "ingest_pos") == 6


# -- overwrite ------------------------------------------------------------------------------------------
def test_overwrite_whole_table_may_change_schema(spark, lcfg):
    lake.append(rows_df(spark, [row(1), row(2)]), lcfg, "gold.kpi", partition_by=["as_of"])
    new = spark.createDataFrame([("a", 1.5)], "name string, score double")
    info = lake.overwrite(new, lcfg, "gold.kpi")
    assert (info.rows, info.files_removed) == (1, 2)
    assert_rows(lake.read(spark, lcfg, "gold.kpi"), new)


def test_overwrite_given_partitions(spark, lcfg):
    old = rows_df(spark, [row(1, as_of=D1), row(2, as_of=D2), row(3, as_of=D3)])
    lake.append(old, lcfg, "silver.daily", partition_by=["as_of"])
    new = rows_df(spark, [row(20, as_of=D2), row(21, as_of=D2)])
    info = lake.overwrite(new, lcfg, "silver.daily", partitions=[{"as_of": "2026-10-02"}, {"as_of": D3}])
    assert (info.rows, info.files_removed) == (2, 2)
    assert_rows(lake.read(spark, lcfg, "silver.daily"), rows_df(spark, [row(1, as_of=D1)]).unionByName(new))

    version = lake.version(lcfg, "silver.daily")
    with pytest.raises(lake.LakeError, match="outside those partitions"):
        lake.overwrite(rows_df(spark, [row(30, as_of=D1)]), lcfg, "silver.daily", partitions=[{"as_of": D2}])
    assert lake.version(lcfg, "silver.daily") == version


def test_dynamic_partition_overwrite(spark, lcfg):
    lake.append(rows_df(spark, [row(1, as_of=D1), row(2, as_of=D2)]), lcfg, "silver.dyn", partition_by=["as_of"])
    new = rows_df(spark, [row(22, as_of=D2), row(33, as_of=D3)])
    info = lake.overwrite(new, lcfg, "silver.dyn", dynamic=True)
    assert info.files_removed == 1
    assert_rows(lake.read(spark, lcfg, "silver.dyn"), rows_df(spark, [row(1, as_of=D1)]).unionByName(new))


# -- merge ---------------------------------------------------------------------------------------------
def test_merge_updates_inserts_and_rewrites_only_affected_files(spark, lcfg):
    target = rows_df(spark, [row(1, as_of=D1), row(2, as_of=D1), row(3, as_of=D2), row(4, as_of=D3)])
    lake.append(target, lcfg, "silver.members", partition_by=["as_of"])
    before = live_paths(lcfg, "silver.members")
    source = rows_df(spark, [row(2, as_of=D1, amount="7.00"), row(5, as_of=D2, amount="5.00")])
    info = lake.merge(source, lcfg, "silver.members", ["id", "as_of"])
    assert (info.rows_updated, info.rows_inserted, info.files_removed) == (1, 1, 1)
    expected = rows_df(spark, [row(1, as_of=D1), row(2, as_of=D1, amount="7.00"), row(3, as_of=D2),
                               row(4, as_of=D3), row(5, as_of=D2, amount="5.00")])
    assert_rows(lake.read(spark, lcfg, "silver.members"), expected)
    after = live_paths(lcfg, "silver.members")
    assert len(before - after) == 1                       # only the D1 file was rewritten
    assert {p for p in before if "as_of=2026-10-01" not in p} <= after

    ignored = lake.merge(rows_df(spark, [row(1, amount="0.01"), row(6)]), lcfg, "silver.members", ["id"],
                         when_matched="ignore")
    assert (ignored.rows_inserted, ignored.files_removed) == (1, 0)
    assert lake.read(spark, lcfg, "silver.members").where("id = 1").first().amount == Decimal("1.00")

    version = lake.version(lcfg, "silver.members")
    assert lake.merge(rows_df(spark, []), lcfg, "silver.members", ["id"]).version == version
    assert lake.version(lcfg, "silver.members") == version


def test_merge_creates_missing_table_and_rejects_duplicate_keys(spark, lcfg):
    info = lake.merge(rows_df(spark, [row(1), row(2)]), lcfg, "silver.new", ["id"])
    assert (info.version, info.rows_inserted) == (0, 2)
    with pytest.raises(lake.LakeError, match=r"id=7"):
        lake.merge(rows_df(spark, [row(7), row(7, amount="2.00")]), lcfg, "silver.new", ["id"])
    assert lake.read(spark, lcfg, "silver.new").count() == 2


# -- schemas ---------------------------------------------------------------------------------------------
def test_schema_mismatch_names_columns(spark, lcfg):
    lake.append(rows_df(spark, [row(1)]), lcfg, "silver.strict")
    bad = spark.createDataFrame([(1, "S1", "oops", 3)], "id long, store string, amount string, extra int")
    with pytest.raises(lake.SchemaMismatchError) as err:
        lake.append(bad, lcfg, "silver.strict")
    message = str(err.value)
    assert "missing columns: as_of" in message
    assert "unexpected columns: extra" in message
    assert "amount (table decimal(10,2), data string)" in message
    assert lake.read(spark, lcfg, "silver.strict").count() == 1


def test_schema_evolution_adds_column(spark, lcfg):
    lake.append(rows_df(spark, [row(1)]), lcfg, "silver.evolve")
    wider = rows_df(spark, [row(2)]).withColumn("channel", F.lit("web")).drop("store")
    with pytest.raises(lake.SchemaMismatchError):
        lake.append(wider, lcfg, "silver.evolve")
    lake.append(wider, lcfg, "silver.evolve", schema_evolution=True)
    got = lake.read(spark, lcfg, "silver.evolve")
    assert got.columns == ["id", "store", "as_of", "amount", "channel"]
    assert {(r.id, r.store, r.channel) for r in got.collect()} == {(1, "S1", None), (2, None, "web")}


# -- failures and vacuum ------------------------------------------------------------------------------------
def test_failed_spark_write_commits_nothing_and_vacuum_clears_orphans(spark, lcfg, monkeypatch):
    lake.append(rows_df(spark, [row(1)]), lcfg, "silver.fragile")
    version = lake.version(lcfg, "silver.fragile")

    # a task that fails on one row, after other rows may have been written (raise_error rather
    # than a Python UDF: the workers' python is not guaranteed to be this venv's)
    boom = F.when(F.col("id") == 3, F.raise_error(F.lit("bad row 3"))).otherwise(F.col("id"))
    failing = rows_df(spark, [row(2), row(3), row(4)]).repartition(2).withColumn("id", boom.cast("long"))
    with pytest.raises(Exception, match="bad row 3"):
        lake.append(failing, lcfg, "silver.fragile")
    assert lake.version(lcfg, "silver.fragile") == version
    assert [r.id for r in lake.read(spark, lcfg, "silver.fragile").collect()] == [1]

    if lcfg["lake.backend"] == "delta-rs":   # a crash between the data write and the commit
        import loyalty.lake.delta_rs as backend

        def crash(*args, **kwargs):
            raise RuntimeError("driver died")
        monkeypatch.setattr(backend, "commit", crash)
        with pytest.raises(lake.LakeError, match="driver died"):
            lake.append(rows_df(spark, [row(5), row(6)]), lcfg, "silver.fragile")
        monkeypatch.undo()
    root = lake.table_path(lcfg, "silver.fragile")
    on_disk = _parquet_files(root)
    orphans = on_disk - live_paths(lcfg, "silver.fragile")
    assert orphans or lcfg["lake.backend"] != "delta-rs"
    assert lake.version(lcfg, "silver.fragile") == version
    assert lake.read(spark, lcfg, "silver.fragile").count() == 1
    assert lake.delta_table(lcfg, "silver.fragile").to_pyarrow_table(filesystem=_local(root)).num_rows == 1

    assert lake.vacuum(spark, lcfg, "silver.fragile") == []          # default retention keeps young files
    removed = lake.vacuum(spark, lcfg, "silver.fragile", retention_hours=0, allow_deleting_in_flight_writes=True)
    assert orphans <= set(removed)
    assert _parquet_files(root) == live_paths(lcfg, "silver.fragile")
    assert [r.id for r in lake.read(spark, lcfg, "silver.fragile").collect()] == [1]


def _parquet_files(root):
    fs = pafs.LocalFileSystem()
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return {os.path.relpath(i.path, root) for i in infos
            if i.type == pafs.FileType.File and i.path.endswith(".parquet") and "_delta_log" not in i.path}


def _local(root):
    # delta-rs's own Python file system handler makes the interpreter abort at exit after a
    # to_pyarrow_table() (a thread-pool shutdown race); a native pyarrow file system avoids it.
    return pafs.SubTreeFileSystem(root, pafs.LocalFileSystem())


# -- interoperability ----------------------------------------------------------------------------------------
def test_delta_rs_reads_the_rows_spark_wrote(spark, lcfg):
    schema = T.StructType([
        T.StructField("id", T.IntegerType()),
        T.StructField("tag", T.StringType()),
        T.StructField("as_of", T.DateType()),
        T.StructField("amount", T.DecimalType(12, 3)),
        T.StructField("at", T.TimestampType()),
        T.StructField("note", T.StringType()),
    ])
    at = datetime(2026, 10, 1, 10, 30, 0, 123456, tzinfo=timezone.utc)
    df = spark.createDataFrame([
        (1, "a:b/c d%", D1, Decimal("12.345"), at, "x" * 40),
        (2, None, D2, Decimal("-0.500"), at + timedelta(hours=3), None),
        (3, "plain", D2, None, None, "short"),
    ], schema)
    limited = lcfg.with_overrides(["lake.max_records_per_file=1"])
    info = lake.append(df, limited, "gold.interop", partition_by=["as_of", "tag"])
    assert (info.rows, info.files_added) == (3, 3)
    assert_rows(lake.read(spark, limited, "gold.interop"), df)
    dt = lake.delta_table(limited, "gold.interop")
    assert dt.metadata().partition_columns == ["as_of", "tag"]
    root = lake.table_path(limited, "gold.interop")
    theirs = dt.to_pyarrow_table(filesystem=_local(root)).select(schema.names).sort_by("id").to_pylist()
    ours = [r.asDict() for r in df.orderBy("id").collect()]
    for r in ours:   # Spark hands back naive local datetimes; delta-rs aware UTC ones
        r["at"] = r["at"] and r["at"].astimezone(timezone.utc)
    assert theirs == ours
    pruned = dt.to_pyarrow_table(filesystem=_local(root), filters=[("amount", ">", Decimal("0"))])
    assert pruned.column("id").to_pylist() == [1]
    stats = {a["min"]["id"]: a for a in pa.table(dt.get_add_actions(flatten=False)).to_pylist()}
    assert (stats[1]["min"]["amount"], stats[1]["max"]["amount"]) == (Decimal("12.345"),) * 2
    assert stats[3]["max"]["note"] == "short" and stats[3]["null_count"]["amount"] == 1
    if lcfg["lake.backend"] == "delta-rs":   # our statistics write no bound that is not exact
        assert stats[1]["max"]["at"] is None and stats[1]["max"]["note"] is None   # sub-ms / long: no bound
    else:                                    # Delta's: timestamps to the millisecond, strings truncated
        assert stats[1]["min"]["at"] <= at and stats[1]["min"]["note"] == "x" * 32

    fix = spark.createDataFrame([(1, "a:b/c d%", D1, Decimal("1.000"), at, "y")], schema)
    info = lake.merge(fix, limited, "gold.interop", ["id", "tag", "as_of"])
    assert (info.rows_updated, info.rows_inserted, info.files_removed) == (1, 0, 1)
    assert_rows(lake.read(spark, limited, "gold.interop"), df.where("id != 1").unionByName(fix))


def test_tables_written_by_one_backend_are_read_and_written_by_the_other(spark, cfg):
    spark_cfg, rs_cfg = cfg.with_overrides(["lake.backend=delta-spark"]), cfg.with_overrides(["lake.backend=delta-rs"])
    for first, second, name in [(spark_cfg, rs_cfg, "silver.a_to_b"), (rs_cfg, spark_cfg, "silver.b_to_a")]:
        lake.append(rows_df(spark, [row(1, as_of=D1), row(2, as_of=D2)]), first, name, partition_by=["as_of"])
        lake.merge(rows_df(spark, [row(2, as_of=D2, amount="2.00")]), first, name, ["id", "as_of"])
        lake.append(rows_df(spark, [row(3, as_of=D3)]), second, name)
        lake.merge(rows_df(spark, [row(1, as_of=D1, amount="7.00"), row(4, as_of=D1)]), second, name, ["id", "as_of"])
        lake.overwrite(rows_df(spark, [row(5, as_of=D3)]), second, name, partitions=[{"as_of": D3}])
        expected = rows_df(spark, [row(1, as_of=D1, amount="7.00"), row(2, as_of=D2, amount="2.00"),
                                   row(4, as_of=D1), row(5, as_of=D3)])
        assert_rows(lake.read(spark, first, name), expected)
        assert_rows(lake.read(spark, second, name), expected)
        assert [h["operation"] for h in lake.history(first, name)] == [
            "overwrite_partitions", "merge", "append", "merge", "append"]


# -- concurrency ----------------------------------------------------------------------------------------
def _gated(spark, df, tmp_path):
    """``df`` with a Python UDF that, when it runs (inside the write, after its snapshot was taken),
    signals ``started`` and waits for ``go``: a concurrent commit can then land in between."""
    started, go = str(tmp_path / "started"), str(tmp_path / "go")

    @F.udf("long")
    def gate(value):
        import os as _os
        import time as _time

        open(started, "w").close()
        for _ in range(1200):
            if _os.path.exists(go):
                break
            _time.sleep(0.05)
        return value

    return df.coalesce(1).withColumn("id", gate("id")), started, go


@pytest.mark.parametrize("op", ["merge", "partition_overwrite"])
def test_a_write_conflicting_with_a_concurrent_commit_commits_nothing(spark, lcfg, tmp_path, op):
    import threading
    import time

    name = f"silver.race_{op}"
    lake.append(rows_df(spark, [row(1, as_of=D1)]), lcfg, name, partition_by=["as_of"])
    source, started, go = _gated(spark, rows_df(spark, [row(2, as_of=D1, amount="2.00")]), tmp_path)
    outcome = {}

    def write():
        try:
            if op == "merge":
                outcome["info"] = lake.merge(source, lcfg, name, ["id", "as_of"])
            else:
                outcome["info"] = lake.overwrite(source, lcfg, name, partitions=[{"as_of": D1}])
        except Exception as exc:   # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.time() + 120
    while not os.path.exists(started) and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(started), "the gated write never started"
    lake.append(rows_df(spark, [row(2, as_of=D1, amount="9.00")]), lcfg, name)   # the concurrent writer
    open(go, "w").close()
    writer.join(300)
    got = lake.read(spark, lcfg, name)
    if "error" in outcome:   # the write saw the concurrent commit land under it: it committed nothing
        assert isinstance(outcome["error"], lake.ConcurrentCommitError), outcome
        assert name in str(outcome["error"]) and "nothing was committed" in str(outcome["error"])
        assert_rows(got, rows_df(spark, [row(1, as_of=D1), row(2, as_of=D1, amount="9.00")]))
    else:                    # or it took its snapshot after it (Delta's MERGE reads its source first):
        assert op == "merge" and lcfg["lake.backend"] == "delta-spark", outcome   # then it is serial:
        assert outcome["info"].rows_updated == 1                                  # append, then merge
        assert_rows(got, rows_df(spark, [row(1, as_of=D1), row(2, as_of=D1, amount="2.00")]))


def test_concurrent_appends_both_land(spark, lcfg):
    import threading

    lake.append(rows_df(spark, [row(0)]), lcfg, "bronze.busy")
    errors = []

    def add(i):
        try:
            lake.append(rows_df(spark, [row(i)]), lcfg, "bronze.busy", txn=(f"writer-{i}", 1))
        except Exception as exc:   # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in (1, 2, 3)]
    [t.start() for t in threads]
    [t.join(300) for t in threads]
    assert errors == []
    assert sorted(r.id for r in lake.read(spark, lcfg, "bronze.busy").collect()) == [0, 1, 2, 3]
    assert [lake.batch_version(lcfg, "bronze.busy", f"writer-{i}") for i in (1, 2, 3)] == [1, 1, 1]


# -- vacuum floor and leases ------------------------------------------------------------------------------
def test_vacuum_refuses_a_retention_below_the_floor(spark, lcfg):
    lake.append(rows_df(spark, [row(1)]), lcfg, "silver.keep")
    with pytest.raises(lake.LakeError, match="below the floor of 168 h.*allow_deleting_in_flight_writes"):
        lake.vacuum(spark, lcfg, "silver.keep", retention_hours=1)
    with pytest.raises(lake.LakeError, match="below the floor of 24 h"):
        lake.vacuum(spark, lcfg.with_overrides(["lake.vacuum_retention_hours=24"]), "silver.keep", retention_hours=0)
    assert lake.vacuum(spark, lcfg, "silver.keep", retention_hours=200) == []
    live = live_paths(lcfg, "silver.keep")
    removed = lake.vacuum(spark, lcfg, "silver.keep", retention_hours=0, allow_deleting_in_flight_writes=True)
    assert not live & set(removed)           # (Delta leaves an empty, uncommitted file; .crc sidecars go too)
    assert [r.id for r in lake.read(spark, lcfg, "silver.keep").collect()] == [1]


def test_vacuum_never_deletes_files_younger_than_the_oldest_lease(spark, lcfg):
    import shutil

    lake.append(rows_df(spark, [row(1)]), lcfg, "silver.inflight")
    root = lake.table_path(lcfg, "silver.inflight")
    data_file = sorted(live_paths(lcfg, "silver.inflight"))[0]
    import json
    import socket
    import subprocess
    import sys
    import time

    from loyalty.lake import leases

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])   # another job, running
    try:
        os.makedirs(leases.lease_dir(lcfg), exist_ok=True)
        lease_file = os.path.join(leases.lease_dir(lcfg), "build_silver.lease")
        with open(lease_file, "w") as out:
            json.dump({"job": "build_silver", "owner": "other-run", "pid": other.pid, "host": socket.gethostname(),
                       "started": time.time() - 1, "renewed": time.time(), "ttl": 600}, out)
        with lake.lease(lcfg, "maintain_lake"):   # our own lease does not hold back our own vacuum
            # the other job's write in flight: its file is on disk but not yet in the log
            shutil.copy(os.path.join(root, data_file), os.path.join(root, "part-inflight.parquet"))
            kept = lake.vacuum(spark, lcfg, "silver.inflight", retention_hours=0, allow_deleting_in_flight_writes=True)
            assert "part-inflight.parquet" not in kept
            assert os.path.exists(os.path.join(root, "part-inflight.parquet"))
    finally:
        other.kill()
        other.wait()
    assert leases.live(lcfg) == []                # its process is gone: the lease has expired
    removed = lake.vacuum(spark, lcfg, "silver.inflight", retention_hours=0, allow_deleting_in_flight_writes=True)
    assert "part-inflight.parquet" in removed
    assert not os.path.exists(os.path.join(root, "part-inflight.parquet"))
    assert [r.id for r in lake.read(spark, lcfg, "silver.inflight").collect()] == [1]


def test_a_storage_error_is_not_taken_for_a_missing_table(spark, cfg, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a file where the lake root should be")
    broken = cfg.with_overrides([f"paths.lake={blocker}"])
    with pytest.raises(lake.LakeError, match="cannot tell whether .* holds a Delta table"):
        lake.exists(broken, "silver.anything")
    with pytest.raises(lake.LakeError, match="cannot tell"):
        lake.read(spark, broken, "silver.anything")

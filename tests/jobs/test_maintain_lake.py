"""maintain_lake through its entrypoint: small files compacted, a checkpoint written, vacuum at the
floor by default, removed files gone only when asked below it; rows unchanged; one line for a bad table."""

from __future__ import annotations

import os

import pytest

from jobs import maintain_lake
from loyalty import conf, lake
from loyalty.lake.maintain import disk_files, live_files


@pytest.mark.parametrize("backend", ["delta-spark", "delta-rs"])
def test_maintain_lake_compacts_checkpoints_and_vacuums(spark, tmp_path, backend, caplog):
    args = ["--env", "test", "--set", f"data_root={tmp_path}", "--set", f"lake.backend={backend}"]
    cfg = conf.load("test", [f"data_root={tmp_path}", f"lake.backend={backend}"])
    for i in range(10):   # ten small appends: ten small files (one row each)
        lake.append(spark.createDataFrame([(i, f"m{i}")], "id long, member string").coalesce(1), cfg, "ops.small")
    before_files, _ = live_files(cfg, "ops.small")
    assert before_files >= 10

    assert maintain_lake.main(args + ["--tables", "ops.small"]) == 0
    after_files, _ = live_files(cfg, "ops.small")
    assert after_files == 1
    assert sorted(r.id for r in lake.read(spark, cfg, "ops.small").collect()) == list(range(10))
    log_dir = os.path.join(lake.table_path(cfg, "ops.small"), "_delta_log")
    assert any(".checkpoint" in f for f in os.listdir(log_dir))
    on_disk, _ = disk_files(cfg, "ops.small")
    assert on_disk > after_files     # the compacted-away files stay: they are younger than the floor

    assert maintain_lake.main(args + ["--tables", "ops.small", "--retention-hours", "0"]) == 1   # refused
    assert "below the floor" in caplog.text
    assert maintain_lake.main(args + ["--tables", "ops.small", "--retention-hours", "0",
                                      "--allow-deleting-in-flight-writes"]) == 0
    data_on_disk = [f for f in _files(lake.table_path(cfg, "ops.small")) if f.endswith(".parquet")]
    assert len(data_on_disk) == after_files
    assert sorted(r.id for r in lake.read(spark, cfg, "ops.small").collect()) == list(range(10))

    assert maintain_lake.main(args + ["--tables", "ops.nothing"]) == 2
    assert "--tables: no such table(s): ops.nothing" in caplog.text


def _files(root):
    out = []
    for here, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        out += [os.path.join(here, n) for n in names]
    return out

import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from loyalty.bronze.readers import read_batch
from loyalty.bronze.sources import Source


def _rows(df):
    return sorted([r.asDict() for r in df.collect()], key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_csv_keeps_malformed_lines_and_reads_changed_layout_by_name(spark, tmp_path):
    (tmp_path / "a.csv").write_text("id;amount;member\n1;100;M1\n2;oops\n3;300;M3\n")
    (tmp_path / "b.csv").write_text("id;member;amount;channel\n4;M4;400;web\n")
    src = Source("s", "bronze.s", "csv", str(tmp_path / "*.csv"), ("id", "amount", "member"), {"sep": ";"})
    df = read_batch(spark, src, [f"file:{tmp_path}/a.csv", f"file:{tmp_path}/b.csv"])
    rows = {r["id"]: r for r in df.collect()}
    assert set(rows) == {"1", "2", "3", "4"}
    assert rows["2"]["_corrupt_record"] == "2;oops"
    assert rows["1"]["_corrupt_record"] is None and rows["1"]["amount"] == "100"
    assert rows["4"]["member"] == "M4" and rows["4"]["amount"] == "400"
    assert json.loads(rows["4"]["_rescued_data"]) == {"channel": "web"}
    assert rows["1"]["_rescued_data"] is None
    assert rows["4"]["_source_file"].endswith("/b.csv")


def test_json_lines_keep_raw_text_nested_items_and_unexpected_keys(spark, tmp_path):
    (tmp_path / "r.jsonl").write_text(
        '{"id": "1", "total": 12.5, "items": [{"sku": "A", "qty": 2}]}\n'
        '{"id": "2", "total": "N/A", "basketChannel": "online"}\n'
        '{"id": "3", "total": 4\n'
        '\n')
    src = Source("s", "bronze.s", "json", "", ("id", "total", "items"))
    rows = {r["_corrupt_record"] or r["id"]: r for r in read_batch(spark, src, [f"file:{tmp_path}/r.jsonl"]).collect()}
    assert len(rows) == 3  # the blank line is not a record
    assert rows["1"]["total"] == "12.5"
    assert json.loads(rows["1"]["items"]) == [{"sku": "A", "qty": 2}]
    assert rows["2"]["total"] == "N/A"
    assert json.loads(rows["2"]["_rescued_data"]) == {"basketChannel": "online"}
    assert rows['{"id": "3", "total": 4']["id"] is None


def test_parquet_values_become_text_with_utc_timestamps(spark, tmp_path):
    table = pa.table({
        "ref": ["t1", "t2"],
        "posted_ts": pa.array([datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc), None], pa.timestamp("us", tz="UTC")),
        "amount": [12.25, -3.0],
        "extra": [1, 2],
    })
    pq.write_table(table, tmp_path / "p.parquet")
    src = Source("s", "bronze.s", "parquet", "", ("ref", "posted_ts", "amount", "missing"))
    rows = {r["ref"]: r for r in read_batch(spark, src, [f"file:{tmp_path}/p.parquet"]).collect()}
    assert rows["t1"]["posted_ts"] == "2026-05-01T12:30:00.000000Z"
    assert rows["t1"]["amount"] == "12.25" and rows["t2"]["amount"] == "-3.0"
    assert rows["t1"]["missing"] is None
    assert json.loads(rows["t2"]["_rescued_data"]) == {"extra": "2"}

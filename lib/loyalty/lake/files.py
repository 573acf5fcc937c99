"""Data files of a table, seen from the driver: Spark writes a batch of Parquet files into a new
directory under the table root; here they are listed, their footers read and turned into Delta
add actions. Only listings and footers are read on the driver, never rows."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from loyalty.lake.core import LakeError, spark_uri
from loyalty.lake.schema import HIVE_NULL, delta_partition_string, typed_value
from loyalty.lake.stats import file_stats

STAGE_PREFIX = "write-"
_FOOTER_THREADS = 8


@dataclass
class NewFile:
    path: str                    # relative to the table root, not URL-encoded
    size: int
    modified_ms: int
    rows: int
    stats: str
    partition: dict[str, Any] = field(default_factory=dict)   # typed values

    def add_action(self, partition_types: dict[str, T.DataType]):
        from deltalake.transaction import AddAction

        values = {c: delta_partition_string(self.partition.get(c)) for c in partition_types}
        return AddAction(self.path, self.size, values, self.modified_ms, True, self.stats)


@dataclass
class Written:
    stage: str                   # directory under the root that holds this write's files
    files: list[NewFile]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow file system and the root's path in it (local paths and URIs alike)."""
    if root.startswith("file:"):
        root = root[len("file:"):]
        root = "/" + root.lstrip("/")
    return pafs.FileSystem.from_uri(root) if "://" in root else (pafs.LocalFileSystem(), root)


def is_hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


def write(df: DataFrame, root: str, schema: T.StructType, partition_by: list[str],
          max_records: int) -> Written:
    """Write ``df`` (already in ``schema``'s column order) as Parquet under a new directory of
    ``root`` and describe the files. The one Spark action is the write itself."""
    stage = f"{STAGE_PREFIX}{uuid.uuid4().hex}"
    target = f"{root.rstrip('/')}/{stage}"
    writer = df.write.mode("errorifexists").option("maxRecordsPerFile", int(max_records))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        writer.parquet(spark_uri(target))
    except Exception:
        delete_tree(root, stage)   # a failed job leaves at most an empty directory; never committed
        raise
    types = {f.name: f.dataType for f in schema.fields}
    files = describe(root, stage, schema, partition_by, types)
    empty = [f for f in files if f.rows == 0]
    if empty:
        fs, base = filesystem(root)
        for f in empty:
            fs.delete_file(f"{base}/{f.path}")
    return Written(stage, [f for f in files if f.rows > 0])


def describe(root: str, stage: str, schema: T.StructType, partition_by: list[str],
             types: dict[str, T.DataType]) -> list[NewFile]:
    fs, base = filesystem(root)
    infos = [i for i in fs.get_file_info(pafs.FileSelector(f"{base}/{stage}", recursive=True))
             if i.type == pafs.FileType.File]
    entries = []
    for info in infos:
        rel = info.path[len(base):].lstrip("/")
        if is_hidden(rel):
            continue   # .crc checksums, _SUCCESS markers
        entries.append((rel, info))

    def one(item) -> NewFile:
        rel, info = item
        meta = pq.read_metadata(f"{base}/{rel}", filesystem=fs)
        rows, stats = file_stats(meta, schema, partition_by)
        return NewFile(rel, int(info.size), int(info.mtime_ns // 1_000_000), rows, stats,
                       partition_of(rel, partition_by, types))

    with ThreadPoolExecutor(max_workers=_FOOTER_THREADS) as pool:
        return sorted(pool.map(one, entries), key=lambda f: f.path)


def partition_of(rel: str, partition_by: list[str], types: dict[str, T.DataType]) -> dict[str, Any]:
    """Typed partition values from a file's ``k=v`` directories (Spark URL-escapes them)."""
    found: dict[str, str | None] = {}
    for part in rel.split("/")[:-1]:
        if "=" in part:
            key, _, value = part.partition("=")
            text = unquote(value)
            found[unquote(key)] = None if text == HIVE_NULL else text
    missing = [c for c in partition_by if c not in found]
    if missing:
        raise LakeError(f"file {rel} is not under '<column>=<value>' directories for {', '.join(missing)}")
    return {c: typed_value(found[c], types[c]) for c in partition_by}


def delete_tree(root: str, rel: str) -> None:
    """Best-effort removal of a directory under the root (files known not to be committed)."""
    fs, base = filesystem(root)
    try:
        fs.delete_dir(f"{base}/{rel}")
    except (FileNotFoundError, OSError):
        pass

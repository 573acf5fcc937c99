"""The Delta log through delta-rs: open a table (at a version or time), its live files with
typed partition values, history, batch versions, commits and vacuum. No Spark here."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
from pyspark.sql import types as T

from loyalty.lake.core import LakeError, TableNotFoundError
from loyalty.lake.files import filesystem
from loyalty.lake.schema import from_delta

_STANDARD_COMMIT_KEYS = {
    "timestamp", "operation", "operationParameters", "operationMetrics", "engineInfo", "clientVersion",
    "version", "readVersion", "isBlindAppend", "isolationLevel", "txnId", "userId", "userName",
    "inCommitTimestamp", "clusterId", "tags", "isolationLevel",
}


@dataclass
class TableFile:
    path: str                      # relative to the root and not URL-encoded, or an absolute URI
    size: int
    rows: int | None
    partition: dict[str, Any]      # typed values (date, datetime UTC, Decimal, int, str, bool)


def is_table(root: str) -> bool:
    """True when ``root`` holds a Delta log. A missing path is False; a storage error (an
    unreadable path, a lake root under a regular file, an unreachable store) is a LakeError,
    never "no table"."""
    fs, base = filesystem(root)
    log_dir = f"{base.rstrip('/')}/_delta_log"
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            try:
                os.stat(log_dir)
            except FileNotFoundError:
                return False
            entries = os.listdir(log_dir)
        else:
            info = fs.get_file_info(log_dir)
            if info.type == pafs.FileType.NotFound:
                return False
            entries = [i.base_name for i in fs.get_file_info(pafs.FileSelector(log_dir))]
    except OSError as exc:
        raise LakeError(f"cannot tell whether {root} holds a Delta table: {exc}") from None
    return any(e.endswith(".json") or ".checkpoint" in e for e in entries)


def open_table(root: str, name: str, version: int | None = None, timestamp: str | datetime | None = None,
               without_files: bool = False):
    """A DeltaTable at the current version, ``version`` or ``timestamp``; missing table ->
    TableNotFoundError naming the table and path."""
    from deltalake import DeltaTable

    if version is not None and timestamp is not None:
        raise LakeError(f"{name}: give version or timestamp, not both")
    if not is_table(root):
        raise TableNotFoundError(f"table {name} not found: no Delta log at {root}")
    dt = DeltaTable(root, without_files=without_files)
    try:
        if version is not None:
            dt.load_as_version(int(version))
        elif timestamp is not None:
            dt.load_as_version(timestamp)
    except Exception as exc:
        when = f"version {version}" if version is not None else f"timestamp {timestamp}"
        raise LakeError(f"{name} at {root}: cannot load {when}: {exc}") from None
    return dt


def maybe_open(root: str, name: str, without_files: bool = False):
    return open_table(root, name, without_files=without_files) if is_table(root) else None


def current_version(root: str, name: str) -> int | None:
    return open_table(root, name, without_files=True).version() if is_table(root) else None


def version_at(root: str, name: str, timestamp: str | datetime) -> int:
    """The version a reader sees as of ``timestamp`` (the last commit at or before it)."""
    return open_table(root, name, timestamp=timestamp, without_files=True).version()


def local_root(root: str) -> str:
    """The root as a plain path (file: URIs decoded), for relating file URIs to it."""
    from loyalty.lake.core import local_path

    return local_path(root).rstrip("/") if root.startswith("file:") or "://" not in root else root.rstrip("/")


def commit_metadata(entry: dict) -> dict:
    """The custom keys of one commit: delta-rs custom metadata, or our JSON in Delta's userMetadata."""
    custom = {k: v for k, v in entry.items() if k not in _STANDARD_COMMIT_KEYS and k != "userMetadata"}
    text = entry.get("userMetadata")
    if isinstance(text, str) and text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            custom.update(parsed)
    elif text:
        custom["userMetadata"] = text
    return custom


def find_commit(root: str, name: str, key: str, value: str, after: int) -> dict | None:
    """The commit after version ``after`` whose metadata has ``key == value`` (newest first)."""
    dt = open_table(root, name, without_files=True)
    newer = dt.version() - after
    if newer <= 0:
        return None
    for entry in dt.history(limit=min(newer, 1000)):
        if int(entry.get("version", -1)) > after and str(commit_metadata(entry).get(key)) == value:
            return entry
    return None


class Snapshot:
    """One version of a table: schema, partition columns and live files."""

    def __init__(self, dt, root: str, name: str):
        self.dt, self.root, self.name = dt, root, name
        self.version: int = dt.version()
        self.schema: T.StructType = from_delta(dt.schema())
        self.partition_by: list[str] = list(dt.metadata().partition_columns)
        self._files: list[TableFile] | None = None

    @property
    def partition_types(self) -> dict[str, T.DataType]:
        types = {f.name: f.dataType for f in self.schema.fields}
        return {c: types[c] for c in self.partition_by}

    def files(self) -> list[TableFile]:
        if self._files is None:
            table = pa.table(self.dt.get_add_actions(flatten=False))
            cols = table.column_names
            parts = table.column("partition").to_pylist() if "partition" in cols else [None] * table.num_rows
            rows = table.column("num_records").to_pylist() if "num_records" in cols else [None] * table.num_rows
            self._files = [
                TableFile(p if "://" in p else unquote(p), int(s), r, dict(pv or {}))
                for p, s, r, pv in zip(table.column("path").to_pylist(), table.column("size_bytes").to_pylist(),
                                       rows, parts)
            ]
        return self._files


def commit(snapshot: Snapshot | None, root: str, schema: T.StructType, partition_by: list[str], actions: list,
           properties, mode: str = "append", replace: bool = False) -> int:
    """One Delta transaction; returns the new version. ``snapshot`` None creates the table;
    ``replace`` recreates its metadata (new schema/partitioning) and drops all files."""
    from deltalake import DeltaTable
    from deltalake.transaction import create_table_with_add_actions

    from loyalty.lake.schema import to_delta

    delta_schema = to_delta(schema, snapshot.name if snapshot else root)
    if snapshot is None or replace:
        create_table_with_add_actions(root, delta_schema, actions, mode="overwrite" if replace else "error",
                                      partition_by=partition_by or None, commit_properties=properties)
    else:
        snapshot.dt.create_write_transaction(actions, mode, delta_schema, partition_by=partition_by or None,
                                             commit_properties=properties)
    return DeltaTable(root).version()


def remove_actions(files: list[TableFile], partition_types: dict[str, T.DataType]) -> list:
    from deltalake.transaction import RemoveAction

    from loyalty.lake.schema import delta_partition_string

    now_ms = int(time.time() * 1000)   # the deletion timestamp is part of the commit
    return [RemoveAction(f.path, True, now_ms, f.size,
                         {c: delta_partition_string(f.partition.get(c)) for c in partition_types})
            for f in files]


def history(root: str, name: str) -> list[dict]:
    """Newest first: version, timestamp (UTC), operation (the loyalty operation where one was
    recorded, else Delta's), delta_operation, metadata (custom commit keys)."""
    dt = open_table(root, name)
    out = []
    for entry in dt.history():
        custom = commit_metadata(entry)
        out.append({
            "version": int(entry["version"]),
            "timestamp": datetime.fromtimestamp(int(entry["timestamp"]) / 1000, tz=timezone.utc),
            "operation": custom.get("loyalty.operation") or entry.get("operation"),
            "delta_operation": entry.get("operation"),
            "metadata": custom,
        })
    return sorted(out, key=lambda e: -e["version"])


def batch_version(root: str, name: str, app_id: str) -> int | None:
    if not is_table(root):
        return None
    value = open_table(root, name).transaction_version(app_id)
    return None if value is None else int(value)


def vacuum(root: str, name: str, retention_hours: float, dry_run: bool) -> list[str]:
    """Full vacuum: every file under the root that the log does not reference (removed files,
    orphans of failed or uncommitted writes, ``_temporary`` leftovers) and that is older than
    the retention. Emptied write directories go too."""
    dt = open_table(root, name)
    hours = max(0, math.ceil(retention_hours))   # delta-rs takes whole hours: round towards keeping
    removed = list(dt.vacuum(retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False,
                             full=True))
    fs, base = filesystem(root)
    cutoff_ns = (time.time() - hours * 3600) * 1e9   # vacuum's own age test, for what it skips
    top = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    for info in top:   # `_temporary` at the root itself: delta-rs skips `_` names at the top
        rel = info.path[len(base):].lstrip("/")
        if rel == "_temporary" and info.type == pafs.FileType.Directory and info.mtime_ns < cutoff_ns:
            inner = fs.get_file_info(pafs.FileSelector(info.path, recursive=True))
            removed += [i.path[len(base):].lstrip("/") for i in inner if i.type == pafs.FileType.File]
            if not dry_run:
                fs.delete_dir(info.path)
    if not dry_run:
        _drop_empty_dirs(fs, base, {r.rsplit("/", 1)[0] for r in removed if "/" in r}, cutoff_ns)
    return sorted(removed)


def _drop_empty_dirs(fs, base: str, emptied: set[str], cutoff_ns: float) -> None:
    dirs = [i for i in fs.get_file_info(pafs.FileSelector(base, recursive=True))
            if i.type == pafs.FileType.Directory]
    rels = {i.path[len(base):].lstrip("/"): i for i in dirs}
    for rel in sorted(rels, key=lambda r: -r.count("/")):   # deepest first
        if rel == "_delta_log" or rel.startswith("_delta_log/"):
            continue
        info = rels[rel]
        touched = any(e == rel or e.startswith(rel + "/") for e in emptied)
        if not touched and info.mtime_ns >= cutoff_ns:
            continue
        if not fs.get_file_info(pafs.FileSelector(info.path)):
            fs.delete_dir(info.path)

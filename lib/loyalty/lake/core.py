"""What every part of the lake layer shares: errors, the commit report, table names and paths."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from loyalty.conf import Config

_NAME = re.compile(r"^([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$")


class LakeError(Exception):
    """A lake operation cannot be done as asked. The message names the table."""


class TableNotFoundError(LakeError):
    """The table has no Delta log at its path."""


class SchemaMismatchError(LakeError):
    """The data's columns or types do not match the table's."""


class ConcurrentCommitError(LakeError):
    """Another commit landed since this write's snapshot and touched what it read or replaces:
    nothing was committed. Re-running starts from a fresh snapshot."""


@dataclass
class CommitInfo:
    """What one write did. ``version`` is the table version after it (None: nothing committed
    and no table). ``rows`` is the number of rows in the files added, from their footers."""

    table: str
    version: int | None
    rows: int
    files_added: int
    files_removed: int = 0
    skipped: bool = False
    seconds: float = 0.0
    rows_inserted: int | None = None
    rows_updated: int | None = None


def split_name(name: str) -> tuple[str, str]:
    """``"bronze.pos"`` -> ``("bronze", "pos")``; anything else is a LakeError naming it."""
    match = _NAME.match(name) if isinstance(name, str) else None
    if not match:
        raise LakeError(
            f"bad table name {name!r}: expected '<layer>.<table>' (letters, digits, underscores), "
            "e.g. 'bronze.retail_freshmart'"
        )
    return match.group(1), match.group(2)


def table_path(cfg: Config, name: str) -> str:
    """Where a table lives: ``tables.<layer>.<table>.path`` if set, else ``<paths.lake>/<layer>/<table>``.
    A relative override is taken from ``paths.lake``."""
    layer, table = split_name(name)
    lake_root = cfg.typed("paths.lake", str)
    override = cfg.get(f"tables.{layer}.{table}.path", None)
    if override is not None:
        override = cfg.typed(f"tables.{layer}.{table}.path", str)
        if "://" in override or override.startswith("file:") or os.path.isabs(override):
            return override.rstrip("/")
        return _join(lake_root, override)
    return _join(_join(lake_root, layer), table)


def _join(base: str, child: str) -> str:
    if "://" in base or base.startswith("file:"):
        return base.rstrip("/") + "/" + child.strip("/")
    return os.path.abspath(os.path.join(base, child))


def spark_uri(path: str) -> str:
    """The path as Spark should see it: plain local paths get ``file:`` so a cluster's default
    file system (e.g. HDFS) does not reinterpret them; URIs pass through."""
    if "://" in path or path.startswith("file:"):
        return path
    return "file:" + path


def local_path(uri: str) -> str:
    """``file:/x`` / ``file:///x`` -> ``/x`` (percent-decoded); other URIs unchanged, decoded."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path)
    return parsed.scheme + "://" + parsed.netloc + unquote(parsed.path)

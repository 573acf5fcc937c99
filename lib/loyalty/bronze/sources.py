"""Source declarations from conf (``sources:`` in conf/sources.yaml), validated up front so a
bad entry stops the job with the key and file named, before anything is read."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from loyalty.conf import Config, ConfigError

FORMATS = ("csv", "json", "parquet")
FIELDS = ("description", "format", "path", "options", "columns", "table", "optional")
_GLOB_CHARS = set("*?[{")


@dataclass(frozen=True)
class Source:
    name: str
    table: str                 # e.g. bronze.retail_freshmart
    format: str                # csv | json | parquet
    glob: str                  # absolute glob under paths.landing
    columns: tuple[str, ...]   # expected columns, kept as raw strings in bronze
    options: dict = field(default_factory=dict)
    description: str = ""
    optional: bool = False     # a missing landing folder is skipped (logged), not a failure

    @property
    def app_id(self) -> str:
        """The writer id under which this source's batches are committed exactly once."""
        return f"ingest_bronze:{self.name}"

    @property
    def landing_dir(self) -> str:
        """The folder the glob lists: its leading parts without wildcards (a plain file path: its folder)."""
        parts = self.glob.split("/")
        literal = []
        for part in parts:
            if _GLOB_CHARS & set(part):
                break
            literal.append(part)
        if len(literal) == len(parts):
            literal = literal[:-1]
        return "/".join(literal) or "/"


def load_sources(cfg: Config, only: list[str] | None = None) -> list[Source]:
    declared = cfg.section("sources")
    unknown = sorted(set(only or []) - set(declared))
    if unknown:
        raise ConfigError(f"unknown source(s) {', '.join(unknown)}; declared in {cfg.where('sources')}: "
                          f"{', '.join(sorted(declared))}")
    landing = cfg.typed("paths.landing", str).rstrip("/")
    layer = cfg.get("ingest.tables_layer", "bronze")
    out = []
    for name, spec in declared.items():
        if only and name not in only:
            continue
        key = f"sources.{name}"
        where = cfg.where(key)
        if not isinstance(spec, dict):
            raise ConfigError(f"setting '{key}' in {where} must be a mapping")
        for stray in (f for f in spec if f not in FIELDS):
            close = difflib.get_close_matches(str(stray), FIELDS, n=1)
            raise ConfigError(f"unknown setting '{key}.{stray}' in {where} "
                              + (f"(did you mean {key}.{close[0]}?)" if close else f"(a source has {', '.join(FIELDS)})"))
        optional = spec.get("optional", False)
        if not isinstance(optional, bool):
            raise ConfigError(f"setting '{key}.optional' in {where} must be true or false, got {optional!r}")
        fmt = spec.get("format")
        if fmt not in FORMATS:
            raise ConfigError(f"setting '{key}.format' in {where} must be one of {', '.join(FORMATS)}, got {fmt!r}")
        path = spec.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"setting '{key}.path' in {where} must be a glob relative to paths.landing")
        columns = spec.get("columns")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
            raise ConfigError(f"setting '{key}.columns' in {where} must be a non-empty list of column names")
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise ConfigError(f"setting '{key}.columns' in {where} repeats {', '.join(dupes)}")
        reserved = sorted(c for c in columns if c.startswith("_"))
        if reserved:
            raise ConfigError(f"setting '{key}.columns' in {where}: names starting with '_' are reserved "
                              f"for ingestion metadata: {', '.join(reserved)}")
        options = spec.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"setting '{key}.options' in {where} must be a mapping of reader options")
        glob = path if "://" in path or path.startswith("/") else f"{landing}/{path}"
        out.append(Source(name=name, table=spec.get("table", f"{layer}.{name}"), format=fmt, glob=glob,
                          columns=tuple(columns), options=dict(options), description=spec.get("description", ""),
                          optional=optional))
    return out

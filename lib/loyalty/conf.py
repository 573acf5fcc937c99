"""Configuration: conf/base.yaml + conf/sources.yaml + conf/<env>.yaml + --set overrides.

Every leaf value remembers the file (or override) it came from, so a missing or malformed
setting stops the job with a message naming the key and where it was (or should be) set.
``${dotted.key}`` references are resolved after merging. Relative local paths (``data_root``,
``paths.*``, ``generator.work_dir``, ``ml.artifact_root``) are made absolute: one set in a conf file against the project root (the folder
that holds conf/), so a notebook whose working directory is notebooks/ finds the same ./data as
a job; one given on the command line (--set, LOYALTY_SET) against the working directory, as any
path typed in a shell.

Keys are dotted paths. A part may be double-quoted to hold dots (``dq.tables."silver.stores"``),
and the keys of ``spark.conf`` are Spark setting names, so everything after ``spark.conf.`` is one
key: ``--set spark.conf.spark.eventLog.enabled=true`` (or ``--conf spark.eventLog.enabled=true``,
see ``load(spark_conf=...)``) sets Spark's ``spark.eventLog.enabled``. Values given for Spark
settings on the command line are kept as text, as Spark takes them.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

CONF_FILES = ("base.yaml", "sources.yaml", "dq.yaml")
ENVIRONMENTS = ("local", "cluster", "test")
_REF = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
_MISSING = object()

# Maps whose keys are dotted names themselves (Spark settings): the rest of a key after one of
# these prefixes is a single key, never a path into nested maps.
FLAT_MAPS = ("spark.conf",)

# The settings that exist are the keys of CONF_FILES (base.yaml, sources.yaml, dq.yaml); an env
# file or --set naming any other key is refused, with the closest known key. Below these maps the
# keys are data, not settings (Spark setting names, reference codes, source, table and column
# names), so any key is accepted there; what they hold is checked where it is used
# (bronze/sources.py, dq/rules.py, lake/core.py, gold/features.py, ml/segments.py).
OPEN_MAPS = (
    "spark.conf",                        # any Spark setting
    "reference.province_timezones",      # province code -> time zone
    "reference.mcc_groups",              # merchant category code -> group
    "gold.member_features.departments",  # department -> column suffix
    "ml.segments.fill",                  # feature column -> value of a null
    "sources",                           # source name -> its declaration (fields checked by load_sources)
    "dq.tables",                         # silver table -> its rules
    "tables",                            # <layer>.<table>.path overrides of where a table lives
)

# Every declared setting is checked against the type of its base.yaml default (an int stays an int,
# a date a date, ...). These say what a null default does not, or that a setting also takes null.
KINDS = {                                # key: (kind, null allowed)
    "silver.run_date": ("date", True),
    "gold.as_of": ("date", True),
    "spark.driver_memory": ("text", True),
    "cluster.master": ("text", True),
    "ml.tracking_uri": ("text", True),
    "ml.recommender.half_life_days": ("number", True),
    "silver.points_reconciliation.tolerance_points": ("number", False),
    "silver.points_reconciliation.retail_points_per_dollar": ("number", False),
    "lake.delta_spark.ivy_cache": ("text", True),
    "lake.lease_dir": ("text", True),
    "lake.lease_ttl_seconds": ("number", False),
    "lake.vacuum_retention_hours": ("number", False),
}
_DESCRIBE = {"bool": "true or false", "int": "a whole number", "number": "a number", "text": "text",
             "date": "a date YYYY-MM-DD", "list": "a list, e.g. [a, b]", "map": "a mapping"}


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the key and the file."""


def split_key(key: str) -> list[str]:
    """``a.b."c.d"`` -> ``["a", "b", "c.d"]``; after a FLAT_MAPS prefix the rest is one part
    (``spark.conf.spark.ui.enabled`` -> ``["spark", "conf", "spark.ui.enabled"]``)."""
    parts: list[str] = []
    i, n = 0, len(key)
    while i <= n:
        if i < n and key[i] == '"':
            end = key.find('"', i + 1)
            if end < 0:
                raise ConfigError(f"setting name {key!r} has an unclosed quote")
            parts.append(key[i + 1:end])
            i = end + 1
            if i < n and key[i] != ".":
                raise ConfigError(f"setting name {key!r}: a quoted part must be followed by '.' or the end")
            i += 1
        else:
            end = key.find(".", i)
            end = n if end < 0 else end
            parts.append(key[i:end])
            i = end + 1
        for flat in FLAT_MAPS:
            head = flat.split(".")
            if parts == head and i < n:
                rest = key[i:]
                parts.append(rest[1:-1] if len(rest) > 1 and rest[0] == rest[-1] == '"' else rest)
                return parts
    if any(not p for p in parts):
        raise ConfigError(f"setting name {key!r} has an empty part")
    return parts


def dotted(parts: list[str]) -> str:
    """The inverse of ``split_key`` for messages and origins (quotes only where needed)."""
    out: list[str] = []
    for part in parts:
        flat = ".".join(out) in FLAT_MAPS
        out.append(part if flat or "." not in part else f'"{part}"')
    return ".".join(out)


def spark_settings(cfg: "Config") -> dict[str, str]:
    """``spark.conf`` as Spark takes it: every value text, booleans lower-case."""
    settings = cfg.get("spark.conf", {}) or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"setting 'spark.conf' in {cfg.where('spark.conf')} must be a mapping of Spark settings")
    out = {}
    for key, value in settings.items():
        if isinstance(value, (dict, list)) or value is None:
            raise ConfigError(f"Spark setting 'spark.conf.{key}' in {cfg.where(f'spark.conf.{key}')} must be a "
                              f"single value, got {value!r}")
        out[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def conf_dir() -> Path:
    """Where the YAML files live: $LOYALTY_CONF_DIR, else ./conf, else the repo's conf/."""
    env = os.environ.get("LOYALTY_CONF_DIR")
    if env:
        return Path(env)
    cwd_conf = Path.cwd() / "conf"
    if (cwd_conf / "base.yaml").exists():
        return cwd_conf
    repo_conf = Path(__file__).resolve().parents[2] / "conf"
    return repo_conf


@dataclass
class Config:
    data: dict
    origin: dict = field(default_factory=dict)  # dotted key -> file that set it
    env: str = "local"
    files: tuple = ()
    root: str = ""            # the project root: the folder that holds the conf folder

    # -- access -------------------------------------------------------------------------
    def get(self, key: str, default: Any = _MISSING) -> Any:
        node: Any = self.data
        for part in split_key(key):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif default is not _MISSING:
                return default
            else:
                raise ConfigError(
                    f"missing setting '{key}' (looked in {', '.join(self.files) or 'no files'}; "
                    f"set it there or pass --set {key}=...)"
                )
        return node

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def where(self, key: str) -> str:
        """The file (or override) that set ``key`` or its nearest parent."""
        probe = key
        while probe:
            if probe in self.origin:
                return self.origin[probe]
            probe = probe.rpartition(".")[0]
        return self.files[0] if self.files else "<no file>"

    def typed(self, key: str, kind: type | tuple, default: Any = _MISSING) -> Any:
        """``get`` plus a type check with a message naming key and file."""
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and int not in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = "/".join(k.__name__ for k in kinds)
            raise ConfigError(
                f"setting '{key}' in {self.where(key)} must be {names}, got {value!r}"
            )
        return value

    def section(self, key: str) -> dict:
        value = self.get(key)
        if not isinstance(value, dict):
            raise ConfigError(f"setting '{key}' in {self.where(key)} must be a mapping")
        return value

    def with_overrides(self, overrides: Iterable[str], spark_conf: Iterable[str] = ()) -> "Config":
        data = copy.deepcopy(self._raw)
        origin = dict(self._raw_origin)
        _apply_overrides(data, origin, overrides, self._schema)
        _apply_spark_conf(data, origin, spark_conf)
        return _finish(data, origin, self.env, self.files, self._schema, self.root)

    # the unresolved tree, kept so overrides can change a referenced key later
    _raw: dict = field(default_factory=dict, repr=False)
    _raw_origin: dict = field(default_factory=dict, repr=False)
    # the declared settings (base.yaml + sources.yaml + dq.yaml), against which overrides are checked
    _schema: dict = field(default_factory=dict, repr=False)


def load(env: str = "local", overrides: Iterable[str] | None = None, directory: Path | None = None,
         spark_conf: Iterable[str] = (), overrides_from: str = "--set") -> Config:
    """Load and merge the configuration for ``env`` with ``key=value`` overrides (``--set``, or
    what ``overrides_from`` names, e.g. LOYALTY_SET), then ``spark_conf``: Spark settings
    ``spark.<name>=value`` (``--conf``), i.e. ``spark.conf.<name>``."""
    directory = Path(directory) if directory else conf_dir()
    if not (directory / "base.yaml").exists():
        raise ConfigError(f"no base.yaml in {directory} (set LOYALTY_CONF_DIR or run from the repo root)")
    env_file = directory / f"{env}.yaml"
    if not env_file.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml") if p.name not in CONF_FILES)
        raise ConfigError(f"unknown environment '{env}': no {env_file} (known: {', '.join(known)})")
    data: dict = {}
    origin: dict = {}
    files = []
    schema: dict = {}
    for path in [directory / name for name in CONF_FILES] + [env_file]:
        if not path.exists():
            continue
        files.append(str(path))
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
        except ValueError as exc:         # a date that does not exist, e.g. 2026-02-30
            raise ConfigError(f"{path} holds an invalid date ({exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping at the top level")
        if path.name in CONF_FILES:
            _deep_merge(schema, loaded, {}, str(path))
        else:
            _check_tree(loaded, schema, str(path))
        _deep_merge(data, loaded, origin, str(path))
    _apply_overrides(data, origin, overrides or (), schema, overrides_from)
    _apply_spark_conf(data, origin, spark_conf)
    return _finish(data, origin, env, tuple(files), schema, str(directory.resolve().parent))


def _finish(data: dict, origin: dict, env: str, files: tuple, schema: dict, root: str) -> Config:
    _absolutize_paths(data, origin, files, root)      # before ${...}: paths.lake follows data_root
    raw = copy.deepcopy(data)
    resolved = _resolve(copy.deepcopy(data), data, origin)
    _check_types(resolved, schema, origin)
    _absolutize_paths(resolved, origin, files, root)
    return Config(resolved, origin, env, files, root, _raw=raw, _raw_origin=dict(origin), _schema=schema)


# -- known settings ------------------------------------------------------------------------------
def _is_open(parts: list[str]) -> bool:
    return ".".join(parts) in OPEN_MAPS


def _check_key(parts: list[str], schema: dict, where: str) -> None:
    """Refuse a key that base.yaml/sources.yaml/dq.yaml do not declare (keys below OPEN_MAPS are free)."""
    node: Any = schema
    for i, part in enumerate(parts):
        if _is_open(parts[:i]):
            return
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"unknown setting '{dotted(parts)}' in {where}{_suggest(parts, schema)}")
        node = node[part]


def _check_tree(tree: dict, schema: dict, where: str, prefix: tuple = ()) -> None:
    for key, value in tree.items():
        parts = [*prefix, str(key)]
        _check_key(parts, schema, where)
        if isinstance(value, dict) and not _is_open(parts):
            _check_tree(value, schema, where, tuple(parts))


def _known_keys(schema: dict, prefix: tuple = ()) -> list[str]:
    out = []
    for key, value in schema.items():
        parts = [*prefix, str(key)]
        out.append(dotted(parts))
        if isinstance(value, dict) and not _is_open(parts):
            out.extend(_known_keys(value, tuple(parts)))
    return out


def _kind_of(default: Any) -> str | None:
    if default is None or (isinstance(default, str) and _REF.fullmatch(default)):
        return None                       # null, or a bare ${reference}: its type is the referent's
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, dt.datetime):
        return None
    if isinstance(default, dt.date):
        return "date"
    return {str: "text", list: "list", dict: "map"}.get(type(default))


def _check_types(data: dict, schema: dict, origin: dict, prefix: tuple = ()) -> None:
    """Each declared setting against its kind; dates become ``datetime.date`` (from YAML or text)."""
    for key, value in data.items():
        parts = [*prefix, str(key)]
        if not isinstance(schema, dict) or key not in schema:
            continue                      # below an open map (unknown keys were refused earlier)
        name = dotted(parts)
        kind, nullable = KINDS.get(".".join(parts), (_kind_of(schema[key]), schema[key] is None))
        if value is None and nullable or kind is None:
            continue
        problem = None
        if kind == "date":
            value, problem = _as_date(value)
            data[key] = value
        elif kind == "bool":
            problem = "" if not isinstance(value, bool) else None
        elif kind == "int":
            problem = "" if not isinstance(value, int) or isinstance(value, bool) else None
        elif kind == "number":
            if isinstance(value, str):    # YAML 1.1 reads 1e-3 (no dot) as text
                try:
                    value = data[key] = float(value)
                except ValueError:
                    pass
            problem = "" if not isinstance(value, (int, float)) or isinstance(value, bool) else None
        elif kind == "text":
            problem = "" if not isinstance(value, str) else None
        elif kind == "list":
            problem = "" if not isinstance(value, list) else None
        elif kind == "map":
            problem = "" if not isinstance(value, dict) else None
        if problem is not None:
            where = _where(origin, ".".join(parts))
            raise ConfigError(f"setting '{name}' in {where} must be {_DESCRIBE[kind]}, got {_show(value)}"
                              + (f" ({problem})" if problem else ""))
        if kind == "map" and not _is_open(parts):
            _check_types(value, schema[key], origin, tuple(parts))


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def _as_date(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value, None
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value):
        try:
            return dt.date.fromisoformat(value.strip()), None
        except ValueError as exc:
            return value, str(exc)
    return value, ""


def _where(origin: dict, key: str) -> str:
    probe = key
    while probe:
        if probe in origin:
            return origin[probe]
        probe = probe.rpartition(".")[0]
    return "<no file>"


def _suggest(parts: list[str], schema: dict) -> str:
    if not schema:
        return ""
    best = difflib.get_close_matches(dotted(parts), _known_keys(schema), n=1, cutoff=0.6)
    if best:
        return f" (did you mean {best[0]}?)"
    return f" (no such setting: every setting is declared in {', '.join(CONF_FILES)})"


def _deep_merge(into: dict, new: dict, origin: dict, source: str, prefix: tuple = ()) -> None:
    for key, value in new.items():
        parts = [*prefix, str(key)]
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, origin, source, tuple(parts))
        else:
            into[key] = copy.deepcopy(value)
            origin[".".join(parts)] = source
            if isinstance(value, dict):
                for sub in _leaf_keys(value, parts):
                    origin[".".join(sub)] = source


def _leaf_keys(tree: dict, prefix: list[str]) -> list[list[str]]:
    keys = []
    for key, value in tree.items():
        keys.append([*prefix, str(key)])
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, [*prefix, str(key)]))
    return keys


def _apply_overrides(data: dict, origin: dict, overrides: Iterable[str], schema: dict,
                     label: str = "--set") -> None:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{label} expects key=value, got '{item}'")
        key, _, text = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"{label} expects key=value, got '{item}'")
        parts = split_key(key)
        _check_key(parts, schema, label)
        if _in_flat_map(parts):
            value: Any = text                       # Spark takes text; YAML would turn 010 into 8
        else:
            try:
                value = yaml.safe_load(text) if text.strip() else ""
            except (yaml.YAMLError, ValueError):  # ValueError: a date YAML cannot build, e.g. 2026-02-30
                value = text
        _set(data, origin, parts, value, f"{label} {dotted(parts)}")


def _apply_spark_conf(data: dict, origin: dict, items: Iterable[str]) -> None:
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.startswith("spark.") or len(name) <= len("spark."):
            raise ConfigError(f"--conf expects a Spark setting spark.<name>=value, got '{item}'")
        _set(data, origin, ["spark", "conf", name], text, f"--conf {name}")


def _in_flat_map(parts: list[str]) -> bool:
    return any(len(parts) > len(flat.split(".")) and ".".join(parts[:len(flat.split("."))]) == flat
               for flat in FLAT_MAPS)


def _set(data: dict, origin: dict, parts: list[str], value: Any, source: str) -> None:
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    origin[".".join(parts)] = source          # origins are plain dotted paths, as Config.where looks them up


def _resolve(node: Any, root: dict, origin: dict, key: str = "", depth: int = 0) -> Any:
    if depth > 20:
        raise ConfigError(f"setting '{key}' in {origin.get(key, '?')}: reference cycle")
    if isinstance(node, dict):
        return {k: _resolve(v, root, origin, f"{key}.{k}" if key else k, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, origin, key, depth) for v in node]
    if isinstance(node, str) and "${" in node:
        def lookup(match: re.Match) -> str:
            ref = match.group(1)
            target: Any = root
            for part in ref.split("."):
                if not isinstance(target, dict) or part not in target:
                    raise ConfigError(
                        f"setting '{key}' in {origin.get(key, '?')} refers to ${{{ref}}}, which is not set"
                    )
                target = target[part]
            return str(_resolve(target, root, origin, ref, depth + 1))

        return _REF.sub(lookup, node)
    return node


PATH_SETTINGS = (("generator", "work_dir"), ("ml", "artifact_root"))   # paths outside ``paths``


def _absolutize_paths(data: dict, origin: dict, files: tuple, root: str) -> None:
    """``data_root``, ``paths.*`` and PATH_SETTINGS: relative ones from a conf file against the project root,
    from the command line against the working directory; URIs and ``${...}`` stay as they are."""
    def fix(key: str, value: Any) -> Any:
        if not isinstance(value, str) or "://" in value or value.startswith(("file:", "${")):
            return value
        base = root if _where(origin, key) in files else os.getcwd()
        return os.path.abspath(os.path.join(base, os.path.expanduser(value)))

    if "data_root" in data:
        data["data_root"] = fix("data_root", data["data_root"])
    paths = data.get("paths")
    if isinstance(paths, dict):
        for key in list(paths):
            paths[key] = fix(f"paths.{key}", paths[key])
    for section, key in PATH_SETTINGS:
        node = data.get(section)
        if isinstance(node, dict) and key in node:
            node[key] = fix(f"{section}.{key}", node[key])

"""Read a batch of landing files into the raw bronze shape, dropping nothing.

Every reader returns the source's expected columns as raw strings, plus
- ``_rescued_data``: JSON object of columns the file had beyond the expected ones
  (a new column a partner added part-way through a feed), else null;
- ``_corrupt_record``: the raw line when it could not be parsed (wrong field count,
  truncated JSON), else null. The row is kept; silver decides what to do with it;
- ``_source_file``: the file the row came from.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from loyalty import fs
from loyalty.bronze.sources import Source

log = logging.getLogger(__name__)

RESCUED, CORRUPT, SOURCE_FILE = "_rescued_data", "_corrupt_record", "_source_file"
INGESTED_AT, BATCH_ID = "_ingested_at", "_batch_id"
RAW_META = (RESCUED, CORRUPT, SOURCE_FILE)


def read_batch(spark: SparkSession, source: Source, files: list[str]) -> DataFrame:
    if not files:
        raise ValueError("read_batch needs at least one file")
    reader = {"csv": read_csv, "json": read_json_lines, "parquet": read_parquet}[source.format]
    return reader(spark, source, files)


def raw_schema(source: Source) -> T.StructType:
    """The bronze table's schema (before ingestion metadata)."""
    fields = [T.StructField(c, T.StringType()) for c in source.columns]
    fields += [T.StructField(c, T.StringType()) for c in RAW_META]
    return T.StructType(fields)


def _conform(df: DataFrame, source: Source, present: list[str], corrupt: Column) -> DataFrame:
    """Expected columns (null where the file lacks them), rescued extras, corrupt line, file."""
    extras = [c for c in present if c not in source.columns]
    if extras:
        packed = F.to_json(F.struct(*[F.col(f"`{c}`").alias(c) for c in extras]))
        rescued = F.when(packed != F.lit("{}"), packed)
    else:
        rescued = F.lit(None).cast("string")
    cols = [(F.col(f"`{c}`").cast("string") if c in present else F.lit(None).cast("string")).alias(c)
            for c in source.columns]
    return df.select(*cols, rescued.alias(RESCUED), corrupt.alias(CORRUPT),
                     F.col("_metadata.file_path").alias(SOURCE_FILE))


# --- CSV -------------------------------------------------------------------------------------

def parse_header(line: str, options: dict) -> list[str]:
    sep = options.get("sep", options.get("delimiter", ","))
    quote = options.get("quote", '"') or '"'
    fields = next(csv.reader([line], delimiter=sep, quotechar=quote), [])
    names, seen = [], defaultdict(int)
    for i, raw in enumerate(fields):
        name = raw.strip() or f"_c{i}"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}__{seen[name]}")
    return names


def read_csv(spark: SparkSession, source: Source, files: list[str]) -> DataFrame:
    """Files are grouped by their header line (read without loading the file), so a feed
    whose layout changes part-way is read by name, not by position."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in files:
        groups[tuple(parse_header(fs.read_first_line(spark, path, source.options.get("encoding", "UTF-8")),
                                  source.options))].append(path)
    frames = []
    for header, paths in groups.items():
        if not header:
            log.warning("%s: %d file(s) have no header line; read as empty", source.name, len(paths))
        schema = T.StructType([T.StructField(c, T.StringType()) for c in header]
                              + [T.StructField(CORRUPT, T.StringType())])
        options = {k: str(v) for k, v in source.options.items()}
        options.update(header="true", mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT,
                       enforceSchema="true", multiLine="false")
        df = spark.read.schema(schema).options(**options).csv(paths)
        frames.append(_conform(df, source, list(header), F.col(CORRUPT)))
    return _union(frames)


# --- JSON lines --------------------------------------------------------------------------------

def read_json_lines(spark: SparkSession, source: Source, files: list[str]) -> DataFrame:
    """Each line is parsed as a JSON object of raw values (numbers and nested arrays keep their
    JSON text). A line that is not a JSON object is kept whole in _corrupt_record."""
    lines = spark.read.options(**{k: str(v) for k, v in source.options.items()}).text(files)
    lines = lines.where(F.trim("value") != "")
    parsed = lines.select(
        "value", "_metadata",
        F.from_json("value", T.MapType(T.StringType(), T.StringType()), {"mode": "PERMISSIVE"}).alias("m"))
    expected = F.array(*[F.lit(c) for c in source.columns])
    extra = F.map_filter("m", lambda k, v: ~F.array_contains(expected, k))
    rescued = F.when(F.size(extra) > 0, F.to_json(extra))
    cols = [F.col("m").getItem(c).alias(c) for c in source.columns]
    return parsed.select(*cols, rescued.alias(RESCUED),
                         F.when(F.col("m").isNull(), F.col("value")).alias(CORRUPT),
                         F.col("_metadata.file_path").alias(SOURCE_FILE))


# --- Parquet ---------------------------------------------------------------------------------

def read_parquet(spark: SparkSession, source: Source, files: list[str]) -> DataFrame:
    """Typed partner Parquet is kept raw as text: timestamps as ISO-8601 UTC, numbers as written."""
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    as_text = {}
    for field in df.schema.fields:
        col = F.col(f"`{field.name}`")
        if isinstance(field.dataType, (T.TimestampType, T.TimestampNTZType)):
            col = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
        elif isinstance(field.dataType, (T.StructType, T.ArrayType, T.MapType)):
            col = F.to_json(col)
        elif not isinstance(field.dataType, T.StringType):
            col = col.cast("string")
        as_text[field.name] = col
    df = df.select(*[c.alias(n) for n, c in as_text.items()], "_metadata")
    return _conform(df, source, list(as_text), F.lit(None).cast("string"))


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out

"""Landing output: split a feed into partner-named files (by month tag, then by
generator.rows_per_file), write them with Spark into a scratch folder and move each part
file to its final name (on local disk without the .crc side files). Text feeds arrive here as one
ready-made ``_line`` per row, so the header is exactly one line at the top of each file and
malformed lines stay as planted. Row and defect counts come from aggregating the rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from loyalty import fs
from loyalty.generate.context import Ctx
from loyalty.generate.pools import literal_array


@dataclass
class Feed:
    """One landing source. ``df`` holds ``_tag`` (month or export tag: decides the file
    group), ``_key`` (long, spreads rows over a group's files), ``_kind`` (defect kind planted
    on the row, null when clean), the ``sort`` columns (order inside a file) and either
    ``_line`` (fmt text) or the ``columns`` (fmt parquet)."""
    source: str
    df: DataFrame
    name: Callable[[str, int, int], str]          # (tag, index, files in tag) -> file name
    sort: list
    header: Callable[[str], str] | None = None    # CSV header line for a tag
    fmt: str = "text"
    columns: list | None = None
    file_kinds: dict = field(default_factory=dict)  # kind -> predicate(tag): every row of those files


@dataclass
class Written:
    source: str
    files: list            # [{"file": name, "rows": n}]
    defects: dict          # kind -> rows
    rows: int


def monthly_name(prefix: str, ext: str) -> Callable[[str, int, int], str]:
    def name(tag: str, i: int, n: int) -> str:
        if tag.endswith("_late") and n == 1:
            return f"{prefix}_{tag}.{ext}"
        return f"{prefix}_{tag}_{i + 1:03d}.{ext}"
    return name


def single_name(prefix: str, ext: str) -> Callable[[str, int, int], str]:
    def name(tag: str, i: int, n: int) -> str:
        return f"{prefix}_{tag}.{ext}" if n == 1 else f"{prefix}_{tag}_{i + 1:03d}.{ext}"
    return name


def _raw_fs(spark, path: str):
    """The Hadoop file system of ``path``; for the local disk the raw one, so moved files
    leave their .crc side files behind in the scratch folder (partners send no .crc)."""
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    hfs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if str(hfs.getScheme()) == "file":
        raw = jvm.java.lang.Class.forName("org.apache.hadoop.fs.RawLocalFileSystem")
        for _ in range(4):       # LocalFileSystem (checksums), maybe wrapped (Hive's proxy): unwrap
            if raw.isInstance(hfs):
                break
            hfs = hfs.getRawFileSystem()
    return hfs, jpath


def move(spark, src: str, dst: str) -> None:
    hfs, jsrc = _raw_fs(spark, src)
    jdst = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(dst)
    hfs.mkdirs(jdst.getParent())
    if not hfs.rename(jsrc, jdst):
        raise OSError(f"could not move {src} to {dst}")


def write_small(spark, path: str, text: str) -> None:
    """A small text file (truth JSON) without a .crc side file."""
    fs.write_text(spark, path, text)
    hfs, jpath = _raw_fs(spark, path)
    crc = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(jpath.getParent(), "." + jpath.getName() + ".crc")
    if hfs.exists(crc):
        hfs.delete(crc, False)


def csv_line(cols: list, sep: str) -> Column:
    """One CSV line from values that never need quoting (ids, codes, numbers, timestamps):
    plain concatenation, several times cheaper than to_csv; null becomes an empty field."""
    return F.concat_ws(sep, *[F.coalesce(c.cast("string"), F.lit("")) for c in cols])


def cents_text(cents: Column) -> Column:
    """Integer cents as a dollar amount with two decimals ('1234' -> '12.34'), for hand-built JSON."""
    sign = F.when(cents < 0, F.lit("-")).otherwise(F.lit(""))
    whole = F.abs(cents)
    return F.concat(sign, F.floor(whole / 100).cast("string"), F.lit("."), F.lpad(F.pmod(whole, F.lit(100)).cast("string"), 2, "0"))


BUCKETS = 64   # a tag's rows spread over its files by bucket: up to 64 files per feed and month
               # (rows_per_file is a soft cap beyond ~25M rows a month in one feed)


def write_all(ctx: Ctx, feeds: list, landing: str) -> list:
    """Write every feed. Text feeds (CSV and JSON lines) go through one combined pass: one
    aggregation (rows per file, defects per kind) and one write, whatever their number."""
    text = [f for f in feeds if f.fmt == "text"]
    out = {}
    if text:
        out.update(_write(ctx, text, landing))
    for feed in feeds:
        if feed.fmt != "text":
            out.update(_write(ctx, [feed], landing))
    return [out[f.source] for f in feeds]


def _normalized(feed: Feed) -> DataFrame:
    """The common shape of text feeds: source, tag, key, kind, copy, up to three numeric sort
    keys (order of the rows inside a file: numbers sort much faster than text), line."""
    keys = [c for c in feed.sort if c != "_copy"]
    cols = feed.df.columns
    sort = [F.col(keys[i]).cast("long") if len(keys) > i else F.lit(None).cast("long") for i in range(3)]
    return feed.df.select(F.lit(feed.source).alias("_source"), "_tag", F.col("_key").cast("long").alias("_key"), "_kind",
                          (F.col("_copy") if "_copy" in cols else F.lit(0)).cast("int").alias("_copy"),
                          sort[0].alias("_s1"), sort[1].alias("_s2"), sort[2].alias("_s3"), "_line")


def _write(ctx: Ctx, feeds: list, landing: str) -> dict:
    """Two passes, no cache: the count reads only _tag, _key and _kind, so Spark prunes the
    costly line building from it; the write then builds every line once."""
    spark = ctx.spark
    parquet = feeds[0].fmt == "parquet"
    if parquet:
        df = feeds[0].df.withColumn("_source", F.lit(feeds[0].source))
    else:
        df = _normalized(feeds[0])
        for feed in feeds[1:]:
            df = df.unionByName(_normalized(feed))
    df = df.withColumn("_bucket", F.pmod(F.xxhash64("_key"), F.lit(BUCKETS)).cast("int"))   # keys are structured: hash
    by_source = {f.source: f for f in feeds}
    per = df.groupBy("_source", "_tag", "_bucket", "_kind").count().collect()
    plan, groups, counts, defects = _plan(ctx, by_source, per)
    keys = [f"{s}|{t}" for s, t in groups]
    pos = F.array_position(literal_array(keys), F.concat_ws("|", "_source", "_tag")).cast("int")
    base = F.element_at(literal_array([b for b, _n in groups.values()]), pos)
    n_group = F.element_at(literal_array([n for _b, n in groups.values()]), pos)
    rows = df.withColumn("_fid", (base + F.floor(F.col("_bucket") * n_group / BUCKETS)).cast("int"))
    tmp = f"{ctx.work}/out_{feeds[0].source if parquet else 'text'}"
    fs.delete(spark, tmp)
    n_files = max(1, len(plan))
    if parquet:
        feed = feeds[0]
        (rows.select("_fid", *feed.sort, *[c for c in feed.columns if c not in feed.sort])
            .repartition(n_files, "_fid").sortWithinPartitions("_fid", *feed.sort)
            .select("_fid", *feed.columns)
            .write.mode("overwrite").option("maxRecordsPerFile", 0).partitionBy("_fid").parquet(tmp))
    else:
        heads = [(fid, 0, by_source[src].header(tag)) for fid, (src, tag, _n) in plan.items()
                 if by_source[src].header is not None]
        out = rows.select("_fid", F.lit(1).alias("_h"), "_copy", "_s1", "_s2", "_s3", "_line")
        if heads:
            out = out.unionByName(spark.createDataFrame(heads, "_fid int, _h int, _line string"), allowMissingColumns=True)
        # one shuffle partition per file holds it whole; the header sorts first (_h 0)
        (out.repartition(n_files, "_fid").sortWithinPartitions("_fid", "_h", "_copy", "_s1", "_s2", "_s3")
            .select("_fid", "_line")
            .write.mode("overwrite").option("maxRecordsPerFile", 0).partitionBy("_fid").text(tmp))
    files = _move(spark, plan, counts, tmp, landing, by_source)
    fs.delete(spark, tmp)
    result = {}
    for feed in feeds:
        kinds = defects[feed.source]
        for kind, predicate in feed.file_kinds.items():
            planted = sum(f["rows"] for f in files[feed.source] if predicate(f["tag"]))
            if planted:
                kinds[kind] = planted
        listed = [{"file": f["file"], "rows": f["rows"]} for f in files[feed.source]]
        result[feed.source] = Written(feed.source, listed, dict(sorted(kinds.items())), sum(f["rows"] for f in listed))
    return result


def _plan(ctx: Ctx, by_source: dict, per: list):
    """From rows per (source, tag, bucket, kind): the files (fid -> source, tag, name), the fid
    range of each (source, tag), rows per fid and planted rows per source and kind."""
    totals: dict = {}
    for r in per:
        totals[(r["_source"], r["_tag"])] = totals.get((r["_source"], r["_tag"]), 0) + r["count"]
    plan, groups = {}, {}
    for source, tag in sorted(totals):
        n = max(1, min(BUCKETS, math.ceil(totals[(source, tag)] / ctx.params.rows_per_file)))
        groups[(source, tag)] = (len(plan), n)
        for i in range(n):
            plan[len(plan)] = (source, tag, by_source[source].name(tag, i, n))
    counts: dict = {}
    defects: dict = {source: {} for source in by_source}
    for r in per:
        base, n = groups[(r["_source"], r["_tag"])]
        fid = base + r["_bucket"] * n // BUCKETS
        counts[fid] = counts.get(fid, 0) + r["count"]
        if r["_kind"] is not None:
            kinds = defects[r["_source"]]
            kinds[r["_kind"]] = kinds.get(r["_kind"], 0) + r["count"]
    return plan, groups, counts, defects


def _move(spark, plan: dict, counts: dict, tmp: str, landing: str, by_source: dict) -> dict:
    """Each _fid folder holds one part file: move it to its partner-like name."""
    files: dict = {source: [] for source in by_source}
    for fid, (source, tag, name) in plan.items():
        parts = [f for f in fs.list_files(spark, f"{tmp}/_fid={fid}")
                 if not f.path.rsplit("/", 1)[-1].startswith((".", "_"))]
        if not parts:
            continue
        if len(parts) != 1:
            raise RuntimeError(f"{source}: expected one part file for {name}, found {len(parts)}")
        move(spark, parts[0].path, f"{landing}/{source}/{name}")
        files[source].append({"file": name, "rows": counts.get(fid, 0), "tag": tag})
    return files

"""File-system access through Hadoop's FileSystem API, so local disk, HDFS and object
stores all work the same from the driver. Only metadata and bounded reads (a file's first
line) happen here; bulk data always goes through Spark."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession


@dataclass(frozen=True)
class FileInfo:
    path: str          # fully qualified URI, e.g. file:/abs/path/x.csv
    size: int
    modified_ms: int


def _jvm(spark: SparkSession):
    return spark.sparkContext._jvm


def _fs_and_path(spark: SparkSession, path: str):
    jvm = _jvm(spark)
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, jpath


def qualify(spark: SparkSession, path: str) -> str:
    fs, jpath = _fs_and_path(spark, path)
    return str(fs.makeQualified(jpath).toString())


def glob(spark: SparkSession, pattern: str) -> list[FileInfo]:
    """Files (not directories) matching a glob, sorted by path. Hidden names (_x, .x) are skipped."""
    fs, jpath = _fs_and_path(spark, pattern)
    statuses = fs.globStatus(jpath)
    out = []
    for status in statuses or []:
        if status.isDirectory():
            continue
        name = status.getPath().getName()
        if name.startswith((".", "_")):
            continue
        out.append(FileInfo(str(status.getPath().toString()), int(status.getLen()), int(status.getModificationTime())))
    return sorted(out, key=lambda f: f.path)


def list_files(spark: SparkSession, directory: str, recursive: bool = True) -> list[FileInfo]:
    fs, jpath = _fs_and_path(spark, directory)
    if not fs.exists(jpath):
        return []
    it = fs.listFiles(jpath, recursive)
    out = []
    while it.hasNext():
        status = it.next()
        out.append(FileInfo(str(status.getPath().toString()), int(status.getLen()), int(status.getModificationTime())))
    return sorted(out, key=lambda f: f.path)


def exists(spark: SparkSession, path: str) -> bool:
    fs, jpath = _fs_and_path(spark, path)
    return bool(fs.exists(jpath))


def mkdirs(spark: SparkSession, path: str) -> None:
    fs, jpath = _fs_and_path(spark, path)
    fs.mkdirs(jpath)


def rename(spark: SparkSession, src: str, dst: str) -> None:
    fs, jsrc = _fs_and_path(spark, src)
    jdst = _jvm(spark).org.apache.hadoop.fs.Path(dst)
    fs.mkdirs(jdst.getParent())
    if not fs.rename(jsrc, jdst):
        raise OSError(f"could not move {src} to {dst}")


def delete(spark: SparkSession, path: str, recursive: bool = True) -> bool:
    fs, jpath = _fs_and_path(spark, path)
    return bool(fs.delete(jpath, recursive))


def read_first_line(spark: SparkSession, path: str, encoding: str = "UTF-8") -> str:
    """The first line of a text file (a CSV header), read without loading the file."""
    fs, jpath = _fs_and_path(spark, path)
    jvm = _jvm(spark)
    stream = fs.open(jpath)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, encoding))
        line = reader.readLine()
        return "" if line is None else str(line).lstrip("\ufeff")
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file (manifests, truth JSON) atomically enough: temp file + rename."""
    fs, jpath = _fs_and_path(spark, path)
    jvm = _jvm(spark)
    tmp = jvm.org.apache.hadoop.fs.Path(jpath.getParent(), "." + jpath.getName() + ".tmp")
    out = fs.create(tmp, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
    if fs.exists(jpath):
        fs.delete(jpath, False)
    fs.rename(tmp, jpath)


def read_text(spark: SparkSession, path: str) -> str:
    fs, jpath = _fs_and_path(spark, path)
    jvm = _jvm(spark)
    stream = fs.open(jpath)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(str(line))
            line = reader.readLine()
        return "\n".join(lines)
    finally:
        stream.close()

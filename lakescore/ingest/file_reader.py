"""Landing files: where a source's files are (a file, a folder where each new file is a batch,
a glob, or a file inside a Python package for the demo), which of them are new, and reading a
CSV file as raw text columns without losing a line. Shared by ingest (which lands new files
into raw_<source>, see `lakescore.ingest.raw_landing`) and `lakescore contract infer` (which reads them
directly).

A file's encoding is told by its byte-order mark: UTF-8 without or with a BOM is read as it is
(the BOM is not part of the first column's name); a UTF-16 or UTF-32 file (little or big endian,
its BOM says which) is decoded once into a UTF-8 copy in the local home, which is what Spark reads
and what its lines are counted on (an undecodable byte becomes U+FFFD: the row stays, the
contract judges it). Any other file is read as UTF-8 (a Latin-1 byte becomes U+FFFD).

A header name that differs from a contract column's only in case (`Amount` for `amount`) is read
as that column, with a warning naming the file and both spellings: Spark and Delta resolve
column names case-insensitively, so that is what a Spark user expects (two header names that
become one column are refused, naming the file).

A file is read with Spark's CSV reader in multi-line mode (a quoted value may hold line breaks,
RFC 4180 quoting with doubled quotes), every column as text. A line that does not fit the
header (more or fewer fields, an unbalanced quote) keeps its text in `_corrupt_record`, so the
contract quarantines it as `malformed_row`; a line that holds nothing but white space is a
blank line, counted, not a row.
"""

from __future__ import annotations

import codecs
import fnmatch
import glob
import gzip
import hashlib
import logging
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import util as importlib_util
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakescore.config import Landing
from lakescore.core.errors import StageError
from lakescore.transforms.columns import CORRUPT_RECORD
from lakescore.transforms.sqltext import col

log = logging.getLogger("lakescore.landing")


class LandingError(StageError):
    """A landing file that cannot be found or read; the message names the config key and path."""


_GLOB = re.compile(r"[*?\[]")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
# Characters Hadoop paths read as globs or URI syntax: such files are read through a link.
_UNSAFE_PATH = re.compile(r"[\s\[\]{}*?\\:,%#]")
BATCH_NAME_CHARS = 60
# Byte-order marks of the encodings decoded to UTF-8 before reading (UTF-32's before UTF-16's:
# UTF-32LE's BOM starts with UTF-16LE's); the codec reads the BOM, and drops it.
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class LandingFile:
    """One file of a source's landing, as found on disk."""

    path: Path  # the file (a .csv, .csv.gz or .zip)
    digest: str  # sha256 of its bytes
    bytes: int
    modified_at: datetime

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def batch_id(self) -> str:
        """The batch a file becomes: its name and its content, so a changed file with the same
        name is a new batch and the same file seen again is not."""
        stem = re.sub(r"(\.csv)?(\.gz|\.zip)?$", "", self.name, flags=re.IGNORECASE)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:BATCH_NAME_CHARS] or "file"
        return f"{stem}-{self.digest[:16]}"

    def legacy_batch_id(self, source: str) -> str:
        """The id a file of `source` got when a source had one landing file."""
        return f"{source}-{self.digest[:16]}"


def where(source: str, landing: Landing) -> str:
    """How the landing is named in messages: the package and path, or the resolved path."""
    return f"{landing.package}/{landing.path}" if landing.package else str(landing.location())


def _is_landing_file(path: Path, patterns: tuple[str, ...]) -> bool:
    return (path.is_file() and not path.name.startswith((".", "_"))
            and any(fnmatch.fnmatch(path.name, p) for p in patterns))


def landing_paths(source: str, landing: Landing) -> list[Path]:
    """The files of a source's landing, in name order: the file itself, the files of the folder
    that match `pattern` (not hidden: a name starting with . or _ is a file still being
    written), or the files the glob matches. Raises LandingError naming the resolved path when
    the file or folder does not exist."""
    key = f"sources.{source}.landing"
    if landing.package:
        spec = importlib_util.find_spec(landing.package)
        if spec is None or not spec.submodule_search_locations:
            raise LandingError(f"{key}.package: package {landing.package!r} is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / landing.path
    else:
        path = landing.location()
    if _GLOB.search(landing.path):
        fixed = Path(*[p for p in path.parts[:next(i for i, p in enumerate(path.parts) if _GLOB.search(p))]])
        if not fixed.is_dir():
            raise LandingError(f"{key}.path: folder {fixed} (of {path}) does not exist")
        found = [Path(p) for p in glob.glob(str(path), recursive=True)]
        return sorted(p for p in found if _is_landing_file(p, landing.patterns() if landing.pattern else ("*",)))
    if path.is_dir():
        return sorted(p for p in path.iterdir() if _is_landing_file(p, landing.patterns()))
    if not path.exists():
        raise LandingError(f"{key}.path: {path} does not exist")
    return [path]


def check_landings(cfg) -> None:
    """Every landing of the use case exists (its file, folder or the glob's folder): raises
    LandingError naming the first that does not. Run before ingest's session starts."""
    for name, src in cfg.sources.items():
        if src.landing is not None:
            landing_paths(name, src.landing)


def describe(path: Path) -> LandingFile:
    """Digest, size and modification time of a landing file (reads it once)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    stat = path.stat()
    return LandingFile(path, h.hexdigest(), stat.st_size, datetime.fromtimestamp(stat.st_mtime))


def csv_file(home: Path, source: str, file: LandingFile) -> Path:
    """The CSV text Spark reads for a landing file: the file itself; a .zip's one .csv,
    extracted once into the local home; a UTF-16 or UTF-32 file's UTF-8 copy there; a link with a plain name when the
    file's path holds
    characters Spark would read as a glob or URI syntax."""
    path, folder = file.path, home / "landing" / source
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
            if len(members) != 1:
                raise LandingError(f"sources.{source}.landing.path: {path} must hold exactly one .csv")
            target = folder / f"{file.digest[:16]}-{_NOT_IDENTIFIER.sub('_', Path(members[0]).name)}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".part")
                with zf.open(members[0]) as fin, open(tmp, "wb") as fout:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
                tmp.rename(target)
        encoding = bom_encoding(target)
        return target if encoding is None else utf8_copy(target, target.with_name(f"{target.stem}-utf8.csv"), encoding)
    if (encoding := bom_encoding(path)) is not None:
        return utf8_copy(path, folder / f"{file.digest[:16]}-utf8.csv", encoding)
    if _UNSAFE_PATH.search(str(path)):
        link = folder / f"{file.digest[:16]}{''.join(path.suffixes[-2:]).lower()}"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path.absolute(), link)
        return link
    return path


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def bom_encoding(path: Path) -> str | None:
    """The codec of a UTF-16 or UTF-32 file, told by its byte-order mark (.gz read through);
    None for any other file (read as UTF-8)."""
    with _open(path) as f:
        start = f.read(4)
    return next((codec for bom, codec in BOMS if start.startswith(bom)), None)


def utf8_copy(path: Path, target: Path, encoding: str) -> Path:
    """`path` decoded from `encoding` (its BOM dropped, an undecodable byte as U+FFFD) into the
    UTF-8 file `target`, written once (through a temporary file) and streamed in chunks."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        with _open(path) as fin, open(tmp, "w", encoding="utf-8", newline="") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(decoder.decode(chunk))
            fout.write(decoder.decode(b"", final=True))
        tmp.rename(target)
        log.info("land  %s: %s, decoded into %s", path, encoding.upper(), target)
    return target


def count_lines(path: Path) -> int:
    """Physical lines of a CSV text file (.gz read through): line breaks are \\n, \\r\\n, or a
    lone \\r in a file without \\n; a last line without a break counts."""
    newlines = returns = 0
    last = b""
    with _open(path) as f:
        while chunk := f.read(1 << 20):
            newlines += chunk.count(b"\n")
            returns += chunk.count(b"\r")
            last = chunk[-1:]
    if not last:
        return 0
    breaks = newlines if newlines else returns
    return breaks + (0 if last in (b"\n", b"\r") else 1)


def raw_column_name(name: str, position: int) -> str:
    """A header name as a raw column: kept when it is a plain identifier; otherwise each run of
    other characters becomes `_` (`Order ID` -> `Order_ID`), `_c<position>` when nothing is left."""
    name = name.replace("\ufeff", "").strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return name
    cleaned = _NOT_IDENTIFIER.sub("_", name).strip("_")
    if not cleaned:
        return f"_c{position}"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def _reader(spark: SparkSession):
    return (spark.read.option("header", True).option("multiLine", True).option("escape", '"')
            .option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_RECORD))


def header(spark: SparkSession, path: Path, contract: Iterable[str] = ()) -> list[str]:
    """The raw column names of a CSV file's header (none for an empty file); a name that
    differs from a `contract` column's only in case takes the contract's spelling (warned)."""
    names = _reader(spark).csv(f"file://{path}").columns
    columns = [raw_column_name(n, i) for i, n in enumerate(names)]
    seen: dict[str, str] = {}
    for original, name in zip(names, columns):
        other = seen.setdefault(name.lower(), original)
        if other != original:
            raise LandingError(f"{path}: header columns {other!r} and {original!r} both become column {name!r}")
    spelled = {c.lower(): c for c in contract}
    out = []
    for name in columns:
        wanted = spelled.get(name.lower(), name)
        if wanted != name:
            log.warning("land  %s: header column %r read as the contract's column %r (the names differ only in case)",
                        path, name, wanted)
        out.append(wanted)
    return out


def read_csv(spark: SparkSession, path: Path, contract: Iterable[str] = ()) -> tuple[DataFrame, list[str]]:
    """A CSV file as raw text columns plus `_corrupt_record` (the text of a line that does not
    fit the header, NULL otherwise), and its columns (`contract`'s spelling for a name that
    differs only in case); lines holding only white space are left out (they are blank lines,
    not rows). No columns for an empty file."""
    columns = header(spark, path, contract)
    if not columns:
        return spark.createDataFrame([], f"{CORRUPT_RECORD} string"), []
    return read_csv_files(spark, [path], columns), columns


def read_csv_files(spark: SparkSession, paths: list[Path], columns: list[str], path_column: str | None = None
                   ) -> DataFrame:
    """Files that share one header (`columns`, as `header` gives them) read as `read_csv` reads
    one, in one Spark read: each file's header line is skipped, each is parsed on its own (a
    quoted line break or an unbalanced quote never crosses into the next file); `path_column`
    names a column for each row's file path."""
    schema = ", ".join(f"{c} string" for c in [*columns, CORRUPT_RECORD])
    df = _reader(spark).schema(schema).csv([f"file://{p}" for p in paths])
    if path_column:
        df = df.withColumn(path_column, F.col("_metadata.file_path"))
    text = col(CORRUPT_RECORD)
    return df.where(text.isNull() | ~text.rlike(r"^\s*$"))


def line_breaks(columns: list[str]) -> Column:
    """The line breaks inside a record read by `read_csv`: of its text when it is malformed,
    of its values otherwise (a quoted value may hold line breaks)."""
    def breaks(c: Column) -> Column:
        return F.coalesce(F.length(c) - F.length(F.replace(c, F.lit("\n"), F.lit(""))), F.lit(0))

    values = sum((breaks(col(c)) for c in columns), F.lit(0))
    return F.when(col(CORRUPT_RECORD).isNotNull(), breaks(col(CORRUPT_RECORD))).otherwise(values)


def read_landing(spark: SparkSession, home: Path, source: str, landing: Landing) -> DataFrame:
    """Every file of a source's landing as raw text columns (by column name: files may differ
    in their columns), for `lakescore contract infer`."""
    frames = [read_csv(spark, csv_file(home, source, describe(p)))[0] for p in landing_paths(source, landing)]
    if not frames:
        raise LandingError(f"sources.{source}.landing.path: no file in {where(source, landing)}")
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more, allowMissingColumns=True)
    return out

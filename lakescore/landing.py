"""Landing files: where a source's raw file is (inside a Python package for the demo, or a
path), extracted once when zipped, and read as raw text columns. Shared by ingest (which lands
the file into raw_<source>) and `lakescore contract infer` (which reads it directly)."""

from __future__ import annotations

import hashlib
import zipfile
from importlib import util as importlib_util
from pathlib import Path

from pyspark.sql import DataFrame

from lakescore.config import Source
from lakescore.errors import StageError
from lakescore.runtime import Context


class LandingError(StageError):
    """A landing file that cannot be found or read; the message names the config key and path."""


def landing_file(ctx: Context, source: str, src: Source) -> Path:
    """The CSV file to land: inside a Python package (the demo) or a plain path; a .zip holding
    one CSV is extracted once into the local home."""
    landing = src.landing
    assert landing is not None
    if landing.package:
        spec = importlib_util.find_spec(landing.package)
        if spec is None or not spec.submodule_search_locations:
            raise LandingError(f"sources.{source}.landing.package: package {landing.package!r} is not installed")
        path = Path(list(spec.submodule_search_locations)[0]) / landing.path
    else:
        path = Path(landing.path)
    if not path.exists():
        raise LandingError(f"sources.{source}.landing.path: {path} does not exist")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise LandingError(f"sources.{source}.landing.path: {path} must hold exactly one .csv")
            target = ctx.home / "landing" / source / f"{digest(path)}-{Path(members[0]).name}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".part")
                with zf.open(members[0]) as fin, open(tmp, "wb") as fout:
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
                tmp.rename(target)
            return target
    return path


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def read_landing(ctx: Context, path: Path) -> DataFrame:
    """A landing file as raw text columns (nothing typed: the contract types them)."""
    return (ctx.spark.read.option("header", True).option("inferSchema", False)
            .option("mode", "PERMISSIVE").csv(f"file://{path}"))



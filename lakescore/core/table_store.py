"""The data catalog: where each table of a use case lives, and logged, idempotent Delta I/O.

Stages never spell a table address themselves: they ask the store by the logical name from
the config (`predictions`, `clean_flights`, ...). Each read and write logs one line with the
rows, the Delta version and the seconds it took, and every read version is remembered so
that training can record exactly which data it saw.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakescore.config import UseCase, check_identifier
from lakescore.core.errors import StageError
from lakescore.transforms import schemas
from lakescore.transforms.sqltext import ident, literal

log = logging.getLogger("lakescore.tables")


def quote(identifier: str) -> str:
    """Quote one table, schema or catalog name for SQL after checking it is a plain name."""
    return ident(check_identifier(identifier))


COMMIT_LOOKBACK = 50          # commits searched for this write's own (concurrent writers may add some)
RETRIES = 4
RETRY_PAUSE_SECONDS = 0.5
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DeltaConcurrentModificationException", "TABLE_OR_VIEW_ALREADY_EXISTS",
              "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED", "DELTA_CONCURRENT",
              # another process is creating the table: its folder has files, its log no commit yet
              "DELTA_CREATE_EXTERNAL_TABLE_WITHOUT_TXN_LOG")


def is_write_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a lost race with a concurrent writer (retrying it is safe)."""
    text = f"{type(exc).__name__} {str(exc)[:2000]}"
    return any(name in text for name in _CONFLICTS)


class WriteConflict(StageError):
    """A write that kept losing races with concurrent writers."""


class SchemaError(StageError):
    """A write whose columns or types differ from the table's documented schema."""


# Delta table properties each table is created with, by logical name. Only properties whose table
# features every reader of the README's list understands (delta-rs, hence pandas, Polars, DuckDB):
# change data feed is a writer feature (the reader protocol stays at version 1). Liquid clustering
# is left out: it cannot be combined with the as_of partitioning, and Z-order (`TableStore.optimize`)
# gives the same file skipping on the entity key without a table feature.
CHANGE_DATA_FEED = {"delta.enableChangeDataFeed": "true"}


def table_properties(cfg: UseCase, table: str) -> dict[str, str]:
    """The Delta properties of one of the use case's tables: change data feed on `predictions`,
    so that consumers can read its increments (inserts, deletes of a replaced as-of)."""
    return dict(CHANGE_DATA_FEED) if table == cfg.tables.predictions else {}


def documented_schema(cfg: UseCase, table: str) -> schemas.TableSchema | None:
    """The documented schema of one of the use case's tables by its logical name (None for a
    table lakescore does not own: raw_<source>, or a name it does not know)."""
    t = cfg.tables
    fixed = {t.quarantine: schemas.QUARANTINE, t.data_quality: schemas.DATA_QUALITY, t.alerts: schemas.ALERTS,
             t.model_validations: schemas.MODEL_VALIDATIONS, t.landed_files: schemas.LANDED_FILES,
             t.feature_reports: schemas.FEATURE_REPORTS, t.model_metrics: schemas.MODEL_METRICS,
             t.drift_metrics: schemas.DRIFT_METRICS, t.model_health: schemas.MODEL_HEALTH,
             t.estimated_performance: schemas.ESTIMATED_PERFORMANCE,
             t.stage_runs: schemas.STAGE_RUNS, t.reference_profiles: schemas.REFERENCE_PROFILES}
    if table in fixed:
        return fixed[table]
    entity_src = cfg.sources[cfg.entity.source]

    def typed(column: str):
        spec = entity_src.columns.get(column)
        return column, schemas.CONTRACT_TYPES[spec.type] if spec else None

    key = dict(typed(k) for k in cfg.entity.key)
    event_time = typed(cfg.entity.event_time) if cfg.entity.event_time else None  # a snapshot catalog has none
    if table == t.features:
        return schemas.features(key, event_time, {f.name: f.kind for f in cfg.features.columns})
    if table == t.predictions:
        return schemas.predictions(key, event_time)
    if table == t.slice_metrics:
        return schemas.slice_metrics(cfg.label.kind)
    for name, src in cfg.sources.items():
        if table == cfg.clean_table(name):
            return schemas.clean({c: spec.type for c, spec in src.columns.items()}, src.derived,
                                 snapshot=src.arrival == "snapshot")
    return None


class TableStore:
    def __init__(self, spark: SparkSession, cfg: UseCase, *, databricks: bool = False):
        self.spark = spark
        self.cfg = cfg
        self.databricks = databricks
        self.versions_read: dict[str, int] = {}
        self._schema_ready = False
        self._properties_checked: set[str] = set()

    # -- addresses ----------------------------------------------------------------------
    @property
    def schema(self) -> str:
        storage = self.cfg.storage
        if self.databricks and storage.catalog:
            return f"{quote(storage.catalog)}.{quote(storage.schema_name)}"
        return quote(storage.schema_name)

    @property
    def display_schema(self) -> str:
        return self.schema.replace("`", "")

    def name(self, table: str) -> str:
        """`<catalog>.<schema>.<table>` on Databricks, `<schema>.<table>` locally, quoted."""
        return f"{self.schema}.{quote(table)}"

    def display(self, table: str) -> str:
        return self.name(table).replace("`", "")

    def ensure_schema(self) -> None:
        if not self._schema_ready:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            self._schema_ready = True

    def exists(self, table: str) -> bool:
        return self.spark.catalog.tableExists(self.display(table))

    def version(self, table: str) -> int:
        return int(DeltaTable.forName(self.spark, self.name(table)).history(1).first()["version"])

    # -- reads --------------------------------------------------------------------------
    def read(self, table: str, where: str | None = None, *, version: int | None = None,
             count: bool = False) -> DataFrame:
        """Read a table (optionally filtered, optionally at a Delta version) and log its version
        and seconds (and its rows with `count=True`: a whole Spark job, for a log line only)."""
        started = time.perf_counter()
        if not self.exists(table):
            raise LookupError(f"table {self.display(table)} does not exist: run the stage that writes it first")
        if version is None:
            version = self.version(table)
        # Pin the version that was logged, so the stage reads exactly what it recorded.
        df = self.spark.sql(f"SELECT * FROM {self.name(table)} VERSION AS OF {version}")
        if where:
            df = df.where(where)
        self.versions_read[self.display(table)] = version
        rows = f"{df.count():,}" if count else "-"
        log.info("read  %-45s rows=%s version=%d %.1fs%s", self.display(table), rows, version,
                 time.perf_counter() - started, f" where {where}" if where else "")
        return df

    # -- writes -------------------------------------------------------------------------
    def check_schema(self, df: DataFrame, table: str) -> None:
        """Refuse a write whose columns or types differ from the table's documented schema."""
        expected = documented_schema(self.cfg, table)
        if expected is not None:
            try:
                schemas.check(self.display(table), df.schema, expected)
            except schemas.SchemaMismatch as exc:
                raise SchemaError(str(exc)) from None

    def _log_write(self, table: str, started: float, what: str, token: str, merged: bool = False) -> int:
        """Log the commit this write made (found by its commit metadata `token`, whatever other
        writers committed since) and return the rows it wrote (from Delta's metrics)."""
        history = DeltaTable.forName(self.spark, self.name(table)).history(COMMIT_LOOKBACK)
        last = history.where(F.col("userMetadata") == token).first()
        if last is None and merged:
            # Delta makes no commit for a MERGE that changes nothing (an unchanged snapshot
            # export): nothing was written, and the newest commit is another write's
            log.info("write %-45s rows=0 (no change: no commit) %.1fs %s", self.display(table),
                     time.perf_counter() - started, what)
            return 0
        last = last or history.first()   # a write always commits: its commit is the newest
        metrics = last["operationMetrics"] or {}
        if "numTargetRowsInserted" in metrics:
            rows = int(metrics.get("numTargetRowsInserted", 0)) + int(metrics.get("numTargetRowsUpdated", 0))
        else:
            # a replaceWhere that rewrites files holding other rows counts those as copied
            rows = int(metrics.get("numOutputRows", 0)) - int(metrics.get("numCopiedRows", 0))
        log.info("write %-45s rows=%s version=%d %.1fs %s", self.display(table), f"{rows:,}",
                 last["version"], time.perf_counter() - started, what)
        return rows

    def write(self, df: DataFrame, table: str, *, mode: str = "overwrite",
              replace_where: str | None = None, partition_by: Iterable[str] = (),
              overwrite_schema: bool = False) -> int:
        """Write a DataFrame as one Delta commit.

        `replace_where` overwrites only the rows matching the predicate (an as-of partition, a
        batch), which is what makes re-running a stage for the same as-of idempotent.
        `overwrite_schema` (with mode overwrite) replaces the table's column types too (a
        table rebuilt under a contract that changed a column's type).
        """
        started = time.perf_counter()
        self.check_schema(df, table)
        self.ensure_schema()
        token = uuid.uuid4().hex
        partition_by = list(partition_by)
        if partition_by:
            # One file per partition value: as planned, every task writes a small file into each
            # partition it holds rows of (tasks x as-ofs files; at 1M flights 364 files of 47 KB
            # for 91 as-ofs), which every later read of the table pays for. One shuffle instead.
            df = df.repartition(*partition_by)
        properties = table_properties(self.cfg, table)

        def commit() -> None:
            writer = df.write.format("delta").mode(mode).option("userMetadata", token)
            writer = writer.option("overwriteSchema", "true") if overwrite_schema else writer.option("mergeSchema", "true")
            creating = not self.exists(table)
            if partition_by and creating:
                writer = writer.partitionBy(*partition_by)
            if creating:
                writer = writer.options(**properties)  # `delta.*` options become table properties at creation
            else:
                self._ensure_properties(table, properties)
            if replace_where:
                writer = writer.option("replaceWhere", replace_where)
            # the session's setting too: a table created by an append (CREATE TABLE AS SELECT)
            # does not record the writer's option
            self.spark.conf.set(USER_METADATA_CONF, token)
            try:
                writer.saveAsTable(self.display(table))
            finally:
                self.spark.conf.unset(USER_METADATA_CONF)

        self._retrying(commit, table)
        return self._log_write(table, started, f"{mode}" + (f" where {replace_where}" if replace_where else ""), token)

    def merge(self, df: DataFrame, table: str, keys: list[str], *, partition_by: Iterable[str] = (),
              keep: Iterable[str] = (), delete_where: str | None = None) -> int:
        """Upsert by key: rows whose keys exist are updated, others inserted (new columns are
        added to the table, as `write` does with mergeSchema). A matched row keeps its `keep`
        columns (e.g. when it was first written); with `delete_where`, the table's rows matching
        it that `df` does not hold are deleted (`df` replaces that scope)."""
        if not self.exists(table):
            return self.write(df, table, mode="overwrite", partition_by=partition_by)
        started = time.perf_counter()
        self.check_schema(df, table)
        cond = " AND ".join(f"t.{ident(k)} <=> s.{ident(k)}" for k in keys)
        keep = set(keep)
        token = uuid.uuid4().hex

        def commit() -> None:
            merge = DeltaTable.forName(self.spark, self.name(table)).alias("t").merge(df.alias("s"), cond) \
                .withSchemaEvolution()
            merge = merge.whenMatchedUpdate(set={c: f"s.{ident(c)}" for c in df.columns if c not in keep}) \
                if keep else merge.whenMatchedUpdateAll()
            merge = merge.whenNotMatchedInsertAll()
            if delete_where:
                merge = merge.whenNotMatchedBySourceDelete(condition=delete_where)
            # a merge takes its commit metadata from the session (one writer per session at a time)
            self.spark.conf.set(USER_METADATA_CONF, token)
            try:
                merge.execute()
            finally:
                self.spark.conf.unset(USER_METADATA_CONF)

        self._retrying(commit, table)
        return self._log_write(table, started, f"merge on {', '.join(keys)}"
                               + (f", replacing {delete_where}" if delete_where else ""), token, merged=True)

    def replace(self, df: DataFrame, table: str, scope: str, *, keys: Iterable[str] = (),
                keep: Iterable[str] = (), partition_by: Iterable[str] = ()) -> int:
        """Replace the rows matching `scope` with `df` in one commit (a replaceWhere overwrite: no
        MERGE, whose join, rewrite and metrics cost several Spark jobs more on a small table). Every
        row of `df` must match `scope`. A row of `df` whose `keys` match a row being replaced keeps
        that row's `keep` columns (e.g. when it was first written). The same rows as `merge` with
        `delete_where=scope` when `df` holds the scope's keys."""
        keep = [c for c in keep]
        if keep and self.exists(table):
            keys = list(keys)
            old = self.read(table, where=scope, count=False).select(*keys, *[F.col(c).alias(f"_kept_{c}") for c in keep])
            df = df.join(old, on=keys, how="left").select(
                *[F.coalesce(F.col(f"_kept_{c}"), F.col(c)).alias(c) if c in keep else F.col(c) for c in df.columns])
        return self.write(df, table, replace_where=scope, partition_by=partition_by)

    def _retrying(self, commit, table: str) -> None:
        """Run one commit, again after a conflict with a concurrent writer (Delta's optimistic
        concurrency: the loser of a race re-reads and retries), at most RETRIES times."""
        for attempt in range(RETRIES + 1):
            try:
                commit()
                return
            except Exception as exc:  # noqa: BLE001 - Delta's conflicts arrive as several classes
                if not is_write_conflict(exc) or attempt == RETRIES:
                    if is_write_conflict(exc):
                        raise WriteConflict(f"table {self.display(table)}: {RETRIES + 1} attempts lost a race with "
                                            f"concurrent writers: {type(exc).__name__}: "
                                            f"{str(exc).strip().splitlines()[0][:200]}") from None
                    raise
                pause = RETRY_PAUSE_SECONDS * (2 ** attempt) * (1 + random.random())
                log.warning("write %s: concurrent commit (%s), retrying in %.1fs", self.display(table),
                            type(exc).__name__, pause)
                time.sleep(pause)

    def merge_versions(self, staged: DataFrame, table: str, keys: list[str], close: str, valid_to: str,
                       drop: Iterable[str] = ()) -> int:
        """One MERGE of a versioned (type-2) table: a staged row with `close` true sets
        `valid_to` on the current version of its key (the one whose `valid_to` is NULL); any
        other staged row is inserted as a new version (without the `drop` columns). Returns versions
        closed + opened."""
        started = time.perf_counter()
        staged = staged.drop(*drop)
        rows = staged.drop(close)
        self.check_schema(rows, table)
        match = " AND ".join([*(f"t.{ident(k)} <=> s.{ident(k)}" for k in keys), f"t.{ident(valid_to)} IS NULL",
                              f"s.{ident(close)}"])
        insert = {c: f"s.{ident(c)}" for c in rows.columns}
        token = uuid.uuid4().hex

        def commit() -> None:
            merge = DeltaTable.forName(self.spark, self.name(table)).alias("t").merge(staged.alias("s"), match) \
                .whenMatchedUpdate(set={valid_to: f"s.{ident(valid_to)}"}) \
                .whenNotMatchedInsert(condition=f"NOT s.{ident(close)}", values=insert)
            self.spark.conf.set(USER_METADATA_CONF, token)  # as `merge`: the commit is found by its token
            try:
                merge.execute()
            finally:
                self.spark.conf.unset(USER_METADATA_CONF)

        self._retrying(commit, table)
        return self._log_write(table, started, f"versions by {', '.join(keys)}", token, merged=True)

    def _ensure_properties(self, table: str, properties: dict[str, str]) -> None:
        """Set properties a table created before they were declared lacks (once per store)."""
        if not properties or table in self._properties_checked:
            return
        current = DeltaTable.forName(self.spark, self.name(table)).detail().first()["properties"] or {}
        lacking = {k: v for k, v in properties.items() if current.get(k) != v}
        if lacking:
            pairs = ", ".join(f"{literal(k)} = {literal(v)}" for k, v in lacking.items())
            self.spark.sql(f"ALTER TABLE {self.name(table)} SET TBLPROPERTIES ({pairs})")
            log.info("table %s: set %s", self.display(table), ", ".join(lacking))
        self._properties_checked.add(table)

    def optimize(self, table: str, where: str, zorder_by: list[str]) -> None:
        """Compact the files matching `where` (a partition predicate) and Z-order them by
        `zorder_by`: rows of a key land in few files, whose statistics let a lookup by key skip
        the others. A Delta commit that changes no data (no change-data rows); no table feature."""
        started = time.perf_counter()
        cols = ", ".join(ident(c) for c in zorder_by)
        metrics = self.spark.sql(f"OPTIMIZE {self.name(table)} WHERE {where} ZORDER BY ({cols})").first()["metrics"]
        log.info("zorder %-44s files %d -> %d %.1fs by %s where %s", self.display(table), metrics["numFilesRemoved"],
                 metrics["numFilesAdded"], time.perf_counter() - started, cols, where)

    def create_view(self, view: str, select_sql: str) -> None:
        """Define a view; locally its SQL is also kept in the warehouse (`<schema>.db/_views/<view>.sql`),
        where the warehouse catalog of every process finds it."""
        self.ensure_schema()
        self.spark.sql(f"CREATE OR REPLACE VIEW {self.name(view)} AS {select_sql}")
        if not self.databricks:
            from lakescore.core.warehouse_catalog import save_view

            save_view(self.spark, self.cfg.storage.schema_name, view, select_sql)
        log.info("view  %-45s defined", self.display(view))

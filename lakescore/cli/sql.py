"""`lakescore sql`: read-only SQL in the use case's schema, for analysts; anything that would
write is refused before it runs (Spark's own parser decides)."""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import typer

from lakescore.config import ConfigError
from lakescore.core import endpoint
from lakescore.core.stage_runner import ConfigOpt, SetOpt, TargetOpt, fail, make_context, setup_logging
from lakescore.transforms.sqltext import ident


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


_READ_ONLY_START = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|VALUES|TABLE|FROM)\b", re.IGNORECASE)
_READ_ONLY_COMMANDS = re.compile(r"^(Show|Describe)")
# Plan nodes that write or change state (by class name), and functions that call into the JVM.
_WRITING_NODES = re.compile(r"Insert|Write|Create|Replace|Merge|Delete|Update|Drop|Alter|Cache|Overwrite|"
                            r"Truncate|Refresh|Command|SetCatalog|SetNamespace|AddJar|AddFile")
_JVM_CALLS = re.compile(r"'?\b(reflect|java_method|try_reflect)\(", re.IGNORECASE)
_NODE = re.compile(r"^[\s:+\-|!]*'?([A-Za-z]+)")
_LEXEME = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|--[^\n]*|/\*.*?\*/|;", re.DOTALL)
REFUSED = "only read-only queries are allowed (SELECT, SHOW, DESCRIBE)"


def _statements(query: str) -> tuple[str, int]:
    """The query with its comments blanked (strings and quoted names kept), to read its first
    keyword, and how many statements it holds: a `;` outside strings and comments separates two,
    a trailing one ends the last."""
    out, last = [], 0
    for m in _LEXEME.finditer(query):
        token = m.group(0)
        out += [query[last:m.start()], " " if token.startswith(("--", "/*")) else token]
        last = m.end()
    out.append(query[last:])
    bare = "".join(out).strip()
    while bare.endswith(";"):
        bare = bare[:-1].rstrip()
    pieces = [m.group(0) for m in _LEXEME.finditer(bare)]
    return bare, 1 + pieces.count(";")


def check_read_only(spark, query: str) -> str:
    """Return the query (without a trailing semicolon) if it only reads: one SELECT, SHOW or
    DESCRIBE; raise ValueError otherwise. Spark's own parser decides what the query does: a
    plan with no node that writes or changes state, no call into the JVM (reflect,
    java_method), or a SHOW/DESCRIBE command. Comments, CTEs and subqueries are looked through."""
    bare, statements = _statements(query)
    if statements > 1:
        raise ValueError(f"{REFUSED}: one statement at a time, found {statements}")
    if not _READ_ONLY_START.match(bare):
        raise ValueError(f"{REFUSED}: refused {bare.split()[0] if bare else 'an empty query'!r}")
    from pyspark.errors import ParseException

    text = query.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    try:
        if getattr(spark, "_jsparkSession", None) is None:
            # a Spark Connect session (the endpoint): no JVM here, so the server parses it;
            # EXPLAIN runs nothing, and its parsed plan is the tree the JVM's parser returns
            explained = spark.sql(f"EXPLAIN EXTENDED {text}").first()[0]
            tree = explained.split("== Parsed Logical Plan ==\n", 1)[-1].split("\n\n== Analyzed", 1)[0]
            name = _NODE.match(tree).group(1)
            command = _READ_ONLY_COMMANDS.match(name) is not None
        else:
            plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(text)
            name, tree = plan.getClass().getSimpleName(), None
            command = spark._jvm.java.lang.Class.forName(
                "org.apache.spark.sql.catalyst.plans.logical.Command").isInstance(plan)
    except ParseException as exc:
        raise ValueError(f"cannot parse the query: {str(exc).strip().splitlines()[0]}") from None
    if command:
        if not _READ_ONLY_COMMANDS.match(name):
            raise ValueError(f"{REFUSED}: refused {name}")
        return text
    tree = tree if tree is not None else plan.treeString()
    for line in tree.splitlines():
        node = _NODE.match(line)
        if node and _WRITING_NODES.search(node.group(1)):
            raise ValueError(f"{REFUSED}: the query contains {node.group(1)}")
    call = _JVM_CALLS.search(tree)
    if call:
        raise ValueError(f"{REFUSED}: {call.group(1)}() calls into the JVM")
    return text


def _cell(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "asDict"):
        return {k: _cell(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    return value


def sql(
    query: Annotated[str, typer.Argument(help="SELECT, SHOW or DESCRIBE; table names resolve in the use case's schema")],
    config: ConfigOpt,
    format: Annotated[OutputFormat, typer.Option("--format", "-f",
                                                 help="table for people, csv/json for scripts")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(help="most rows to print (0: all)")] = 1000,
    target: TargetOpt = None,
    overrides: SetOpt = None,
    use_endpoint: Annotated[bool, typer.Option(
        "--endpoint/--no-endpoint", help="query through `lakescore serve`'s endpoint when one runs on the "
                                         "home (default), or always start a session of its own")] = True,
) -> None:
    """Run a read-only SQL query in the use case's schema and print the result (through the
    home's endpoint when `lakescore serve` runs, in seconds; else in a session of its own)."""
    setup_logging(logging.WARNING)
    try:
        ctx = make_context(config, date.today(), target, overrides=overrides)
        served = None if ctx.databricks or not use_endpoint else endpoint.running(ctx.home)
        if served is not None:
            typer.echo(f"(through the endpoint {served.url})", err=True)
            from lakescore.core.table_store import TableStore

            spark = endpoint.remote_session(served)
            store = TableStore(spark, ctx.cfg)
        else:
            spark, store = ctx.spark, ctx.tables
        text = check_read_only(spark, query)
        if ctx.databricks and ctx.cfg.storage.catalog:
            spark.sql(f"USE CATALOG {ident(ctx.cfg.storage.catalog)}")
        if not spark.catalog.databaseExists(store.display_schema):
            fail(f"schema {store.display_schema} does not exist yet: run `lakescore run all` first")
        spark.catalog.setCurrentDatabase(ctx.cfg.storage.schema_name)
        df = spark.sql(text)
    except ConfigError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - Spark's analysis errors name the table or column
        fail(str(exc).strip().splitlines()[0])
    if limit:
        df = df.limit(limit + 1)  # one more row tells whether the output was cut
    columns = df.columns
    rows = _limited(df.toLocalIterator(), limit)  # streamed: the driver holds one partition at a time
    if format == OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([json.dumps(_cell(v)) if isinstance(v, (list, dict)) or hasattr(v, "asDict")
                             else _cell(v) for v in row])
    elif format == OutputFormat.json:
        sys.stdout.write("[")
        for i, row in enumerate(rows):
            sys.stdout.write(("," if i else "") + "\n" + json.dumps({c: _cell(v) for c, v in zip(columns, row)}))
        sys.stdout.write("\n]\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*["NULL" if v is None else str(_cell(v)) for v in row])
        Console(width=max(120, 14 * len(columns))).print(table)
    if rows.truncated:
        typer.echo(f"(first {limit} rows; use --limit 0 for all)", err=True)


class _limited:
    """Iterate at most `limit` rows (all when 0); `truncated` tells whether more were there."""

    def __init__(self, rows, limit: int):
        self.rows, self.limit, self.truncated = rows, limit, False

    def __iter__(self):
        for i, row in enumerate(self.rows):
            if self.limit and i >= self.limit:
                self.truncated = True
                return
            yield row



"""Spark SQL's keywords (`SELECT keyword FROM sql_keywords()` on pyspark 4.0.1, lower-cased), so
that the config's expressions can be checked without Spark: a word of an expression that is not a
keyword, a function call, a lambda variable or a known column is a name nobody declared.
tests/transforms/test_sql_keywords.py holds this list against the running Spark's."""

from __future__ import annotations

SQL_KEYWORDS = frozenset((
    "add", "after", "aggregate", "all", "alter", "always", "analyze", "and", "anti", "any", "any_value",
    "archive", "array", "as", "asc", "at", "atomic", "authorization", "begin", "between", "bigint", "binary",
    "binding", "boolean", "both", "bucket", "buckets", "by", "byte", "cache", "call", "called", "cascade",
    "case", "cast", "catalog", "catalogs", "change", "char", "character", "check", "clear", "cluster",
    "clustered", "codegen", "collate", "collation", "collection", "column", "columns", "comment", "commit",
    "compact", "compactions", "compensation", "compute", "concatenate", "condition", "constraint", "contains",
    "continue", "cost", "create", "cross", "cube", "current", "current_date", "current_time",
    "current_timestamp", "current_user", "data", "database", "databases", "date", "date_add", "date_diff",
    "dateadd", "datediff", "day", "dayofyear", "days", "dbproperties", "dec", "decimal", "declare", "default",
    "defined", "definer", "delete", "delimited", "desc", "describe", "deterministic", "dfs", "directories",
    "directory", "distinct", "distribute", "div", "do", "double", "drop", "else", "elseif", "end", "escape",
    "escaped", "evolution", "except", "exchange", "exclude", "execute", "exists", "exit", "explain", "export",
    "extend", "extended", "external", "extract", "false", "fetch", "fields", "fileformat", "filter", "first",
    "float", "following", "for", "foreign", "format", "formatted", "found", "from", "full", "function",
    "functions", "generated", "global", "grant", "group", "grouping", "handler", "having", "hour", "hours",
    "identifier", "identity", "if", "ignore", "ilike", "immediate", "import", "in", "include", "increment",
    "index", "indexes", "inner", "inpath", "input", "inputformat", "insert", "int", "integer", "intersect",
    "interval", "into", "invoker", "is", "items", "iterate", "join", "json", "keys", "language", "last",
    "lateral", "lazy", "leading", "leave", "left", "like", "limit", "lines", "list", "load", "local",
    "location", "lock", "locks", "logical", "long", "loop", "macro", "map", "matched", "merge", "microsecond",
    "microseconds", "millisecond", "milliseconds", "minus", "minute", "minutes", "modifies", "month",
    "months", "msck", "name", "namespace", "namespaces", "nanosecond", "nanoseconds", "natural", "no", "none",
    "not", "null", "nulls", "numeric", "of", "offset", "on", "only", "option", "options", "or", "order",
    "out", "outer", "outputformat", "over", "overlaps", "overlay", "overwrite", "partition", "partitioned",
    "partitions", "percent", "pivot", "placing", "position", "preceding", "primary", "principals",
    "properties", "purge", "quarter", "query", "range", "reads", "real", "recordreader", "recordwriter",
    "recover", "recursive", "reduce", "references", "refresh", "rename", "repair", "repeat", "repeatable",
    "replace", "reset", "respect", "restrict", "return", "returns", "revoke", "right", "role", "roles",
    "rollback", "rollup", "row", "rows", "schema", "schemas", "second", "seconds", "security", "select",
    "semi", "separated", "serde", "serdeproperties", "session_user", "set", "sets", "short", "show", "single",
    "skewed", "smallint", "some", "sort", "sorted", "source", "specific", "sql", "sqlexception", "sqlstate",
    "start", "statistics", "stored", "stratify", "string", "struct", "substr", "substring", "sync",
    "system_time", "system_version", "table", "tables", "tablesample", "target", "tblproperties",
    "terminated", "then", "time", "timediff", "timestamp", "timestamp_ltz", "timestamp_ntz", "timestampadd",
    "timestampdiff", "tinyint", "to", "touch", "trailing", "transaction", "transactions", "transform", "trim",
    "true", "truncate", "try_cast", "type", "unarchive", "unbounded", "uncache", "union", "unique", "unknown",
    "unlock", "unpivot", "unset", "until", "update", "use", "user", "using", "value", "values", "var",
    "varchar", "variable", "variant", "version", "view", "views", "void", "week", "weeks", "when", "where",
    "while", "window", "with", "within", "x", "year", "years", "zone",
))

# functions Spark also accepts without parentheses
NILADIC_FUNCTIONS = frozenset(("current_date", "current_timestamp", "current_user", "user", "session_user",
                               "current_schema", "current_database", "current_catalog", "localtimestamp"))

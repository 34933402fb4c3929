"""The keyword list the config's load-time expression check skips is the running Spark's."""

from __future__ import annotations

from lakescore.transforms.features.sql_keywords import SQL_KEYWORDS


def test_the_keyword_list_holds_every_keyword_of_this_spark(spark):
    running = {r.keyword.lower() for r in spark.sql("SELECT keyword FROM sql_keywords()").collect()}
    assert running - SQL_KEYWORDS == set(), "regenerate transforms/features/sql_keywords.py"

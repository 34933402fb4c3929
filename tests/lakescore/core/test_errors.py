"""The one line an error is reduced to."""

from lakescore.core.errors import reason


def test_reason_takes_a_jvm_errors_deepest_cause_else_its_first_informative_line():
    jvm = RuntimeError("An error occurred while calling o12.load.\n: org.apache.spark.SparkException: Job aborted\n"
                       "\tat x.y(Z.java:1)\nCaused by: java.io.IOException: outer\n"
                       "Caused by: org.apache.hadoop.fs.ChecksumException: Checksum error: file:/m/part-0.parquet")
    assert reason(jvm) == "org.apache.hadoop.fs.ChecksumException: Checksum error: file:/m/part-0.parquet"
    assert reason(RuntimeError("An error occurred while calling o1.x.\n: java.lang.Oops: bad")) == "java.lang.Oops: bad"
    assert reason(ValueError("(sqlite3.DatabaseError) file is not a database\n[SQL: ...]")) == \
        "(sqlite3.DatabaseError) file is not a database"
    assert reason(KeyError()) == "KeyError" and len(reason(ValueError("x" * 999))) == 300

"""`lakescore submit`: `spark-submit` of a stage script with this installation's Python, typed
as is from cron or a shell that never activated the virtualenv.

A bare `.venv/bin/spark-submit jobs/score.py` fails in pyspark's find_spark_home.py when the
virtualenv is not active: pyspark's launcher scripts run `python3` from PATH (the system's, which
has no pyspark) to find SPARK_HOME and to run the driver. This command runs the same
spark-submit with SPARK_HOME, PYSPARK_PYTHON and PYSPARK_DRIVER_PYTHON set to this interpreter's
pyspark and Python, the project's folder on PYTHONPATH, and Delta's and the local catalog's JARs on
the command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer


def spark_submit_binary() -> Path:
    """The spark-submit next to this interpreter (a virtualenv's bin), else pyspark's own."""
    import pyspark

    beside = Path(sys.executable).parent / "spark-submit"
    return beside if beside.exists() else Path(pyspark.__file__).parent / "bin" / "spark-submit"


def submit_command(script: Path, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The spark-submit command line and environment for a stage script and its arguments."""
    import pyspark

    from lakescore.core.runtime import driver_java_opts, session_jars

    jars = session_jars()   # Delta's and the warehouse catalog's: on the driver's classpath from its start
    project = script.resolve().parent.parent        # jobs/<stage>.py -> the checkout holding jobs/
    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(project), os.environ.get("PYTHONPATH")]))}
    command = [str(spark_submit_binary()),
               "--conf", f"spark.jars={','.join(jars)}",
               "--conf", f"spark.pyspark.python={sys.executable}",
               "--conf", f"spark.pyspark.driver.python={sys.executable}",
               "--conf", f"spark.driver.extraJavaOptions={driver_java_opts()}",
               str(script), *args]
    return command, env


def submit(
    ctx: typer.Context,
    script: Annotated[Path, typer.Argument(help="a stage script, e.g. jobs/score.py", exists=True, dir_okay=False)],
) -> None:
    """spark-submit a stage script with this installation's Python; the arguments after the script
    go to it unchanged (--config, --as-of, --target, --set, --force).

    \b
    .venv/bin/lakescore submit jobs/score.py --config conf/flights.yml --as-of 2013-12-01
    """
    command, env = submit_command(script, list(ctx.args))
    os.execve(command[0], command, env)

"""A warm SQL endpoint on a local home: `lakescore serve` keeps one Spark session open (the same
session a stage starts: Delta, the warehouse catalog, the home's warehouse) and serves it over
Spark Connect, the gRPC protocol of Spark 4 that pyspark's own client speaks
(`SparkSession.builder.remote("sc://localhost:15002")`). Readers then pay neither the JVM's start
nor the catalog's: `lakescore sql` uses the endpoint whenever one runs on its home.

The running endpoint is recorded in `<home>/endpoint.json` (its address, port, pid and start
time) and the file is removed when it stops; a file whose process is gone, or whose port does
not answer, is an endpoint that is not running (a killed server leaves one behind)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("lakescore.endpoint")

ENDPOINT_FILE = "endpoint.json"
DEFAULT_PORT = 15002          # Spark Connect's own default
PORT_CONF = "spark.connect.grpc.binding.port"
SERVICE = "org.apache.spark.sql.connect.service.SparkConnectService"


@dataclass(frozen=True)
class Endpoint:
    url: str
    port: int
    pid: int
    started_at: str


def endpoint_file(home: Path) -> Path:
    return Path(home) / ENDPOINT_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # another user's process: it exists
        return True
    return True


def _answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def running(home: Path) -> Endpoint | None:
    """The endpoint serving this home, if one is running and answers; None otherwise."""
    path = endpoint_file(home)
    try:
        data = json.loads(path.read_text())
        found = Endpoint(url=data["url"], port=int(data["port"]), pid=int(data["pid"]), started_at=data["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(found.pid) or not _answers(found.port):
        log.info("endpoint %s in %s is not running (stale file)", found.url, path)
        return None
    return found


def remote_session(endpoint: Endpoint):
    """A Spark Connect client session on the endpoint (no JVM in this process)."""
    from pyspark.sql import SparkSession

    # the client logs every server error with the server's JVM stack trace: the caller reports
    # the error itself, in one line
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return SparkSession.builder.remote(endpoint.url).getOrCreate()


def serve(home: Path, port: int = DEFAULT_PORT, ready=None, stop: threading.Event | None = None) -> None:
    """Start the home's Spark session, serve it over Spark Connect on `port` (localhost) and
    block until SIGINT/SIGTERM or `stop` is set; `ready(endpoint)` is called once it answers.
    Refuses to start a second endpoint on a home whose endpoint runs."""
    from lakescore.core.runtime import get_spark

    home = Path(home)
    other = running(home)
    if other is not None:
        raise RuntimeError(f"an endpoint already serves {home}: {other.url} (pid {other.pid})")
    if _answers(port):
        raise RuntimeError(f"port {port} is taken by another process: choose one with --port")
    started = time.perf_counter()
    spark = get_spark(home, extra={PORT_CONF: str(port), "spark.connect.grpc.binding.address": "127.0.0.1"})
    service = getattr(spark._jvm, SERVICE)
    service.start(spark._jsc.sc())
    endpoint = Endpoint(url=f"sc://localhost:{port}", port=port, pid=os.getpid(),
                        started_at=datetime.now(UTC).replace(microsecond=0).isoformat())
    path = endpoint_file(home)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(endpoint.__dict__) + "\n")
    tmp.replace(path)
    log.info("endpoint %s serving %s, ready in %.1fs", endpoint.url, home, time.perf_counter() - started)
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        if ready is not None:
            ready(endpoint)
        while not stop.wait(1.0):
            pass
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        _stop(service)
        spark.stop()
        log.info("endpoint %s stopped", endpoint.url)
        for sig, handler in previous.items():   # a second Ctrl-C while stopping does not cut it short
            signal.signal(sig, handler)


def _stop(service) -> None:
    """SparkConnectService.stop has Scala default arguments (a timeout): call the form py4j sees."""
    try:
        service.stop(getattr(service, "stop$default$1")(), getattr(service, "stop$default$2")())
    except Exception:  # noqa: BLE001 - the session stops next and ends the service with it
        log.debug("SparkConnectService.stop failed", exc_info=True)

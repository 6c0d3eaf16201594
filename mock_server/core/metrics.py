"""What the mock counts for whoever hosts it, in Prometheus' text format (`GET /_mock/metrics`):
requests by route, method and status, their latency, and the requests answered 500 because
storage failed (by cause: storage/errors.py).

Recording sits on the hot path, so it is one counter increment and one histogram observation
per request (edge/request_metrics.py), on label children cached after their first use.

Workers: uvicorn's workers are separate processes behind one port, so a scrape reaches one of
them at random. With more than one worker the CLI gives them a shared directory
(prometheus_client's multiprocess mode: each process writes its values to a memory-mapped file
there, and `exposition` sums every process's files), so every scrape sees the whole instance.
The directory must be named in the environment before prometheus_client is first imported (the
library decides its storage then): the settings module does it (`hand_to_workers`), and the
workers, fresh processes, import it after. With one worker, or an app built in-process (tests),
the values live in this process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values

from contract.control import CONTROL
from mock_server.storage.errors import CAUSES

# Text format 0.0.4, what Prometheus scrapes, as control.yaml declares it for GET /metrics
# (prometheus_client's generate_latest writes that format).
(CONTENT_TYPE,) = CONTROL.operations["get_metrics"][2]["responses"]["200"]["content"]

# Latency buckets (seconds): the revoke answers in about a millisecond; the storage bound
# (storage_timeout, default 5 s, at most 60 s) is where the slowest answers land.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter(
    "layers_mock_requests",
    "HTTP requests answered, by route (the route's template, never the path), method and status.",
    ["route", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "layers_mock_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route.",
    ["route"],
    buckets=BUCKETS,
    registry=None,
)
STORAGE_FAULTS = Counter(
    "layers_mock_storage_faults",
    "Requests answered 500 because storage failed, by cause (lock held, disk full, database unreachable, timed out).",
    ["cause"],
    registry=None,
)
for _cause in CAUSES:  # every cause shown, at 0 until it happens
    STORAGE_FAULTS.labels(_cause)

_OWN = (REQUESTS, LATENCY, STORAGE_FAULTS)
_local: CollectorRegistry | None = None


def multiprocess_ready() -> bool:
    """Whether this process records into the shared directory (it was named before the import)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def exposition(metrics_dir: str | None) -> bytes:
    """Every metric, in the text format: summed over the workers' files when `metrics_dir` is
    given (and this process writes there), else this process's own."""
    global _local
    if metrics_dir is not None and multiprocess_ready():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        return generate_latest(registry)
    if _local is None:
        _local = CollectorRegistry(auto_describe=True)
        for metric in _OWN:
            _local.register(metric)
    return generate_latest(_local)


def share_with_forked_workers() -> None:
    """For workers forked from this process (granian forks; uvicorn spawns fresh processes): the
    CLI has named the shared directory only now, after prometheus_client was imported here with
    in-process values. Switch to the directory's values before the fork, so that each forked
    worker writes its own file there (prometheus_client opens a new file when the pid changes);
    the label children made at import (the storage-fault causes) are made again the same way."""
    values.ValueClass = values.get_value_class()
    if not multiprocess_ready():
        return  # no directory named (one worker): values stay in the process
    for cause in CAUSES:
        STORAGE_FAULTS.remove(cause)
        STORAGE_FAULTS.labels(cause)


def storage_fault(cause: str) -> None:
    STORAGE_FAULTS.labels(cause).inc()

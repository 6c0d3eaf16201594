"""What the mock counts for whoever hosts it, in Prometheus' text format (`GET /_mock/metrics`):
requests by route, method and status, their latency, and the requests answered 500 because
storage failed (by cause: storage/errors.py).

Recording sits on the hot path, so it is one counter increment and one histogram observation
per request (edge/request_metrics.py), on label children cached after their first use.

Workers: uvicorn's workers are separate processes behind one port, so a scrape reaches one of
them at random. With more than one worker the CLI gives them a shared directory
(prometheus_client's multiprocess mode: each process writes its values to a memory-mapped file
there, and `exposition` sums every process's files), so every scrape sees the whole instance.
The directory is named in the environment by the settings module (`hand_to_workers`); uvicorn's
workers, fresh processes, import prometheus_client after that, and granian's forked workers switch
to it when their app is built (`record_in_shared_directory`). With one worker, or an app built in-process (tests),
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


def record_in_shared_directory() -> None:
    """Write this process's values to the shared directory the CLI named, also when
    prometheus_client was imported before it was named: granian forks its workers from the CLI's
    process, which imported the app (and this module) to check the specs once before forking, so
    the library chose in-process values there. The value class is switched and the label children
    made so far (the fault causes; the edge caches its own only once requests arrive) are made
    again. Uvicorn's workers import it fresh: nothing to do."""
    if multiprocess_ready():
        return
    values.ValueClass = values.MultiProcessValue()
    for metric in _OWN:
        # prometheus_client has no public way to drop a metric's children; they were made with
        # the old value class and hold nothing yet (no request was answered before the fork).
        metric._metrics.clear()  # noqa: SLF001
    for cause in CAUSES:
        STORAGE_FAULTS.labels(cause)


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


def storage_fault(cause: str) -> None:
    STORAGE_FAULTS.labels(cause).inc()

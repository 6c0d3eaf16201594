"""What the mock counts for whoever hosts it, in Prometheus' text format (`GET /_mock/metrics`):
requests by route, method and status, their latency, and the requests answered 500 because
storage failed (by cause: storage/errors.py).

Recording sits on the hot path, so it is one counter increment and one histogram observation
per request (edge/request_metrics.py), on label children cached after their first use.

Workers: uvicorn's workers are separate processes behind one port, so a scrape reaches one of
them at random. With more than one worker the CLI gives them a shared directory
(prometheus_client's multiprocess mode: each process writes its values to a memory-mapped file
there, and `exposition` sums every process's files), so every scrape sees the whole instance.
The directory is named in the environment by the settings module (`hand_to_workers`), and
prometheus_client reads it when it is imported: so it is imported, and the metrics made, on
first use (`_made`), in the workers, after the CLI named it. The CLI's own process imports this
module (granian forks its workers from it) but never records or exports anything. With one
worker, or an app built in-process (tests), the values live in this process.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from contract.control import CONTROL
from mock_server.storage.errors import CAUSES

# Text format 0.0.4, what Prometheus scrapes, as control.yaml declares it for GET /metrics
# (prometheus_client's generate_latest writes that format).
(CONTENT_TYPE,) = CONTROL.operations["get_metrics"][2]["responses"]["200"]["content"]

# Latency buckets (seconds): the revoke answers in about a millisecond; the storage bound
# (storage_timeout, default 5 s, at most 60 s) is where the slowest answers land.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@lru_cache(maxsize=1)
def _made() -> dict[str, Any]:
    """The metrics, made (and prometheus_client imported) on first use: see the module docstring."""
    from prometheus_client import Counter, Histogram

    made = {
        "requests": Counter(
            "layers_mock_requests",
            "HTTP requests answered, by route (the route's template, never the path), method and status.",
            ["route", "method", "status"],
            registry=None,
        ),
        "latency": Histogram(
            "layers_mock_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=None,
        ),
        "faults": Counter(
            "layers_mock_storage_faults",
            "Requests answered 500 because storage failed, by cause (lock held, disk full, database unreachable,"
            " timed out).",
            ["cause"],
            registry=None,
        ),
    }
    for cause in CAUSES:  # every cause shown, at 0 until it happens
        made["faults"].labels(cause)
    return made


def requests(route: str, method: str, status: str):
    """The request counter's child for these labels."""
    return _made()["requests"].labels(route, method, status)


def latency(route: str):
    """The latency histogram's child for a route."""
    return _made()["latency"].labels(route)


_TWO_DOUBLES = struct.Struct("dd").pack  # a value and its timestamp, in a multiprocess file

# -- recording on the hot path ------------------------------------------------------------------
# prometheus_client's `inc` and `observe`, per call, check that the metric is observable and the
# amount not negative, take a lock, and in multiprocess mode ask the OS for the process id (a
# fork resets the values): three times per request, about a sixth of a 401's instructions
# (callgrind, bench/revoke_instructions.py --kinds 401). The edge records from the event loop's thread only, in the
# worker that made the values (made on first use, after the fork), so it adds to the very same
# values without those steps: a scrape reads what `inc` would have written. Any value of another
# kind (another version of prometheus_client) is added to with its own `inc`.


def _adder(value) -> Callable[[float], None]:
    """`value.inc` without the per-call lock and fork check (see above)."""
    file = getattr(value, "_file", None)
    if file is not None and hasattr(value, "_key") and isinstance(getattr(file, "_positions", None), dict):
        value.get()  # prometheus_client's own fork check, once: this process's file from now on
        key = value._key  # noqa: SLF001 - see above
        file.write_value(key, value._value, 0.0)  # noqa: SLF001 - the key has its place in the file now
        at = file._positions[key]  # noqa: SLF001 - a key's place never moves (the file only grows)

        def add_and_write(amount: float) -> None:
            value._value += amount  # noqa: SLF001 - the value's own copy, as `inc` keeps it
            # The bytes a scrape sums, written as prometheus_client writes them (one slice
            # assignment, never a moment of zeros); `_m` is read each time: a file that grows
            # for a new key is mapped again.
            file._m[at : at + 16] = _TWO_DOUBLES(value._value, 0.0)  # noqa: SLF001

        return add_and_write
    if hasattr(value, "_lock") and isinstance(getattr(value, "_value", None), float):  # this process's own

        def add(amount: float) -> None:
            value._value += amount  # noqa: SLF001 - read by a scrape on the same thread

        return add
    return value.inc


def request_counter(route: str, method: str, status: str) -> Callable[[float], None]:
    """Adds to the request counter's child for these labels (the edge caches it)."""
    child = requests(route, method, status)
    value = getattr(child, "_value", None)
    return child.inc if value is None else _adder(value)


def latency_observer(route: str) -> Callable[[float], None]:
    """Observes a duration in the latency histogram's child for `route` (the edge caches it):
    what `Histogram.observe` does, its sum and the one bucket the duration falls in."""
    child = latency(route)
    try:
        bounds = list(child._upper_bounds)  # noqa: SLF001 - see above
        add_to_sum = _adder(child._sum)  # noqa: SLF001
        add_to_bucket = [_adder(bucket) for bucket in child._buckets]  # noqa: SLF001
    except AttributeError:  # another version's layout
        return child.observe
    if len(bounds) != len(add_to_bucket) or bounds[-1] != float("inf"):
        return child.observe

    def observe(seconds: float) -> None:
        add_to_sum(seconds)
        add_to_bucket[bisect_left(bounds, seconds)](1.0)  # the first bound >= seconds, as observe's

    return observe


def multiprocess_ready() -> bool:
    """Whether this process records into the shared directory (it was named before the import)."""
    from prometheus_client import values

    return bool(getattr(values.ValueClass, "_multiprocess", False))


@lru_cache(maxsize=1)
def _local_registry():
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=True)
    for metric in _made().values():
        registry.register(metric)
    return registry


def exposition(metrics_dir: str | None) -> bytes:
    """Every metric, in the text format: summed over the workers' files when `metrics_dir` is
    given (and this process writes there), else this process's own."""
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    _made()  # this process's file holds every cause, at 0 until it happens
    if metrics_dir is not None and multiprocess_ready():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=metrics_dir)
        return generate_latest(registry)
    return generate_latest(_local_registry())


def storage_fault(cause: str) -> None:
    _made()["faults"].labels(cause).inc()

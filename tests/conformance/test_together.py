"""`Context.together` / `Context.each`: a scenario's independent requests at the same time, and what
they record still counted for the scenario that made them (its progress line, its time)."""

from __future__ import annotations

import threading

import pytest

from conformance.client import PoliteClient
from conformance.results import Results
from conformance.scenario_base import Context, Options
from conformance.target import Target
from conformance.waiting import RealWaiter

NOWHERE = "http://127.0.0.1:9"  # nothing is sent: the calls below only record expectations


@pytest.fixture
def make_ctx():
    clients = []

    def make(parallel: int) -> Context:
        results = Results(target=NOWHERE)
        client = PoliteClient(NOWHERE, results, RealWaiter(1), max_requests=10, secrets={}, parallel=parallel)
        clients.append(client)
        return Context(client, Target(NOWHERE, "k"), results, Options(parallel=parallel))

    yield make
    for client in clients:
        client.close()


def test_calls_run_at_the_same_time_and_count_for_the_calling_scenario(make_ctx):
    ctx = make_ctx(3)
    met = threading.Barrier(3, timeout=10)  # passes only if three calls are running at once
    threads = set()

    def one(i: int) -> None:
        met.wait()
        threads.add(threading.current_thread().name)
        ctx.expect("some_expectation", i != 1, f"input {i} was refused")

    with ctx.tracking() as touched:
        ctx.each(range(3), one)
    assert len(threads) == 3 and threading.current_thread().name not in threads
    assert touched.expectations == {"some_expectation"} and touched.failed == ["some_expectation"]
    record = ctx.results.records["some_expectation"]
    assert (record.passed, record.failed) == (2, 1)


def test_every_call_runs_and_the_first_error_in_order_is_raised(make_ctx):
    ctx = make_ctx(4)
    ran = []

    def one(i: int) -> None:
        ran.append(i)
        if i in (2, 3):
            raise ValueError(f"call {i}")

    with pytest.raises(ValueError, match="call 2"):
        ctx.each(range(5), one)
    assert sorted(ran) == [0, 1, 2, 3, 4]


def test_parallel_1_is_a_plain_loop_in_order_on_the_calling_thread(make_ctx):
    ctx = make_ctx(1)
    seen = []
    ctx.each(range(5), lambda i: seen.append((i, threading.current_thread().name)))
    assert seen == [(i, threading.current_thread().name) for i in range(5)]

"""The generated phase: positive and negative requests that schemathesis builds from the spec.

The cases come from the generated phase's worker process (`conformance.generated`), as it makes
them. Each goes out through the kit's PoliteClient (bounded, paced, Retry-After honoured, every
response judged by the spec-derived checks) and its response then goes back to the worker, to be
judged by schemathesis' own built-in checks there. Generated cases only ever name random ids (the
worker swaps any well-formed id for one), so this phase revokes nothing.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from conformance.client import PoliteClient, TargetUnreachable
from conformance.exchange import Exchange
from conformance.generated import MODES, Case, Worker
from conformance.results import Results
from conformance.transport import RunStopped


def run_fuzz(
    client: PoliteClient,
    api_key: str,
    results: Results,
    worker: Worker,
    *,
    progress,
    parallel: int = 1,
) -> None:
    """Send the worker's cases as they come; with `parallel` > 1 each case is sent on a pool of that
    many threads while the next ones come, so a slow target costs one answer's wait per `parallel`
    cases. Nothing in a case depends on an earlier answer (no assertion reaches hypothesis, so it
    never shrinks): the cases are the same either way. The worker was told the run's options when
    the run began (`Worker.begin`)."""
    counts: dict[str, int] = {}
    stopped: list[Exception] = []
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fuzz") if parallel > 1 else None
    pending: list[Future] = []

    def record(exchange: Exchange, label: str, outcomes: list[tuple[str, str | None]]) -> None:
        with client.pipeline.lock:
            for name, failure in outcomes:
                if failure is None:
                    results.passed(name, "schemathesis")
                else:
                    results.failed(name, "schemathesis", f"{label}: {failure}", exchange)

    def send_and_validate(case: Case) -> None:
        if stopped:
            return
        label = f"generated {case.mode} case"
        try:
            exchange = client.send(case.method, case.url, case.headers_for(api_key), label)
        except (RunStopped, TargetUnreachable) as exc:
            stopped.append(exc)
            return
        with client.pipeline.lock:
            counts[case.mode] = counts.get(case.mode, 0) + 1
        if exchange.body_problem is not None:  # too big or too deep: already a finding, not judgeable
            return
        worker.validate(case, exchange, lambda outcomes: record(exchange, label, outcomes))

    try:
        for case in worker.cases(stop=lambda: bool(stopped) or client.halted, check_time=client.bounds.check_time):
            if pool is None:
                send_and_validate(case)
                continue
            # Sending runs behind the worker by at most a few rounds of the pool. (Wait on the
            # futures not done only: `wait` returns at once while any of those it is given is done,
            # and the worker makes cases far faster than a slow target answers them.)
            while len(running := [f for f in pending if not f.done()]) >= 4 * parallel:
                wait(running, return_when=FIRST_COMPLETED)
            pending.append(pool.submit(send_and_validate, case))
    finally:
        if pool is not None:
            wait(pending)
            pool.shutdown()
    for future in pending:
        future.result()  # a GeneratedPhaseFailed raised while asking for a verdict
    if stopped:
        raise stopped[0]
    worker.wait_verdicts(client.bounds.check_time)
    for mode in MODES:
        progress(f"[fuzz] {mode}: {counts.get(mode, 0)} generated requests")
    progress(f"[fuzz] cases generated and judged by schemathesis in a worker process ({worker.cpu:.2f} s of its CPU)")

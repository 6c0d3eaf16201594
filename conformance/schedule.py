"""When each scenario runs: independent scenarios at the same time, the others in their order.

Against a target across a network most of a run is waiting for answers, so the scenarios run on
`--parallel` threads at once, and the client (`PoliteClient`) bounds the requests in flight to the
same number. What may not overlap is declared here, once:

- `AFTER`: a scenario that reads what another leaves in `ctx.state` (the revoked account, the
  replayed exchange, the untouched account) starts when that one has ended;
- every scenario that revokes accounts from `--accounts` starts after `revoke_succeeds`, whose first
  revoke is the stale-account check (`Context.first_revoke`): nothing is revoked before it;
- `EXCLUSIVE`: a scenario that changes what every other request would meet (a global kill switch,
  a spent rate budget, a moved mock clock) or that needs every request slot at one instant (the race)
  runs alone, after all the others, one at a time.

A scenario module may declare the same for a scenario of its own (`Scenario.after`,
`Scenario.exclusive`). `--parallel 1` runs every scenario alone, in the listed order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from conformance.scenario_base import Context, Scenario, ScenarioSkipped, ScenarioStopped, needs_accounts

STALE_CHECK = "revoke_succeeds"

AFTER: dict[str, frozenset[str]] = {
    "second_revoke_answers_404": frozenset({"revoke_succeeds"}),
    "strict_replay_is_verbatim": frozenset({"idempotent_replay_same_response"}),
    # The 409 aims at the account the read-only scenario left connected.
    "idempotency_key_reuse_answers_409": frozenset({"idempotent_replay_same_response", "read_only_key_answers_403"}),
    # Compares the foreign 404 with the unknown and the revoked account's 404s of those scenarios.
    "foreign_404_indistinguishable": frozenset(
        {"foreign_account_answers_404", "unknown_account_answers_404", "second_revoke_answers_404"}
    ),
}

EXCLUSIVE = frozenset(
    {
        "rate_limit_retry_after_succeeds",  # spends the key's budget; on the mock, moves its clock
        "kill_switch_answers_503",  # the global switch answers 503 to every request
        "concurrent_revokes_one_succeeds",  # K revokes at one instant: every request slot
    }
)

# Scenarios that send many requests one after another (a dozen or more): started first, so that
# the run is not left waiting on one of them at its end. Everything else starts in the listed order.
LONG_FIRST = ("boundary_ids_answer_400", "lenient_credentials_answer_401", "boundary_inputs_answer_4xx")

Progress = Callable[[str], None]


def dependencies(sc: Scenario, names: set[str]) -> set[str]:
    """The selected scenarios `sc` waits for."""
    deps = set(AFTER.get(sc.name, ())) | set(getattr(sc, "after", ()))
    if sc.name != STALE_CHECK and sc.needs is needs_accounts:
        deps.add(STALE_CHECK)
    return deps & names - {sc.name}


def is_exclusive(sc: Scenario) -> bool:
    return sc.name in EXCLUSIVE or bool(getattr(sc, "exclusive", False))


def run_one(ctx: Context, sc: Scenario, progress: Progress) -> None:
    """One scenario: skipped (its needs, or it said so), stopped at a failed precondition, or run."""
    label = f"{sc.name}{' (strict)' if sc.strict else ''}"
    reason = sc.needs(ctx.target, ctx.options)
    if reason:
        ctx.skip(sc, reason)
        progress(f"[scenario] {label}: skipped ({reason})")
        return
    started = time.perf_counter()
    with ctx.tracking() as touched:
        try:
            sc.run(ctx)
        except ScenarioSkipped as exc:
            ctx.skip(sc, str(exc))
            progress(f"[scenario] {label}: skipped ({exc})")
            return
        except ScenarioStopped:
            pass
        finally:
            # JUnit's `time` of a scenario expectation: the scenario that produced it.
            ctx.add_time(touched.expectations, time.perf_counter() - started)
    failed = touched.failed
    progress(f"[scenario] {label}: {'FAILED ' + ', '.join(failed) if failed else 'ok'}")


def run_all(
    ctx: Context,
    scenarios: list[Scenario],
    progress: Progress,
    parallel: int,
    alongside: Callable[[], None] | None = None,
) -> None:
    """Every scenario of `scenarios` (already selected), as the declarations above allow.
    `alongside`: work that runs with the independent scenarios and before the exclusive ones
    (the generated phase, which only ever names unknown accounts)."""
    if parallel <= 1:
        if alongside is not None:
            alongside()
        for sc in scenarios:
            run_one(ctx, sc, progress)
        return
    names = {sc.name for sc in scenarios}
    together = [sc for sc in scenarios if not is_exclusive(sc)]
    alone = [sc for sc in scenarios if is_exclusive(sc)]
    _run_together(ctx, together, names, progress, parallel, alongside)
    for sc in alone:  # whatever they waited for has ended: everything else has
        with ctx.client.slots.widened(max(parallel, ctx.options.concurrency)):
            run_one(ctx, sc, progress)


def _run_together(
    ctx: Context,
    scenarios: list[Scenario],
    names: set[str],
    progress: Progress,
    parallel: int,
    alongside: Callable[[], None] | None,
) -> None:
    # The long ones first, then the listed order: the first ready one starts first.
    waiting = sorted(scenarios, key=lambda sc: LONG_FIRST.index(sc.name) if sc.name in LONG_FIRST else len(LONG_FIRST))
    done: set[str] = set(names) - {sc.name for sc in scenarios}  # the exclusive ones come later
    running: dict[Future, Scenario | None] = {}
    first_error: BaseException | None = None
    lock = threading.Lock()
    # One more thread for `alongside`: it sends through the same request slots as the scenarios.
    with ThreadPoolExecutor(max_workers=parallel + 1, thread_name_prefix="scenario") as pool:
        if alongside is not None:
            running[pool.submit(alongside)] = None
        while waiting or running:
            if first_error is None:
                for sc in [sc for sc in waiting if dependencies(sc, names) <= done]:
                    waiting.remove(sc)
                    running[pool.submit(run_one, ctx, sc, progress)] = sc
            if not running:
                break  # only scenarios waiting for ones that will never run (after a stop)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                ended = running.pop(future)
                if ended is not None:
                    with lock:
                        done.add(ended.name)
                error = future.exception()
                if error is not None and first_error is None:
                    # The run stops: no new scenario starts, and the running ones stop at their
                    # next request; the first cause is what the run reports.
                    first_error = error
                    ctx.client.halt(f"{ended.name if ended else 'the generated phase'} stopped the run")
    if first_error is not None:
        raise first_error

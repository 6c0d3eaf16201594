"""Concurrency: K revokes of one account at the same instant.

The page promises one atomic revoke ("in a single transaction"), and a second revoke of a
disconnected account answers 404. So K simultaneous revokes without an Idempotency-Key must give
exactly one 200, K-1 404 `NOT_FOUND`, and the account's queued posts counted once. A
check-then-act implementation (read "connected", then update without re-checking) answers 200
more than once, or counts the posts twice; one that serialises badly answers 500 or 409.

The K requests are released together by a barrier, each on its own connection, so they overlap
on the server as far as the network allows.
"""

from __future__ import annotations

import threading

from conformance.exchange import Exchange
from conformance.scenario_base import Context, needs_accounts, scenario
from contract import CONTRACT

OK = CONTRACT.success_status
NOT_FOUND = CONTRACT.status_for_code("NOT_FOUND")


@scenario("concurrent_revokes_one_succeeds", needs=needs_accounts)
def concurrent_revokes(ctx: Context) -> None:
    k = max(2, ctx.options.concurrency)
    account = ctx.account(prefer="queued")
    barrier = threading.Barrier(k)
    exchanges: list[Exchange | None] = [None] * k
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            exchanges[i] = ctx.revoke(account.id, f"concurrent revoke {i + 1} of {k}")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the scenario's own thread below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), name=f"revoke-{i}") for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:  # the cause, not the barrier it broke for the other threads
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
    done = [ex for ex in exchanges if ex is not None]
    # A race is reproduced by racing: K copies of the request at once.
    repro = f"seq {k} | xargs -P {k} -I{{}} {done[0].curl()}" if done else None
    wins = [ex for ex in done if ex.status == OK]
    losers = [ex for ex in done if ex is not wins[0]] if wins else done
    tally = ", ".join(f"{n} x {s}" for s, n in sorted(_count(ex.status for ex in done).items()))
    ctx.expect(
        "concurrent_revokes_one_succeeds",
        len(wins) == 1,
        f"{k} simultaneous revokes of {account.id} answered {tally}: expected exactly one {OK}"
        " (the revoke is one atomic transaction; a second revoke answers 404)",
        wins[1] if len(wins) > 1 else (done[0] if done else None),
        curl=repro,
    )
    bad = [ex for ex in losers if ex.status != OK and (ex.status != NOT_FOUND or _code(ex) != "NOT_FOUND")]
    ctx.expect(
        "concurrent_revokes_one_succeeds",
        not bad,
        f"the revokes that lost the race answered {tally}: expected {NOT_FOUND} NOT_FOUND for all but one",
        bad[0] if bad else None,
        curl=repro,
    )
    counted = sum(_int(_field(ex, "canceledScheduledPosts")) for ex in wins)
    ctx.expect(
        "concurrent_revokes_one_succeeds",
        counted == account.queued or not wins,
        f"the {len(wins)} success(es) report {counted} canceled posts in all; the account had "
        f"{account.queued} queued: the posts must be counted once",
        wins[-1] if wins else None,
        curl=repro,
    )


def _count(statuses) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def _code(ex: Exchange) -> str | None:
    body = ex.json()
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("code") if isinstance(err, dict) else None


def _field(ex: Exchange, name: str):
    body = ex.json()
    return body.get(name) if isinstance(body, dict) else None


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


SCENARIOS = [concurrent_revokes]

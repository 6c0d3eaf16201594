"""PostgreSQL under faults (issue 20): a restart of the database under load, and a stalled peer
holding a row lock. Every wait is bounded by `--storage-timeout`; past it the answer is the
documented 500 with nothing changed; idle pooled connections that died with a restart are
replaced before use, never handed to a request; every acknowledged revoke is in the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import httpx
import psycopg
import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess

from .support import INTERNAL, OK, REQUEST_TIMEOUT, make_tenant, revocation_rows, revoke

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

BOUND = 2.0  # --storage-timeout for these instances (seconds)
MARGIN = 1.5  # what a request may add to the bound (HTTP, the event loop, a loaded 2-core machine)


@pytest.fixture
def own_postgres():
    """A server of this test's own: it is restarted, which the session's server must not be."""
    from postgres_server import PostgresServer

    with PostgresServer(durable=True) as server:
        yield server


def test_the_durable_server_syncs_its_commits(own_postgres):
    """What these tests and the benchmarks call durable is PostgreSQL as it ships: pytest-postgresql
    starts its servers with `-F` (fsync off), which the durable server must override."""
    with psycopg.connect(own_postgres.url()) as conn:
        shown = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
    assert shown == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}, shown


def _restart(server) -> None:
    """`pg_ctl restart -m fast`: every connection is terminated (each gets the server's goodbye)."""
    ex = server.executor
    # Output to the server's log file, not to pipes: the new postmaster would hold them open.
    subprocess.run(
        [ex.executable, "restart", "-D", ex.datadir, "-m", "fast", "-w", "-t", "60", "-l", ex.logfile],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=90,
    )


def _timed_revoke(http: httpx.Client, secret: str, account: str):
    t0 = time.monotonic()
    result = revoke(http, secret, account)
    return result, time.monotonic() - t0


def test_a_restart_under_load_loses_no_acknowledged_revoke_and_idle_connections_heal(own_postgres):
    url = own_postgres.new_database("restart")
    with (
        MockProcess(database=url, extra_args=["--storage-timeout", str(BOUND)]) as mock,
        ControlClient(mock.base_url) as control,
    ):
        tenant = make_tenant(control, 240, queued_for=lambda i: i % 3)
        accounts = tenant.accounts
        results: list[tuple] = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(share: list[str]) -> None:
            with httpx.Client(base_url=mock.base_url, timeout=REQUEST_TIMEOUT) as http:
                for account in share:
                    if stop.is_set():
                        return
                    outcome = _timed_revoke(http, tenant.secret, account)
                    with lock:
                        results.append(outcome)

        # Phase 1: 8 clients under load (the pool grows to several connections), the database
        # restarted in the middle of it.
        shares = [accounts[i:160:8] for i in range(8)]
        threads = [threading.Thread(target=client, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        time.sleep(0.5)
        _restart(own_postgres)
        for t in threads:
            t.join(timeout=120)
        during = list(results)

        # Phase 2: the pool's connections sat idle through a second restart; the next requests
        # (concurrent, so that every idle connection is asked for) must all succeed.
        time.sleep(0.5)
        _restart(own_postgres)
        results.clear()
        shares = [accounts[160 + i : 240 : 8] for i in range(8)]
        threads = [threading.Thread(target=client, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        after = list(results)
        log = mock.log_text()

    statuses = [r.status for r, _ in during]
    assert len(during) == 160 and set(statuses) <= {OK, INTERNAL}, sorted(set(statuses))
    assert [r.status for r, _ in after] == [OK] * 80, (sorted({r.status for r, _ in after}), log)
    slowest = max(seconds for _, seconds in during + after)
    assert slowest <= BOUND + MARGIN, slowest
    # Every acknowledged revoke is in the database, once; no 500 left anything behind.
    rows = {r["account_id"]: r for r in revocation_rows(url)}
    acknowledged = [r for r, _ in during + after if r.status == OK]
    assert all(r.account in rows and rows[r.account]["request_id"] == r.request_id for r in acknowledged)
    failed = {r.account for r, _ in during if r.status == INTERNAL}
    assert not failed & set(rows), "a revoke answered 500 was committed"
    print(
        f"restart under load: {len(during) + len(after)} requests, {statuses.count(INTERNAL)} answered 500"
        f" while the database restarted, 0 after; slowest {slowest:.2f}s; {len(acknowledged)} acknowledged, all present"
    )


def test_a_peer_holding_a_row_lock_bounds_the_other_instances_answers(postgres_url):
    """A stalled peer holds the account's row lock (a session that took it and stopped): the
    revoke answers 500 within the bound, naming the cause in the log, with nothing changed (its
    rate-window count rolled back too); once the lock is gone the revoke succeeds."""
    with (
        MockProcess(database=postgres_url, extra_args=["--storage-timeout", str(BOUND)]) as mock,
        ControlClient(mock.base_url) as control,
    ):
        tenant = make_tenant(control, 2, queued_for=lambda i: 2, tier="partner")
        held, free = tenant.accounts
        with httpx.Client(base_url=mock.base_url, timeout=REQUEST_TIMEOUT) as http:
            assert revoke(http, tenant.secret, free).status == OK  # the rate windows' rows exist now
            before = _window_counts(postgres_url, tenant.key_id)
            with psycopg.connect(postgres_url, autocommit=False) as peer:
                peer.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (held,))
                answer, seconds = _timed_revoke(http, tenant.secret, held)
                peer.rollback()
            assert answer.status == INTERNAL and answer.body["error"]["code"] == CONTRACT.code_for_status(INTERNAL)
            assert seconds <= BOUND + MARGIN, seconds
            assert _window_counts(postgres_url, tenant.key_id) == before  # nothing changed
            assert control.account(held)["status"] != CONTRACT.success_enum("status")
            retry = revoke(http, tenant.secret, held)
            assert retry.status == OK and retry.body["canceledScheduledPosts"] == 2
        assert "lock held" in mock.log_text()


def test_a_stopped_peer_instance_does_not_stall_the_other(postgres_url):
    """SIGSTOP on one layers-mock while both serve the same key and accounts: its revokes are
    single pipelines, so it cannot be stopped holding a lock; the other instance's answers stay
    within the bound, and every account is revoked exactly once."""
    extra = ["--storage-timeout", str(BOUND)]
    with (
        MockProcess(database=postgres_url, extra_args=extra) as a,
        MockProcess(database=postgres_url, extra_args=extra) as b,
        ControlClient(b.base_url) as control,
    ):
        tenant = make_tenant(control, 120, queued_for=lambda i: 1)
        accounts = tenant.accounts
        stalled: list[int] = []

        def load_a() -> None:
            with httpx.Client(base_url=a.base_url, timeout=1.0) as http:
                for account in accounts[::2]:
                    try:
                        revoke(http, tenant.secret, account)
                    except httpx.HTTPError:
                        stalled.append(1)  # the stopped instance: its client gives up
                        return

        loader = threading.Thread(target=load_a)
        loader.start()
        time.sleep(0.3)
        os.killpg(a.proc.pid, signal.SIGSTOP)
        try:
            with httpx.Client(base_url=b.base_url, timeout=REQUEST_TIMEOUT) as http:
                answers = [_timed_revoke(http, tenant.secret, account) for account in accounts]
        finally:
            os.killpg(a.proc.pid, signal.SIGCONT)
            loader.join(timeout=60)
        a.stop()  # what the resumed instance had under way has finished (or never will)
    slowest = max(seconds for _, seconds in answers)
    assert slowest <= BOUND + MARGIN, slowest
    assert {r.status for r, _ in answers} <= {OK, CONTRACT.status_for_code("NOT_FOUND")}
    rows = [r["account_id"] for r in revocation_rows(postgres_url)]
    assert sorted(rows) == sorted(set(rows))  # none twice
    assert set(rows) == set(accounts)  # b asked for every one: revoked by b, or by a before it (then 404)
    assert {r.account for r, _ in answers if r.status == OK} <= set(rows)


def _window_counts(url: str, key_id: str) -> dict:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT window_key, count FROM rate_windows WHERE key_id = %s", (key_id,)).fetchall())

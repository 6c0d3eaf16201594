"""The request path's two PostgreSQL statements (the gathered read, `layers_apply`) go through
psycopg's libpq layer instead of a cursor (postgres.py `Statement`, `_RequestConnection.one`):
what they read must be what a cursor reads, their failures the errors a cursor raises, and a
session that lost its prepared statements (a pooler's DISCARD ALL) must not fail a request."""

from __future__ import annotations

import psycopg
import pytest

from contract import CONTRACT
from mock_server.core.domain import CANCELABLE_STATUS
from mock_server.storage import hash_secret
from mock_server.storage.gathered import Ask
from mock_server.storage.postgres import _GATHER, Statement
from mock_server.storage.queries import Queries


@pytest.fixture(scope="module")
def pg_mock(make_mock):
    return make_mock("postgresql")


def _ask(keys, account_id: str) -> Ask:
    return Ask(hash_secret(keys["write"]["secret"]), account_id, "idem-1", ("m:1", "d:1"), CANCELABLE_STATUS)


def _on_a_connection(mock, work):
    async def run():
        async with mock.app.storage._connection() as conn:
            return await work(conn)

    return mock.transport.portal.call(run)


def test_the_gathered_row_is_what_a_cursor_reads(pg_mock, keys):
    params = Queries.gather_params(_ask(keys, CONTRACT.example_account_id))

    async def both(conn):
        cur = await conn.execute(_GATHER.sql, params)  # psycopg's own path: its dumpers, its loaders
        return await conn.one(_GATHER, params), await cur.fetchone()

    ours, cursor = _on_a_connection(pg_mock, both)
    assert ours == cursor
    assert ours["account_seq"] is not None and ours["cancelable"] > 0  # a row with its numbers loaded


def test_a_statement_deallocated_behind_its_back_is_prepared_again(pg_mock, keys):
    params = Queries.gather_params(_ask(keys, CONTRACT.example_account_id))

    async def deallocated(conn):
        first = await conn.one(_GATHER, params)
        await conn.execute("DEALLOCATE ALL")  # what a pooler's reset (DISCARD ALL) does too
        return first, await conn.one(_GATHER, params)

    first, again = _on_a_connection(pg_mock, deallocated)
    assert again == first


def test_a_failure_raises_the_error_a_cursor_would(pg_mock):
    broken = Statement("layers_test_broken", "SELECT 1 / ?::integer AS x")

    async def divide(conn):
        assert await conn.one(broken, (2,)) == {"x": 0}
        with pytest.raises(psycopg.errors.DivisionByZero, match="division by zero"):
            await conn.one(broken, (0,))
        return await conn.one(broken, (1,))  # and the connection goes on

    assert _on_a_connection(pg_mock, divide) == {"x": 1}


def test_a_statement_the_session_holds_already_is_not_prepared_twice(pg_mock, keys):
    """A Parse whose wait was cancelled (the storage bound) may have landed: the session then
    holds the statement while the connection does not know it; the next Parse must not fail."""
    params = Queries.gather_params(_ask(keys, CONTRACT.example_account_id))

    async def forgotten(conn):
        first = await conn.one(_GATHER, params)
        conn._layers_prepared.clear()  # what a cancelled wait leaves: prepared, not remembered
        return first, await conn.one(_GATHER, params)

    first, again = _on_a_connection(pg_mock, forgotten)
    assert again == first


def test_a_window_made_by_a_concurrent_revoke_is_counted_not_lost(pg_mock, keys):
    """`layers_apply` counts a revoke's existing window rows in one UPDATE, then upserts the windows
    it did not count (postgres.py `_SPEND_EXISTING`): a window row that a concurrent revoke made
    after that UPDATE began is counted, as the upsert counts it, not a lost race; the row that
    UPDATE counted is not counted twice."""
    import threading

    from mock_server.storage.gathered import Writes
    from mock_server.storage.postgres import _APPLY, apply_params

    dsn, sandbox, key_id = pg_mock.app.storage._dsn, "local", keys["write"]["id"]
    made, new = "d:30", "m:30"  # windows of their own
    writes = Writes(sandbox, key_id, spend=((made, 100), (new, 100)))

    def count(conn, window):
        row = conn.execute(
            "SELECT count FROM rate_windows WHERE sandbox=%s AND key_id=%s AND window_key=%s", (sandbox, key_id, window)
        ).fetchone()
        return None if row is None else row[0]

    with psycopg.connect(dsn, autocommit=True) as admin, psycopg.connect(dsn) as other:
        admin.execute("INSERT INTO rate_windows VALUES (%s, %s, %s, 5)", (sandbox, key_id, made))
        other.execute("INSERT INTO rate_windows VALUES (%s, %s, %s, 1)", (sandbox, key_id, new))  # not committed
        result: list = []

        def revoke():
            with psycopg.connect(dsn, autocommit=True) as conn:
                result.append(conn.execute(_APPLY.sql, apply_params(writes)).fetchone()[0])

        spender = threading.Thread(target=revoke)
        spender.start()
        for _ in range(500):  # until the revoke waits for the other's row (its upsert of `new`)
            waiting = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ("%layers_apply%",),
            ).fetchone()[0]
            if waiting:
                break
            threading.Event().wait(0.01)
        assert waiting, "the revoke never waited for the concurrent window row"
        other.commit()
        spender.join()
        assert result == [True]
        assert (count(admin, made), count(admin, new)) == (6, 2)


def test_the_request_paths_generic_plans_find_rows_by_key_however_few_the_table_holds(pg_mock, keys):
    """Each pooled connection plans GATHER once (a generic plan) when it first runs it, often while
    a table such as rate_windows is nearly empty, and keeps that plan for its life: with sequential
    scans allowed, the plan made then scanned the whole table on every later request (rate_windows:
    65 heap blocks a partner-tier revoke instead of 7 once a few thousand windows existed,
    bench/pg_profile.py). The request path's connections plan by key instead."""
    params = Queries.gather_params(_ask(keys, CONTRACT.example_account_id))

    async def generic_plan(conn):
        await conn.execute(b"PREPARE layers_plan_check AS " + _GATHER.text)
        try:
            cur = psycopg.AsyncClientCursor(conn)  # EXPLAIN EXECUTE takes its parameters as literals
            await cur.execute(f"EXPLAIN EXECUTE layers_plan_check({', '.join(['%s'] * len(params))})", params)
            return "\n".join(row["QUERY PLAN"] for row in await cur.fetchall())
        finally:
            await conn.execute("DEALLOCATE layers_plan_check")

    plan = _on_a_connection(pg_mock, generic_plan)
    assert "Seq Scan" not in plan, plan
    assert "rate_windows" in plan and "Index" in plan

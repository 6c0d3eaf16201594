"""The rules without HTTP (moto-style: models apart from responses), on each backend (a real
SQLite file, a database on the session's PostgreSQL server), through the storage's blocking
transactions."""

from __future__ import annotations

import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD
from mock_server.core import invariants, world
from mock_server.core.domain import FAULT_STEPS, Domain
from mock_server.core.errors import ApiError
from mock_server.core.request_context import NoRequestContext, current
from mock_server.storage import open_storage
from mock_server.storage.queries import BULK_PARAMETERS, Queries
from mock_server.storage.schema import INDEX_NAMES

from .conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path):
    database = (
        str(tmp_path / "state.sqlite3")
        if request.param == "sqlite"
        else request.getfixturevalue("postgres").new_database("domain")
    )
    s = open_storage(database)
    s.prepare(lambda q: world.load(q, world.read_fixture(DEFAULT_WORLD), Domain().clock.now(q)))
    yield s
    s.close()


@pytest.fixture
def domain() -> Domain:
    return Domain(CONTRACT)


def caller(storage, domain, label):
    secret = next(k["secret"] for k in world.read_fixture(DEFAULT_WORLD)["keys"] if k["label"] == label)
    with storage.snapshot() as q:
        return domain.authenticate(q, f"Bearer {secret}")


def revoke(storage, domain, c, account, key=None, rid="req_TEST"):
    with storage.transaction() as q:
        return domain.revoke_writing(q, c, account, key, rid)


def test_kill_switch_precedence_is_broadest_first(storage, domain):
    c = caller(storage, domain, "write")
    with storage.transaction() as q:
        q.set_key_killed(c.key_id, True)
        q.set_org_killed(c.organization_id, True)
    with pytest.raises(ApiError) as exc, storage.snapshot() as q:
        domain.authenticate(q, "Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1")
    assert exc.value.details == {"scope": "organization"}
    with storage.transaction() as q:
        q.set_setting("global_kill", "1")
    with pytest.raises(ApiError) as exc, storage.snapshot() as q:
        domain.authenticate(q, "Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1")
    assert exc.value.status_code == CONTRACT.status_for_code("KILL_SWITCH") and exc.value.details == {"scope": "global"}


@pytest.mark.parametrize("header", ["", "Bearer ", "bearer  ", "Token abc", "Bearer a b"])
def test_malformed_authorization_is_unauthenticated(storage, domain, header):
    with pytest.raises(ApiError) as exc, storage.snapshot() as q:
        domain.authenticate(q, header)
    assert exc.value.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_fault_at_any_step_rolls_the_whole_revoke_back(storage, domain, step):
    c = caller(storage, domain, "write")
    account = CONTRACT.example_account_id

    def look():
        with storage.snapshot() as q:
            return dict(q.account(account)), q.post_counts(account), q.revocations()

    before = look()
    with storage.transaction() as q:
        q.arm_fault(step, 1, None)
    outcome = revoke(storage, domain, c, account)
    assert outcome.status == 500 and outcome.body["error"]["code"] == "INTERNAL"
    assert look() == before and before[2] == []
    retry = revoke(storage, domain, c, account, rid="req_TEST2")
    assert retry.status == 200 and retry.body["canceledScheduledPosts"] == 4
    with storage.snapshot() as q:
        assert invariants.violations(q, domain) == []


def test_revoke_counts_only_queued_posts_at_scale(storage, domain):
    c = caller(storage, domain, "write")
    with storage.transaction() as q:
        acc = world.add_account(
            q,
            {"organizationId": c.organization_id, "posts": {"queued": 5000, "published": 300, "draft": 7}},
            domain.clock.now(q),
        )
    outcome = revoke(storage, domain, c, acc["id"])
    assert outcome.body["canceledScheduledPosts"] == 5000
    with storage.snapshot() as q:
        assert q.post_counts(acc["id"]) == {"canceled": 5000, "published": 300, "draft": 7}


# Accounts per statement of a bulk insert (their columns and the sandbox); the loads below are
# one statement short of, exactly, and one past whole statements, and several statements long.
_PER_STATEMENT = BULK_PARAMETERS // (len(Queries.ACCOUNT_COLUMNS) + 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [_PER_STATEMENT - 1, _PER_STATEMENT, _PER_STATEMENT + 1, 3 * _PER_STATEMENT + 1])
def test_a_bulk_load_keeps_every_account_in_order_with_its_posts(request, tmp_path, backend, n):
    """A fixture's load (a fresh world: indexes built after the rows, posts named by seq): every
    account, in the file's order, with exactly its posts; counts that change from account to
    account make a staged row each, so the staged posts cross statement boundaries too."""
    database = (
        str(tmp_path / "bulk.sqlite3")
        if backend == "sqlite"
        else request.getfixturevalue("postgres").new_database("bulk")
    )
    org = "org_00000000-0000-4000-8000-00000000b01c"
    accounts = [
        {
            "id": f"sa_00000000-0000-4000-8000-{i:012d}",
            "organizationId": org,
            "posts": {"queued": i % 3, "canceled": int(i % 5 == 0), "published": 2 * int(i % 7 == 0)},
        }
        for i in range(n)
    ]
    s = open_storage(database)
    try:
        assert s.prepare(
            lambda q: world.load(q, {"organizations": [{"id": org, "name": "Bulk"}], "accounts": accounts}, 0.0)
        )
        with s.snapshot() as q:
            assert [r["id"] for r in q.list_accounts(limit=n + 1)] == [a["id"] for a in accounts]
            for a in accounts:
                expected = {status: count for status, count in a["posts"].items() if count}
                assert q.post_counts(a["id"]) == expected, a["id"]
                canceled = [p for p in q.posts_of(a["id"]) if p["status"] == "canceled"]
                assert all(p["canceled_at"] and p["cancel_reason"] for p in canceled), a["id"]
            posts = sum(sum(a["posts"].values()) for a in accounts)
            assert q.scalar("SELECT COUNT(DISTINCT id) AS n FROM posts WHERE sandbox=?", (q.sandbox,)) == posts
            # every index there after the load, whether it was kept while the rows went in or built after
            indexes = (
                "SELECT name FROM sqlite_master WHERE type='index'"
                if backend == "sqlite"
                else "SELECT indexname AS name FROM pg_indexes"
            )
            assert set(INDEX_NAMES) <= {r["name"] for r in q.rows(indexes)}
    finally:
        s.close()


def test_a_refused_request_spends_no_budget(storage, domain):
    """429 is decided after counting; the rollback takes the count back (one window, one rule)."""
    c = caller(storage, domain, "write")
    with storage.transaction() as q:
        domain.set_remaining_budget(q, c.key_id, 1)
    assert revoke(storage, domain, c, f"sa_{'0' * 8}-0000-4000-8000-{'0' * 12}").status == 404
    for _ in range(2):
        with pytest.raises(ApiError) as exc:
            revoke(storage, domain, c, CONTRACT.example_account_id)
        assert exc.value.code == "RATE_LIMITED"
    with storage.snapshot() as q:
        per_minute = CONTRACT.rate_limit_tiers[c.tier]["perMinute"]
        # The pattern as a parameter: psycopg reads a literal '%' in the SQL as a placeholder.
        assert (
            q.scalar("SELECT MAX(count) AS n FROM rate_windows WHERE key_id=? AND window_key LIKE ?", (c.key_id, "m:%"))
            == per_minute
        )


def test_the_request_context_refuses_to_exist_outside_a_request():
    with pytest.raises(NoRequestContext):
        current()


def test_a_blocking_transaction_is_refused_on_the_event_loop(storage):
    import asyncio

    async def on_the_loop():
        with storage.transaction():
            pass

    with pytest.raises(RuntimeError, match="blocks"):
        asyncio.run(on_the_loop())

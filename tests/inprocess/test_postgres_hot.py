"""On PostgreSQL a revoke's UPDATEs stay on their rows' pages (HOT updates: no index entry
written, the old version pruned in place), even in a freshly bulk-loaded world, whose pages a load
fills as far as the table allows (postgres.py: the fillfactor of the tables a revoke updates).
A row whose new version went to another page would have cost an entry in each of its indexes."""

from __future__ import annotations

import uuid

from contract import CONTRACT
from mock_server.core import world
from mock_server.core.clock import Clock
from mock_server.core.domain import CANCELABLE_STATUS
from mock_server.storage.queries import LOCAL_SANDBOX

ACCOUNTS = 400  # several full pages of accounts, and of their posts


def _pages(storage, account_id: str) -> tuple[int, list[int]]:
    """The heap pages of the account's row and of its posts' rows."""
    page = "(ctid::text::point)[0]"
    with storage.snapshot() as q:
        account = q.one(
            f"SELECT {page} AS page, seq FROM accounts WHERE sandbox=? AND id=?", (LOCAL_SANDBOX, account_id)
        )
        posts = q.rows(
            f"SELECT {page} AS page FROM posts WHERE sandbox=? AND account_seq=? ORDER BY seq",
            (LOCAL_SANDBOX, account["seq"]),
        )
    return int(account["page"]), [int(p["page"]) for p in posts]


def test_a_revoke_updates_its_rows_in_place(make_mock, keys):
    mock = make_mock("postgresql")
    storage = mock.app.storage
    key = keys["write"]
    ids = [f"sa_{uuid.uuid4()}" for _ in range(ACCOUNTS)]
    with storage.transaction() as q:
        world.add_accounts(
            q, [{"id": a, "organizationId": key["organizationId"], "posts": {"queued": 3}} for a in ids], Clock.now(q)
        )
    account = ids[ACCOUNTS // 2]  # on a page the load filled
    before = _pages(storage, account)
    assert len(before[1]) == 3
    with mock.client() as api:
        r = api.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {key['secret']}"})
    assert r.status_code == CONTRACT.success_status
    assert _pages(storage, account) == before
    with storage.snapshot() as q:  # and the revoke did change them: its posts are canceled
        assert CANCELABLE_STATUS not in q.post_counts(account)

"""The start-up banner shows the stored world as it is (issue 21): revoked accounts, accounts made
before a restart, kill switches that are on, and a revoke example that still revokes. Rendered
from a storage prepared here, as the CLI reads it (one snapshot after seeding)."""

from __future__ import annotations

import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD, default_world
from mock_server import banner
from mock_server.core import world
from mock_server.storage import open_storage

EXAMPLE = CONTRACT.example_account_id
ACME = default_world()["keys"][0]["organizationId"]
WRITE = default_world()["keys"][0]


@pytest.fixture
def storage(tmp_path):
    s = open_storage(str(tmp_path / "state.sqlite3"))
    s.prepare(lambda q: world.load(q, world.read_fixture(DEFAULT_WORLD), 1_800_000_000.0))
    yield s
    s.close()


def shown(storage) -> str:
    with storage.snapshot() as q:
        stored = banner.read_world(q, default_world())
    return banner.render(host="127.0.0.1", port=4010, world=stored, loaded=False, state="/tmp/world.sqlite3")


def line_of(text: str, account_id: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(account_id))


def test_a_fresh_world_shows_the_fixture_and_the_example_revoke(storage):
    text = shown(storage)
    assert "connected" in line_of(text, EXAMPLE) and "canceledScheduledPosts 4" in line_of(text, EXAMPLE)
    assert "kill switches" not in text
    assert "revoke the example account (run it twice: 200, then 404):" in text
    assert (
        f"DELETE http://127.0.0.1:4010{CONTRACT.path_for(EXAMPLE)} -H 'Authorization: Bearer {WRITE['secret']}'" in text
    )
    for key in default_world()["keys"]:
        assert key["id"] in text and key["secret"] in text


def test_revoked_example_created_account_and_kill_switches_are_shown(storage):
    with storage.transaction() as q:
        q.mark_disconnected(EXAMPLE, "revoked_by_partner", "2026-12-02T06:00:00Z")
        made = world.add_account(q, {"organizationId": ACME, "posts": {"queued": 3}}, 1_800_000_000.0)["id"]
        q.set_setting("global_kill", "1")
        q.set_key_killed(WRITE["id"], True)
        key = world.add_key(q, {"organizationId": ACME, "label": "made later"})
    text = shown(storage)

    example = line_of(text, EXAMPLE)
    assert "disconnected" in example and "revoked_by_partner at 2026-12-02T06:00:00Z" in example
    assert "canceledScheduledPosts" not in example  # the fixture's note described the connected account
    assert "connected" in line_of(text, made)
    assert "kill switches ON (revokes they cover answer 503): global, key write" in text
    # A key made through the control plane: its secret is not stored, only its first characters.
    assert key["secret"] not in text and f"{key['secret'][:12]}… (secret shown when it was made)" in text
    # The example now points at an account a revoke still disconnects: the first one of Acme's left.
    assert "revoke a connected account (run it twice: 200, then 404; 503 while a kill switch covers it):" in text
    assert CONTRACT.path_for(EXAMPLE) not in text
    assert CONTRACT.path_for("sa_06f478ce-d45f-482c-a684-f6d446cad5e2") in text


def test_no_account_left_to_revoke_says_so(storage):
    with storage.transaction() as q:
        for row in q.list_accounts(ACME):
            q.mark_disconnected(row["id"], "revoked_by_partner", "2026-12-02T06:00:00Z")
    text = shown(storage)
    assert "no account of Acme Social is left to revoke: create one (below), or start over" in text
    assert "/v1/social-accounts/" not in text


def test_a_large_world_lists_the_first_accounts_and_counts_the_rest(storage):
    with storage.transaction() as q:
        world.add_accounts(q, [{"organizationId": ACME}] * 20, 1_800_000_000.0)
    text = shown(storage)
    assert f"… and {6 + 20 - banner.MAX_ACCOUNTS} more (GET http://127.0.0.1:4010/_mock/state)" in text

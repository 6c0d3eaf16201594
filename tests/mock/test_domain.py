"""The rules without HTTP (moto-style: models apart from responses), on a real SQLite file."""
from __future__ import annotations

import pytest

from contract import CONTRACT
from mock_server import world
from mock_server.clock import Clock
from mock_server.domain import FAULT_STEPS, Domain
from mock_server.errors import ApiError
from mock_server.store import Store


@pytest.fixture
def domain(tmp_path):
    store = Store(str(tmp_path / "state.sqlite3"))
    store.create_schema()
    d = Domain(store, Clock(store))
    world.load(store, world.read_fixture(world.DEFAULT_WORLD), d.clock.now())
    yield d
    store.close()


def caller(domain, label):
    secret = next(k["secret"] for k in world.read_fixture(world.DEFAULT_WORLD)["keys"] if k["label"] == label)
    return domain.authenticate(f"Bearer {secret}")


def test_kill_switch_precedence_is_broadest_first(domain):
    c = caller(domain, "write")
    domain.store.set_key_killed(c.key_id, True)
    domain.store.set_org_killed(c.organization_id, True)
    with pytest.raises(ApiError) as exc:
        domain.authenticate("Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1")
    assert exc.value.details == {"scope": "organization"}
    domain.store.set_setting("global_kill", "1")
    with pytest.raises(ApiError) as exc:
        domain.authenticate("Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1")
    assert exc.value.status_code == CONTRACT.status_for_code("KILL_SWITCH") and exc.value.details == {"scope": "global"}


@pytest.mark.parametrize("header", ["", "Bearer ", "bearer  ", "Token abc", "Bearer a b"])
def test_malformed_authorization_is_unauthenticated(domain, header):
    with pytest.raises(ApiError) as exc:
        domain.authenticate(header)
    assert exc.value.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_fault_at_any_step_rolls_the_whole_revoke_back(domain, step):
    c = caller(domain, "write")
    account = CONTRACT.example_account_id
    before = (dict(domain.store.account(account)), domain.store.post_counts(account))
    domain.store.arm_fault(step, 1, None)
    outcome = domain.revoke(c, account, None, "req_TEST")
    assert outcome.status == 500 and outcome.body["error"]["code"] == "INTERNAL"
    assert (dict(domain.store.account(account)), domain.store.post_counts(account)) == before
    assert domain.store.revocations() == []
    retry = domain.revoke(c, account, None, "req_TEST2")
    assert retry.status == 200 and retry.body["canceledScheduledPosts"] == 4
    assert domain.store.integrity_violations() == []


def test_revoke_counts_only_queued_posts_at_scale(domain):
    c = caller(domain, "write")
    with domain.store.write():
        acc = world.add_account(domain.store, {"organizationId": c.organization_id,
                                               "posts": {"queued": 5000, "published": 300, "draft": 7}}, domain.clock.now())
    outcome = domain.revoke(c, acc["id"], None, "req_X")
    assert outcome.body["canceledScheduledPosts"] == 5000
    assert domain.store.post_counts(acc["id"]) == {"canceled": 5000, "published": 300, "draft": 7}

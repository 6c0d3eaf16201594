"""Many sandboxes at once: 20 sandboxes used by concurrent clients across two `layers-mock`
instances on one PostgreSQL database, each with exact counts; and one sandbox's global kill
switch, clock and reset leave the others untouched (both backends)."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
from reliability.support import NOT_FOUND, OK, LoadRun, make_tenant, shuffled_plans

from contract import CONTRACT

from .support import hosted_mock, new_sandbox, wait_for

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

SANDBOXES = 20
ACCOUNTS = 6  # per sandbox
CLIENTS_PER_SANDBOX = 4  # two on each instance


def test_20_sandboxes_used_at_once_across_two_instances_on_one_postgresql(postgres_url):
    with hosted_mock(postgres_url) as a, hosted_mock(postgres_url) as b:
        boxes, tenants = [], []
        for i in range(SANDBOXES):
            # Made alternately through either instance: they share one registry.
            box = new_sandbox((a if i % 2 else b).base_url, f"ci-job-{i}")
            with box.control() as control:
                tenants.append(
                    make_tenant(control, ACCOUNTS, queued_for=lambda j, i=i: (i + j) % 5, name=f"tenant {i}")
                )
            boxes.append(box)
        runs = [
            LoadRun([a.base_url, b.base_url], t.secret, shuffled_plans(t.accounts, CLIENTS_PER_SANDBOX, seed=i))
            for i, t in enumerate(tenants)
        ]
        for run in runs:  # 80 clients, all started before any is waited for
            run.start()
        for run in runs:
            run.join(180)

        lines = []
        for box, tenant, run in zip(boxes, tenants, runs, strict=True):
            assert not run.transport_errors, run.transport_errors
            statuses = Counter(r.status for r in run.results)
            # Every client revoked every account of its sandbox: exactly one 200 per account.
            assert statuses == {OK: ACCOUNTS, NOT_FOUND: ACCOUNTS * (CLIENTS_PER_SANDBOX - 1)}, (box.id, statuses)
            ok_accounts = sorted(r.account for r in run.results if r.status == OK)
            assert ok_accounts == sorted(tenant.accounts)
            canceled = sum(r.body["canceledScheduledPosts"] for r in run.results if r.status == OK)
            assert canceled == sum(tenant.queued.values())
            with box.control() as control:
                # Each instance writes its journal entries just after its responses: wait (bounded).
                assert wait_for(lambda run=run: len(control.journal(limit=10000)) >= len(run.results), timeout=30)
                state, integrity = control.state(), control.integrity()
                journal = control.journal(limit=10000)
            # Only this sandbox's requests, revocations and posts are in it.
            assert state["counts"]["revocations"] == ACCOUNTS == integrity["revocations"]
            assert integrity["ok"], integrity
            assert len(journal) == len(run.results)
            assert {e["keyId"] for e in journal} == {tenant.key_id}
            lines.append(
                f"{box.id}: {len(run.results)} revokes, {statuses[OK]} x 200, {statuses[NOT_FOUND]} x 404,"
                f" {canceled} posts canceled, journal {len(journal)}"
            )
        print("\n" + "\n".join(lines))
        # Each sandbox's default world is still whole: nobody's revokes reached another sandbox.
        for box in boxes:
            with box.control() as control:
                example = control.account(CONTRACT.example_account_id)
            assert example["status"] == "connected" and example["hasToken"], box.id


def revoke(http, secret, account):
    return http.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {secret}"})


def test_one_sandbox_global_kill_switch_clock_and_reset_leave_the_others_untouched(hosted):
    a, b = new_sandbox(hosted.base_url, "A"), new_sandbox(hosted.base_url, "B")
    sa, sb = a.key("write")["secret"], b.key("write")["secret"]
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http, a.control() as ca, b.control() as cb:
        # B does some work first, so that a reset of A has something of B's to (not) touch.
        assert revoke(http, sb, CONTRACT.example_account_id).status_code == OK
        b_clock = cb.clock()

        ca.kill_switch("global", True)
        killed = revoke(http, sa, f"sa_{uuid.uuid4()}")
        assert killed.status_code == CONTRACT.status_for_code("KILL_SWITCH")
        assert killed.json()["error"]["details"] == {"scope": "global"}
        # A known key's refusal is journaled in its own sandbox (and only there).
        assert wait_for(lambda: [e["code"] for e in ca.journal()] == ["KILL_SWITCH"], timeout=30), ca.journal()
        assert cb.state()["globalKillSwitch"] is False
        other = [acc["socialAccountId"] for acc in b.created["accounts"] if acc["status"] == "connected"][1]
        assert revoke(http, sb, other).status_code == OK  # B keeps working

        moved = ca.set_clock(advanceSeconds=30 * 86400)
        assert moved["offsetSeconds"] >= 30 * 86400 - 5
        assert cb.clock()["offsetSeconds"] == b_clock["offsetSeconds"]

        ca.reset()
        assert ca.state()["globalKillSwitch"] is False  # A's reset cleared A's switch
        assert ca.clock()["offsetSeconds"] == 0
        b_state = cb.state()
        assert b_state["counts"]["revocations"] == 2 and b_state["counts"]["journal"] >= 2
        assert cb.account(CONTRACT.example_account_id)["status"] == "disconnected"
        assert revoke(http, sa, CONTRACT.example_account_id).status_code == OK  # A is whole again
        assert revoke(http, sb, CONTRACT.example_account_id).status_code == NOT_FOUND  # B still revoked


@pytest.mark.parametrize("thing", ["fault", "budget", "idempotency"])
def test_faults_budgets_and_idempotency_entries_belong_to_one_sandbox(hosted, thing):
    """Same key ids and account ids in both (both hold the default world): still separate."""
    a, b = new_sandbox(hosted.base_url, "A"), new_sandbox(hosted.base_url, "B")
    acc = CONTRACT.example_account_id
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http, a.control() as ca:
        headers_a = {"Authorization": f"Bearer {a.key('write')['secret']}"}
        headers_b = {"Authorization": f"Bearer {b.key('write')['secret']}"}
        if thing == "fault":
            ca.arm_fault("cancel_posts", 5, acc)
            assert http.delete(CONTRACT.path_for(acc), headers=headers_a).status_code == CONTRACT.status_for_code(
                "INTERNAL"
            )
        elif thing == "budget":
            ca.set_budget(a.key("write")["id"], 0)
            assert http.delete(CONTRACT.path_for(acc), headers=headers_a).status_code == CONTRACT.status_for_code(
                "RATE_LIMITED"
            )
        else:
            idem = {CONTRACT.idempotency_header: "same-key-in-both"}
            assert http.delete(CONTRACT.path_for(acc), headers={**headers_a, **idem}).status_code == OK
            other = b.created["accounts"][1]["socialAccountId"]
            # A's entry for this Idempotency-Key names another account: a 409 in A, nothing in B.
            assert http.delete(
                CONTRACT.path_for(other), headers={**headers_a, **idem}
            ).status_code == CONTRACT.status_for_code("IDEMPOTENCY_CONFLICT")
            assert http.delete(CONTRACT.path_for(other), headers={**headers_b, **idem}).status_code == OK
        assert http.delete(CONTRACT.path_for(acc), headers=headers_b).status_code == OK

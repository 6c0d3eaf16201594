"""The client report (issue 24) in-process, on both backends and both edges: each misbehaviour is
flagged by exactly the rule it breaks and by no other; behaving clients are flagged by nothing;
the journal's bound, the scripted answers, the text form, afresh, hosted sandboxes, the migration."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from contract import CONTRACT
from mock_server.core.client_rules import RULES, VIOLATION
from mock_server.storage.queries import JOURNAL_COLUMNS, JOURNAL_ROWS_PER_INSERT, LOCAL_SANDBOX

OK = CONTRACT.success_status
NOT_FOUND = CONTRACT.status_for_code("NOT_FOUND")
RATE_LIMITED = CONTRACT.status_for_code("RATE_LIMITED")
INTERNAL = CONTRACT.status_for_code("INTERNAL")
KILL_SWITCH = CONTRACT.status_for_code("KILL_SWITCH")
PAGES = [
    Path(__file__).resolve().parents[1] / "fixtures" / "revoke-social-account.txt",
    Path("/work/shared/seed/revoke-social-account.txt"),
]


def flags(report: dict) -> dict[str, int]:
    """Only the rules that flagged something, with how many flags."""
    return {r["id"]: r["flags"] for r in report["rules"] if r["flags"]}


@pytest.fixture
def key(default_world) -> dict:
    return next(k for k in default_world["keys"] if CONTRACT.required_scope in k["scopes"])


@pytest.fixture
def revoke(api, key):
    def send(account_id: str, idempotency_key: str | None = None, *, secret: str | None = None, headers=None, **kw):
        sent = {"Authorization": f"Bearer {secret or key['secret']}", **(headers or {})}
        if idempotency_key:
            sent[CONTRACT.idempotency_header] = idempotency_key
        return api.request(CONTRACT.method.upper(), CONTRACT.path_for(account_id), headers=sent, **kw)

    return send


def new_account(control, key) -> str:
    return control.create_account(key["organizationId"], queued=2)["socialAccountId"]


# -- the rules and their sources -----------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES, ids=["fixture", "shared-seed"])
def test_every_violation_quotes_the_published_page_verbatim(page):
    if not page.exists():
        pytest.skip(f"{page} is not on this machine")
    text = page.read_text(encoding="utf-8")
    violations = [r for r in RULES if r.severity == VIOLATION]
    assert len(violations) == 2
    for rule in RULES:
        if rule.severity == VIOLATION:
            assert rule.quote and rule.quote in text, rule.id
        else:
            assert rule.quote is None and rule.where, rule.id  # advice is marked inferred


def test_a_client_that_behaves_is_flagged_by_nothing(control, revoke, key):
    account = new_account(control, key)
    control.arm_scenario([{"status": 500}, {"status": 429, "retryAfter": 2}, {"status": 200}], account_id=account)
    idem = str(uuid.uuid4())
    assert revoke(account, idem).status_code == INTERNAL
    control.set_clock(advanceSeconds=1)
    assert revoke(account, idem).status_code == RATE_LIMITED
    control.set_clock(advanceSeconds=2)  # waited Retry-After on the mock's clock
    assert revoke(account, idem).status_code == OK
    # `bearer` in lower case is accepted (contract decision 14): no rule may judge it.
    other = new_account(control, key)
    assert revoke(other, headers={"Authorization": f"bearer {key['secret']}"}).status_code == OK
    report = control.client_report()
    assert report["ok"] and flags(report) == {}, report
    passed = {r["id"]: r["passes"] for r in report["rules"]}
    assert passed["honor-retry-after"] == 1 and passed["retry-500-same-idempotency-key"] == 1


def test_ignoring_retry_after_is_flagged_by_that_rule_alone(control, revoke, key):
    account = new_account(control, key)
    control.arm_scenario([{"status": 429, "retryAfter": 2}, {"status": 200}], account_id=account)
    first = revoke(account)
    assert first.status_code == RATE_LIMITED and first.headers[CONTRACT.retry_after_header] == "2"
    again = revoke(account)  # at once
    assert again.status_code == OK
    report = control.client_report()
    assert flags(report) == {"honor-retry-after": 1}, report
    (flag,) = next(r for r in report["rules"] if r["id"] == "honor-retry-after")["flagged"]
    assert flag["requestId"] == again.headers[CONTRACT.request_id_header]
    assert "Retry-After: 2" in flag["why"] and flag["socialAccountId"] == account
    assert key["secret"] not in str(report) and "$LAYERS_API_KEY" in flag["curl"]


def test_an_idempotency_key_on_two_accounts_is_flagged_by_that_rule_alone(control, revoke, key):
    a, b = new_account(control, key), new_account(control, key)
    idem = str(uuid.uuid4())
    assert revoke(a, idem).status_code == OK
    assert revoke(b, idem).status_code == CONTRACT.status_for_code("IDEMPOTENCY_CONFLICT")
    assert flags(control.client_report()) == {"idempotency-key-one-account": 1}


def test_a_new_idempotency_key_on_a_retried_500_is_flagged_by_that_rule_alone(control, revoke, key):
    account = new_account(control, key)
    control.arm_scenario([{"status": 500}], account_id=account)
    assert revoke(account, str(uuid.uuid4())).status_code == INTERNAL
    control.set_clock(advanceSeconds=1)
    assert revoke(account, str(uuid.uuid4())).status_code == OK
    assert flags(control.client_report()) == {"retry-500-same-idempotency-key": 1}


def test_a_tight_retry_loop_is_flagged_by_that_rule_alone(control, revoke, key):
    account = new_account(control, key)
    control.arm_fault(count=11, account_id=account)
    idem = str(uuid.uuid4())
    statuses = [revoke(account, idem).status_code for _ in range(12)]
    assert statuses == [INTERNAL] * 11 + [OK]
    # How many windows of 5 fit in a second depends on this machine's speed (exact counts: below).
    assert set(flags(control.client_report())) == {"no-tight-retry-loop"}


def _row(n: int, at: float, **kw) -> dict:
    """A journal row as storage returns it (the grader's input)."""
    return {
        "id": n,
        "at": "2026-01-01T00:00:00Z",
        "request_id": f"req_{n:026d}",
        "method": "DELETE",
        "path": CONTRACT.path_for(kw.pop("account", "sa_00000000-0000-4000-8000-00000000aaaa")),
        "status": 500,
        "key_id": "key_a",
        "key_hint": "lp_test_…",
        "idempotency_key": "k1",
        "code": "INTERNAL",
        "mock_seconds": at,
        "wall_seconds": at,
        "retry_after": None,
        "kill_scope": None,
        "has_body": 0,
        **kw,
    }


def _grade(rows: list[dict]) -> dict[str, int]:
    from mock_server.core.grading import Grader

    return flags(Grader(CONTRACT).report(rows, {"key_a": "org_a"}, dropped=0, limit=100, since=None))


def test_the_tight_loop_bound_exactly():
    assert _grade([_row(i, 1000 + i * 0.2499) for i in range(5)]) == {"no-tight-retry-loop": 1}  # 999.6 ms
    assert _grade([_row(i, 1000 + i * 0.25) for i in range(5)]) == {}  # 1,000 ms: not tight
    assert _grade([_row(i, 1000 + i * 0.1) for i in range(4)]) == {}  # four are not a loop


def test_retry_after_on_either_clock_and_the_grading_is_deterministic():
    limited = _row(1, 1000.0, status=429, code="RATE_LIMITED", retry_after=2)
    early = _row(2, 1001.9, status=200, code=None)
    assert _grade([limited, early]) == {"honor-retry-after": 1}
    moved = {**early, "mock_seconds": 1002.0}  # the mock's clock moved 2 s; the real one 1.9
    assert _grade([limited, moved]) == {}
    slept = {**early, "mock_seconds": 1000.0, "wall_seconds": 1002.0}  # frozen clock, a real sleep
    assert _grade([limited, slept]) == {}
    rows = [
        limited,
        early,
        _row(3, 1003.0, status=404, code="NOT_FOUND"),
        _row(4, 1009.0, status=404, code="NOT_FOUND"),
    ]
    from mock_server.core.grading import Grader

    reports = [Grader(CONTRACT).report(list(order), {}, dropped=0, limit=9, since=None) for order in (rows, rows[::-1])]
    assert reports[0] == reports[1]  # the order storage returns rows in does not matter


def test_repeating_a_404_unchanged_is_flagged_by_that_rule_alone(control, revoke):
    missing = f"sa_{uuid.uuid4()}"
    assert revoke(missing).status_code == NOT_FOUND
    control.set_clock(advanceSeconds=5)
    assert revoke(missing).status_code == NOT_FOUND
    assert flags(control.client_report()) == {"no-unchanged-repeat-after-4xx": 1}


def test_calling_on_after_an_organization_kill_switch_is_flagged_by_that_rule_alone(control, revoke, key):
    a, b = new_account(control, key), new_account(control, key)
    control.kill_switch("organization", True, key["organizationId"])
    assert revoke(a).status_code == KILL_SWITCH
    assert revoke(b).status_code == KILL_SWITCH
    report = control.client_report()
    assert flags(report) == {"stop-on-kill-switch": 1}, report
    control.kill_switch("organization", False, key["organizationId"])
    assert revoke(b).status_code == OK  # lifted: calling again is fine
    assert flags(control.client_report()) == {"stop-on-kill-switch": 1}


def test_a_request_body_is_flagged_by_that_rule_alone(control, revoke, key):
    account = new_account(control, key)
    revoke(account, content=b'{"reason": "bye"}', headers={"Content-Type": "application/json"})
    assert flags(control.client_report()) == {"no-request-body": 1}


def test_requests_without_a_valid_key_are_graded_apart(control, revoke):
    for _ in range(2):
        assert revoke(CONTRACT.example_account_id, secret="lp_test_not_a_key").status_code == 401
    report = control.client_report()
    assert flags(report) == {} and report["graded"] == 0
    apart = report["withoutValidKey"]
    assert apart["requests"] == 2 and apart["statuses"] == {"401": 2} and len(apart["unchangedRepeats"]) == 1


# -- scripted answers ---------------------------------------------------------------------------
def test_a_scripted_404_means_another_process_revoked_first(control, revoke, key):
    account = new_account(control, key)
    control.arm_scenario([{"status": 404}], key_id=key["id"])
    answer = revoke(account)
    assert answer.status_code == NOT_FOUND
    assert control.account(account)["status"] == "disconnected"  # really revoked, by "another process"
    assert control.integrity()["ok"]
    assert control.scenarios() == []


def test_a_scripted_503_names_its_scope_and_the_sequence_runs_in_order(control, revoke, key):
    account = new_account(control, key)
    armed = control.arm_scenario([{"status": 503, "scope": "organization"}, {"status": 200}], account_id=account)
    assert [s["status"] for s in armed["steps"]] == [503, 200]
    first = revoke(account)
    assert first.status_code == KILL_SWITCH and first.json()["error"]["details"] == {"scope": "organization"}
    assert revoke(account).status_code == OK
    assert revoke(account).status_code == NOT_FOUND  # the sequence is over: the world answers


def test_scenario_bounds_are_the_control_specs(control):
    from mock_control import ControlPlaneError

    with pytest.raises(ControlPlaneError, match="400"):
        control.arm_scenario([{"status": 418}])
    with pytest.raises(ControlPlaneError, match="400"):
        control.arm_scenario([{"status": 429, "retryAfter": 3601}])
    control.arm_scenario([{"status": 429, "retryAfter": 3600}] * 100)
    with pytest.raises(ControlPlaneError, match="400"):
        control.arm_scenario([{"status": 500}] * 101)
    assert len(control.scenarios()) == 100
    control.clear_scenarios()
    assert control.scenarios() == []


# -- the report's forms and lifetime ------------------------------------------------------------
def test_text_form_and_starting_afresh(control, revoke, mock):
    missing = f"sa_{uuid.uuid4()}"
    revoke(missing)
    revoke(missing)
    text = control.client_report_text()
    assert "[advice] no-unchanged-repeat-after-4xx: 1 flagged" in text
    assert "fix: Treat 400/401/403/404 as final" in text
    with mock.client() as http:
        by_accept = http.get("/_mock/client-report", headers={"Accept": "text/plain"})
    assert by_accept.headers["content-type"].startswith("text/plain") and by_accept.text == text
    fresh = control.clear_client_report()
    assert fresh["ok"] and fresh["graded"] == 0 and fresh["since"]
    assert len(control.journal()) == 2  # the journal keeps them; grading starts afresh


def test_the_journal_keeps_its_bound_and_the_report_counts_the_dropped(make_mock, default_world):
    mock = make_mock("sqlite", journal_limit=3)
    key = next(k for k in default_world["keys"] if CONTRACT.required_scope in k["scopes"])
    with mock.client() as api, mock.control() as control:
        control.reset()
        for _ in range(5):
            api.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers={"Authorization": f"Bearer {key['secret']}"})
        report = control.client_report()
        assert report["journal"] == {"limit": 3, "dropped": 2, "ungradable": 0}
        assert report["graded"] == 3 and len(control.journal()) == 3


def test_sqlite_trims_the_journal_off_the_request_path_to_its_bound(make_mock, default_world):
    """Serving, SQLite trims on its checkpoint thread, in short transactions (a trim on the event
    loop held every request for tens of milliseconds): the bound holds without the control
    plane's exact trim, and every dropped entry is counted."""
    mock = make_mock("sqlite", journal_limit=4)
    key = next(k for k in default_world["keys"] if CONTRACT.required_scope in k["scopes"])
    storage = mock.app.storage

    def journal() -> tuple[int, int]:
        with storage.snapshot() as q:
            return len(q.journal(1000)), int(q.get_setting("journal_dropped") or 0)

    with mock.client() as api, mock.control() as control:
        control.reset()
        for _ in range(9):
            api.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers={"Authorization": f"Bearer {key['secret']}"})
        storage.flush_journal()  # what the loop had not written yet
        with storage.transaction() as q:  # more entries, not trimmed: the thread is asked to below
            copies = [(r["sandbox"], *[r[c] for c in JOURNAL_COLUMNS]) for r in q.journal(1000)] * 5
            q.insert_journal_rows(copies)
        held, dropped = journal()
        storage._trim_later(LOCAL_SANDBOX)
        deadline = time.monotonic() + 10
        while held > 4 and time.monotonic() < deadline:
            time.sleep(0.02)
            now_held, now_dropped = journal()
            assert now_held + now_dropped == held + dropped  # each entry kept or counted as dropped
            held_before, held = held, now_held
            assert held <= held_before
        assert held == 4


def test_a_sandbox_reads_its_own_report_with_its_own_token(hosted_mock):
    with hosted_mock.control(admin_token=hosted_mock.operator_token) as operator:
        mine, theirs = operator.create_sandbox(label="mine"), operator.create_sandbox(label="theirs")
    secret = next(k for k in mine["keys"] if CONTRACT.required_scope in k["scopes"])["secret"]
    with (
        hosted_mock.client() as api,
        hosted_mock.control(admin_token=mine["adminToken"]) as my_control,
        hosted_mock.control(admin_token=theirs["adminToken"]) as their_control,
    ):
        missing = f"sa_{uuid.uuid4()}"
        for _ in range(2):
            api.delete(CONTRACT.path_for(missing), headers={"Authorization": f"Bearer {secret}"})
        assert flags(my_control.client_report()) == {"no-unchanged-repeat-after-4xx": 1}
        assert their_control.client_report()["requests"] == 0


_GRADING_COLUMNS = [
    ("journal", "mock_seconds"),
    ("journal", "wall_seconds"),
    ("journal", "retry_after"),
    ("journal", "kill_scope"),
    ("journal", "has_body"),
    ("faults", "key_id"),
    ("faults", "answer"),
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_schema_4_world_is_migrated_in_place(backend, request, tmp_path, default_world):
    from mock_server.cli import seed_state
    from mock_server.storage import SCHEMA_VERSION, open_storage

    database = str(tmp_path / "old.sqlite3") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    seed_state(database, default_world, False)
    storage = open_storage(database)
    try:
        with storage.transaction() as q:  # what schema 4 had: no grading columns, no scripted answers
            for table, column in _GRADING_COLUMNS:
                q.conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
            q.conn.execute("UPDATE meta SET value='4' WHERE name='schema_version'")
        seed_state(database, default_world, False)  # starts: migrated, not refused
        with storage.snapshot() as q:
            assert q.scalar("SELECT value FROM meta WHERE name='schema_version'") == str(SCHEMA_VERSION)
            q.scalar("SELECT COUNT(*) AS n FROM journal WHERE mock_seconds IS NULL AND has_body = 0")
            q.scalar("SELECT COUNT(*) AS n FROM faults WHERE key_id IS NULL AND answer IS NULL")
    finally:
        storage.close()


def test_a_client_that_really_sleeps_under_a_frozen_clock_has_waited(control, revoke, key):
    import time

    account = new_account(control, key)
    control.set_clock(frozen=True)
    control.arm_scenario([{"status": 429, "retryAfter": 1}, {"status": 200}], account_id=account)
    assert revoke(account).status_code == RATE_LIMITED
    time.sleep(1.05)  # the real clock moved; the mock's did not
    assert revoke(account).status_code == OK
    report = control.client_report()
    assert flags(report) == {} and report == control.client_report()  # and the same report twice


def test_instances_on_one_postgresql_database_are_graded_together(make_mock, default_world):
    from mock_server.app import create_app

    first = make_mock("postgresql")
    second = type(first)(create_app(first.app.storage.url), first.transport.portal, "postgresql")
    key = next(k for k in default_world["keys"] if CONTRACT.required_scope in k["scopes"])
    auth = {"Authorization": f"Bearer {key['secret']}"}
    try:
        with first.client() as a, second.client() as b, first.control() as control:
            control.reset()
            account = new_account(control, key)
            control.arm_scenario([{"status": 429, "retryAfter": 2}, {"status": 200}], account_id=account)
            assert a.delete(CONTRACT.path_for(account), headers=auth).status_code == RATE_LIMITED
            assert b.delete(CONTRACT.path_for(account), headers=auth).status_code == OK  # the other instance, at once
            second.app.storage.flush_journal()  # its entries are written within milliseconds; here at once
            assert flags(control.client_report()) == {"honor-retry-after": 1}
    finally:
        second.app.storage.close()


def test_journal_limit_zero_records_nothing_and_the_bound_is_checked(make_mock, default_world):
    from mock_server.settings import MockSettings, SettingsError

    with pytest.raises(SettingsError, match="--journal-limit"):
        MockSettings(journal_limit=-1)
    with pytest.raises(SettingsError, match="--journal-limit"):
        MockSettings(journal_limit=100_000_001)
    assert MockSettings(journal_limit=100_000_000).journal_limit == 100_000_000
    mock = make_mock("sqlite", journal_limit=0)
    key = next(k for k in default_world["keys"] if CONTRACT.required_scope in k["scopes"])
    with mock.client() as api, mock.control() as control:
        api.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers={"Authorization": f"Bearer {key['secret']}"})
        assert control.journal() == [] and control.client_report()["requests"] == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_entry_is_stamped_with_the_clock_its_request_read_even_when_written_after_a_move(
    backend, make_mock, monkeypatch
):
    """Entries are written later than their responses leave (a batch; SQLite's housekeeping
    thread): a clock moved meanwhile must not date them (CI once saw a request after a 429's
    Retry-After graded as too early: the 429's entry was stamped with the moved clock)."""
    storage = make_mock(backend).app.storage
    monkeypatch.setattr(storage, "_journal_added", lambda: None)  # written below, after the move
    storage._saw_clock({"sandbox": "local", "clock_frozen": None, "clock_offset": "0"})
    wall = time.time()
    storage.journal((wall, "req_answered_before_the_move", "DELETE", "/v1/x", 429, None, None, None, "RATE_LIMITED"))
    storage._saw_clock({"sandbox": "local", "clock_frozen": None, "clock_offset": "3600"})  # the clock moved
    monkeypatch.undo()
    storage.flush_journal()
    with storage.snapshot() as q:
        stamped = q.scalar("SELECT mock_seconds FROM journal WHERE request_id = 'req_answered_before_the_move'")
    assert abs(stamped - wall) < 1.0, stamped - wall  # before: an hour late


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_batch_of_entries_is_written_whole_and_in_order(backend, make_mock, monkeypatch):
    """A batch (the blocking flush, both backends) goes in as statements of
    JOURNAL_ROWS_PER_INSERT rows and the rest one by one: two whole statements and a few rows
    more, each in its place with its own fields."""
    storage = make_mock(backend).app.storage
    monkeypatch.setattr(storage, "_journal_added", lambda: None)  # one batch, written below
    n = 2 * JOURNAL_ROWS_PER_INSERT + 3
    wall = time.time()
    for i in range(n):
        status, code = (429, "RATE_LIMITED") if i % 2 else (401, "UNAUTHENTICATED")
        storage.journal((wall + i, f"req_batch_{i:04d}", "DELETE", f"/v1/x{i}", status, None, None, None, code))
    monkeypatch.undo()
    storage.flush_journal()
    with storage.snapshot() as q:
        rows = q.rows(
            "SELECT request_id, path, status, code, wall_seconds FROM journal WHERE request_id LIKE ? ORDER BY id",
            ("req_batch_%",),
        )
    assert [(r["request_id"], r["path"], r["status"], r["code"]) for r in rows] == [
        (f"req_batch_{i:04d}", f"/v1/x{i}", 429 if i % 2 else 401, "RATE_LIMITED" if i % 2 else "UNAUTHENTICATED")
        for i in range(n)
    ]
    assert [round(r["wall_seconds"] - wall) for r in rows] == list(range(n))

"""The mock as partners start it: the CLI, its banner, state files, several workers, schemathesis."""

from __future__ import annotations

import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess, free_port

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

ROOT = Path(__file__).resolve().parents[2]


def test_banner_curl_line_reproduces_the_page_example(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("curl "):
                break
        curl = shlex.split(lines[-1].strip())
        url, auth = curl[curl.index("DELETE") + 1], curl[curl.index("-H") + 1]
        assert url == f"http://127.0.0.1:{port}" + CONTRACT.path_for(CONTRACT.example_account_id)
        mock = MockProcess(port=port)
        mock.proc = proc
        mock.wait_ready(30)
        first = httpx.delete(url, headers=dict([auth.split(": ", 1)]))
        assert first.status_code == 200
        assert set(first.json()) == set(CONTRACT.success_fields)
        assert first.json()["canceledScheduledPosts"] == 4
        again = httpx.delete(url, headers=dict([auth.split(": ", 1)]))
        assert again.status_code == 404 and again.json()["error"]["code"] == "NOT_FOUND"
    finally:
        proc.terminate()
        proc.wait(10)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a granian server's workers)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_an_instance_given_one_core_serves_with_one_worker():
    """Started as `taskset -c N layers-mock` (or in a container with one core in its cpuset), with
    no --workers: one worker, on that core, and it serves (settings.py `usable_cores`)."""
    core = min(os.sched_getaffinity(0))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    try:
        mock = MockProcess(port=port)
        mock.proc = proc
        mock.wait_ready(30)
        workers = _children(proc.pid)
        assert len(workers) == 1, workers
        assert os.sched_getaffinity(workers[0]) == {core}
        assert httpx.get(mock.base_url + "/_mock/health").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "world.sqlite3")
    with MockProcess(state=state) as mock, ControlClient(mock.base_url) as control:
        key = control.state()["keys"][0]
        org = control.create_organization("Kept")
        account = control.create_account(org["id"], queued=2)["socialAccountId"]
        writer = control.create_key(org["id"], [CONTRACT.required_scope])
        resp = httpx.delete(
            mock.base_url + CONTRACT.path_for(account), headers={"Authorization": f"Bearer {writer['secret']}"}
        )
        assert resp.status_code == 200
    with MockProcess(state=state) as mock, ControlClient(mock.base_url) as control:
        assert control.state()["keys"][0] == key
        assert control.account(account)["status"] == "disconnected"
        resp = httpx.delete(
            mock.base_url + CONTRACT.path_for(account), headers={"Authorization": f"Bearer {writer['secret']}"}
        )
        assert resp.status_code == 404


def test_two_workers_share_one_state_file_without_losing_or_doubling(tmp_path):
    with (
        MockProcess(workers=2, state=str(tmp_path / "shared.sqlite3")) as mock,
        ControlClient(mock.base_url) as control,
    ):
        org = control.create_organization("Workers")
        key = control.create_key(org["id"], [CONTRACT.required_scope], tier="internal")["secret"]
        accounts = [control.create_account(org["id"], queued=3)["socialAccountId"] for _ in range(20)]
        attempts = accounts * 4  # every account revoked four times, concurrently

        def hit(account_id):
            with httpx.Client(base_url=mock.base_url) as client:  # new connections spread over workers
                r = client.delete(CONTRACT.path_for(account_id), headers={"Authorization": f"Bearer {key}"})
                return account_id, r.status_code, r.json()

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(hit, attempts))
        wins = [r for r in results if r[1] == 200]
        assert sorted(a for a, _, _ in wins) == sorted(accounts)
        assert all(s == 404 for _, s, _ in results if s != 200)
        assert sum(body["canceledScheduledPosts"] for _, _, body in wins) == 3 * len(accounts)
        integrity = control.integrity()
        assert integrity["ok"] and integrity["revocations"] == len(accounts), integrity


def test_bad_fixture_file_names_the_problem(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"organizations": [\n  {"name": "x",}\n]}')
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--fixtures", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "line 2" in result.stderr and "Traceback" not in result.stderr

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"accounts": [{"organizationId": "org_x", "platform": "myspace"}]}))
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--fixtures", str(wrong)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "accounts[0].platform" in result.stderr and "Traceback" not in result.stderr


def test_fixture_with_a_duplicate_account_id_is_refused_and_nothing_is_kept(tmp_path):
    """A bulk load builds the accounts' id index after their rows (storage/schema.py): a repeated
    id must still fail the whole load, with SQLite's words, and leave no half world behind."""
    org, acc = "org_11111111-1111-4111-8111-111111111111", "sa_11111111-1111-4111-8111-111111111111"
    dup = tmp_path / "dup.json"
    dup.write_text(
        json.dumps(
            {
                "organizations": [{"id": org, "name": "x"}],
                "accounts": [
                    {"id": acc, "organizationId": org, "posts": {"queued": 2}},
                    {"id": acc, "organizationId": org},
                ],
            }
        )
    )
    state = tmp_path / "state.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--port", "0", "--state", str(state), "--fixtures", str(dup)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "UNIQUE constraint failed: accounts.sandbox, accounts.id" in result.stderr
    assert "Traceback" not in result.stderr
    db = sqlite3.connect(state)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table in {"organizations", "accounts", "posts"} & tables:  # the schema may be rolled back too
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    finally:
        db.close()


def test_schemathesis_all_checks_pass_against_the_running_mock(mock_server, control, keys, tmp_path):
    """The issue's acceptance command, run as a user would (the CLI, all checks)."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "schemathesis"),
        "run",
        str(ROOT / "openapi.yaml"),
        "--url",
        mock_server.base_url,
        "--checks",
        "all",
        "--max-examples",
        "60",
        "--seed",
        "1",
        "-H",
        f"Authorization: Bearer {keys['write']['secret']}",
        "--report",
        "junit",
        "--report-junit-path",
        str(tmp_path / "junit.xml"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    summary = result.stdout[-1500:]
    assert result.returncode == 0, summary
    generated = re.search(r"(\d+) generated", summary)
    assert generated and int(generated.group(1)) >= 50, summary
    assert "No issues found" in summary, summary


def test_conformance_kit_passes_against_the_running_mock(mock_server, control, keys, tmp_path):
    """The kit, with everything it can provision (all nine statuses), against both edges."""
    report = tmp_path / "report.json"
    cmd = [
        str(ROOT / ".venv" / "bin" / "layers-conformance"),
        "--base-url",
        mock_server.base_url,
        "--api-key",
        keys["write"]["secret"],
        "--mock-control",
        "--strict",
        "--report-json",
        str(report),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    statuses = {s["status"]: s["seen"] for s in json.loads(report.read_text())["statuses"]}
    assert statuses == dict.fromkeys(CONTRACT.documented_statuses, True), statuses
    control.reset()  # the kit moved the clock and flipped kill switches on this shared mock

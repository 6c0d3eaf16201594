"""Fixtures of the conformance kit's tests: a private mock, and the broken implementations.

The kit moves the mock's clock and flips kill switches (the global one too), so its runs get a
mock process of their own instead of the session-wide one other tests share.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers import serve_broken_impls

from conformance import cli
from mock_control import ControlClient
from mock_control.launcher import MockProcess

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def kit_mock():
    with MockProcess() as proc:
        yield proc


@pytest.fixture
def kit_control(kit_mock):
    with ControlClient(kit_mock.base_url) as client:
        client.reset()
        yield client


@pytest.fixture(scope="session")
def broken_base(kit_mock):
    """One proxy process serving every broken implementation under /bug/<name>."""
    proc, base = serve_broken_impls(kit_mock.base_url)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def run_kit(args: list[str], tmp_path: Path) -> tuple[int, dict]:
    """Run the kit in-process (its real main) and return the exit code and the JSON report."""
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    code = cli.main([*args, "--report-json", str(report)])
    return code, json.loads(report.read_text())


@pytest.fixture
def kit(tmp_path):
    return lambda *args: run_kit(list(args), tmp_path)


QUEUED = [4, 3, 0, 5, 2, 6, 1]
"""Queued posts of the accounts handed to a staging-style run: one with none (the read-only and
409 scenarios aim there), the others different, so a count taken from the wrong account shows."""


def make_staging_world(control, tmp_path: Path, queued: list[int] = QUEUED) -> list[str]:
    """What an operator prepares for a run against staging, made through the mock's control plane
    (by the test, not the kit): keys, accounts with queued posts, another organization's account.
    Returns the kit's arguments: `--api-key --read-only-key --foreign-account-id --accounts`."""
    from contract import CONTRACT

    org = control.create_organization("staging-like")
    write = control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    read_only = control.create_key(org["id"], ["social:read"], tier="partner")
    accounts = [
        control.create_account(org["id"], posts={"queued": n, "published": 2, "draft": 1, "failed": 1}) for n in queued
    ]
    foreign = control.create_account(control.create_organization("other")["id"], posts={"queued": 3, "published": 1})
    path = tmp_path / f"accounts-{org['id']}.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {"socialAccountId": a["socialAccountId"], "queuedPosts": n}
                    for a, n in zip(accounts, queued, strict=True)
                ]
            }
        )
    )
    return [
        "--api-key",
        write["secret"],
        "--read-only-key",
        read_only["secret"],
        "--foreign-account-id",
        foreign["socialAccountId"],
        "--accounts",
        str(path),
    ]


@pytest.fixture
def staging_args(kit_control, tmp_path):
    return lambda queued=QUEUED: make_staging_world(kit_control, tmp_path, queued)

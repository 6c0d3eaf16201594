"""Shared pieces of the hosted-sandbox tests: a hosted `layers-mock`, and sandboxes made through
its HTTP control plane, as a partner's CI would."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mock_control import ControlClient
from mock_control.launcher import MockProcess

BACKENDS = ["sqlite", "postgresql"]
OPERATOR = "operator-secret-for-tests-0123456789"


def database_for(backend: str, request, tmp_path, name: str) -> str:
    if backend == "sqlite":
        return str(tmp_path / f"{name}.sqlite3")
    return request.getfixturevalue("postgres").new_database(name)


def hosted_mock(database: str, *extra: str, workers: int = 1) -> MockProcess:
    return MockProcess(database=database, workers=workers, extra_args=["--operator-token", OPERATOR, *extra])


@dataclass
class Sandbox:
    """What POST /_mock/sandboxes answered, with clients that use its own token."""

    id: str
    token: str
    created: dict
    base_url: str

    def key(self, label: str) -> dict:
        return next(k for k in self.created["keys"] if k["label"] == label)

    def control(self) -> ControlClient:
        return ControlClient(self.base_url, admin_token=self.token)

    def headers(self) -> dict:
        return {"X-Mock-Admin-Token": self.token}


def new_sandbox(base_url: str, label: str = "test", fixtures: dict | None = None) -> Sandbox:
    with ControlClient(base_url, admin_token=OPERATOR) as operator:
        made = operator.create_sandbox(label, fixtures)
    return Sandbox(made["sandboxId"], made["adminToken"], made, base_url)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (the journal is written just after a
    response leaves, so a test reads it once it has caught up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False

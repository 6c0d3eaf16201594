"""The control plane's `/sandboxes` operations (hosted mode; mock_server/tenancy/ keeps the registry)."""

from __future__ import annotations

import json

from mock_server.core import world
from mock_server.core.errors import control_error
from mock_server.core.request_context import current
from mock_server.tenancy.registry import Sandboxes
from mock_server.tenancy.routing import OPERATOR_TOKEN_ENV


class SandboxHandlers:
    """The `/sandboxes` operations of control.yaml (blocking: Connexion's thread pool)."""

    def __init__(self, sandboxes: Sandboxes | None):
        self.sandboxes = sandboxes

    def _registry(self) -> Sandboxes:
        if self.sandboxes is None:
            raise control_error(
                "FORBIDDEN",
                f"Sandboxes need hosted mode: start layers-mock with --operator-token (or ${OPERATOR_TOKEN_ENV}).",
            )
        if not getattr(current(), "operator", False):  # the middleware let only the operator through
            raise control_error("FORBIDDEN", "Only the operator token manages sandboxes.")
        return self.sandboxes

    def create_sandbox(self, body=None):
        registry = self._registry()
        body = json.loads(body or "{}") if isinstance(body, (bytes, str)) else (body or {})
        label = body.get("label")
        fixture = body.get("fixtures")
        if fixture is not None:
            try:
                fixture = world.validate(fixture, "fixtures", control=True)
            except world.WorldError as exc:
                raise control_error("VALIDATION", str(exc)) from None
        return registry.create(label, fixture), 201

    def list_sandboxes(self):
        return self._registry().list()

    def delete_sandbox(self, sandboxId: str):
        return self._registry().delete(sandboxId)

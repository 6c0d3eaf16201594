"""Which sandbox a control-plane call acts on, in hosted mode: its token checked (`authorize`), its sandbox handed to the handlers (`request_scope`).

The operator token (`--operator-token`) is good only for `/sandboxes`; a sandbox's adminToken
for everything else, acting on that sandbox only. Wrong, missing or repeated token: 401; the
operator token on a sandbox's call, a sandbox token on `/sandboxes`, or an `X-Mock-Sandbox`
naming another sandbox than the token's: 403. Refused calls change nothing anywhere.
"""

from __future__ import annotations

import hmac
import time

from contract.control import CONTROL, CONTROL_PREFIX
from mock_server.core.errors import Refusal, control_error, control_refusal
from mock_server.core.request_context import current
from mock_server.storage.queries import hash_secret

ADMIN_TOKEN_HEADER = CONTROL.admin_token_header.lower().encode()
SANDBOX_HEADER = CONTROL.sandbox_header.lower().encode()
SANDBOXES_PATH = CONTROL_PREFIX + CONTROL.operations["create_sandbox"][1]
TOKEN_PREFIX = "sbt_"
# Hosted mode's switch, as refusals name it (mock_server/settings.py reads it).
OPERATOR_TOKEN_ENV = "LAYERS_MOCK_OPERATOR_TOKEN"
# Longer is no token of ours: refused before any lookup.
MAX_TOKEN_LENGTH: int = CONTROL.parameter("AdminToken")["schema"]["maxLength"]


def request_scope() -> tuple[str, str | None]:
    """The sandbox the current control-plane call acts on, and its adminToken (None locally).
    Fails closed: a call that reached a handler without a resolved sandbox is refused."""
    ctx = current()
    if ctx.sandbox is None:
        raise control_error(
            "UNAUTHENTICATED", f"No sandbox: send the sandbox's adminToken as {CONTROL.admin_token_header}."
        )
    return ctx.sandbox, ctx.admin_token


class SandboxRouter:
    """Resolves a hosted-mode control call's token to its sandbox (async, on the event loop,
    run by the outermost middleware right after the control plane's guard)."""

    def __init__(self, storage, operator_token: str, seen):
        self.storage = storage
        self.operator_token = operator_token.encode()
        self.seen = seen  # the sandbox was used now (its idle timer: lifecycle.py)

    async def authorize(self, scope, path: str, ctx) -> Refusal | None:
        """A refusal (status, code, message) or None, with ctx.sandbox / ctx.admin_token /
        ctx.operator set for the handlers."""
        headers = scope.get("headers") or []
        given = [v for k, v in headers if k == ADMIN_TOKEN_HEADER]
        operator_call = path == SANDBOXES_PATH or path.startswith(SANDBOXES_PATH + "/")
        if len(given) != 1 or not given[0]:
            return control_refusal(
                401,
                "Hosted mode: send the sandbox's adminToken (or, for /sandboxes, the"
                f" operator token) as one {CONTROL.admin_token_header} header.",
            )
        token = given[0]
        if hmac.compare_digest(token, self.operator_token):
            if not operator_call:
                return control_refusal(
                    403,
                    "The operator token manages sandboxes (/sandboxes) only; act on a sandbox with its own adminToken.",
                )
            ctx.operator = True
            return None
        text = token.decode("latin-1")
        if not text.startswith(TOKEN_PREFIX) or len(text) > MAX_TOKEN_LENGTH:
            return control_refusal(401, f"Unknown {CONTROL.admin_token_header}.")
        digest = hash_secret(text)
        row = await self.storage.read(lambda q: q.sandbox_by_token(digest))
        if row is None or not hmac.compare_digest(row["admin_token_sha256"], digest):
            return control_refusal(
                401, f"Unknown {CONTROL.admin_token_header} (or its sandbox expired and was deleted)."
            )
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            return control_refusal(
                401, f"Sandbox {row['id']} expired after {row['idle_ttl']:g} s unused; ask the operator for a new one."
            )
        if operator_call:
            return control_refusal(403, "Only the operator token manages sandboxes.")
        named = [v for k, v in headers if k == SANDBOX_HEADER]
        if named and (len(named) > 1 or named[0].decode("latin-1") != row["id"]):
            return control_refusal(403, f"{CONTROL.sandbox_header} names another sandbox than this adminToken's.")
        ctx.sandbox, ctx.admin_token = row["id"], text
        self.seen(row["id"])
        return None

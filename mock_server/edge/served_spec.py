"""The specs the mock serves to Swagger UI (`/openapi.json`, `/_mock/openapi.json`) name real
servers: this mock's own URL first (as the browser reached it), then the documented servers.

Connexion serves the API's spec with `servers: [{url: ""}]`, which Swagger UI shows as a blank
Servers dropdown. The files themselves are untouched; only the served copies are rewritten.
"""

from __future__ import annotations

import json
import re

from contract import CONTRACT
from contract.control import CONTROL_PREFIX

API_SPEC = "/openapi.json"
CONTROL_SPEC = CONTROL_PREFIX + "/openapi.json"
# A Host header that can be put in a URL as it is (name or IPv4/IPv6 literal, optional port).
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")


def own_url(scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    if not _HOST.match(host):
        server = scope.get("server") or ("127.0.0.1", 4010)
        host = f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def servers_for(path: str, base: str) -> list[dict]:
    if path == CONTROL_SPEC:
        return [{"url": base + CONTROL_PREFIX, "description": "This mock's control plane"}]
    documented = [s for s in CONTRACT.raw.get("servers", []) if s["url"].rstrip("/") != base]
    return [{"url": base, "description": "This mock"}] + documented


class ServedSpecServers:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path")
        if scope["type"] != "http" or scope.get("method") != "GET" or path not in (API_SPEC, CONTROL_SPEC):
            return await self.app(scope, receive, send)
        start: dict = {}
        chunks: list[bytes] = []

        async def hold(message):
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                if start.get("status") == 200:
                    spec = json.loads(body)
                    spec["servers"] = servers_for(path, own_url(scope))
                    body = json.dumps(spec).encode()
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)


def install(app) -> None:
    from connexion.middleware import MiddlewarePosition

    app.add_middleware(ServedSpecServers, position=MiddlewarePosition.BEFORE_EXCEPTION)

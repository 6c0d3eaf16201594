"""Every path under the API (`/v1/`) or the JSON control plane (`/_mock`) is either exactly a
documented route or answered with the envelope: never a redirect.

Starlette's router answers 307 to the slash-less path for a trailing slash (or a `%2F`, which
it has already decoded), before any authentication; clients that follow redirects (requests,
openapi-fetch, httpx with follow_redirects) then revoke the account, so a partner's
trailing-slash bug passes against the mock and fails against Layers, which documents no 3xx.
And a decoded newline in an id makes it unroutable (404 "No such route") where the id is
simply malformed (400 `VALIDATION`).

So routes are matched here on the raw path, segment by segment, as sent:
- no documented route has the shape: 404 `NOT_FOUND`, the same envelope Connexion gives;
- a route has it, but a path parameter is not clean text once decoded (invalid percent-encoding
  or UTF-8, a control character, a slash, whitespace; on the control plane, where a key's label
  such as "wildcard, standard tier" stands for its id, whitespace only at either end): for the
  API, the router gets the segment
  still encoded, so the request goes through the documented order of checks (401, 503, 403,
  then 400 `VALIDATION` from the id's pattern, which admits no `%`); for the control plane,
  whose ids are free text, 400 `VALIDATION` with `details.issues` here;
- otherwise the request goes on untouched (a wrong method still gets Connexion's 405).
The HTML pages (`/ui/`, `/_mock/ui/`, `/docs`) and the served specs are outside this: a page
may redirect to its canonical slash.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from starlette.exceptions import HTTPException

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX
from contract.spec import Contract
from mock_server.core.errors import code_for, error_reply
from mock_server.core.request_context import current
from mock_server.edge.errors import reply_for, send_reply
from mock_server.edge.route import RevokeRoute

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PARAM = re.compile(r"^\{([^{}]+)\}$")
# Served by Connexion beside the control routes: the control spec and its Swagger UI page.
_CONTROL_DOCUMENTS = ("/openapi.json", "/openapi.yaml")
_CONTROL_PAGES = "/ui"


def _decode(segment: str) -> str | None:
    """A raw path segment percent-decoded strictly (UTF-8), or None if it is not valid."""
    if _BAD_ESCAPE.search(segment):
        return None
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        return None


def segment_problem(segment: str, *, spaces_inside: bool = False) -> str | None:
    """Why a raw path parameter is not an id at all, or None if it decodes to clean text.
    `spaces_inside`: the control plane's key labels ("wildcard, standard tier") stand for ids."""
    value = _decode(segment)
    if value is None:
        return "invalid percent-encoding (or not UTF-8)"
    if "/" in value:
        return "a slash"
    if any(unicodedata.category(char) == "Cc" for char in value):
        return "a control character"
    if value != value.strip():
        return "leading or trailing whitespace"
    if not spaces_inside and any(char.isspace() for char in value):
        return "whitespace"
    return None


class _Template:
    """One documented route as segments: literal text, or None for a parameter (its name kept)."""

    def __init__(self, route: str, api: bool):
        self.api = api
        parts = route.split("/")
        self.names = [m.group(1) if (m := _PARAM.match(p)) else None for p in parts]
        self.literals = [None if n else p for p, n in zip(parts, self.names, strict=True)]

    def match(self, segments: list[str]) -> bool:
        if len(segments) != len(self.literals):
            return False
        return all(
            seg != "" if literal is None else _decode(seg) == literal
            for seg, literal in zip(segments, self.literals, strict=True)
        )


class StrictPaths:
    """ASGI middleware (inside the request context, before Connexion's routing)."""

    def __init__(self, app, contract: Contract = CONTRACT):
        self.app = app
        self.contract = contract
        self.api_prefix = RevokeRoute(contract).api_prefix
        control_paths = CONTROL.raw["paths"]
        self.templates = [_Template(p, api=True) for p in contract.raw["paths"]] + [
            _Template(CONTROL_PREFIX + p, api=False) for p in control_paths
        ]

    def _checked(self, path: str) -> bool:
        if path.startswith(self.api_prefix):
            return True
        if path != CONTROL_PREFIX and not path.startswith(CONTROL_PREFIX + "/"):
            return False
        rest = path[len(CONTROL_PREFIX) :]
        return rest not in _CONTROL_DOCUMENTS and rest != _CONTROL_PAGES and not rest.startswith(_CONTROL_PAGES + "/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self._checked(scope.get("path", "")):
            return await self.app(scope, receive, send)
        # ASGI's raw_path excludes the query; httpx's in-process transport includes it.
        raw = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0].decode("latin-1")
        segments = raw.split("/")
        template = next((t for t in self.templates if t.match(segments)), None)
        ctx = current()
        if template is None:
            reply = reply_for(HTTPException(404), ctx.request_id, self.contract)
            ctx.code = reply.code
            return await send_reply(send, reply)
        problems = {
            name: (seg, why)
            for name, seg in zip(template.names, segments, strict=True)
            if name and (why := segment_problem(seg, spaces_inside=not template.api))
        }
        if not problems:
            return await self.app(scope, receive, send)
        if template.api:
            # The router sees the segments as sent (still encoded): routable, and refused by the
            # id's pattern after the checks that come first.
            routed = [
                seg if name in problems else (_decode(seg) or seg)
                for name, seg in zip(template.names, segments, strict=True)
            ]
            return await self.app({**scope, "path": "/".join(routed)}, receive, send)
        issues = [{"message": f"{name} {seg[:100]!r} holds {why}"} for name, (seg, why) in problems.items()]
        status = 400
        reply = error_reply(
            status,
            code_for(status, self.contract),
            f"Request validation failed: {issues[0]['message']}",
            ctx.request_id,
            details={"issues": issues},
            contract=self.contract,
        )
        ctx.code = reply.code
        await send_reply(send, reply)

"""One request and its response, as the kit keeps them: enough to judge it and to replay it.

A check failure is only useful to a partner if they can reproduce it, so every exchange can
render itself as a ready-to-run curl line, with known secrets replaced by the environment
variables the CLI reads them from (CI logs must not leak staging keys).
"""

from __future__ import annotations

import functools
import json
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from contract import CONTRACT

if TYPE_CHECKING:  # a report, a curl line and the checks need neither httpx nor the transport
    import httpx

    from conformance.transport import BodyProblem, RequestHeaders


class CheckedResponse:
    """A response as the checks read it: `status_code`, `content`, `headers` (lower-case names, each
    with a list of values) and `json()`: the shape of schemathesis' `Response`, so the checks of
    `conformance.checks` judge either (schemathesis passes its own when `conformance.hooks` registers
    them). Built from an httpx response as schemathesis' `Response.from_any` builds its own (the
    same headers, the same text encoding), without importing schemathesis: the kit's process never
    does (the generated phase runs it in a worker process, `conformance.generated`)."""

    __slots__ = ("_json", "content", "encoding", "headers", "status_code")

    _UNPARSED: Any = object()

    def __init__(self, status_code: int, headers: dict[str, list[str]], content: bytes, encoding: str | None):
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.encoding = encoding
        self._json = self._UNPARSED

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> CheckedResponse:
        # httpx's items() joins a repeated header's values with ", ", as schemathesis' conversion reads them.
        return cls(
            response.status_code,
            {key.lower(): [value] for key, value in response.headers.items()},
            response.content,
            response.encoding,
        )

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises on a body that is not JSON, as schemathesis' does)."""
        if self._json is self._UNPARSED:
            self._json = json.loads(self.text)
        return self._json


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: RequestHeaders
    response: httpx.Response
    label: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # secret value -> env var name
    deliberate_5xx: bool = False  # the kit caused a 5xx on purpose (fault armed, kill switch on)
    body_problem: BodyProblem | None = None  # too big or too deep to judge
    request_body: bytes | None = None  # only the probes send one (the page: "no request body")

    @property
    def path_account_id(self) -> str | None:
        return path_account_id(self.url)

    @property
    def status(self) -> int:
        return self.response.status_code

    @functools.cached_property
    def checked_response(self) -> CheckedResponse:
        """The response as the checks read it, converted once for all of them."""
        return CheckedResponse.from_httpx(self.response)

    def json(self):
        if self.body_problem is not None:  # never parse a body already judged hostile
            return None
        try:
            return self.response.json()
        except (ValueError, RecursionError):
            return None

    def curl(self) -> str:
        parts = ["curl", "-i", "-X", self.method, self._shell_text(self.url)]
        for name, value in self.request_headers.items():
            if name.lower() in {
                "user-agent",
                "accept-encoding",
                "accept",
                "connection",
                "content-length",
                "x-schemathesis-testcaseid",
                "host",
            }:
                continue
            rendered = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
            parts += ["-H", self._double_quoted(f"{name}: {rendered}")]
        if self.request_body is not None:
            parts += ["--data-binary", self._shell_text(self.request_body.decode("utf-8", errors="replace"))]
        return " ".join(parts)

    def _shell_text(self, text: str) -> str:
        """A URL or body for the shell: single-quoted, unless it holds a known secret (a probe's key in
        the query string), which then goes in as its environment variable like a header's."""
        if any(secret and secret in text for secret in self.secrets):
            return self._double_quoted(text)
        return shlex.quote(text)

    def _double_quoted(self, text: str) -> str:
        """Each known secret as its environment variable (`${LAYERS_API_KEY}`), in double quotes so that
        the references expand; what else the shell would eat is escaped."""
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
        for secret, env in self.secrets.items():
            if secret and secret in text:
                escaped = escaped.replace(secret, "${" + env + "}")
        return f'"{escaped}"'


def path_account_id(url: str) -> str | None:
    """The account id a revoke URL names, decoded (None when the URL is not the revoke route)."""
    prefix = CONTRACT.route.split("{", 1)[0]  # "/v1/social-accounts/"
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else ""
    path = path.split("?", 1)[0]
    at = path.find(prefix)
    if at < 0:
        return None
    return unquote(path[at + len(prefix) :])

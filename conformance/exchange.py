"""One request and its response, as the kit keeps them: enough to judge it and to replay it.

A check failure is only useful to a partner if they can reproduce it, so every exchange can
render itself as a ready-to-run curl line, with known secrets replaced by the environment
variables the CLI reads them from (CI logs must not leak staging keys).
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx

from conformance.transport import BodyProblem, RequestHeaders
from contract import CONTRACT


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
    def checked_response(self):
        """The response as schemathesis' checks take it (`schemathesis.Response`), converted once:
        the pipeline's checks and the generated phase's built-in checks (five calls a case) all
        read this one (each conversion copies headers and body, and rebuilds the request)."""
        import schemathesis  # here, not at the top: reading a report or a curl line needs none of it

        return schemathesis.Response.from_any(self.response)

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

"""The mock's own pages (`/docs`, Swagger UI at `/ui/` and `/_mock/ui/`) and their assets go out
with `X-Content-Type-Options: nosniff`, and every HTML page with a restrictive
`Content-Security-Policy`.

The pages sit on the same origin as the control plane, which can wipe the world: a script
injected into them (a spec description, a hostile asset sniffed as script) would run with the
guard's "own origin" blessing. So a page may run only its own scripts: files from this origin,
and the inline `<script>`/`<style>` blocks it was served with, allowed by their SHA-256 hashes
computed from the very bytes sent (Swagger UI's page is rendered by Connexion per mount, so
its hashes cannot be written down in advance). It may call only this origin and the documented
servers (Swagger UI's "Try it out"), show images from itself and `data:` URIs (Swagger UI's
icons), and be framed by nobody. The API's responses are not touched (the fast path's bytes).
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from contract import CONTRACT
from contract.spec import Contract
from mock_server.edge.route import RevokeRoute

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style\s*>", re.S | re.I)
NOSNIFF = (b"x-content-type-options", b"nosniff")


def _hashes(pattern: re.Pattern, html: bytes) -> str:
    return "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(block).digest()).decode()}'"
        for block in dict.fromkeys(pattern.findall(html))
    )


def content_security_policy(html: bytes, contract: Contract = CONTRACT) -> str:
    documented = " ".join(
        dict.fromkeys(
            f"{parts.scheme}://{parts.netloc}"
            for s in contract.raw.get("servers", [])
            if (parts := urlsplit(s["url"])).scheme in ("http", "https")
        )
    )
    return (
        "default-src 'none'; "
        f"script-src 'self'{_hashes(_INLINE_SCRIPT, html)}; "
        f"style-src 'self'{_hashes(_INLINE_STYLE, html)}; "
        "img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self' {documented}".rstrip()
        + "; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class PageHeaders:
    """ASGI middleware: nosniff on everything but the API, a CSP on every HTML page."""

    def __init__(self, app, contract: Contract = CONTRACT):
        self.app = app
        self.contract = contract
        self.route = RevokeRoute(contract)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.route.is_api(scope.get("path", "")):
            return await self.app(scope, receive, send)
        start: dict = {}
        chunks: list[bytes] = []

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), NOSNIFF]
                content_type = dict(headers).get(b"content-type", b"")
                if not content_type.lower().startswith(b"text/html"):
                    return await send({**message, "headers": headers})
                start.update(message, headers=headers)  # held until the page's bytes are known
                return None
            if not start:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            body = b"".join(chunks)
            csp = content_security_policy(body, self.contract).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers += [(b"content-length", str(len(body)).encode()), (b"content-security-policy", csp)]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, with_headers)

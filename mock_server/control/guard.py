"""Who and what may reach the control plane (`/_mock`): the one place that decides.

The control plane can wipe the world, mint keys and switch the API off, so it must not be
reachable from a web page, neither from another site in the developer's browser nor through
DNS rebinding. The checks are those of the local dev servers that learnt this the hard way
(Jupyter, webpack-dev-server's `allowedHosts`, Vite's `server.allowedHosts`), in this order:

1. the client: loopback only, unless the mock runs with `--admin-token`, which every call must
   then send (compared in constant time);
2. `Host`, parsed strictly (a name or IP address and an optional port 0-65535, nothing else):
   `localhost`, `*.localhost`, an IP address, or a name the user allowed
   (the `allowed_hosts` setting: `--allowed-host`, env LAYERS_MOCK_ALLOWED_HOSTS; a leading dot
   allows subdomains). DNS
   rebinding needs a *name* that the attacker resolves to 127.0.0.1, so a name we do not know
   is refused; an IP literal cannot be rebound (Vite and webpack-dev-server allow them too);
3. `Origin` (and `Sec-Fetch-Site`, sent by browsers even where Origin is not): absent, or the
   mock's own origin (a page served by the mock itself). Another port on loopback is another
   origin, and `null` (sandboxed frames, files) is refused;
4. calls that change state (POST, PUT, PATCH) only with `Content-Type: application/json`: a
   page can send a cross-origin POST without asking (a form, `fetch` in `no-cors` mode, a
   beacon) only with text/plain, form or no content type; JSON needs a CORS preflight, which
   the mock never answers with CORS headers. DELETE always needs a preflight;
5. the body: at most `MAX_BODY_BYTES`, and its JSON no deeper than `MAX_JSON_DEPTH`, checked on
   the raw bytes before any parser sees them (`control_bounds`).

The API routes get none of this: partners point apps at the mock under any host name.

The probes (`/health`, `/ready`, `/metrics`: control.yaml's `x-probe` operations) skip rule 1:
Kubernetes probes and Prometheus call from the node's or the scraper's address and send no token,
and they reveal nothing secret. Rules 2 and 3 still hold, so a web page cannot reach them; they
are GETs, so 4 and 5 do not apply.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from urllib.parse import urlsplit

from contract.control import CONTROL
from mock_server.core import bounds as control_bounds
from mock_server.core.errors import Refusal, control_refusal

ADMIN_HEADER = CONTROL.admin_token_header.lower().encode()
_CHANGES_STATE = {"POST", "PUT", "PATCH"}
_CROSS_SITE = {b"cross-site", b"same-site"}  # Sec-Fetch-Site: another port on loopback is same-site


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# RFC 3986's authority without userinfo: a bracketed IPv6 literal or a name (DNS characters, IPv4),
# then optionally `:` and a decimal port. Nothing else: a guard that parses by hand lets
# `127.0.0.1:43517.evil.example` through as "127.0.0.1".
_AUTHORITY = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::(?P<port>[0-9]{1,5}))?")


def split_host(value: str) -> tuple[str, str]:
    """`Host` (or an origin's netloc) -> (lower-case name without brackets or trailing dot, port);
    ValueError unless it is exactly a host and an optional port 0-65535."""
    match = _AUTHORITY.fullmatch(value.strip().lower())
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        raise ValueError(f"not a host[:port]: {value[:100]!r}")
    if match["ipv6"] is not None:
        ipaddress.IPv6Address(match["ipv6"])  # ValueError if it is not one
        return match["ipv6"], match["port"] or ""
    return match["name"].rstrip("."), match["port"] or ""


class ControlGuard:
    def __init__(self, admin_token: str | None = None, allowed_hosts: tuple[str, ...] = (), hosted: bool = False):
        self.admin_token = admin_token
        # Hosted mode (sandboxes.py): every call carries a sandbox's or the operator's token, which
        # sandboxes.authorize checks instead of the loopback rule; a call that must carry a token in
        # a header cannot be forged by a web page, so its Host may be the deployment's public name.
        self.hosted = hosted
        # Compared as `split_host` gives names: lower case, no trailing dot.
        self.allowed_hosts = tuple(h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip())

    def host_allowed(self, name: str) -> bool:
        if name == "localhost" or name.endswith(".localhost") or _is_ip(name):
            return True
        return any(name == h or (h.startswith(".") and (name.endswith(h) or name == h[1:])) for h in self.allowed_hosts)

    async def admit(self, scope, headers: dict, receive) -> tuple[Refusal | None, object]:
        """None and a `receive` replaying the (checked) body, or the refusal to send instead."""
        refusal = self._who(scope, headers) or self._from_where(scope, headers) or self._what(scope, headers)
        if refusal is not None:
            return refusal, receive
        if scope.get("method") not in _CHANGES_STATE:
            return None, receive
        return await self._body(scope, headers, receive)

    # -- 1. the client ----------------------------------------------------------------------
    def _who(self, scope, headers) -> Refusal | None:
        if self.hosted or scope.get("path") in CONTROL.probe_paths:
            return None  # the tokens decide (sandboxes.authorize, right after this guard)
        if self.admin_token:
            given = headers.get(ADMIN_HEADER, b"")
            if not hmac.compare_digest(given, self.admin_token.encode()):
                return control_refusal(401, f"The control plane needs {CONTROL.admin_token_header}.")
            return None
        client = scope.get("client")
        if not _is_loopback(client[0] if client else None):
            return control_refusal(
                403, "The control plane answers only on loopback unless the mock runs with --admin-token."
            )
        return None

    # -- 2 and 3. the page it came from ------------------------------------------------------
    def _from_where(self, scope, headers) -> Refusal | None:
        repeated = [n for n in (b"host", b"origin") if sum(1 for k, _ in scope.get("headers") or [] if k == n) > 1]
        if repeated:  # `headers` kept only the last one: judge none
            return control_refusal(400, f"The {repeated[0].decode().title()} header was sent more than once.")
        host = headers.get(b"host")
        token_bearing = self.hosted and ADMIN_HEADER in headers
        if host is not None and not token_bearing:  # HTTP/1.0 clients may omit it; browsers never do
            try:
                name, _ = split_host(host.decode("latin-1"))
            except ValueError:
                name = None
            if name is None or not self.host_allowed(name):
                shown = host.decode("latin-1") if name is None else name
                return control_refusal(
                    403,
                    f"The control plane does not answer to Host {shown[:100]!r} (DNS rebinding"
                    " guard). Use localhost or an IP address, or start the mock with"
                    " --allowed-host NAME.",
                )
        origin = headers.get(b"origin")
        if origin is not None and not self._own_origin(origin.decode("latin-1"), host):
            return control_refusal(403, "The control plane does not answer to web pages from another origin.")
        if headers.get(b"sec-fetch-site", b"").lower() in _CROSS_SITE:
            return control_refusal(403, "The control plane does not answer to web pages from another site.")
        return None

    @staticmethod
    def _own_origin(origin: str, host: bytes | None) -> bool:
        """The page was served by the mock itself: same scheme-less host and port as `Host`."""
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or host is None:
            return False
        try:
            origin_host = split_host(parts.netloc)
            request_host = split_host(host.decode("latin-1"))
        except ValueError:
            return False
        default_port = "443" if parts.scheme == "https" else "80"
        return (origin_host[0], origin_host[1] or default_port) == (request_host[0], request_host[1] or default_port)

    # -- 4. what it sends --------------------------------------------------------------------
    def _what(self, scope, headers) -> Refusal | None:
        if scope.get("method") not in _CHANGES_STATE:
            return None
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if media != b"application/json":
            shown = media.decode("latin-1")[:100] or "none"
            return control_refusal(
                415,
                "Control-plane calls that change state need Content-Type: application/json"
                f" (got {shown}); send {{}} for no options.",
            )
        return None

    # -- 5. the body -------------------------------------------------------------------------
    async def _body(self, scope, headers, receive) -> tuple[Refusal | None, object]:
        limit = control_bounds.MAX_BODY_BYTES
        too_large = control_refusal(413, f"A control-plane request body holds at most {limit:,} bytes.")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return too_large, receive
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return control_refusal(400, "The client went away before sending the whole body."), receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large, receive
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if declared is None:
            # Framed another way (chunked: Node's http.request default): Connexion decides that a
            # body is absent from Content-Length, so the whole body, read and bounded, gets one.
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"] + [
                (b"content-length", str(len(body)).encode())
            ]
        problem = control_bounds.json_text_problem(body)
        if problem is not None:
            return control_refusal(400, f"Request validation failed: {problem}."), receive
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay

"""A small ASGI relay in front of the mock, in one place: the catalog's proxy (broken_impls.py)
and the latency proxy of bench/kit_latency.py are both one. The relay answers the lifespan protocol
(closing its client to the upstream at shutdown), reads each request whole and hands it to a
handler, which answers (status, headers, body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

# What a relay does not pass on: the upstream's framing (the relay frames its own answer) and host.
REQUEST_HOP = frozenset({"host", "content-length"})

Answer = tuple[int, list[tuple[str, str]], bytes]
Handler = Callable[[httpx.AsyncClient, dict, bytes, str, str, dict[str, str]], Awaitable[Answer]]


def relay_app(upstream: str, timeout: float, handle: Handler):
    """An ASGI app: each request goes to `handle(client, scope, body, path, query, headers)`, with a
    client to `upstream`; `path` as the client sent it (still percent-encoded), `query` "?..." or
    "", `headers` the request's (names in lower case) but for host and content-length."""
    client = httpx.AsyncClient(base_url=upstream, timeout=timeout)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        query = ("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else ""
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in REQUEST_HOP
        }
        status, out, content = await handle(client, scope, body, path, query, headers)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return app

"""A bare ASGI app: the ceiling an HTTP server sets, for the 401 path's target (>= 50% of this on
the same server). It answers every request with a fixed 401 JSON body of the envelope's size,
and nothing else: no routing, no parsing, no validation."""

from __future__ import annotations

BODY = (
    b'{"error":{"code":"UNAUTHENTICATED","message":"Missing bearer token: send Authorization: Bearer <key>.",'
    b'"requestId":"req_00000000000000000000000000000000"}}'
)
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"www-authenticate", b'Bearer realm="layers"'),
]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 401, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})

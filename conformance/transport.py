"""Every request the kit sends is bounded: in time (the whole request and the whole run) and in
the memory its answer may take.

The target is untrusted: a partner's staging, a proxy in between, or something broken. httpx's
`timeout` bounds each socket read, so a server that sends one byte every two seconds never trips
it; here a deadline is enforced for the WHOLE request instead. httpx has no such setting, and its
synchronous client cannot be interrupted inside a read, so the kit's requests go through
`BoundedTransport`, an httpx transport (public API) that sends each request on an
`httpx.AsyncClient` in an event loop of its own, inside an anyio cancel scope that ends at the
request's deadline: connect, send, headers and the body as far as the kit reads it. The deadline
is capped by the end of the run (`--max-time`), so no request can outlive the run either; the
mock's control-plane calls go through the same transport, bounded by the run's end.

Bodies are read as a stream and reading stops at `--max-body-bytes`: a 100 MB answer costs the
kit at most the cap. A body over the cap, or JSON nested deeper than any documented response could
be, is the target's violation (`response_body_within_size_cap`, `response_json_nesting_within_bound`)
and is not handed to the other checks, which could not judge it (and, for deep JSON, would
overflow Python's recursion limit).
"""

from __future__ import annotations

import itertools
import re
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
import httpx

from conformance.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TIME, DEFAULT_TIMEOUT

# A request's headers: a value may be bytes, sent as they are (the boundary scenarios' Idempotency-Keys).
RequestHeaders = Mapping[str, str | bytes]

OVERSIZE_PREVIEW = 4096  # what is kept of a body over the cap, for the failure messages
# The documented bodies nest at most three levels (error.details.requiredScope); 64 leaves room for
# any extra an implementation may add, and stays far below what Python's recursion limit allows.
MAX_JSON_DEPTH = 64

SIZE_CHECK = "response_body_within_size_cap"
DEPTH_CHECK = "response_json_nesting_within_bound"
BODY_CHECKS = (SIZE_CHECK, DEPTH_CHECK)


class RunStopped(Exception):
    """A bound of the run was reached: the run stops, the reports say what was done (exit 2)."""


class RunTimeExceeded(RunStopped):
    pass


@dataclass
class Bounds:
    timeout: float = DEFAULT_TIMEOUT  # one whole request: connect, send, headers and body
    max_time: float = DEFAULT_MAX_TIME  # the whole run
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.max_time - self.elapsed()

    def check_time(self, doing: str) -> None:
        if self.remaining() <= 0:
            raise RunTimeExceeded(f"the run reached --max-time {self.max_time:g}s before {doing}")

    @property
    def run_deadline(self) -> float:
        """The end of the run, as a `time.monotonic()` value."""
        return self.started + self.max_time


# The request extension (an httpx public mechanism) by which `send_bounded` gives one request a
# deadline of its own; a request without it (a control-plane call) ends by the run's end.
DEADLINE = "layers_deadline"


class BoundedTransport(httpx.BaseTransport):
    """An httpx transport that ends every request by its deadline, and reads at most `max_body_bytes`
    (+1, to tell "over the cap" apart) of a body, all inside that deadline.

    The requests run on an `httpx.AsyncClient` in an event loop thread of this transport's own
    (anyio's blocking portal), where a cancel scope can stop a request wherever it waits; callers
    stay synchronous, and may send from several threads at once (the concurrency scenario)."""

    def __init__(
        self,
        bounds: Bounds,
        *,
        max_body_bytes: int | None = None,
        proxy: str | None = None,
        verify: bool | ssl.SSLContext = True,
    ):
        self.bounds = bounds
        self.max_body_bytes = max_body_bytes
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        # No client-wide timeout here: the sync client in front sets each request's own (its
        # `timeout` extension), exactly as it would for its default transport.
        self._client = httpx.AsyncClient(proxy=proxy, verify=verify)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = request.extensions.get(DEADLINE) or self.bounds.run_deadline
        return self._portal.call(self._send, request, deadline)

    async def _send(self, request: httpx.Request, deadline: float) -> httpx.Response:
        try:
            with anyio.fail_after(deadline - time.monotonic()):
                response = await self._client.send(request, stream=True)
                try:
                    body = await self._read_raw(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise httpx.ReadTimeout("the request's deadline passed", request=request) from None
        # The raw bytes as received (still compressed, if they were): the caller decodes them
        # (`_read_capped`, with the same cap; httpx itself, for the control plane).
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(body),
            extensions={k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")},
        )

    async def _read_raw(self, response: httpx.Response) -> bytes:
        cap = self.max_body_bytes
        if cap is None:  # the mock's control plane: answers of its own, read whole
            return b"".join([chunk async for chunk in response.aiter_raw()])
        if _declared_over(response, cap):
            return b""  # not read at all: `_read_capped` reports the declared length
        chunks, size = [], 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk[: cap + 1 - size])
            size += len(chunks[-1])
            if size > cap:
                break
        return b"".join(chunks)

    def close(self) -> None:
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)


def _declared_over(response: httpx.Response, cap: int) -> bool:
    declared = response.headers.get("content-length", "").strip()
    return bool(re.fullmatch(r"[0-9]+", declared)) and (len(declared) > 15 or int(declared) > cap)


@dataclass
class BodyProblem:
    check: str  # the check it fails
    message: str


def send_bounded(
    client: httpx.Client,
    method: str,
    url: str,
    headers: RequestHeaders,
    bounds: Bounds,
    content: bytes | None = None,
) -> tuple[httpx.Response, BodyProblem | None]:
    """Send one request within `bounds` (through a client on a `BoundedTransport`); return the
    response, its body read up to the cap.

    Raises httpx.TimeoutException (a TransportError) when the whole request outlasts --timeout,
    RunTimeExceeded when it would outlast --max-time."""
    bounds.check_time("the next request")
    remaining = bounds.remaining()
    run_bound = remaining < bounds.timeout  # the run's end comes first
    deadline = time.monotonic() + min(bounds.timeout, remaining)
    # httpx takes str or bytes for each header value; its annotations want one kind for all of them.
    request = client.build_request(
        method,
        url,
        headers=headers,  # type: ignore[arg-type]
        content=content,  # a body only where a probe sends one on purpose (the page: "no request body")
        extensions={DEADLINE: deadline},
    )
    try:
        response = client.send(request, stream=True)
        try:
            problem = _read_capped(response, bounds.max_body_bytes)
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        if time.monotonic() >= deadline:
            if run_bound:
                raise RunTimeExceeded(f"the run reached --max-time {bounds.max_time:g}s during {method} {url}") from exc
            raise type(exc)(
                f"no complete response within --timeout {bounds.timeout:g}s (the whole request is "
                f"bounded, not each read: a server that answers too slowly is stopped too)",
                request=exc.request,
            ) from exc
        raise
    if problem is None:
        problem = _nesting_problem(response.content, bounds.max_json_depth)
    return response, problem


def _read_capped(response: httpx.Response, cap: int) -> BodyProblem | None:
    """Read at most `cap` bytes of the body (decoded), then store them as the response's content."""
    if _declared_over(response, cap):
        declared = response.headers["content-length"].strip()
        response._content = b""  # noqa: SLF001 - why: see the end of this function
        return BodyProblem(
            SIZE_CHECK,
            f"the body declares Content-Length {declared[:20]} bytes, beyond the "
            f"kit's cap of {cap:,} (--max-body-bytes); not read",
        )
    # Raw bytes, so that the cap also holds for compressed bodies (a small gzip bomb is decoded
    # below with the same cap, never in full); the transport read at most cap + 1 of them.
    raw = b"".join(response.iter_raw())
    over = len(raw) > cap
    content, decoded_over = _decode(raw, response.headers.get("content-encoding", ""), cap)
    if over or decoded_over:
        # Not judged, so only a preview is kept (for messages), not a megabyte per exchange.
        response._content = content[:OVERSIZE_PREVIEW]  # noqa: SLF001
        return BodyProblem(
            SIZE_CHECK,
            f"the body is larger than the kit's cap of {cap:,} bytes (--max-body-bytes); reading stopped there",
        )
    # httpx has no public way to give a response a body it did not decode itself, and its own
    # read() would inflate a compressed body in full (a gzip bomb); so the body decoded above,
    # under the cap, is stored where read() would have stored it.
    response._content = content  # noqa: SLF001
    return None


def _decode(raw: bytes, encoding: str, cap: int) -> tuple[bytes, bool]:
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        wbits = [16 + zlib.MAX_WBITS]
    elif encoding == "deflate":  # zlib-wrapped, or raw deflate as some servers send it
        wbits = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        return raw, False  # identity; an encoding the kit did not ask for stays as received
    for bits in wbits:
        try:
            out = zlib.decompressobj(bits).decompress(raw, cap + 1)
        except zlib.error:
            continue
        return out, len(out) > cap
    return raw, False


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _DEPTH_STEP)


def json_depth(body: bytes) -> int:
    """How deep a JSON text nests, without parsing it (parsers recurse; this does not)."""
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def _nesting_problem(body: bytes, limit: int) -> BodyProblem | None:
    if body.count(b"[") + body.count(b"{") <= limit:  # cannot nest deeper than the brackets it has
        return None
    depth = json_depth(body)
    if depth <= limit:
        return None
    return BodyProblem(
        DEPTH_CHECK,
        f"the body nests {depth:,} levels deep; no documented response nests more "
        f"than a few, and the kit stops judging beyond {limit}",
    )

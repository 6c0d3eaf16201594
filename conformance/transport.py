"""Every request the kit sends is bounded: in time (the whole request and the whole run) and in
the memory its answer may take.

The target is untrusted: a partner's staging, a proxy in between, or something broken. httpx's
`timeout` bounds each socket read, so a server that sends one byte every two seconds never trips
it; here a deadline is enforced for the WHOLE request instead. The network streams of the kit's
httpx client are wrapped so that every connect, write and read waits at most until that deadline
(see `install_deadlines`). The same deadline is capped by the end of the run (`--max-time`), so no
request can outlive the run either.

Bodies are read as a stream and reading stops at `--max-body-bytes`: a 100 MB answer costs the
kit at most the cap. A body over the cap, or JSON nested deeper than any documented response could
be, is the target's violation (`response_body_within_size_cap`, `response_json_nesting_within_bound`)
and is not handed to the other checks, which could not judge it (and, for deep JSON, would
overflow Python's recursion limit).
"""
from __future__ import annotations

import contextlib
import contextvars
import itertools
import re
import time
import zlib
from dataclasses import dataclass, field

import httpcore
import httpx

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_TIME = 600.0
DEFAULT_MAX_BODY_BYTES = 1 << 20
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
    timeout: float = DEFAULT_TIMEOUT            # one whole request: connect, send, headers and body
    max_time: float = DEFAULT_MAX_TIME          # the whole run
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

    @contextlib.contextmanager
    def whole_run(self):
        """Every network operation in this context ends by the run's end (requests outside
        `send_bounded` too, such as the mock's control-plane calls)."""
        token = _DEADLINE.set(self.started + self.max_time)
        try:
            yield self
        finally:
            _DEADLINE.reset(token)


# The deadline (time.monotonic()) of the request being sent in this thread/context, if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("layers_request_deadline", default=None)


def _clamp(timeout: float | None, exc_class: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise exc_class("the request's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._inner.connect_tcp(host, port, _clamp(timeout, httpcore.ConnectTimeout),
                                                       local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._inner.connect_unix_socket(path, _clamp(timeout, httpcore.ConnectTimeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install_deadlines(client: httpx.Client) -> httpx.Client:
    """Make every network operation of `client` end by the deadline `send_bounded` sets.

    httpx has no public hook for the network backend, so the backend of each transport's
    connection pool (direct, HTTP or SOCKS proxy) is wrapped. Pinned httpx/httpcore; should their
    internals move, this raises rather than leave the kit silently unbounded (and
    tests/conformance/test_hostile_targets.py's dribbling servers would say so)."""
    transports = [client._transport, *client._mounts.values()]  # noqa: SLF001 - see docstring
    for transport in transports:
        if transport is None or not isinstance(transport, httpx.HTTPTransport):
            continue  # no network of its own (a mounted test transport, or "no proxy" for a pattern)
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise RuntimeError("cannot bound the kit's requests: httpx's transport has no network backend to wrap "
                               "(httpx/httpcore upgraded past the pinned versions?)")
        if not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # noqa: SLF001
    return client


@dataclass
class BodyProblem:
    check: str      # the check it fails
    message: str


def send_bounded(client: httpx.Client, method: str, url: str, headers: dict[str, str],
                 bounds: Bounds) -> tuple[httpx.Response, BodyProblem | None]:
    """Send one request within `bounds`; return the response, its body read up to the cap.

    Raises httpx.TimeoutException (a TransportError) when the whole request outlasts --timeout,
    RunTimeExceeded when it would outlast --max-time."""
    bounds.check_time("the next request")
    remaining = bounds.remaining()
    run_bound = remaining < bounds.timeout  # the run's end comes first
    token = _DEADLINE.set(time.monotonic() + min(bounds.timeout, remaining))
    try:
        response = client.send(client.build_request(method, url, headers=headers), stream=True)
        try:
            problem = _read_capped(response, bounds.max_body_bytes)
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        if _DEADLINE.get() is not None and time.monotonic() >= _DEADLINE.get():
            if run_bound:
                raise RunTimeExceeded(f"the run reached --max-time {bounds.max_time:g}s during {method} {url}") from exc
            raise type(exc)(f"no complete response within --timeout {bounds.timeout:g}s (the whole request is "
                            f"bounded, not each read: a server that answers too slowly is stopped too)",
                            request=exc.request) from exc
        raise
    finally:
        _DEADLINE.reset(token)
    if problem is None:
        problem = _nesting_problem(response.content, bounds.max_json_depth)
    return response, problem


def _read_capped(response: httpx.Response, cap: int) -> BodyProblem | None:
    """Read at most `cap` bytes of the body (decoded), then store them as the response's content."""
    declared = response.headers.get("content-length", "").strip()
    if re.fullmatch(r"[0-9]+", declared) and (len(declared) > 15 or int(declared) > cap):
        response._content = b""  # noqa: SLF001 - httpx's own read() stores the body here
        return BodyProblem(SIZE_CHECK, f"the body declares Content-Length {declared[:20]} bytes, beyond the "
                                       f"kit's cap of {cap:,} (--max-body-bytes); not read")
    chunks, size, over = [], 0, False
    # Raw bytes, so that the cap also holds for compressed bodies (a small gzip bomb is decoded
    # below with the same cap, never in full).
    for chunk in response.iter_raw():
        chunks.append(chunk[: cap + 1 - size])
        size += len(chunks[-1])
        if size > cap:
            over = True
            break
    raw = b"".join(chunks)
    del chunks
    content, decoded_over = _decode(raw, response.headers.get("content-encoding", ""), cap)
    if over or decoded_over:
        # Not judged, so only a preview is kept (for messages), not a megabyte per exchange.
        response._content = content[:OVERSIZE_PREVIEW]  # noqa: SLF001
        return BodyProblem(SIZE_CHECK, f"the body is larger than the kit's cap of {cap:,} bytes "
                                       f"(--max-body-bytes); reading stopped there")
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
    return BodyProblem(DEPTH_CHECK, f"the body nests {depth:,} levels deep; no documented response nests more "
                                    f"than a few, and the kit stops judging beyond {limit}")

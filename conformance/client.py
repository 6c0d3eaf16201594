"""The kit's HTTP client: counts its requests, honours Retry-After, and judges every response.

A conformance run must not become a load test against staging: the client stops at
`--max-requests`, and when the target answers 429 to a request that did not aim for one, it
waits the announced Retry-After and sends the request again instead of failing or hammering.
Every response it receives, in every phase, goes through one pipeline of checks
(`conformance.pipeline`).
"""

from __future__ import annotations

import re
import ssl
import sys
import threading
from collections.abc import Callable

import httpx

from conformance.exchange import Exchange
from conformance.pacing import Pacer, Slots
from conformance.pipeline import Pipeline
from conformance.results import Results
from conformance.transport import (
    BODY_CHECKS,
    SIZE_CHECK,
    BoundedTransport,
    Bounds,
    RequestHeaders,
    RunStopped,
    send_bounded,
)
from contract import CONTRACT

RATE_LIMITED = CONTRACT.status_for_code("RATE_LIMITED")
MAX_POLITE_RETRIES = 3


class RequestBudgetExhausted(RunStopped):
    pass


class RateLimitedThroughout(RunStopped):
    """The target still answers 429 after its Retry-After was waited out, again and again."""


class TargetUnreachable(Exception):
    pass


class NotThisApi(RunStopped):
    """The target answered with something no implementation of this API sends (an HTML page)."""


# What a login page, a proxy's error page or a web server's default page is served as.
PAGE_TYPES = ("text/html", "application/xhtml+xml")


def not_this_api(exchange: Exchange) -> None:
    """Raise NotThisApi when the answer is a web page: the base URL is not this API (a login page,
    a proxy's error page, a wrong --base-url). Used on the run's first request, before judging it,
    so such a target stops the run at once with a short log instead of hundreds of failures."""
    media = exchange.response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    looks_like_page = not media and exchange.response.content.lstrip()[:1] == b"<"
    if media in PAGE_TYPES or looks_like_page:
        raise NotThisApi(
            f"this is not the Layers API: it answered {exchange.status} {media or 'an untyped <...> page'} to "
            f"{exchange.method} {exchange.url} (a login page, a proxy's error page, a wrong --base-url?);"
            " nothing more was sent"
        )


class TargetTooSlow(TargetUnreachable):
    """No complete answer within --timeout (the whole request, not one read)."""


def budget_hint(tier: str | None) -> str:
    """Which budget a cut-short burst or wait ran into: the key's tier if the operator named it,
    else every tier's (from the spec), and how to say which."""
    tiers = CONTRACT.rate_limit_tiers
    if tier is not None:
        b = tiers[tier]
        return f"the key is {tier}-tier (--key-tier): {b['perMinute']:,} requests a minute, {b['perDay']:,} a day"
    known = ", ".join(f"{name} {b['perMinute']:,}" for name, b in tiers.items())
    return f"the key's tier was not given (--key-tier); the tiers' budgets a minute: {known}"


def retry_after_seconds(response: httpx.Response) -> int | None:
    value = response.headers.get(CONTRACT.retry_after_header, "").strip()
    if not re.fullmatch(r"\d+", value):
        return None
    # A hostile value may have thousands of digits (int() refuses > 4300); any such is "too long".
    return int(value) if len(value) <= 12 else 10**12


class PoliteClient:
    def __init__(
        self,
        base_url: str,
        results: Results,
        waiter,
        *,
        max_requests: int,
        secrets: dict[str, str],
        timeout: float = 15.0,
        progress=None,
        strict: bool = False,
        extra_headers: dict[str, str] | None = None,
        proxy: str | None = None,
        verify: bool | ssl.SSLContext = True,
        pipeline: Pipeline | None = None,
        bounds: Bounds | None = None,
        parallel: int = 1,
        pacer: Pacer | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.results = results
        self.waiter = waiter
        self.max_requests = max_requests
        self.secrets = secrets
        self.strict = strict
        self.pipeline = pipeline or Pipeline(results, strict=strict)
        # -H headers (a gateway's key, a tenant header) go on every request; where the kit sets a
        # header itself (Authorization, Idempotency-Key) the kit's value is what is under test.
        self.extra_headers = dict(extra_headers or {})
        self._count_lock = threading.Lock()
        self.bounds = bounds or Bounds(timeout=timeout)
        transport = BoundedTransport(self.bounds, max_body_bytes=self.bounds.max_body_bytes, proxy=proxy, verify=verify)
        self.http = httpx.Client(timeout=timeout, transport=transport)
        self.progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
        # Requests in flight at once, from every thread (--parallel), and the key's budget (--key-tier).
        self.slots = Slots(max(1, parallel))
        self.pacer = pacer or Pacer(None)
        self._halted: str | None = None
        # Called with each exchange before it is judged (the probe's not_this_api), or None.
        self.gate: Callable[[Exchange], None] | None = None

    def halt(self, reason: str) -> None:
        """Send nothing more: another part of the run stopped it (its cause is what is reported)."""
        self._halted = reason

    @property
    def halted(self) -> bool:
        """Whether another part of the run stopped it (`halt`)."""
        return self._halted is not None

    def close(self) -> None:
        self.http.close()

    def url_for(self, account_id: str) -> str:
        return self.base_url + CONTRACT.path_for(account_id)

    def revoke(
        self,
        account_id: str,
        *,
        token: str | None,
        label: str,
        headers: dict | None = None,
        expect_429: bool = False,
        deliberate_5xx: bool = False,
    ) -> Exchange:
        """DELETE the account as `token` (None: no Authorization header at all)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.send(
            "DELETE", self.url_for(account_id), sent, label, expect_429=expect_429, deliberate_5xx=deliberate_5xx
        )

    def send(
        self,
        method: str,
        url: str,
        headers: RequestHeaders,
        label: str,
        *,
        expect_429: bool = False,
        deliberate_5xx: bool = False,
        content: bytes | None = None,
    ) -> Exchange:
        for attempt in range(MAX_POLITE_RETRIES + 1):
            # A request that aims for a 429 (the burst) is not paced: it is there to pass the budget.
            exchange = self._send_once(method, url, headers, label, deliberate_5xx, content, paced=not expect_429)
            if exchange.status != RATE_LIMITED or expect_429:
                return exchange
            if attempt == MAX_POLITE_RETRIES:
                break
            # Not what this request was about: be polite, wait as told, and ask again.
            seconds = retry_after_seconds(exchange.response)
            seconds = 1 if seconds is None else max(seconds, 1)
            self.progress(f"  target answered 429 to {label!r}: waiting Retry-After {seconds}s, then retrying")
            self.results.notes.append(f"honoured a 429 (Retry-After {seconds}s) during {label}")
            self.waiter.wait(seconds)
        # Still 429 after waiting as told, MAX_POLITE_RETRIES times: waiting more will not help, and
        # going on would only turn a rate-limited run into hours of sleeping (see issue 14).
        raise RateLimitedThroughout(
            f"the target still answered 429 to {label!r} after waiting Retry-After "
            f"{MAX_POLITE_RETRIES} times ({self.waiter.waited:g}s waited in all)"
        )

    def _send_once(
        self,
        method: str,
        url: str,
        headers: RequestHeaders,
        label: str,
        deliberate_5xx: bool = False,
        content: bytes | None = None,
        *,
        paced: bool = True,
    ) -> Exchange:
        if self._halted is not None:
            raise RunStopped(f"not sent: {self._halted}")
        taken = {name.lower() for name in headers}
        headers = {**{k: v for k, v in self.extra_headers.items() if k.lower() not in taken}, **headers}
        try:
            with self.slots.held():
                if paced:
                    self.pacer.acquire()
                # Counted once it has a slot and its pace, just before it leaves: a request still
                # waiting for either when --max-time or --max-requests ends the run was never sent,
                # and the report's count is what the target was sent (at most --parallel cut off).
                with self._count_lock:
                    if self._halted is not None:
                        raise RunStopped(f"not sent: {self._halted}")
                    if self.results.requests >= self.max_requests:
                        raise RequestBudgetExhausted(f"the run reached --max-requests {self.max_requests}")
                    self.bounds.check_time("the next request")
                    self.results.requests += 1
                response, body_problem = send_bounded(self.http, method, url, headers, self.bounds, content)
        except httpx.TimeoutException as exc:
            raise TargetTooSlow(f"{method} {url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"{method} {url}: {exc.__class__.__name__}: {exc}") from exc
        exchange = Exchange(
            method,
            url,
            dict(headers),
            response,
            label,
            self.secrets,
            deliberate_5xx,
            body_problem=body_problem,
            request_body=content,
        )
        if self.gate is not None:
            self.gate(exchange)
        if body_problem is None:
            with self.pipeline.lock:
                for name in BODY_CHECKS:
                    self.results.passed(name, "check")
            self.pipeline.judge(exchange)
        else:  # a body the checks cannot judge (too big, too deep) is a finding of its own
            if body_problem.check == SIZE_CHECK:
                # A target that sends bodies over the cap gets one request at a time from now on:
                # each costs the kit up to the cap (and its copies) in memory, and speed no longer matters.
                self.slots.narrow(1)
            with self.pipeline.lock:
                self.results.saw(response.status_code)
                self.results.failed(body_problem.check, "check", f"{label}: {body_problem.message}", exchange)
        return exchange

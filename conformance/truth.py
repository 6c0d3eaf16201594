"""Checks of truth, not only shape: values held to the world and to each other across a run.

A well-formed value can still be false. `disconnectedAt` must be the time of the revoke, on the
target's clock; a request id must name one request only, since the page says it "correlates
against Layers logs". These checks need what the run has seen so far (the ids of earlier
answers) or a clock, so they keep their state in one `Truth` object per pipeline.

The target's clock: an external target's `Date` header (RFC 9110: an origin server with a clock
sends one); under `--mock-control` the mock's own clock, read through its control plane, since
the kit (and the mock's user) may have moved it; the kit's own clock when neither is there.
Decision 16: the tolerance is `TIME_TOLERANCE_SECONDS` either way.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from conformance.checks import applies_to
from conformance.exchange import Exchange
from contract import CONTRACT

OK = CONTRACT.success_status

TIME_TOLERANCE_SECONDS = 120
"""Decision 16. Hosts synced by NTP agree within a second, `Date` and `disconnectedAt` are whole
seconds, and the answer may take up to --timeout; but a gateway's `Date` and a database's `now()`
run on different hosts (badly synced VMs drift by tens of seconds), and under --mock-control the
kit moves the mock's clock by up to a minute (a Retry-After wait) while another scenario's revoke
may be in flight. Two minutes covers all of that and still tells a revoke's time from a wrong
zone (an hour or more), a wrong column (when the account was connected), an epoch or a day off."""


def _header(exchange: Exchange, name: str) -> str | None:
    return exchange.response.headers.get(name)


def _body(exchange: Exchange) -> dict:
    data = exchange.json()
    return data if isinstance(data, dict) else {}


def parse_timestamp(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _request_id(exchange: Exchange) -> str | None:
    rid = _header(exchange, CONTRACT.request_id_header)
    if rid is None:
        error = _body(exchange).get("error")
        rid = error.get("requestId") if isinstance(error, dict) else None
    return rid if isinstance(rid, str) and rid else None


def _replay_identity(exchange: Exchange) -> tuple | None:
    """Requests that decision 3 makes one request: the same key, the same Idempotency-Key, the
    same account. None for a request without an Idempotency-Key: every such request is its own."""
    headers = {k.lower(): v for k, v in exchange.request_headers.items()}
    key = headers.get(CONTRACT.idempotency_header.lower())
    if not key:
        return None
    return (headers.get("authorization"), exchange.method, exchange.path_account_id, key)


@dataclass
class Truth:
    """What the truth checks remember over a run (the pipeline holds one; it judges under its lock)."""

    # Under --mock-control: reads the mock's clock (the control plane's GET /_mock/clock).
    mock_clock: Callable[[], dict] | None = None
    ids: dict[str, tuple[tuple | None, str]] = field(default_factory=dict)  # id -> (replay identity, label)
    answered: set[tuple] = field(default_factory=set)  # replay identities already answered once

    def is_replay(self, exchange: Exchange) -> bool:
        identity = _replay_identity(exchange)
        return identity is not None and identity in self.answered

    def clock(self, exchange: Exchange) -> tuple[datetime, str] | None:
        """The target's time at this answer, and what it was read from."""
        if self.mock_clock is not None:
            try:
                now = parse_timestamp(self.mock_clock().get("now"))
            except Exception:  # noqa: BLE001 - the control plane failing is not the API's violation
                now = None
            return (now, "the mock's clock (GET /_mock/clock)") if now else None
        date = _header(exchange, "date")
        if date:
            try:
                return email.utils.parsedate_to_datetime(date), f"its Date header ({date})"
            except (TypeError, ValueError):
                pass
        return datetime.now(UTC), "the kit's clock (the answer has no usable Date header)"


def truth_of(pipeline) -> Truth:
    return pipeline.truth


@applies_to("200 responses (replays excepted: they repeat their original)")
def disconnected_at_is_revoke_time(pipeline, exchange: Exchange):
    """`disconnectedAt` is the time of the revoke on the target's clock, within decision 16's tolerance."""
    truth = truth_of(pipeline)
    if exchange.status != OK or truth.is_replay(exchange):
        return None
    value = _body(exchange).get("disconnectedAt")
    stamp = parse_timestamp(value)
    if stamp is None:
        return None  # success_body_shape's
    clock = truth.clock(exchange)
    if clock is None:
        return None
    now, where = clock
    off = (stamp - now).total_seconds()
    assert abs(off) <= TIME_TOLERANCE_SECONDS, (
        f"disconnectedAt is {value}, {_span(off)} {'after' if off > 0 else 'before'} the target's time"
        f" {now:%Y-%m-%dT%H:%M:%SZ} read from {where}: not the time of this revoke"
        f" (decision 16: within {TIME_TOLERANCE_SECONDS}s)"
    )
    return True


@applies_to("responses with a request id")
def request_ids_unique(pipeline, exchange: Exchange):
    """Two distinct requests never share a request id; a replay (same key, Idempotency-Key and
    account: decision 3) may repeat the id of its original."""
    truth = truth_of(pipeline)
    identity = _replay_identity(exchange)
    rid = _request_id(exchange)
    try:
        if rid is None:
            return None
        seen = truth.ids.get(rid)
        if seen is None:
            truth.ids[rid] = (identity, exchange.label)
            return True
        first_identity, first_label = seen
        assert identity is not None and identity == first_identity, (
            f"request id {rid} was already the id of an earlier, different request ({first_label!r}):"
            " an id two requests share correlates neither with the target's logs"
        )
        return True
    finally:
        if identity is not None:
            truth.answered.add(identity)


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.0f}s"


# The order matters: the time check asks whether an answer is a replay before the id check
# records its request as answered.
TRUTH_CHECKS = [disconnected_at_is_revoke_time, request_ids_unique]

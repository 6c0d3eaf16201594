"""A revoke's two trips to storage, as data: what it reads (`Ask`, answered by one query: the
gathered snapshot), and what it writes (`Writes`, applied in one batch with guards).

The domain decides between the two, on the snapshot alone (core/domain.py `Domain.plan`), so the
rules exist once, whichever backend runs them. Nothing here knows the rules: `Writes` says what
to store and what the decision assumed about the state (the guards); a backend that finds an
assumption broken by a concurrent writer raises `LostRace`, rolls back, and the decision is made
again from a fresh read (storage/base.py `Storage.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass


class LostRace(Exception):
    """A concurrent writer changed what a decision was made on; nothing of the batch was kept."""


@dataclass(frozen=True)
class Ask:
    """What a revoke needs to be decided, read in one query (queries.py `gather_sql`)."""

    digest: str  # the bearer secret's hash: names the key, its organization and its sandbox
    account_id: str
    idempotency_key: str | None
    # The rate windows whose counts to read: the domain's guess of the windows the mock's clock
    # is in (the clock itself is read by the same query); a wrong guess is read again.
    windows: tuple[str, ...]
    cancelable: str  # the status of the posts a revoke cancels (their count is read)


@dataclass(frozen=True)
class Revoke:
    """Disconnect one account, cancel its posts in `cancelable` status, record the revocation."""

    account_id: str
    organization_id: str
    reason: str
    at: str
    request_id: str
    cancelable: str
    canceled: int  # how many the snapshot counted; a different count is a lost race
    # An armed fault (its id and step): the steps run one by one up to `fail_after`, then roll
    # back (a savepoint); the fault stays consumed.
    fault_id: int | None = None
    fail_after: str | None = None


@dataclass(frozen=True)
class Remember:
    """Store a revoke's outcome under its (key, Idempotency-Key)."""

    idempotency_key: str
    account_id: str
    status: int
    body: str  # JSON text
    request_id: str
    created_at: float
    # The created_at of the expired entry it replaces; None: the snapshot saw no entry.
    replaces: float | None = None


@dataclass(frozen=True)
class Writes:
    """Everything one decided revoke stores, all or nothing. Applied in this order (every writer
    takes its row locks in it, so two revokes never wait on each other in a cycle): rate windows,
    idempotency entry, fault, account, posts, revocation."""

    sandbox: str
    key_id: str
    # (window, limit): count one request in each; the guard is that each stays within its limit.
    spend: tuple[tuple[str, int], ...] = ()
    remember: Remember | None = None
    revoke: Revoke | None = None
    # An armed scripted answer (its row in `faults`) taken by this request: the guard is that it
    # was still there.
    take: int | None = None

    def __bool__(self) -> bool:
        return bool(self.spend or self.remember or self.revoke or self.take is not None)

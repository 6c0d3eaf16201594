"""A partner's offboarding job: revoke every social account of a customer who leaves.

It follows the page's advice for each answer:

- 404: the account is not ours or already disconnected. Nothing to do; never retried.
- 429: the key's write budget is spent. Wait exactly `Retry-After` seconds, then retry.
- 500: failed mid-transaction, nothing changed, "safe to retry": back off and retry, sending the
  same `Idempotency-Key`, so that if an earlier attempt did succeed (a lost response) the retry is
  answered with that success instead of a misleading 404.
- 503: a kill switch disabled our key, organization or the whole API. Retrying would not help:
  stop, and report what was not attempted so the job can run again later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import requests
from layers_client import INTERNAL, KILL_SWITCH, NOT_FOUND, RATE_LIMITED, Layers, LayersError

# Answers that mean "the same request may succeed later"; 429 is retried too, after Retry-After.
SAFE_TO_RETRY = (INTERNAL,)


@dataclass
class OffboardingReport:
    revoked: dict[str, int] = field(default_factory=dict)  # account -> canceledScheduledPosts
    already_gone: list[str] = field(default_factory=list)  # 404: not ours, or already revoked
    failed: dict[str, str] = field(default_factory=dict)  # account -> last error code
    halted_by: str | None = None  # kill switch scope, if one stopped us
    not_attempted: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and self.halted_by is None


def offboard_customer(
    layers: Layers,
    account_ids: Iterable[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 4,
    backoff_seconds: float = 1.0,
    run_id: str | None = None,
) -> OffboardingReport:
    """Revoke each account; `sleep` is injectable so tests need not wait in real time."""
    run_id = run_id or uuid.uuid4().hex
    report = OffboardingReport()
    pending = list(account_ids)
    for index, account_id in enumerate(pending):
        try:
            result = _revoke(
                layers, account_id, f"offboard-{run_id}-{account_id}", sleep, max_attempts, backoff_seconds
            )
        except LayersError as error:
            if error.code == NOT_FOUND:
                report.already_gone.append(account_id)
            elif error.code == KILL_SWITCH:
                report.halted_by = error.details.get("scope", "unknown")
                report.not_attempted = pending[index:]
                break
            else:
                report.failed[account_id] = error.code
        except requests.RequestException as error:
            report.failed[account_id] = type(error).__name__
        else:
            report.revoked[account_id] = result["canceledScheduledPosts"]
    return report


def _revoke(
    layers: Layers, account_id: str, idempotency_key: str, sleep, max_attempts: int, backoff_seconds: float
) -> dict:
    for attempt in range(1, max_attempts + 1):
        last_attempt = attempt == max_attempts
        try:
            return layers.social.revoke(social_account_id=account_id, idempotency_key=idempotency_key)
        except LayersError as error:
            if error.code == RATE_LIMITED and not last_attempt:
                wait = error.retry_after if error.retry_after is not None else backoff_seconds
            elif error.code in SAFE_TO_RETRY and not last_attempt:
                wait = backoff_seconds * 2 ** (attempt - 1)
            else:
                raise
        except (requests.ConnectionError, requests.Timeout):
            # The request may or may not have reached Layers; the idempotency key makes it safe.
            if last_attempt:
                raise
            wait = backoff_seconds * 2 ** (attempt - 1)
        sleep(wait)
    raise AssertionError("unreachable")

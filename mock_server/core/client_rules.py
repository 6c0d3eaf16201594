"""The rules a client of the revoke endpoint should follow, each with its source (issue 24).

A *violation* is a rule the published page states: its sentence is quoted verbatim (a test holds
every quote to the page, tests/fixtures/revoke-social-account.txt). *Advice* is inferred from the
Layers docs digest (shared/reference/layers-api-facts.md, its section named in `where`), marked
`inferred`. The grader (core/grading.py) applies them to the journal; nothing else decides what a
rule means. No rule judges what a contract decision accepts (decision 14: `bearer` in any case is
a valid scheme, so no rule looks at the Authorization header at all).
"""

from __future__ import annotations

from dataclasses import dataclass

VIOLATION = "violation"
ADVICE = "advice"
SEVERITIES = (VIOLATION, ADVICE)

# No tight retry loops (the "decide" of the issue): this many requests for one account with one
# key within this many milliseconds. Five in a second is faster than any back-off schedule
# (urllib3's Retry with backoff_factor 0.1 sends four in ~0.7 s) and slower than a loop with
# no sleep (hundreds a second). Time on either clock (core/grading.py: `elapsed`).
TIGHT_LOOP_REQUESTS = 5
TIGHT_LOOP_WINDOW_MS = 1000

# A 4xx that a repeat cannot change (the client must change the request or the world first).
UNCHANGED_REPEAT_STATUSES = (400, 401, 403, 404)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    fix: str
    quote: str | None = None  # the page's sentence, verbatim (a violation)
    where: str | None = None  # where in the docs digest the advice is inferred from

    def view(self) -> dict:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "source": {"quote": self.quote, "page": "revoke-social-account"}
            if self.quote is not None
            else {"inferred": True, "where": self.where},
            "fix": self.fix,
        }


HONOR_RETRY_AFTER = Rule(
    "honor-retry-after",
    VIOLATION,
    "After a 429, no request with that key before Retry-After seconds have passed",
    "Sleep for the 429's Retry-After seconds before the next request with that key.",
    quote="Per-key write budget exhausted. Honor Retry-After.",
)
ONE_ACCOUNT_PER_IDEMPOTENCY_KEY = Rule(
    "idempotency-key-one-account",
    VIOLATION,
    "Never reuse an Idempotency-Key across different accounts",
    "Mint a new Idempotency-Key for each account you revoke; reuse it only to retry that same revoke.",
    quote="this surfaces only if you reused a key across different socialAccountId paths.",
)
NO_UNCHANGED_REPEAT = Rule(
    "no-unchanged-repeat-after-4xx",
    ADVICE,
    "Do not repeat unchanged a request that got 400, 401, 403 or 404",
    "Treat 400/401/403/404 as final: fix the id, key or scope (or accept that the account is gone) instead of"
    " sending the same request again.",
    where="§2 (codes grouped by what to do: caller bugs, fix, don't retry) and §3 (retry: no)",
)
RETRY_500_SAME_KEY = Rule(
    "retry-500-same-idempotency-key",
    ADVICE,
    "Retry a 500 with the same Idempotency-Key it was sent with",
    "Keep the Idempotency-Key of the request that got the 500 when you retry it; a new key makes the retry a new"
    " operation.",
    where="§7 (same key + same request replays the original; the 500 row says safe to retry)",
)
STOP_ON_KILL_SWITCH = Rule(
    "stop-on-kill-switch",
    ADVICE,
    "Stop calling after a 503 KILL_SWITCH, for the scope it names",
    "On 503 KILL_SWITCH stop every call in details.scope (this key, every key of the organization, or all)"
    " until a person lifts the switch.",
    where="§3 (KILL_SWITCH retry: no, needs human/parent action) and §6 (details.scope)",
)
NO_TIGHT_LOOP = Rule(
    "no-tight-retry-loop",
    ADVICE,
    f"No more than {TIGHT_LOOP_REQUESTS - 1} requests for one account with one key within {TIGHT_LOOP_WINDOW_MS} ms",
    "Back off between retries (exponential, with jitter) and cap the attempts.",
    where="§2 (transient codes: retry with backoff)",
)
NO_REQUEST_BODY = Rule(
    "no-request-body",
    ADVICE,
    "Send the DELETE without a body",
    "Send no body (no Content-Length > 0, no Transfer-Encoding): the endpoint reads none.",
    where="§1.1 (No request body; the page: This endpoint takes no request body.)",
)

RULES: tuple[Rule, ...] = (
    HONOR_RETRY_AFTER,
    ONE_ACCOUNT_PER_IDEMPOTENCY_KEY,
    NO_UNCHANGED_REPEAT,
    RETRY_500_SAME_KEY,
    STOP_ON_KILL_SWITCH,
    NO_TIGHT_LOOP,
    NO_REQUEST_BODY,
)
RULES_BY_ID = {r.id: r for r in RULES}

"""The client report (issue 24): the journal graded against core/client_rules.py.

Input: a sandbox's journal entries (dicts of the journal table's columns) and which organization
each key belongs to. Output: a JSON-able report, and its text form. Pure and deterministic: the
same entries give the same report, byte for byte; entries are taken in the order their
responses left (`wall_seconds`, then id), which is the same whichever instance wrote them.

Time between two requests is `elapsed`: the larger of the mock's clock and the real clock
between their responses. A test that moves the mock's clock (the plugin's `layers_mock.sleep`)
has waited that long; so has a client that really slept under a frozen clock. Entries that
predate these columns (a migrated world) have no times and are not graded.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from mock_server.core.client_rules import (
    ADVICE,
    HONOR_RETRY_AFTER,
    NO_REQUEST_BODY,
    NO_TIGHT_LOOP,
    NO_UNCHANGED_REPEAT,
    ONE_ACCOUNT_PER_IDEMPOTENCY_KEY,
    RETRY_500_SAME_KEY,
    RULES,
    STOP_ON_KILL_SWITCH,
    TIGHT_LOOP_REQUESTS,
    TIGHT_LOOP_WINDOW_MS,
    UNCHANGED_REPEAT_STATUSES,
    VIOLATION,
    Rule,
)
from mock_server.core.route import RevokeRoute

# Flagged requests listed per rule (all are counted).
MAX_LISTED = 100
_EPSILON = 1e-3  # float noise between the two clocks' sums


@dataclass
class _Entry:
    row: dict
    account: str | None
    mock: float
    wall: float

    def __getitem__(self, name: str):
        return self.row[name]


def elapsed(a: _Entry, b: _Entry) -> float:
    """Seconds from `a`'s response to `b`'s, on whichever clock moved further."""
    return max(b.mock - a.mock, b.wall - a.wall)


@dataclass
class _Tally:
    rule: Rule
    passes: int = 0
    flagged: list[dict] = field(default_factory=list)


class Grader:
    def __init__(self, contract):
        self.route = RevokeRoute(contract)
        self.contract = contract
        self.kill_status = contract.status_for_code("KILL_SWITCH")
        self.internal_status = contract.status_for_code("INTERNAL")
        self.rate_limited_status = contract.status_for_code("RATE_LIMITED")

    # -- the report -------------------------------------------------------------------------
    def report(
        self, rows: list[dict], key_orgs: dict[str, str], *, dropped: int, limit: int, since: str | None
    ) -> dict:
        entries = [
            _Entry(r, self.route.account_id(r["path"]), float(r["mock_seconds"]), float(r["wall_seconds"]))
            for r in rows
            if r["mock_seconds"] is not None and r["wall_seconds"] is not None
        ]
        entries.sort(key=lambda e: (e.wall, e["id"]))
        keyed = [e for e in entries if e["key_id"] is not None]
        apart = [e for e in entries if e["key_id"] is None]
        tallies = {r.id: _Tally(r) for r in RULES}
        self._retry_after(keyed, tallies[HONOR_RETRY_AFTER.id])
        self._one_account_per_key(keyed, tallies[ONE_ACCOUNT_PER_IDEMPOTENCY_KEY.id])
        self._unchanged_repeats(keyed, tallies[NO_UNCHANGED_REPEAT.id], lambda e: e["key_id"])
        self._retry_500(keyed, tallies[RETRY_500_SAME_KEY.id])
        self._kill_switch(keyed, tallies[STOP_ON_KILL_SWITCH.id], key_orgs)
        self._tight_loops(keyed, tallies[NO_TIGHT_LOOP.id])
        self._bodies(keyed, tallies[NO_REQUEST_BODY.id])
        # Requests without a valid key: no key to blame, so graded apart and never counted above.
        apart_repeats = _Tally(NO_UNCHANGED_REPEAT)
        self._unchanged_repeats(apart, apart_repeats, lambda e: None)

        rules = []
        by_key: dict[str, dict[str, int]] = defaultdict(lambda: {VIOLATION: 0, ADVICE: 0})
        for tally in tallies.values():
            for f in tally.flagged:
                by_key[f["keyId"]][tally.rule.severity] += 1
            rules.append(
                {
                    **tally.rule.view(),
                    "passes": tally.passes,
                    "flags": len(tally.flagged),
                    "flagged": tally.flagged[:MAX_LISTED],
                }
            )
        violations = sum(r["flags"] for r in rules if r["severity"] == VIOLATION)
        advice = sum(r["flags"] for r in rules if r["severity"] == ADVICE)
        statuses: dict[str, int] = defaultdict(int)
        for e in apart:
            statuses[str(e["status"])] += 1
        return {
            "ok": violations == 0 and advice == 0,
            "violations": violations,
            "advice": advice,
            "requests": len(entries),
            "graded": len(keyed),
            "since": since,
            "journal": {"limit": limit, "dropped": dropped, "ungradable": len(rows) - len(entries)},
            "byKey": {k: by_key[k] for k in sorted(by_key)},
            "rules": rules,
            "withoutValidKey": {
                "requests": len(apart),
                "statuses": dict(sorted(statuses.items())),
                "note": "requests with no valid key (401, or an unknown key) have no key to blame: graded apart,"
                " never counted in the rules above",
                "unchangedRepeats": apart_repeats.flagged[:MAX_LISTED],
            },
        }

    # -- the rules, one pass each ---------------------------------------------------------------
    def _flag(self, tally: _Tally, e: _Entry, why: str) -> None:
        tally.flagged.append(
            {
                "requestId": e["request_id"],
                "at": e["at"],
                "keyId": e["key_id"],
                "socialAccountId": e.account,
                "method": e["method"],
                "status": e["status"],
                "code": e["code"],
                "why": why,
                "curl": self.curl(e),
            }
        )

    def _retry_after(self, entries: list[_Entry], tally: _Tally) -> None:
        pending: dict[str, _Entry] = {}  # key -> its last 429 not yet waited out
        for e in entries:
            last = pending.get(e["key_id"])
            if last is not None:
                waited, asked = elapsed(last, e), last["retry_after"] or 0
                if waited + _EPSILON < asked:
                    self._flag(
                        tally,
                        e,
                        f"sent {waited:.2f} s after the 429 ({last['request_id']}) that said Retry-After: {asked}",
                    )
                else:
                    tally.passes += 1
                del pending[e["key_id"]]
            if e["status"] == self.rate_limited_status and e["retry_after"]:
                pending[e["key_id"]] = e
        tally.passes += len(pending)  # a 429 after which the key sent nothing more

    def _one_account_per_key(self, entries: list[_Entry], tally: _Tally) -> None:
        first: dict[tuple[str, str], _Entry] = {}
        for e in entries:
            idem = e["idempotency_key"]
            if idem is None or e.account is None:
                continue
            seen = first.setdefault((e["key_id"], idem), e)
            if seen.account != e.account:
                self._flag(
                    tally,
                    e,
                    f"Idempotency-Key {idem!r} was first used for {seen.account} ({seen['request_id']})",
                )
            else:
                tally.passes += 1

    def _unchanged_repeats(self, entries: list[_Entry], tally: _Tally, who) -> None:
        refused: dict[tuple, _Entry] = {}  # the request's shape -> the 4xx it got
        for e in entries:
            shape = (who(e), e["method"], e["path"], e["idempotency_key"], bool(e["has_body"]))
            earlier = refused.pop(shape, None)
            if earlier is not None:
                self._flag(
                    tally,
                    e,
                    f"the same request got {earlier['status']} {earlier['code']} before ({earlier['request_id']})",
                )
            if e["status"] in UNCHANGED_REPEAT_STATUSES:
                refused[shape] = e
        tally.passes += len(refused)

    def _retry_500(self, entries: list[_Entry], tally: _Tally) -> None:
        failed: dict[tuple, _Entry] = {}  # (key, account) -> its last 500 sent with an Idempotency-Key
        for e in entries:
            pair = (e["key_id"], e.account)
            last = failed.pop(pair, None)
            if last is not None:
                if e["idempotency_key"] != last["idempotency_key"]:
                    sent = "no Idempotency-Key" if e["idempotency_key"] is None else f"{e['idempotency_key']!r}"
                    self._flag(
                        tally,
                        e,
                        f"retried the 500 ({last['request_id']}, Idempotency-Key {last['idempotency_key']!r})"
                        f" with {sent}",
                    )
                else:
                    tally.passes += 1
            if e["status"] == self.internal_status and e["idempotency_key"] is not None and e.account is not None:
                failed[pair] = e
        tally.passes += len(failed)

    def _kill_switch(self, entries: list[_Entry], tally: _Tally, key_orgs: dict[str, str]) -> None:
        seen: list[tuple[str, _Entry, bool]] = []  # (scope, the 503, whether a call in scope followed)

        def covers(scope: str, first: _Entry, e: _Entry) -> bool:
            if scope == "global":
                return True
            if scope == "organization":
                org = key_orgs.get(first["key_id"])
                return org is not None and key_orgs.get(e["key_id"]) == org
            return first["key_id"] == e["key_id"]

        for e in entries:
            killed = e["status"] == self.kill_status
            covering = [i for i, (scope, first, _) in enumerate(seen) if covers(scope, first, e)]
            if covering and killed:
                scope, first, _ = seen[covering[0]]
                self._flag(
                    tally,
                    e,
                    f"kept calling after the 503 KILL_SWITCH for the {scope} ({first['request_id']})",
                )
                for i in covering:
                    seen[i] = (seen[i][0], seen[i][1], True)
                continue
            if covering:  # answered otherwise: the switch was lifted
                seen = [s for i, s in enumerate(seen) if i not in covering]
                tally.passes += len(covering)
            if killed:
                seen.append((e["kill_scope"] or "key", e, False))
        tally.passes += sum(1 for _, _, followed in seen if not followed)

    def _tight_loops(self, entries: list[_Entry], tally: _Tally) -> None:
        recent: dict[tuple, deque[_Entry]] = defaultdict(deque)
        looped: set[tuple] = set()
        window = TIGHT_LOOP_WINDOW_MS / 1000
        for e in entries:
            pair = (e["key_id"], e.account)
            times = recent[pair]
            times.append(e)
            while len(times) > TIGHT_LOOP_REQUESTS:
                times.popleft()
            if len(times) == TIGHT_LOOP_REQUESTS and elapsed(times[0], e) < window:
                looped.add(pair)
                self._flag(
                    tally,
                    e,
                    f"{TIGHT_LOOP_REQUESTS} requests for this account within {elapsed(times[0], e) * 1000:.0f} ms"
                    f" (since {times[0]['request_id']})",
                )
        tally.passes += sum(1 for pair, times in recent.items() if len(times) > 1 and pair not in looped)

    def _bodies(self, entries: list[_Entry], tally: _Tally) -> None:
        for e in entries:
            if e["has_body"]:
                self._flag(tally, e, "the request carried a body")
            else:
                tally.passes += 1

    # -- how a flagged request is shown --------------------------------------------------------
    def curl(self, e: _Entry) -> str:
        """The request as a curl line, secrets left out: the key is `$LAYERS_API_KEY` (the entry
        names its key id), the body a placeholder (its bytes are never kept)."""
        parts = [f'curl -X {e["method"]} "$LAYERS_BASE_URL{e["path"]}"']
        if e["key_id"] is not None:
            parts.append(f'-H "Authorization: Bearer $LAYERS_API_KEY"  # {e["key_id"]}')
        else:
            parts.append('-H "Authorization: <redacted>"')
        if e["idempotency_key"] is not None:
            parts.insert(-1, f"-H '{self.contract.idempotency_header}: {e['idempotency_key']}'")
        if e["has_body"]:
            parts.insert(-1, "--data '<body>'")
        return " ".join(parts)


def render_text(report: dict) -> str:
    """The report for a person (GET /_mock/client-report?format=text, `layers-mock report`)."""
    verdict = (
        "OK: no rule flagged"
        if report["ok"]
        else (f"{report['violations']} violation flag(s), {report['advice']} advice flag(s)")
    )
    journal = report["journal"]
    apart = report["withoutValidKey"]
    lines = [
        "Layers mock: client report",
        f"{report['graded']} request(s) graded"
        f" ({apart['requests']} without a valid key, graded apart); journal limit {journal['limit']},"
        f" {journal['dropped']} oldest entr{'y' if journal['dropped'] == 1 else 'ies'} dropped"
        + (f"; since {report['since']}" if report["since"] else ""),
        verdict,
        "",
    ]
    for rule in report["rules"]:
        lines.append(
            f"[{rule['severity']}] {rule['id']}: {rule['flags']} flagged, {rule['passes']} passed — {rule['title']}"
        )
        source = rule["source"]
        if source.get("quote"):
            lines.append(f'    source: the published page: "{source["quote"]}"')
        else:
            lines.append(f"    source: inferred ({source['where']})")
        lines.append(f"    fix: {rule['fix']}")
        for f in rule["flagged"]:
            lines.append(
                f"    - {f['requestId']} at {f['at']} key {f['keyId']} {f['method']} {f['socialAccountId']}"
                f" -> {f['status']}{' ' + f['code'] if f['code'] else ''}: {f['why']}"
            )
            lines.append(f"      {f['curl']}")
    if apart["requests"]:
        lines += [
            "",
            f"Without a valid key (graded apart): {apart['requests']} request(s), statuses {apart['statuses']}",
        ]
        for f in apart["unchangedRepeats"]:
            lines.append(
                f"    - {f['requestId']} at {f['at']} {f['method']} {f['socialAccountId']} -> {f['status']}: {f['why']}"
            )
    return "\n".join(lines) + "\n"

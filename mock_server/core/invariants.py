"""The world's invariants: states the documented atomicity of a revoke forbids.

Beside the rules that keep them (domain.py), in the same words: a revoked account has no
queued post, no token, exactly one revocation record, and as many posts canceled by the revoke
as that record says. `GET /_mock/integrity` runs these; the crash and concurrency tests assert
they hold on both backends. The queries that find each kind of violation are storage's.
"""

from __future__ import annotations

from mock_server.core.domain import CANCELABLE_STATUS, Domain


def violations(q, domain: Domain) -> list[dict]:
    """In `q`'s sandbox."""
    reason = domain.revoke_reason
    out = []
    for row in q.revoked_with_posts_in(reason, CANCELABLE_STATUS):
        out.append({"accountId": row["id"], "problem": f"revoked but {row['n']} posts still {CANCELABLE_STATUS}"})
    for row in q.unrevoked_with_posts_canceled_by_revoke():
        out.append({"accountId": row["id"], "problem": f"not revoked but {row['n']} posts canceled by a revoke"})
    for account_id in q.revoked_with_token(reason):
        out.append({"accountId": account_id, "problem": "revoked but the token is still stored"})
    for account_id in q.revoked_without_record(reason):
        out.append({"accountId": account_id, "problem": "revoked with no revocation record"})
    for row in q.revoked_more_than_once():
        out.append({"accountId": row["account_id"], "problem": f"revoked {row['n']} times"})
    for row in q.revocation_cancel_counts():
        if row["canceled_posts"] != row["actual"]:
            out.append(
                {
                    "accountId": row["account_id"],
                    "problem": f"recorded {row['canceled_posts']} canceled posts, found {row['actual']}",
                }
            )
    return out

"""The world's invariants: states the documented atomicity of a revoke forbids.

Beside the rules that keep them (domain.py), in the same words: a revoked account has no
queued post, no token, exactly one revocation record, and as many posts canceled by the revoke
as that record says. `GET /_mock/integrity` runs these; the crash and concurrency tests assert
they hold on both backends.
"""
from __future__ import annotations

from mock_server.core.domain import CANCELABLE_STATUS, Domain


def violations(q, domain: Domain) -> list[dict]:
    """In `q`'s sandbox."""
    reason = domain.revoke_reason
    sb = q.sandbox
    out = []
    for row in q.rows(
            "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.sandbox=a.sandbox AND p.account_seq=a.seq"
            " WHERE a.sandbox=? AND a.status='disconnected' AND a.disconnected_reason=? AND p.status=? GROUP BY a.id",
            (sb, reason, CANCELABLE_STATUS)):
        out.append({"accountId": row["id"], "problem": f"revoked but {row['n']} posts still {CANCELABLE_STATUS}"})
    for row in q.rows(
            "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.sandbox=a.sandbox AND p.account_seq=a.seq"
            " WHERE a.sandbox=? AND a.status != 'disconnected' AND p.by_revoke=1 GROUP BY a.id", (sb,)):
        out.append({"accountId": row["id"], "problem": f"not revoked but {row['n']} posts canceled by a revoke"})
    for row in q.rows(
            "SELECT a.id FROM accounts a WHERE a.sandbox=? AND a.status='disconnected' AND a.disconnected_reason=?"
            " AND a.token IS NOT NULL", (sb, reason)):
        out.append({"accountId": row["id"], "problem": "revoked but the token is still stored"})
    for row in q.rows(
            "SELECT a.id FROM accounts a WHERE a.sandbox=? AND a.disconnected_reason=?"
            " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.sandbox=a.sandbox AND r.account_id=a.id)",
            (sb, reason)):
        out.append({"accountId": row["id"], "problem": "revoked with no revocation record"})
    for row in q.rows(
            "SELECT account_id, COUNT(*) AS n FROM revocations WHERE sandbox=? GROUP BY account_id HAVING COUNT(*) > 1",
            (sb,)):
        out.append({"accountId": row["account_id"], "problem": f"revoked {row['n']} times"})
    for row in q.rows(
            "SELECT r.account_id, r.canceled_posts, (SELECT COUNT(*) FROM posts p JOIN accounts a ON a.sandbox=p.sandbox"
            " AND a.seq=p.account_seq WHERE a.sandbox=r.sandbox AND a.id=r.account_id AND p.by_revoke=1) AS actual FROM revocations r WHERE r.sandbox=?", (sb,)):
        if row["canceled_posts"] != row["actual"]:
            out.append({"accountId": row["account_id"],
                        "problem": f"recorded {row['canceled_posts']} canceled posts, found {row['actual']}"})
    return out

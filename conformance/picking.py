"""Which of the run's accounts a scenario uses up, beyond `Context.account`'s most/fewest.

Two needs meet here. The count checks want an account with nothing queued and one with exactly
one queued post (the boundaries where "right for the common case" implementations go wrong), and
the scenarios that must not revoke want a bystander: an account of the key's own organization
that a correct server leaves connected (the read-only key's 403, the 409, the probes that name
it somewhere other than the path). The bystander is therefore the account with the fewest queued
posts that is not itself a boundary (two or more when there is one), so that a file with a
single empty account still has its zero revoked.

Scenarios run from several threads, so a pick and the removal from the pool happen under the
run's lock (`ctx.lock`), the one `Context.account` takes too.
"""

from __future__ import annotations

from conformance.scenario_base import Context
from conformance.target import Account

BOUNDARIES = (0, 1)
BYSTANDER = "untouched"  # its key in ctx.state, shared by the scenarios that aim at it


def _take(ctx: Context, account: Account) -> Account:
    ctx.target.accounts.remove(account)
    return account


def with_queued(ctx: Context, queued: int) -> Account | None:
    """An account with exactly `queued` queued posts, taken from the pool; None when there is none."""
    with ctx.lock:
        found = next((a for a in ctx.target.accounts if a.queued == queued), None)
        return _take(ctx, found) if found is not None else None


def bystander(ctx: Context) -> Account | None:
    """The run's bystander (picked once); None when no account is left."""
    with ctx.lock:
        if BYSTANDER in ctx.state:
            return ctx.state[BYSTANDER]
        pool = ctx.target.accounts
        if not pool:
            return None
        spare = [a for a in pool if a.queued not in BOUNDARIES] or pool
        ctx.state[BYSTANDER] = _take(ctx, min(spare, key=lambda a: a.queued))
        return ctx.state[BYSTANDER]

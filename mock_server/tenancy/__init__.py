"""Hosted sandboxes: many isolated worlds in one deployment, each reached with its own admin token.

A sandbox is a world of its own: organizations, keys, accounts, posts, clock, kill switches,
faults, rate windows, idempotency entries and journal, every row carrying its sandbox id
(storage/schema.py) and every query scoped by it (storage/queries.py). The modules here hold the
rest, one job each: `limits` (how big), `worlds` (secrets, what a reset restores), `routing`
(a control call's token to its sandbox), `lifecycle` (idle expiry), `registry` (the operator's
calls), `sandboxes` (hosted mode's options). Local mode is the one implicit sandbox `local`.
"""

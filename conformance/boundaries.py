"""Boundary inputs: the ids and header values implementations choke on.

The page documents one answer for a `socialAccountId` that is not of the `sa_<uuid>` shape: 400
`VALIDATION`. The ids below are all malformed, from 1 KB long to percent-encoded unicode,
whitespace, NUL, numbers and injection-shaped strings; each must answer 400 `VALIDATION`, and
none may answer 5xx (the pipeline's `no_unexpected_server_error` judges every response). A few
inputs are decided by the routing layer before any id exists (an empty id, an encoded slash, a
10 KB URL that a gateway may refuse with 414, a trailing newline): for those the docs promise no
particular status, so the kit asks only for a 4xx. The same holds for Idempotency-Key values
outside the documented 1-255 visible characters (decision 3): any 4xx or a 404 for the unknown
account, never a 2xx or a 5xx.

Every id is built around a fresh random UUID, so a server that trims or decodes its way to a
well-formed id finds no account and revokes nothing.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import quote

from conformance import picking
from conformance.ids import unknown_account_id
from conformance.scenario_base import OK, Context, ScenarioSkipped, needs_accounts, scenario
from contract import CONTRACT

KB = 1024


def malformed_ids() -> list[tuple[str, str]]:
    """(why, the id as it goes into the URL path: already percent-encoded)."""
    good = unknown_account_id()
    return [
        ("an id of 1 KB", "sa_" + "a" * (KB - 3)),
        ("an id of 256 characters (a VARCHAR(255) column)", "sa_" + "b" * 253),
        ("percent-encoded unicode (é, ✓)", "sa_" + quote("é✓", safe="")),
        ("a zero-width space inside the id", quote(good[:10] + "\u200b" + good[10:], safe="")),
        # At index 3 itself: a str.replace of good[3] hit the "a" of "sa_" when the UUID began
        # with "a" (1 run in 16), and the id then tested nothing a lenient UUID parser takes.
        ("fullwidth digits", quote(good[:3] + "\uff19" + good[4:], safe="")),
        ("a leading space", quote(" " + good, safe="")),
        ("a trailing space", quote(good + " ", safe="")),
        ("a tab", quote(good + "\t", safe="")),
        ("a NUL byte", quote(good + "\x00", safe="")),
        ("only whitespace", "%20%20"),
        ("a bare number", "0"),
        ("a number beyond 64 bits", "9" * 40),
        ("a negative number", "-1"),
        ("null", "null"),
        ("a percent sign (format strings)", quote("sa_%s%n%x", safe="")),
        ("SQL", quote("sa_' OR '1'='1", safe="")),
        ("JSON", quote('{"$ne": null}', safe="")),
        ("the prefix twice", "sa_" + good),
        ("a dot segment lookalike", "sa_..%2E"),
    ]


def routing_inputs() -> list[tuple[str, str]]:
    good = unknown_account_id()
    return [
        ("an id of 10 KB", "sa_" + "c" * (10 * KB - 3)),
        ("an empty id", ""),
        ("an encoded slash", quote(good[:8] + "/" + good[8:], safe="")),
        ("a trailing newline", quote(good + "\n", safe="")),
    ]


def idempotency_keys() -> list[tuple[str, bytes]]:
    return [
        ("an empty Idempotency-Key", b""),
        ("an Idempotency-Key of 256 characters", b"k" * 256),
        ("an Idempotency-Key of 8 KB", b"k" * (8 * KB)),
        ("a UTF-8 Idempotency-Key", "clé-✓".encode()),
        ("an Idempotency-Key with spaces", b"a key with spaces"),
    ]


def _url(ctx: Context, raw_id: str) -> str:
    return ctx.client.base_url + CONTRACT.route.split("{", 1)[0] + raw_id


@scenario("boundary_ids_answer_400")
def boundary_ids(ctx: Context) -> None:
    key = ctx.target.api_key

    def one(item: tuple[str, str]) -> None:
        why, raw = item
        ex = ctx.client.send("DELETE", _url(ctx, raw), {"Authorization": f"Bearer {key}"}, f"boundary id: {why}")
        ctx.expect_error("boundary_ids_answer_400", ex, "VALIDATION")

    ctx.each(malformed_ids(), one)  # each id is judged on its own: no answer depends on another


@scenario("boundary_inputs_answer_4xx")
def boundary_inputs(ctx: Context) -> None:
    key = ctx.target.api_key

    def routed(item: tuple[str, str]) -> None:
        why, raw = item
        ex = ctx.client.send("DELETE", _url(ctx, raw), {"Authorization": f"Bearer {key}"}, f"boundary id: {why}")
        ctx.expect("boundary_inputs_answer_4xx", 400 <= ex.status < 500, f"expected a 4xx, got {ex.status}", ex)

    def header(item: tuple[str, bytes]) -> None:
        why, value = item
        ex = ctx.client.send(
            "DELETE",
            ctx.client.url_for(unknown_account_id()),
            {"Authorization": f"Bearer {key}", CONTRACT.idempotency_header: value},
            f"boundary header: {why}",
        )
        ctx.expect(
            "boundary_inputs_answer_4xx",
            400 <= ex.status < 500,
            f"an unknown account with {why}: expected a 4xx, got {ex.status}",
            ex,
        )

    # Every input names an unknown account of its own: none depends on another's answer.
    ctx.together(
        [partial(routed, item) for item in routing_inputs()] + [partial(header, i) for i in idempotency_keys()]
    )


@scenario("strict_undocumented_statuses_use_envelope", strict=True)
def undocumented_statuses(ctx: Context) -> None:
    """Decision 12: another method on the route answers 405 in the envelope, with `Allow`. The
    pipeline's `strict_undocumented_status_uses_envelope` judges the body of every such answer."""
    for method in ("GET", "PATCH"):
        ex = ctx.client.send(
            method,
            ctx.client.url_for(unknown_account_id()),
            {"Authorization": f"Bearer {ctx.target.api_key}"},
            f"decision 12: {method} on the route",
        )
        ctx.expect(
            "strict_undocumented_statuses_use_envelope",
            ex.status == 405 and CONTRACT.method.upper() in ex.response.headers.get("allow", "").upper(),
            f"expected 405 with Allow: {CONTRACT.method.upper()}, got {ex.status} "
            f"(Allow: {ex.response.headers.get('allow')!r})",
            ex,
            strict=True,
        )


@scenario("revoke_counts_at_boundaries", needs=needs_accounts)
def counts_at_boundaries(ctx: Context) -> None:
    """Revoke an account with nothing queued and one with exactly one queued post, when the run has
    them: `canceledScheduledPosts` is the audit trail at the world's boundaries too (a LEFT JOIN's
    COUNT(*) says 1 for none; a single-post path that forgets to count says 0 for one)."""
    revoked = 0
    for queued in picking.BOUNDARIES:
        account = picking.with_queued(ctx, queued)
        if account is None:
            ctx.results.notes.append(
                f"revoke_counts_at_boundaries: no account with exactly {queued} queued post(s) to revoke"
                " (give one in --accounts)"
            )
            continue
        ex = ctx.revoke(account.id, f"revoke an account with {queued} queued post(s)")
        body = ex.json() if isinstance(ex.json(), dict) else {}
        count = body.get("canceledScheduledPosts")
        ctx.expect(
            "revoke_counts_at_boundaries",
            ex.status == OK and count == queued,
            f"an account with {queued} queued post(s) answered {ex.status} with canceledScheduledPosts"
            f" {count!r}: expected {OK} and {queued}",
            ex,
        )
        revoked += 1
    if not revoked:
        raise ScenarioSkipped("no account with 0 or 1 queued posts left (give one of each in --accounts)")


SCENARIOS = [boundary_ids, boundary_inputs, undocumented_statuses, counts_at_boundaries]

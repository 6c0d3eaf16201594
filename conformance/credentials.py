"""Lenient credentials: Authorization values a careless parser accepts.

The page: 401 `UNAUTHENTICATED` for a "Missing or invalid Authorization header", and the
authentication page: `Authorization: Bearer <key>` is the only accepted form. So the key without
a scheme, an empty bearer token, another scheme, the key with text after it, a key whose secret
part is wrong, and the legacy `X-Api-Key` header alone are all invalid, and each must answer 401.
Every request names a random unknown account: a server that wrongly accepts the credentials
answers 404 (or worse) and revokes nothing.

What the docs leave open is asserted only under --strict (decision 14): the scheme name is
case-insensitive (RFC 7235), so `bearer <key>` is accepted.
"""

from __future__ import annotations

from conformance.ids import unknown_account_id
from conformance.scenario_base import Context, scenario


def _flip_last(key: str) -> str:
    """The same key with its last character changed: right key id, wrong secret."""
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


def lenient_variants(key: str) -> list[tuple[str, dict[str, str]]]:
    auth = "Authorization"
    return [
        ("the key with no scheme", {auth: key}),
        ("an empty bearer token (the scheme alone)", {auth: "Bearer"}),
        ("an empty quoted bearer token", {auth: 'Bearer ""'}),
        ("a wrong scheme (Token)", {auth: f"Token {key}"}),
        ("a wrong scheme (Basic)", {auth: f"Basic {key}"}),
        ("the key with extra text after it", {auth: f"Bearer {key} extra"}),
        ("the key twice, comma-separated", {auth: f"Bearer {key}, Bearer {key}"}),
        ("the key with its last character changed", {auth: f"Bearer {_flip_last(key)}"}),
        ("the key cut short", {auth: f"Bearer {key[: max(1, len(key) // 2)]}"}),
        ("the legacy X-Api-Key header instead of Authorization", {"X-Api-Key": key}),
    ]


def _mask_derived(ctx: Context, key: str) -> None:
    """Parts of the key must not reach a log either: render them as shell expansions of the
    key's environment variable, so the curl line still runs (`${LAYERS_API_KEY%?}A`)."""
    env = ctx.client.secrets.get(key)
    if env:  # after the full key, which the curl renderer replaces first
        ctx.client.secrets.setdefault(key[:-1], f"{env}%?")
        ctx.client.secrets.setdefault(key[: max(1, len(key) // 2)], f"{env}:0:{max(1, len(key) // 2)}")


@scenario("lenient_credentials_answer_401")
def lenient_credentials(ctx: Context) -> None:
    _mask_derived(ctx, ctx.target.api_key)

    def one(item: tuple[str, dict[str, str]]) -> None:
        why, headers = item
        ex = ctx.client.send("DELETE", ctx.client.url_for(unknown_account_id()), headers, f"credentials: {why}")
        ctx.expect_error("lenient_credentials_answer_401", ex, "UNAUTHENTICATED")

    ctx.each(lenient_variants(ctx.target.api_key), one)  # each on an unknown account of its own


@scenario("strict_bearer_scheme_case_insensitive", strict=True)
def scheme_case(ctx: Context) -> None:
    for scheme in ("bearer", "BEARER"):
        ex = ctx.client.send(
            "DELETE",
            ctx.client.url_for(unknown_account_id()),
            {"Authorization": f"{scheme} {ctx.target.api_key}"},
            f"decision 14: the scheme written {scheme!r} (RFC 7235: case-insensitive)",
        )
        ctx.expect_error("strict_bearer_scheme_case_insensitive", ex, "NOT_FOUND", strict=True)


SCENARIOS = [lenient_credentials, scheme_case]

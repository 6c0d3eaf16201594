"""Hosted mode's configuration: the CLI's options and the workers' environment.

The rest of hosted mode (issue #13) lives in modules named for their job: `limits.py`,
`worlds.py` (secrets, resets), `routing.py` (tokens to sandboxes), `lifecycle.py` (expiry),
`registry.py` (the operator's calls). Local mode (no operator token) is the one implicit
sandbox `local`: none of them applies to it.
"""
from __future__ import annotations

from mock_server.tenancy.limits import Limits
from mock_server.tenancy.routing import MAX_TOKEN_LENGTH, SANDBOXES_PATH, TOKEN_PREFIX

OPERATOR_TOKEN_ENV = "LAYERS_MOCK_OPERATOR_TOKEN"
IDLE_TTL_ENV = "LAYERS_MOCK_SANDBOX_IDLE_TTL"
MAX_SANDBOXES_ENV = "LAYERS_MOCK_MAX_SANDBOXES"
MAX_ACCOUNTS_ENV = "LAYERS_MOCK_SANDBOX_MAX_ACCOUNTS"
MAX_POSTS_ENV = "LAYERS_MOCK_SANDBOX_MAX_POSTS"


# -- configuration: the CLI's options and the workers' environment ------------------------
def add_arguments(parser) -> None:
    """`layers-mock`'s hosted-mode options."""
    import os

    d = Limits()
    g = parser.add_argument_group("hosted sandboxes (one deployment, many isolated worlds; contract/control.yaml)")
    g.add_argument("--operator-token", default=os.environ.get(OPERATOR_TOKEN_ENV),
                   help=f"turn hosted mode on: this token (X-Mock-Admin-Token) creates, lists and deletes sandboxes"
                        f" at /_mock/sandboxes; each sandbox has its own adminToken (also ${OPERATOR_TOKEN_ENV})")
    g.add_argument("--sandbox-idle-ttl", type=float, metavar="SECONDS", default=d.idle_ttl,
                   help=f"a sandbox unused this long expires and is deleted (default {d.idle_ttl:g}: 24 h)")
    g.add_argument("--max-sandboxes", type=int, default=d.max_sandboxes,
                   help=f"sandboxes at once (default {d.max_sandboxes})")
    g.add_argument("--sandbox-max-accounts", type=int, default=d.max_accounts,
                   help=f"accounts per sandbox (default {d.max_accounts})")
    g.add_argument("--sandbox-max-posts", type=int, default=d.max_posts,
                   help=f"posts per sandbox (default {d.max_posts})")


def check_arguments(args) -> str | None:
    """A problem with the hosted-mode options, or None."""
    if args.operator_token is None:
        return None
    if len(args.operator_token) < 16 or len(args.operator_token) > MAX_TOKEN_LENGTH:
        return f"--operator-token must be 16 to {MAX_TOKEN_LENGTH} characters"
    if args.operator_token.startswith(TOKEN_PREFIX):
        return f"--operator-token must not start with {TOKEN_PREFIX} (sandbox tokens do)"
    if getattr(args, "admin_token", None):
        return "give --operator-token (hosted sandboxes) or --admin-token (one shared world), not both"
    if not (1 <= args.sandbox_idle_ttl <= 365 * 86400):
        return "--sandbox-idle-ttl must be between 1 second and 365 days"
    for name in ("max_sandboxes", "sandbox_max_accounts", "sandbox_max_posts"):
        if not (1 <= getattr(args, name) <= 100_000_000):
            return f"--{name.replace('_', '-')} must be between 1 and 100000000"
    return None


def export_env(args, environ) -> None:
    """Hand the options to uvicorn's worker processes (they read them in `from_env`)."""
    if args.operator_token:
        environ[OPERATOR_TOKEN_ENV] = args.operator_token
        environ[IDLE_TTL_ENV] = repr(args.sandbox_idle_ttl)
        environ[MAX_SANDBOXES_ENV] = str(args.max_sandboxes)
        environ[MAX_ACCOUNTS_ENV] = str(args.sandbox_max_accounts)
        environ[MAX_POSTS_ENV] = str(args.sandbox_max_posts)


def from_env(environ) -> tuple[str | None, Limits]:
    d = Limits()
    return environ.get(OPERATOR_TOKEN_ENV) or None, Limits(
        idle_ttl=float(environ.get(IDLE_TTL_ENV) or d.idle_ttl),
        max_sandboxes=int(environ.get(MAX_SANDBOXES_ENV) or d.max_sandboxes),
        max_accounts=int(environ.get(MAX_ACCOUNTS_ENV) or d.max_accounts),
        max_posts=int(environ.get(MAX_POSTS_ENV) or d.max_posts))


def hosted_banner(base: str, limits: Limits) -> str:
    return "\n".join([
        f"Layers mock (hosted sandboxes) on {base}   (API docs: {base}/ui/)",
        f"operator: POST/GET {base}{SANDBOXES_PATH}, DELETE {base}{SANDBOXES_PATH}/{{id}} with X-Mock-Admin-Token",
        f"limits: {limits.max_sandboxes} sandboxes, {limits.max_accounts} accounts and {limits.max_posts} posts each,"
        f" expiry after {limits.idle_ttl:g} s unused",
        "try:",
        f"  curl -s -X POST {base}{SANDBOXES_PATH} -H \"X-Mock-Admin-Token: $LAYERS_MOCK_OPERATOR_TOKEN\"",
    ])

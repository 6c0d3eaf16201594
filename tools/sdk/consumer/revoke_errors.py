"""A Python partner's reading of every documented error of the revoke call, on the client
openapi-python-client generates from openapi.yaml (scripts/check-sdks.sh): mypy --strict, nothing
widened by hand. Run as a script against a mock: `python revoke_errors.py BASE_URL WRITE_KEY`."""

from __future__ import annotations

import sys

from layers_client import AuthenticatedClient
from layers_client.api.social_accounts import revoke_social_account
from layers_client.models import ForbiddenScopeError, KillSwitchError, ValidationError
from layers_client.types import Unset

# The mock's reserved test accounts (docs/guides/any-language.md): each always answers its status.
FORBIDDEN = "sa_00000000-0000-4000-8000-000000000403"
KILLED = "sa_00000000-0000-4000-8000-000000000503"


def validation_issues(body: ValidationError) -> list[str]:
    details = body.error.details  # optional on a 400, and so are its issues
    if isinstance(details, Unset) or isinstance(details.issues, Unset):
        return []
    return [issue.message for issue in details.issues]


def required_scope(body: ForbiddenScopeError) -> str:
    return body.error.details.required_scope


def kill_switch_scope(body: KillSwitchError) -> str:
    return body.error.details.scope.value


def main(base_url: str, key: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=key)
    for account_id in (FORBIDDEN, KILLED, "sa_not-an-id"):
        body = revoke_social_account.sync(client=client, social_account_id=account_id)
        if isinstance(body, ForbiddenScopeError):
            print(f"403 {body.error.code.value} requiredScope={required_scope(body)}")
        elif isinstance(body, KillSwitchError):
            print(f"503 {body.error.code.value} scope={kill_switch_scope(body)}")
        elif isinstance(body, ValidationError):
            print(f"400 {body.error.code.value} issues={validation_issues(body)}")
        else:
            raise SystemExit(f"{account_id}: unexpected answer {body!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

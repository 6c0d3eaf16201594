"""The one parser of the contract's route, for every layer that must know a revoke's path (the
edge's middlewares, and the client report's grading of the journal)."""

from __future__ import annotations


class RevokeRoute:
    """The one parser of the contract's route (`/v1/social-accounts/{socialAccountId}`)."""

    def __init__(self, contract):
        self.method = contract.method.upper()
        self.prefix, self.suffix = contract.route.split("{" + contract.path_parameter["name"] + "}")
        self.api_prefix = self.prefix.rstrip("/").rsplit("/", 1)[0] + "/"  # "/v1/"

    def account_id(self, path: str) -> str | None:
        """The raw path parameter if `path` is the route's shape, else None (not validated)."""
        if not path.startswith(self.prefix) or not path.endswith(self.suffix):
            return None
        value = path[len(self.prefix) : len(path) - len(self.suffix)] if self.suffix else path[len(self.prefix) :]
        return value if value and "/" not in value else None

    def is_api(self, path: str) -> bool:
        return path.startswith(self.api_prefix)

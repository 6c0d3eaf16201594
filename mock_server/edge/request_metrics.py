"""Every request counted and timed for `/_mock/metrics` (core/metrics.py), by the edge.

Labels stay few whatever clients send: the route is the route's template (the revoke's, a
control operation's, or a fixed name such as `/ui/`), never the path; the method is one of the
HTTP methods or `OTHER`. The per-request cost is a dictionary lookup, one counter increment and
one histogram observation (label children cached after their first use).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX
from contract.spec import Contract
from mock_server.core import metrics
from mock_server.edge.route import RevokeRoute

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Besides the revoke and the control operations: Swagger UI (the API's and the control plane's),
# the reference page and the served specs.
_FIXED = (CONTROL_PREFIX + "/ui/", "/ui/", "/docs", "/openapi.json", "/openapi.yaml")


def _control_paths() -> list[str]:
    return sorted({path for _, path, _ in CONTROL.operations.values()})


def _template(path: str) -> re.Pattern:
    """`/accounts/{accountId}` -> a pattern matching one segment where each parameter is."""
    return re.compile("[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", path)) + "$")


class RouteLabels:
    """A request path -> the route label it is counted under (a bounded set)."""

    def __init__(self, contract: Contract = CONTRACT):
        self.route = RevokeRoute(contract)
        self.api = contract.route
        self.control = [(_template(CONTROL_PREFIX + path), CONTROL_PREFIX + path) for path in _control_paths()]

    def __call__(self, path: str) -> str:
        if self.route.account_id(path) is not None:
            return self.api
        if path.startswith(CONTROL_PREFIX + "/"):
            for pattern, label in self.control:
                if pattern.match(path):
                    return label
        for fixed in _FIXED:
            if path == fixed or (fixed.endswith("/") and path.startswith(fixed)):
                return fixed
        return UNMATCHED


class RequestMetrics:
    """Not an ASGI layer: the edge (middleware.py) calls `record` once per request, after its
    answer was sent (or it failed), with the status and the time it took."""

    def __init__(self, contract: Contract = CONTRACT):
        self.labels = RouteLabels(contract)
        self._counters: dict[tuple[str, str, int], Callable[[float], None]] = {}
        self._histograms: dict[str, Callable[[float], None]] = {}

    def record(self, scope, status: int, seconds: float, route: str | None = None) -> None:
        """`route`: the label, when the caller knows it (the fast path answers the API's route)."""
        if route is None:
            route = self.labels(scope.get("path", ""))
        method = scope.get("method", "")
        key = (route, method if method in METHODS else "OTHER", status)
        count = self._counters.get(key)
        if count is None:
            count = self._counters[key] = metrics.request_counter(key[0], key[1], str(status))
        count(1.0)
        observe = self._histograms.get(route)
        if observe is None:
            observe = self._histograms[route] = metrics.latency_observer(route)
        observe(seconds)

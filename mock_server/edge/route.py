"""The route parser lives in the core (core/route.py: the client report reads paths too)."""

from __future__ import annotations

from mock_server.core.route import RevokeRoute

__all__ = ["RevokeRoute"]

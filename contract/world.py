"""The default world the mock starts with (`default_world.json`), as the docs, the banner and
the plugin read it. The mock validates fixtures itself (mock_server/core/world.py); the shipped
default is held valid by its tests."""

from __future__ import annotations

import json
from pathlib import Path

from contract.control import CONTROL
from contract.spec import CONTRACT, Contract

DEFAULT_WORLD = Path(__file__).with_name("default_world.json")


def default_world() -> dict:
    return json.loads(DEFAULT_WORLD.read_text(encoding="utf-8"))


def default_write_key(fixture: dict, contract: Contract = CONTRACT) -> dict | None:
    """The key partners are pointed at first (banner, docs, `POST /_mock/accounts` without an
    organizationId): the first one holding the required scope itself (not `*`) on a documented
    rate-limit tier."""
    return next(
        (
            k
            for k in fixture.get("keys", [])
            if contract.required_scope in k.get("scopes", [])
            and k.get("tier", CONTROL.default("KeyTier")) in contract.rate_limit_tiers
        ),
        None,
    )

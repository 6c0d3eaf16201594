"""Ids the kit makes up: a module that imports nothing of the kit's, so the generated phase's
worker process (`conformance.generated`) draws them as the scenarios do."""

from __future__ import annotations

import uuid


def unknown_account_id() -> str:
    """A well-formed id that names no account: random, so no run collides with another."""
    return "sa_" + str(uuid.uuid4())

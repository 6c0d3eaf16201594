"""A staging-style world for a kit run, made through the mock's control plane: what an operator
prepares before running the kit against staging. The kit's tests (conftest.py's `staging_args`)
and the kit's benchmarks (bench/kit_latency.py) make it the same way, here."""

from __future__ import annotations

import json
from pathlib import Path

from contract import CONTRACT

QUEUED = [4, 3, 0, 5, 2, 6, 1]
"""Queued posts of the accounts handed to a staging-style run: one with none (the read-only and
409 scenarios aim there), the others different, so a count taken from the wrong account shows."""


def make_staging_world(control, workdir: Path, queued: list[int] = QUEUED) -> list[str]:
    """Keys (partner tier: 3,000 requests a minute, decision 7, so a run's budget never binds),
    accounts with queued posts, another organization's account; the accounts file in `workdir`.
    Returns the kit's arguments: `--api-key --read-only-key --foreign-account-id --accounts`."""
    org = control.create_organization("staging-like")
    write = control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    read_only = control.create_key(org["id"], ["social:read"], tier="partner")
    accounts = [
        control.create_account(org["id"], posts={"queued": n, "published": 2, "draft": 1, "failed": 1}) for n in queued
    ]
    foreign = control.create_account(control.create_organization("other")["id"], posts={"queued": 3, "published": 1})
    path = workdir / f"accounts-{org['id']}.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {"socialAccountId": a["socialAccountId"], "queuedPosts": n}
                    for a, n in zip(accounts, queued, strict=True)
                ]
            }
        )
    )
    return [
        "--api-key",
        write["secret"],
        "--read-only-key",
        read_only["secret"],
        "--foreign-account-id",
        foreign["socialAccountId"],
        "--accounts",
        str(path),
    ]

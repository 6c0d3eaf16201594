"""Request ids (core/ids.py): `req_` + a ULID, unique, in minting order within a millisecond, and
never repeated by a forked worker (granian forks the workers from one process)."""

from __future__ import annotations

import os
from itertools import pairwise
from types import SimpleNamespace

from contract import CONTRACT
from mock_server.core import ids


def test_request_ids_are_req_ulids_unique_and_in_order_within_a_millisecond():
    minted = [ids.request_id() for _ in range(20_000)]
    assert all(CONTRACT.request_id_pattern.match(rid) for rid in minted)
    assert len(set(minted)) == len(minted)
    same_ms = [(a, b) for a, b in pairwise(minted) if a[:14] == b[:14]]
    assert same_ms and all(a < b for a, b in same_ms)


def test_a_forked_worker_never_mints_its_parents_ids(monkeypatch):
    """Parent and child in the same millisecond (the clock held still): the child draws digits of
    its own instead of counting on from its parent's."""
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: 1_767_225_600.0))
    before = [ids.request_id() for _ in range(3)]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, to the parent, and out
        os.write(write, " ".join(ids.request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    after = [ids.request_id() for _ in range(3)]
    assert len(child) == 3 and len({rid[:14] for rid in before + child + after}) == 1  # one millisecond
    assert not set(child) & set(before + after), (before, child, after)

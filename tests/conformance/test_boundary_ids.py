"""The boundary ids are built around a fresh random UUID: each must test what it says on every
run, whatever that UUID is (the fullwidth-digit id once lost its `sa_` prefix when the UUID
began with "a", 1 run in 16, and a lenient UUID parser then went uncaught in CI)."""

from __future__ import annotations

import uuid
from unittest import mock
from urllib.parse import unquote

import pytest

from conformance import boundaries
from contract import CONTRACT


@pytest.mark.parametrize("first", "0123456789abcdef")
def test_the_fullwidth_digit_id_is_one_a_lenient_parser_takes_for_a_uuid(first):
    good = "sa_" + first + str(uuid.uuid4())[1:]
    with mock.patch.object(boundaries, "unknown_account_id", lambda: good):
        ids = dict(boundaries.malformed_ids())
    raw = unquote(ids["fullwidth digits"])
    assert raw.startswith("sa_") and not CONTRACT.account_id_pattern.match(raw)
    assert "sa_" + str(uuid.UUID(raw[3:])) != raw  # uuid.UUID() reads it, and canonical it differs

"""The pipeline keeps the digests of Authorization headers it has seen (core/pipeline.py), a
bounded cache: headers up to DIGEST_HEADER_MAX characters are kept, a longer one (no key's secret
is that long) is hashed each time and never held, and every header gets its 401 either way."""

from __future__ import annotations

import pytest

from contract import CONTRACT
from mock_server.core.pipeline import DIGEST_HEADER_MAX


@pytest.mark.parametrize(("length", "kept"), [(DIGEST_HEADER_MAX, True), (DIGEST_HEADER_MAX + 1, False)])
def test_a_header_is_kept_up_to_the_bound(make_mock, length, kept):
    mock = make_mock("sqlite")
    pipeline = mock.app.edge.fast_path.pipeline
    header = "Bearer lp_" + "x" * (length - len("Bearer lp_"))
    assert len(header) == length
    with mock.client() as api:
        answer = api.delete(
            CONTRACT.path_for("sa_00000000-0000-4000-8000-000000000000"), headers={"Authorization": header}
        )
    assert answer.status_code == 401
    assert (header in pipeline._digests) is kept  # the bound under test

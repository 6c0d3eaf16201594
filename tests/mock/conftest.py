"""tests/mock runs twice: against the mock as served (fast path for well-formed revokes) and
against the same mock with everything through Connexion (`--no-fast-path`). Both edges must
give the same answers; these tests are the proof."""

from __future__ import annotations

import pytest

from mock_control.launcher import MockProcess


@pytest.fixture(scope="session", params=["fast-path", "connexion-only"])
def mock_server(request):
    extra = ["--no-fast-path"] if request.param == "connexion-only" else []
    with MockProcess(extra_args=extra) as proc:
        yield proc

"""Hosted mode's fixtures: a real `layers-mock --operator-token` on each backend (a SQLite file,
and a fresh database on the session's real PostgreSQL server), and sandboxes made through its
HTTP control plane, as a partner's CI would."""

from __future__ import annotations

import httpx
import pytest

from .support import BACKENDS, OPERATOR, database_for, hosted_mock


@pytest.fixture(scope="session", params=BACKENDS)
def hosted(request, tmp_path_factory):
    """One hosted mock per backend for the session (two workers: the control plane's calls and
    the API land on either process)."""
    database = database_for(request.param, request, tmp_path_factory.mktemp("hosted"), "hosted")
    with hosted_mock(database, workers=2) as proc:
        proc.backend = request.param
        yield proc


@pytest.fixture
def operator(hosted):
    with httpx.Client(base_url=hosted.base_url, headers={"X-Mock-Admin-Token": OPERATOR}, timeout=30) as http:
        yield http

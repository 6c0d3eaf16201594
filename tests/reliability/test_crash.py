"""SIGKILL the mock under load, restart it on the same state (SQLite file or PostgreSQL), check integrity.

CI runs a few iterations; `bench/soak_reliability.py --crash-iterations 20` runs the long loop.
"""

from __future__ import annotations

import pytest

from .conftest import BACKENDS, database_for
from .support import crash_iteration

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

CI_ITERATIONS = 3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(1, CI_ITERATIONS + 1))
def test_sigkill_under_load_loses_nothing_and_half_revokes_nothing(tmp_path, seed, backend, request):
    database = None if backend == "sqlite" else database_for(backend, request, tmp_path, "crash")
    summary = crash_iteration(tmp_path, seed, database=database)
    print(f"\ncrash ({backend}):", summary)
    assert summary["integrity_violations"] == 0
    assert summary["oks_before_kill"] >= 1  # the kill really landed under load
    assert summary["committed_at_restart"] >= summary["oks_before_kill"]

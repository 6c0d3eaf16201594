"""`/_mock/metrics` with uvicorn's workers (issue 20): a scrape reaches one worker at random, and
still counts every request the instance answered, because the workers share one metrics
directory (prometheus_client's multiprocess mode), removed when the mock stops."""

from __future__ import annotations

import glob
import os
import tempfile

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

REQUESTS = 100
UNKNOWN = "sa_00000000-0000-4000-8000-000000000000"


def _api_requests(text: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "layers_mock_requests_total" and s.labels["route"] == CONTRACT.route
    )


def _metrics_dirs() -> set[str]:
    return set(glob.glob(f"{tempfile.gettempdir()}/layers-metrics-*"))


def _ours(directory: str, group: int) -> bool:
    """Whether one of the directory's counter files belongs to a live worker of this mock's process
    group: with `-n 2` another test's mock may make its own directory at the same time."""
    for path in glob.glob(f"{directory}/counter_*.db"):
        try:
            if os.getpgid(int(path.rsplit("_", 1)[1].removesuffix(".db"))) == group:
                return True
        except (ProcessLookupError, ValueError):
            continue
    return False


def test_every_scrape_counts_every_worker(keys):
    before = _metrics_dirs()
    with MockProcess(workers=2) as mock:
        auth = {"Authorization": f"Bearer {keys['write']['secret']}"}
        seen_pids = set()
        # A new connection per request, so that both workers answer some.
        for _ in range(REQUESTS):
            with httpx.Client(base_url=mock.base_url, timeout=10) as http:
                assert http.delete(CONTRACT.path_for(UNKNOWN), headers=auth).status_code == 404
        scrapes = []
        for _ in range(8):
            with httpx.Client(base_url=mock.base_url, timeout=10) as http:
                r = http.get(f"{CONTROL_PREFIX}/metrics")
                assert r.status_code == 200
                scrapes.append(_api_requests(r.text))
        during = {d for d in _metrics_dirs() - before if _ours(d, mock.proc.pid)}
        assert len(during) == 1, during  # one shared directory for the instance
        (directory,) = during
        seen_pids = {p.rsplit("_", 1)[1] for p in glob.glob(f"{directory}/counter_*.db")}
    print(f"\nmetrics: {REQUESTS} requests, 8 scrapes counted {sorted(set(scrapes))}; {len(seen_pids)} worker files")
    # Both workers answered requests and wrote their counts. On a loaded machine uvicorn may also
    # replace a worker that missed its health ping (6 files seen at load average 30): the files of
    # the replaced ones stay, and their counts still add up below.
    assert len(seen_pids) >= 2, seen_pids
    assert scrapes == [REQUESTS] * 8, scrapes
    assert not os.path.exists(directory)  # removed on stop

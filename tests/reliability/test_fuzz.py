"""Schemathesis against the live two-worker mock: every check (`--checks all`, incl.
not_a_server_error), positive and negative cases, a valid key, some real account ids.

CI runs two seeds of 1,000 examples each (2,000+ cases with the examples and coverage phases);
`bench/soak_reliability.py` runs more seeds.
"""

from __future__ import annotations

import pytest

from .support import make_tenant, run_schemathesis

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

CI_SEEDS = (1, 2)
EXAMPLES_PER_SEED = 1000


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_schemathesis_finds_no_server_error(multi_mock, multi_control, tmp_path, seed):
    tenant = make_tenant(multi_control, 20, queued_for=lambda i: i % 4, name=f"fuzz {seed}")
    run = run_schemathesis(
        multi_mock.base_url, tenant.secret, tenant.accounts, seed=seed, max_examples=EXAMPLES_PER_SEED, workdir=tmp_path
    )
    print(f"\nfuzz seed={seed}: cases={run['cases']} modes={run['modes']} statuses={run['statuses']}")
    assert run["failures"] == [] and run["errors"] == [], run["output_tail"]
    assert run["exit_code"] == 0, run["output_tail"]
    assert run["cases"] == run["generated"] >= EXAMPLES_PER_SEED
    assert run["modes"].get("negative", 0) > 0 and run["modes"].get("positive", 0) > 0
    assert not [s for s in run["statuses"] if s is None or s >= 500], run["statuses"]
    assert multi_control.integrity()["ok"]

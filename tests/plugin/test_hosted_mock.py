"""`--layers-mock-url` runs a partner's tests on a hosted mock (`layers-mock --operator-token`),
each session in a sandbox of its own: the shipped examples pass there unchanged, the sandbox is
gone afterwards (when the plugin made it), and the hosted mock's other sandboxes are untouched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sandbox.support import OPERATOR, new_sandbox

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


@pytest.fixture(scope="module")
def hosted_mock(tmp_path_factory):
    database = str(tmp_path_factory.mktemp("hosted-plugin") / "state.sqlite3")
    with MockProcess(database=database, extra_args=["--operator-token", OPERATOR]) as proc:
        yield proc


def test_examples_pass_in_a_sandbox_the_plugin_makes_and_deletes(hosted_mock, copy_examples, run_pytest):
    bystander = new_sandbox(hosted_mock.base_url, "bystander")
    copy_examples()
    run = run_pytest(f"--layers-mock-url={hosted_mock.base_url}", env={"LAYERS_MOCK_OPERATOR_TOKEN": OPERATOR})
    assert run.returncode == 0 and run.outcomes and set(run.outcomes.values()) <= {"passed"}, run.output
    with ControlClient(hosted_mock.base_url, admin_token=OPERATOR) as operator:
        assert [s["sandboxId"] for s in operator.list_sandboxes()["sandboxes"]] == [bystander.id]
    with bystander.control() as c:  # the examples revoked the example account in their own world only
        assert c.account(CONTRACT.example_account_id)["status"] == "connected"
        assert c.journal() == []


def test_examples_pass_in_a_given_sandbox(hosted_mock, copy_examples, run_pytest):
    box = new_sandbox(hosted_mock.base_url, "given to the session")
    copy_examples()
    run = run_pytest(f"--layers-mock-url={hosted_mock.base_url}", f"--layers-sandbox-token={box.token}")
    assert run.returncode == 0 and set(run.outcomes.values()) <= {"passed"}, run.output
    with box.control() as c:
        assert c.journal(), "the session's requests went to this sandbox"
    with ControlClient(hosted_mock.base_url, admin_token=OPERATOR) as operator:
        assert box.id in {s["sandboxId"] for s in operator.list_sandboxes()["sandboxes"]}  # not the plugin's to delete


def test_a_hosted_url_without_a_token_says_what_to_pass(hosted_mock, tmp_path, run_pytest):
    (tmp_path / "test_x.py").write_text("def test_x(layers_mock):\n    pass\n")
    run = run_pytest(f"--layers-mock-url={hosted_mock.base_url}")
    assert run.returncode != 0 and "--layers-operator-token" in run.output, run.output

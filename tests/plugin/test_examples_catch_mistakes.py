"""The example tests must catch the mistakes the issue names: a job that ignores `Retry-After`,
or retries a 404 (and one that changes its Idempotency-Key between retries).

Each case builds a careless copy of examples/offboarding.py (one line changed), hands it to the
example test that watches for that mistake, and runs that test against a fresh `layers_mock`: the
test must fail. The unchanged copy is run through every watcher the same way and must pass, so a
failure can only come from the mistake. (In-process: a nested pytest per case would start a mock
each time, which is slow on a busy machine.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RETRY_AFTER_TEST = "test_rate_limited_revoke_waits_exactly_retry_after_then_succeeds"
NOT_FOUND_TESTS = [
    "test_already_revoked_account_is_reported_and_not_retried",
    "test_other_organizations_account_is_reported_and_not_retried",
]
RETRY_500_TEST = "test_failed_transaction_is_retried_with_the_same_idempotency_key"

# name -> (text in offboarding.py, what a careless version writes instead, tests that must fail)
MISTAKES = {
    "fixed backoff instead of Retry-After": (
        "wait = error.retry_after if error.retry_after is not None else backoff_seconds",
        "wait = backoff_seconds",
        [RETRY_AFTER_TEST],
    ),
    "retries immediately": ("        sleep(wait)\n", "        pass\n", [RETRY_AFTER_TEST]),
    "retries a 404": ("SAFE_TO_RETRY = (INTERNAL,)", "SAFE_TO_RETRY = (INTERNAL, NOT_FOUND)", NOT_FOUND_TESTS),
    "new Idempotency-Key on each retry": (
        "idempotency_key=idempotency_key)",
        'idempotency_key=f"{idempotency_key}-{attempt}")',
        [RETRY_500_TEST],
    ),
}
WATCHERS = sorted({name for _, _, tests in MISTAKES.values() for name in tests})
CASES = [
    pytest.param(mistake, watcher, id=f"{mistake} / {watcher}")
    for mistake, (_, _, watchers) in MISTAKES.items()
    for watcher in watchers
]


def _load(path: Path, module_name: str, monkeypatch, source: str | None = None):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)  # dataclasses look their module up
    if source is None:
        spec.loader.exec_module(module)
    else:
        exec(compile(source, str(path), "exec"), module.__dict__)
    return module


@pytest.fixture
def example_tests(monkeypatch):
    """The example test module, loaded under its own name, with `offboard_customer` swappable."""
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the examples import layers_client, offboarding
    return _load(EXAMPLES / "test_offboard_customer.py", "examples_under_check", monkeypatch)


def _run_watcher(example_tests, watcher: str, layers_mock) -> None:
    from layers_client import Layers  # from examples/, put on sys.path by example_tests

    layers = Layers(base_url=layers_mock.base_url, api_key=layers_mock.write_key)
    getattr(example_tests, watcher)(layers_mock, layers)


@pytest.mark.parametrize("watcher", WATCHERS)
def test_watchers_pass_on_the_example_as_written(example_tests, layers_mock, watcher):
    _run_watcher(example_tests, watcher, layers_mock)


@pytest.mark.parametrize("mistake, watcher", CASES)
def test_watcher_fails_on_the_mistake(example_tests, layers_mock, monkeypatch, mistake, watcher):
    original, careless, _ = MISTAKES[mistake]
    source = (EXAMPLES / "offboarding.py").read_text()
    # If the example is rewritten, this case must be rewritten too, not pass vacuously.
    assert source.count(original) == 1, f"offboarding.py no longer contains {original!r}"
    careless_module = _load(
        EXAMPLES / "offboarding.py", "careless_offboarding", monkeypatch, source.replace(original, careless)
    )
    monkeypatch.setattr(example_tests, "offboard_customer", careless_module.offboard_customer)

    with pytest.raises(AssertionError) as caught:
        _run_watcher(example_tests, watcher, layers_mock)
    # One of the watcher's own asserts, not an error raised inside the careless code.
    assert Path(caught.traceback[-1].path) == EXAMPLES / "test_offboard_customer.py"

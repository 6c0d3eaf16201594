"""The pytest plugin (entry point `pytest11: layers_mock`): fixtures and options.

Fixtures (named `layers_*` so they never clash with a suite's own `mock_server`, `base_url`...):

- `layers_target` (session): the server under test. Without options, a real `layers-mock` child
  process on a free loopback port, started once per session; under pytest-xdist each worker is its
  own session, so each worker has its own mock and no state is shared between workers.
- `layers_mock` (function): the mock reset to its default world before the test, as a
  `LayersMock` (keys, account helpers, kill switches, budgets, faults, clock, journal).

`--layers-base-url URL` (or `LAYERS_BASE_URL`) runs the same tests against a live target instead;
tests that need the control plane skip there.
"""
from __future__ import annotations

import warnings

import pytest

from layers_pytest.target import Target, add_options

# How much of the journal to show under a failed test that used the mock.
JOURNAL_LINES_ON_FAILURE = 30


def pytest_addoption(parser) -> None:
    add_options(parser)


@pytest.fixture(scope="session")
def layers_target(request):
    """The live target from the options, or a fresh `layers-mock` for this session (worker)."""
    live = Target.live_from_config(request.config)
    if live is not None:
        yield live
        return
    from mock_server.launcher import MockProcess

    with MockProcess() as proc:
        yield Target(base_url=proc.base_url, live=False)


def _control_client_class():
    # The control client imports the mock's server modules and so Connexion, whose import-time
    # deprecation warnings are about Connexion's dependencies, not about the partner's tests.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mock_server.control_client import ControlClient
    return ControlClient


@pytest.fixture
def layers_mock(layers_target):
    """A `LayersMock` over a freshly reset default world (or the live target, unreset)."""
    from layers_pytest.harness import LayersMock

    if layers_target.live:
        harness = LayersMock(layers_target)
        yield harness
        harness.close()
        return

    with _control_client_class()(layers_target.base_url) as control:
        # Reset *before* the test: a test never depends on the previous one having cleaned up.
        control.reset()
        harness = LayersMock(layers_target, control)
        try:
            yield harness
        finally:
            harness.close()


def pytest_report_header(config) -> str | None:
    live = Target.live_from_config(config)
    if live is not None:
        return f"layers_mock: {live.describe()}"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show the mock's journal under a failed test: which requests it answered, with what."""
    outcome = yield
    report = outcome.get_result()
    harness = getattr(item, "funcargs", {}).get("layers_mock")
    if report.when != "call" or not report.failed or harness is None or harness._control is None:
        return
    try:
        entries = harness.journal(limit=1000)[-JOURNAL_LINES_ON_FAILURE:]
    except Exception as exc:  # the mock may be what broke; never hide the test's own failure
        report.sections.append(("layers-mock journal", f"(could not read the journal: {exc})"))
        return
    lines = [f"{e['at']} {e['method']} {e['path']} -> {e['status']} {e.get('code') or ''}"
             f"{'  Idempotency-Key=' + e['idempotencyKey'] if e.get('idempotencyKey') else ''}"
             for e in entries]
    report.sections.append(("layers-mock journal", "\n".join(lines) or "(no API requests)"))

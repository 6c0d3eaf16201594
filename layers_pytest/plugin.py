"""The pytest plugin (entry point `pytest11: layers_mock`): fixtures and options.

Fixtures (named `layers_*` so they never clash with a suite's own `mock_server`, `base_url`...):

- `layers_target` (session): the server under test. Without options, a real `layers-mock` child
  process on a free loopback port, started once per session; under pytest-xdist each worker is its
  own session, so each worker has its own mock and no state is shared between workers.
- `layers_mock` (function): the mock reset to its default world before the test, as a
  `LayersMock` (keys, account helpers, kill switches, budgets, faults, clock, journal).

`--layers-base-url URL` (or `LAYERS_BASE_URL`) runs the same tests against a live target instead;
tests that need the control plane skip there. `--layers-mock-url URL` with
`--layers-operator-token` (or `--layers-sandbox-token`) runs them on a hosted mock, in a sandbox
of the session's own.
"""

from __future__ import annotations

import pytest

from layers_pytest.target import PluginSettings, Target, add_options

# How much of the journal to show under a failed test that used the mock.
JOURNAL_LINES_ON_FAILURE = 30
SETTINGS = pytest.StashKey[PluginSettings]()
# Per test that used the mock: the rules its client broke (read at teardown; the terminal summary).
GRADES = pytest.StashKey[dict[str, dict[str, int]]]()


def pytest_addoption(parser) -> None:
    add_options(parser)


def pytest_configure(config) -> None:
    """The plugin's settings, read once from the options and the environment."""
    config.stash[SETTINGS] = PluginSettings.from_config(config)
    config.stash[GRADES] = {}


@pytest.fixture(scope="session")
def layers_target(request):
    """The live target from the options, or a fresh `layers-mock` for this session (worker)."""
    settings = request.config.stash[SETTINGS]
    live = Target.live_from(settings)
    if live is not None:
        yield live
        return
    if settings.layers_mock_url is not None:
        yield from _hosted_target(request.config, settings, settings.layers_mock_url.rstrip("/"))
        return
    from mock_control.launcher import MockProcess

    # Port 0: the mock binds a free port itself and names it in its ready file (mock_server/ready.py),
    # where the launcher reads it: nothing chosen here that another process could take first.
    with MockProcess(port=0) as proc:
        yield Target(base_url=proc.ready()["baseUrl"], live=False)


def _hosted_target(config, settings: PluginSettings, base_url: str):
    """A sandbox of this session's own on a hosted mock (deleted after it, if made here)."""
    sandbox_token = settings.layers_sandbox_token
    if sandbox_token is not None:
        from layers_pytest.harness import _default_world
        from mock_server.tenancy.worlds import derive_secret

        # A sandbox made from the default world: its keys' secrets follow from its token.
        secrets = {k["id"]: derive_secret(sandbox_token, k["secret"]) for k in _default_world()["keys"]}
        yield Target(base_url=base_url, live=False, admin_token=sandbox_token, key_secrets=secrets)
        return
    operator_token = settings.layers_operator_token
    if operator_token is None:
        raise pytest.UsageError(
            "--layers-mock-url needs --layers-operator-token (LAYERS_MOCK_OPERATOR_TOKEN)"
            " or --layers-sandbox-token (LAYERS_SANDBOX_TOKEN)"
        )
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    with _control_client(base_url, operator_token) as operator:
        made = operator.create_sandbox(label=f"pytest session ({worker})")
        try:
            yield Target(
                base_url=base_url,
                live=False,
                admin_token=made["adminToken"],
                key_secrets={k["id"]: k["secret"] for k in made["keys"]},
            )
        finally:
            operator.delete_sandbox(made["sandboxId"])


def _control_client(base_url: str, admin_token: str | None):
    # Imported when a fixture needs it, not with the plugin: the plugin loads in every pytest run
    # of a partner's suite, and importing the client parses the contract's YAML.
    from mock_control import ControlClient

    return ControlClient(base_url, admin_token=admin_token)


@pytest.fixture
def layers_mock(request, layers_target):
    """A `LayersMock` over a freshly reset default world (or the live target, unreset)."""
    from layers_pytest.harness import LayersMock

    if layers_target.live:
        harness = LayersMock(layers_target)
        yield harness
        harness.close()
        return

    with _control_client(layers_target.base_url, layers_target.admin_token) as control:
        # Reset *before* the test: a test never depends on the previous one having cleaned up.
        control.reset()
        harness = LayersMock(layers_target, control)
        try:
            yield harness
            _remember_grade(request, control)
        finally:
            harness.close()


def _remember_grade(request, control) -> None:
    """What the client-report says of this test's requests, for the terminal summary."""
    try:
        report = control.client_report()
    except Exception:  # noqa: BLE001 - the summary is a courtesy; the test's own result stands
        return
    if report["requests"]:
        request.config.stash[GRADES][request.node.nodeid] = {r["id"]: r["flags"] for r in report["rules"] if r["flags"]}


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """How the client behaved across the session: the rules broken, by test."""
    grades = config.stash.get(GRADES, {})
    if not grades:
        return
    terminalreporter.section("layers-mock client report")
    flagged = {test: rules for test, rules in grades.items() if rules}
    terminalreporter.write_line(
        f"{len(grades)} test(s) sent requests to the mock; {len(flagged)} broke a rule"
        + ("" if flagged else " (no rule flagged anything)")
    )
    for test, rules in flagged.items():
        shown = ", ".join(f"{rule} x{n}" for rule, n in sorted(rules.items()))
        terminalreporter.write_line(f"  {test}: {shown}")


def pytest_report_header(config) -> str | None:
    settings = config.stash[SETTINGS]
    live = Target.live_from(settings)
    if live is not None:
        return f"layers_mock: {live.describe()}"
    if settings.layers_mock_url is not None:
        return f"layers_mock: hosted layers-mock at {settings.layers_mock_url}, a sandbox per session"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Show the mock's journal under a failed test: which requests it answered, with what."""
    outcome = yield
    report = outcome.get_result()
    harness = getattr(item, "funcargs", {}).get("layers_mock")
    # harness._control: the plugin and its harness are one package; None when there is no mock to ask.
    if report.when != "call" or not report.failed or harness is None or harness._control is None:  # noqa: SLF001
        return
    try:
        entries = harness.journal(limit=1000)[-JOURNAL_LINES_ON_FAILURE:]
    except Exception as exc:  # noqa: BLE001 - the mock may be what broke; never hide the test's own failure
        report.sections.append(("layers-mock journal", f"(could not read the journal: {exc})"))
        return
    lines = [
        f"{e['at']} {e['method']} {e['path']} -> {e['status']} {e.get('code') or ''}"
        f"{'  Idempotency-Key=' + e['idempotencyKey'] if e.get('idempotencyKey') else ''}"
        for e in entries
    ]
    report.sections.append(("layers-mock journal", "\n".join(lines) or "(no API requests)"))

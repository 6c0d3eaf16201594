"""The mock's settings (mock_server/settings.py): one list, as the CLI's flags, the environment's
variables, the workers' copy and the site's settings table; in process, no server started."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mock_server import cli
from mock_server.app import create_app
from mock_server.settings import (
    SETTINGS_ENV,
    MockSettings,
    SettingsError,
    from_command_line,
    from_sources,
    markdown_table,
    parser,
    usable_cores,
)

SETTINGS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "settings.md"
MARKER = "<!-- generated: mock-settings -->"
# Every variable layers-mock (or its workers) read before the settings object: still honoured.
EARLIER_VARIABLES = {
    "LAYERS_MOCK_DATABASE",
    "LAYERS_MOCK_ADMIN_TOKEN",
    "LAYERS_MOCK_ALLOWED_HOSTS",
    "LAYERS_MOCK_OPERATOR_TOKEN",
    "LAYERS_MOCK_VALIDATE_RESPONSES",
    "LAYERS_MOCK_FAST_PATH",
    "LAYERS_MOCK_FIXTURES",
    "LAYERS_MOCK_CORS_ORIGINS",
    "LAYERS_MOCK_SANDBOX_IDLE_TTL",
    "LAYERS_MOCK_MAX_SANDBOXES",
    "LAYERS_MOCK_SANDBOX_MAX_ACCOUNTS",
    "LAYERS_MOCK_SANDBOX_MAX_POSTS",
}
TOKEN = "a-secret-token-0123456789"


def table_rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_every_flag_is_in_the_table_and_every_row_is_a_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    flags = set(re.findall(r"^  (--[a-z-]+)", capsys.readouterr().out, re.MULTILINE)) - {"--help"}
    in_table = {row[1].strip("`").split()[0] for row in table_rows(markdown_table())}
    assert flags == in_table


def test_every_earlier_variable_is_a_setting():
    in_table = {row[2].strip("`") for row in table_rows(markdown_table())}
    assert in_table >= EARLIER_VARIABLES


def test_the_site_shows_the_table_generated_at_build_time(site_hooks):
    """The settings page (docs/reference/settings.md; README's until issue 23) holds a marker that
    the site's build hook replaces with this very table, so no copy can go stale."""
    text = SETTINGS_PAGE.read_text(encoding="utf-8")
    assert MARKER in text, "docs/reference/settings.md lost its mock-settings marker"
    assert markdown_table() in site_hooks.expand(text)


def test_a_flag_wins_over_its_variable_which_wins_over_the_default():
    environ = {
        "LAYERS_MOCK_MAX_SANDBOXES": "7",
        "LAYERS_MOCK_ALLOWED_HOSTS": "a.test, .b.test,",
        "LAYERS_MOCK_FAST_PATH": "0",
        "LAYERS_MOCK_ADMIN_TOKEN": "",
    }
    settings = from_sources(vars(parser().parse_args(["--max-sandboxes", "9"])), environ)
    assert settings.max_sandboxes == 9
    assert settings.allowed_hosts == ("a.test", ".b.test")
    assert settings.fast_path is False
    assert settings.admin_token is None  # an empty variable counts as unset
    assert settings.sandbox_max_posts == MockSettings().sandbox_max_posts


def test_the_process_environment_is_read(monkeypatch):
    monkeypatch.setenv("LAYERS_MOCK_CORS_ORIGINS", "http://localhost:3000/")
    assert from_command_line([]).cors_origins == ("http://localhost:3000",)


@pytest.mark.parametrize(
    "environ, says",
    [
        ({"LAYERS_MOCK_MAX_SANDBOXES": "many"}, "LAYERS_MOCK_MAX_SANDBOXES must be an integer"),
        (
            {"LAYERS_MOCK_SANDBOX_IDLE_TTL": "0"},
            "--sandbox-idle-ttl (or LAYERS_MOCK_SANDBOX_IDLE_TTL): must be between",
        ),
        ({"LAYERS_MOCK_VALIDATE_RESPONSES": "maybe"}, "LAYERS_MOCK_VALIDATE_RESPONSES must be 1 or 0"),
        ({"LAYERS_MOCK_CORS_ORIGINS": "localhost:3000"}, "is not an origin"),
        ({"LAYERS_MOCK_OPERATOR_TOKEN": TOKEN, "LAYERS_MOCK_ADMIN_TOKEN": TOKEN}, "not both"),
    ],
)
def test_a_bad_variable_is_refused_naming_it(environ, says):
    with pytest.raises(SettingsError, match=re.escape(says)):
        from_sources({}, environ)


def test_the_cli_exits_2_naming_the_setting(monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_MOCK_SANDBOX_MAX_POSTS", "0")
    assert cli.main(["--port", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("layers-mock: --sandbox-max-posts (or LAYERS_MOCK_SANDBOX_MAX_POSTS)")


def test_secrets_stay_out_of_the_repr():
    settings = MockSettings(database="postgresql://mock:hunter2@db:5432/w", admin_token=TOKEN)
    shown = repr(settings) + str(settings)
    assert TOKEN not in shown and "hunter2" not in shown and "<hidden>" in shown
    hosted = MockSettings(operator_token=TOKEN)
    assert TOKEN not in repr(hosted)


def test_workers_get_the_settings_as_the_cli_built_them(monkeypatch):
    settings = MockSettings(
        database="/tmp/w.sqlite3",
        allowed_hosts=("mock",),
        cors_origins=("*",),
        operator_token=TOKEN,
        sandbox_idle_ttl=60.0,
        fast_path=False,
    )
    assert MockSettings.from_json(settings.to_json()) == settings
    monkeypatch.setenv(SETTINGS_ENV, "")  # so that the test's process gets its environment back
    settings.hand_to_workers()
    assert json.loads(settings.to_json()) == json.loads(os.environ[SETTINGS_ENV])
    monkeypatch.setenv("LAYERS_MOCK_FAST_PATH", "1")  # what the CLI handed over wins over the variables
    assert MockSettings.for_worker() == settings


def test_the_default_workers_follow_the_cores_the_process_may_use(monkeypatch):
    """An instance given one core (taskset, a container's cpuset) starts one worker, not the
    machine's two: two workers on one core served less (docs/performance.md)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert usable_cores() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity")  # a platform without it (macOS): the machine's count
    assert usable_cores() == 8


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_process_pinned_to_one_core_defaults_to_one_worker():
    code = (
        "from mock_server.settings import DEFAULT_WORKERS, MockSettings; print(DEFAULT_WORKERS, MockSettings().workers)"
    )
    first = min(os.sched_getaffinity(0))
    pinned = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: os.sched_setaffinity(0, {first}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.split() == ["1", "1"]


def test_the_object_is_frozen_and_replace_validates():
    settings = MockSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(SettingsError, match="--port"):
        settings.replace(port=70000)


def test_create_app_takes_settings_or_a_database_with_changes(tmp_path):
    database = str(tmp_path / "state.sqlite3")
    cli.seed_state(database, {}, False, hosted=True)  # hosted: no local world to load
    app = create_app(database, operator_token=TOKEN, max_sandboxes=3)
    try:
        assert app.sandboxes.limits.max_sandboxes == 3
    finally:
        app.storage.close()

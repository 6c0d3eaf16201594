"""docs/troubleshooting.md lists the messages `layers-mock` stops with at start-up: each case
below is run in-process through the CLI (nothing is served: every one stops before the banner),
must exit 2 with its message, and that message must be on the page. Messages that need a second
mock or a server to provoke are checked against the code that words them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mock_server import cli

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")


def _page_has(fragment: str) -> bool:
    return " ".join(fragment.split()) in " ".join(PAGE.split())


CASES = [
    # (argv, environment, what stderr says, what the page shows of it)
    (["--port", "70000"], {}, "--port: must be between 0 and 65535", "--port: must be between 0 and 65535"),
    (["--workers", "0"], {}, "--workers: must be at least 1", "must be at least 1"),
    (
        ["--state", "a.sqlite3", "--database", "sqlite:///b.db"],
        {},
        "give --state or --database, not both",
        "give --state or --database, not both",
    ),
    (
        ["--database", "mysql://root:hunter2@db/x"],  # the password must not be echoed (checked below)
        {},
        "the database is postgresql://... or sqlite:///... (or a file path), not a mysql:// URL",
        "not a mysql:// URL",
    ),
    (
        ["--operator-token", "x" * 20, "--admin-token", "y" * 20],
        {},
        "give --operator-token (hosted sandboxes) or --admin-token (one shared world), not both",
        "give --operator-token (hosted sandboxes) or --admin-token (one shared world), not both",
    ),
    (
        ["--operator-token", "sbt_0123456789abcdef0123"],
        {},
        "must not start with sbt_ (sandbox tokens do)",
        "must not start with sbt_ (sandbox tokens do)",
    ),
    (["--operator-token", "short"], {}, "must be 16 to", "must be 16 to"),
    ([], {"LAYERS_MOCK_FAST_PATH": "maybe"}, "LAYERS_MOCK_FAST_PATH must be 1 or 0 (got 'maybe')", "must be 1 or 0"),
    ([], {"LAYERS_MOCK_MAX_SANDBOXES": "abc"}, "must be an integer (got 'abc')", "must be an integer (got 'abc')"),
    (["--cors-origin", "not a url"], {}, "'not a url' is not an origin", "'not a url' is not an origin"),
    (["--fixtures", "/nope.json"], {}, "cannot read fixture file /nope.json", "cannot read fixture file /nope.json"),
    (["--fixtures", "{broken}"], {}, "line 2, column 1: Expecting value", "line 2, column 1: Expecting value"),
    (["--fixtures", "{invalid}"], {}, "invalid world fixture:", "invalid world fixture:"),
    (
        ["--ready-file", "/nonexistent/x.json"],
        {},
        "cannot write the ready file /nonexistent/x.json: /nonexistent is not a writable directory",
        "cannot write the ready file /nonexistent/x.json: /nonexistent is not a writable directory",
    ),
    (["--ready-file", "{dir}"], {}, "it is a directory", "it is a directory"),
    (["--state", "{damaged}"], {}, "is damaged (SQLite quick_check:", "is damaged (SQLite quick_check:"),
    (["--port", "{busy}"], {}, "is already in use (another layers-mock?)", "is already in use (another layers-mock?)"),
]


@pytest.mark.parametrize("argv, env, said, shown", CASES, ids=[c[2][:40] for c in CASES])
def test_each_start_up_message_is_what_the_page_shows(argv, env, said, shown, tmp_path, monkeypatch, capsys):
    for name in ("LAYERS_MOCK_FAST_PATH", "LAYERS_MOCK_MAX_SANDBOXES", "LAYERS_MOCK_DATABASE", "LAYERS_MOCK_FIXTURES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "broken.json").write_text('{"organizations": [\n')
    (tmp_path / "invalid.json").write_text('{"organizations": 5}')
    (tmp_path / "damaged.sqlite3").write_bytes(b"not a database " * 400)
    (tmp_path / "adir").mkdir()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    names = {
        "{broken}": str(tmp_path / "broken.json"),
        "{invalid}": str(tmp_path / "invalid.json"),
        "{damaged}": str(tmp_path / "damaged.sqlite3"),
        "{dir}": str(tmp_path / "adir"),
        "{busy}": str(busy.getsockname()[1]),
    }
    args = [names.get(a, a) for a in argv]
    if "--port" not in args:
        args = ["--port", "0", *args]
    try:
        assert cli.main(["--quiet", *args]) == 2
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert err.startswith("layers-mock: ") and said in err, err
    assert "Traceback" not in err and "hunter2" not in err
    assert _page_has(shown), f"docs/troubleshooting.md does not show: {shown}"


@pytest.mark.parametrize(
    "module, fragment",
    [
        ("mock_server/state_file.py", "is in use: another layers-mock is serving it, and --reset would wipe"),
        ("mock_server/storage/base.py", "Start it with --reset to rebuild that world, or use a new one."),
        ("mock_server/cli.py", "the control plane refuses non-loopback clients (no --admin-token)"),
        ("mock_server/core/world.py", "names no organization"),
        ("mock_server/core/world.py", "fixture conflicts with the current world"),
    ],
)
def test_messages_provoked_elsewhere_are_still_worded_so(module, fragment):
    source = " ".join((REPO / module).read_text(encoding="utf-8").replace('"\n', "").replace('" ', "").split())
    assert " ".join(fragment.split()) in source or fragment in (REPO / module).read_text(encoding="utf-8")
    assert _page_has(fragment.split(":")[0][:40]), fragment

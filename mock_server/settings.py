"""`layers-mock`'s settings: one list, one typed and frozen object (issue 19), like Datasette's.

Every setting is a field of `MockSettings`; its metadata names its flag, its environment variable
and its help. From that one list come the CLI's parser (`mock_server/cli.py`), the reading of the
environment, the validation, the site's settings page (docs/reference/settings.md, generated at build; `python -m mock_server.settings
--markdown`) and the JSON that hands the settings to uvicorn's worker processes.

Where a value comes from: its flag, else its environment variable (an empty one counts as unset),
else the default. The CLI builds the object once; `create_app` and everything below it receive
values, never the environment. The workers get the object serialized once, in `LAYERS_MOCK_SETTINGS`
(written by `hand_to_workers`, read by `for_worker`). This module is the only one of the mock that
touches the process environment (ruff's TID251 forbids `os.environ` elsewhere; pyproject.toml).

Secrets (the admin and operator tokens, the database URL's password) are never shown: the repr
masks them, and the banner and messages use `redacted` / booleans.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mock_server.edge.cors import check_origin
from mock_server.storage import DEFAULT_JOURNAL_LIMIT, redacted
from mock_server.tenancy.limits import Limits
from mock_server.tenancy.routing import MAX_TOKEN_LENGTH, OPERATOR_TOKEN_ENV, TOKEN_PREFIX

# The serialized settings, from the CLI to uvicorn's workers (one variable, written once).
SETTINGS_ENV = "LAYERS_MOCK_SETTINGS"
# The directory an instance's workers share for their metrics (core/metrics.py): prometheus_client
# reads this variable itself, when it is first imported, to choose its multiprocess mode.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (`taskset`, a container's cpuset), not
    the machine's count (os.cpu_count), which an instance given one core of two would also see."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


# Two workers where the process may use two or more cores (the best throughput measured on the
# 2-core benchmark machine, bench/RESULTS.md; every write still queues for SQLite's one write
# lock), one where it may use one: more workers than cores cost each request more CPU (two
# instances of two workers on two cores served 0.75x what one did: docs/performance.md).
DEFAULT_WORKERS = min(2, usable_cores())
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
SERVERS = ("granian", "uvicorn")
HOSTED_GROUP = "hosted sandboxes (one deployment, many isolated worlds; contract/control.yaml)"
_LIMITS = Limits()  # the sandbox limits' defaults, and why, are Limits' docstring
_MAX_LIMIT = 100_000_000
# The storage bound: at least 0.1 s (a busy write lock is normal for milliseconds under load), at
# most 60 s (past common client and proxy timeouts the answer would reach no one).
STORAGE_TIMEOUT_RANGE = (0.1, 60.0)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it (flag, and variable if it has one)."""


def _between(low: float, high: float, what: str | None = None) -> Callable:
    def check(value):
        if not low <= value <= high:
            raise ValueError(f"must be between {what or f'{low:g} and {high:g}'}")
        return value

    return check


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _operator_token(token: str | None) -> str | None:
    if token is not None and not 16 <= len(token) <= MAX_TOKEN_LENGTH:
        raise ValueError(f"must be 16 to {MAX_TOKEN_LENGTH} characters")
    if token is not None and token.startswith(TOKEN_PREFIX):
        raise ValueError(f"must not start with {TOKEN_PREFIX} (sandbox tokens do)")
    return token


def _origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(check_origin(o) for o in origins)


def setting(
    default,
    help: str,
    *,
    flag: str | None = None,
    env: str | None = None,
    metavar: str | None = None,
    choices: tuple[str, ...] = (),
    group: str | None = None,
    secret: bool = False,
    check: Callable | None = None,
    shown_default: str | None = None,
):
    """A field of MockSettings. `flag` defaults to --name-with-dashes; a bool whose default is True
    is turned off by its flag (--no-...); `check` validates (ValueError: what is wrong) and may
    normalize the value; `shown_default` is the default as the table shows it where it depends on
    the machine."""
    return field(
        default=default,
        metadata={
            "flag": flag,
            "env": env,
            "help": help,
            "metavar": metavar,
            "choices": choices,
            "group": group,
            "secret": secret,
            "check": check,
            "shown_default": shown_default,
        },
    )


@dataclass(frozen=True)
class MockSettings:
    host: str = setting(
        "127.0.0.1", "bind address; the control plane answers non-loopback clients only with a token", metavar="ADDRESS"
    )
    port: int = setting(
        4010,
        "port; 0 picks a free one; a port in use is refused before anything is printed (exit 2)",
        metavar="N",
        check=_between(0, 65535),
    )
    workers: int = setting(
        DEFAULT_WORKERS,
        "worker processes sharing one world (bench/RESULTS.md)",
        metavar="N",
        check=_at_least_one,
        shown_default="2 (1 where the process may use one core: taskset, a container's cpuset)",
    )
    database: str | None = setting(
        None,
        "where the world lives: postgresql://user@host:port/dbname (shared by any number of layers-mock"
        " instances), or sqlite:///relative.db / sqlite:////absolute.db; default: a fresh temporary SQLite"
        " world",
        env="LAYERS_MOCK_DATABASE",
        metavar="URL",
    )
    state: str | None = setting(
        None, "SQLite state file kept across restarts (shorthand for --database sqlite:///FILE)", metavar="FILE"
    )
    fixtures: str | None = setting(
        None,
        "world fixture JSON (same format as contract/default_world.json; default: that world); checked"
        " against a schema, errors name the line or field",
        env="LAYERS_MOCK_FIXTURES",
        metavar="FILE",
    )
    reset: bool = setting(False, "with --state/--database: drop what it holds and reload the fixtures")
    force: bool = setting(False, "with --reset: reset even while another layers-mock serves the state file")
    allowed_hosts: tuple[str, ...] = setting(
        (),
        "a Host name the control plane answers to besides localhost and IP addresses (repeatable;"
        " '.example.test' allows its subdomains; the variable: comma-separated)",
        flag="--allowed-host",
        env="LAYERS_MOCK_ALLOWED_HOSTS",
        metavar="NAME",
    )
    admin_token: str | None = setting(
        None,
        "require this token (header X-Mock-Admin-Token) on the control plane; allows it off loopback",
        env="LAYERS_MOCK_ADMIN_TOKEN",
        metavar="TOKEN",
        secret=True,
    )
    validate_responses: bool = setting(
        True,
        "validate every response against openapi.yaml (the flag turns it off)",
        flag="--no-validate-responses",
        env="LAYERS_MOCK_VALIDATE_RESPONSES",
    )
    fast_path: bool = setting(
        True,
        "serve well-formed revokes on the fast path; the flag serves them through Connexion's full stack"
        " too (slower; same answers)",
        flag="--no-fast-path",
        env="LAYERS_MOCK_FAST_PATH",
    )
    cors_origins: tuple[str, ...] = setting(
        (),
        "let a browser app on ORIGIN (e.g. http://localhost:3000; repeatable; * for any) call the API"
        " routes; never the control plane",
        flag="--cors-origin",
        env="LAYERS_MOCK_CORS_ORIGINS",
        metavar="ORIGIN",
        check=_origins,
    )
    operator_token: str | None = setting(
        None,
        "turn hosted mode on: this token (X-Mock-Admin-Token) creates, lists and deletes sandboxes at"
        " /_mock/sandboxes; each sandbox has its own adminToken",
        env=OPERATOR_TOKEN_ENV,
        metavar="TOKEN",
        group=HOSTED_GROUP,
        secret=True,
        check=_operator_token,
    )
    sandbox_idle_ttl: float = setting(
        _LIMITS.idle_ttl,
        "a sandbox unused this long expires and is deleted (24 h)",
        env="LAYERS_MOCK_SANDBOX_IDLE_TTL",
        metavar="SECONDS",
        group=HOSTED_GROUP,
        check=_between(1, 365 * 86400, "1 second and 365 days"),
    )
    max_sandboxes: int = setting(
        _LIMITS.max_sandboxes,
        "sandboxes at once",
        env="LAYERS_MOCK_MAX_SANDBOXES",
        metavar="N",
        group=HOSTED_GROUP,
        check=_between(1, _MAX_LIMIT, f"1 and {_MAX_LIMIT}"),
    )
    sandbox_max_accounts: int = setting(
        _LIMITS.max_accounts,
        "accounts per sandbox",
        env="LAYERS_MOCK_SANDBOX_MAX_ACCOUNTS",
        metavar="N",
        group=HOSTED_GROUP,
        check=_between(1, _MAX_LIMIT, f"1 and {_MAX_LIMIT}"),
    )
    sandbox_max_posts: int = setting(
        _LIMITS.max_posts,
        "posts per sandbox",
        env="LAYERS_MOCK_SANDBOX_MAX_POSTS",
        metavar="N",
        group=HOSTED_GROUP,
        check=_between(1, _MAX_LIMIT, f"1 and {_MAX_LIMIT}"),
    )
    journal_limit: int = setting(
        DEFAULT_JOURNAL_LIMIT,
        "request journal entries kept per sandbox (GET /_mock/journal, the client report); the oldest are"
        " dropped and the report counts them; 0 records nothing",
        env="LAYERS_MOCK_JOURNAL_LIMIT",
        metavar="N",
        check=_between(0, _MAX_LIMIT, f"0 and {_MAX_LIMIT}"),
    )
    ready_file: str | None = setting(
        None,
        "once the mock answers, write a JSON document here (mode 0600; removed on exit): baseUrl, controlUrl,"
        " the real port (also with --port 0), pid, specSha256, state, and in local mode the test keys"
        " (never an admin or operator token)",
        env="LAYERS_MOCK_READY_FILE",
        metavar="PATH",
    )
    storage_timeout: float = setting(
        5.0,
        "the longest a request waits on storage (SQLite's write lock, PostgreSQL's connect, statement and"
        " lock waits) before it answers the documented 500 with nothing changed; below common client"
        " timeouts",
        env="LAYERS_MOCK_STORAGE_TIMEOUT",
        metavar="SECONDS",
        check=_between(STORAGE_TIMEOUT_RANGE[0], STORAGE_TIMEOUT_RANGE[1], "0.1 and 60 seconds"),
    )
    server: str = setting(
        "granian",
        "the HTTP server the workers run on (bench/RESULTS.md compares them)",
        env="LAYERS_MOCK_SERVER",
        metavar="NAME",
        choices=SERVERS,
    )
    log_level: str = setting("warning", "the HTTP server's own messages", metavar="LEVEL", choices=LOG_LEVELS)
    quiet: bool = setting(False, "print neither the banner nor the access log (a line per request)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if isinstance(value, list):  # from argparse's append, or JSON: the settings hold tuples
                value = tuple(value)
            try:
                if meta["choices"] and value not in meta["choices"]:
                    raise ValueError(f"must be one of {', '.join(meta['choices'])}")
                if meta["check"] is not None:
                    value = meta["check"](value)
            except ValueError as exc:
                raise SettingsError(f"{label(f)}: {exc}") from None
            object.__setattr__(self, f.name, value)  # frozen: the normalized value
        if self.state and self.database:
            raise SettingsError("give --state or --database, not both")
        if self.operator_token and self.admin_token:
            raise SettingsError(
                "give --operator-token (hosted sandboxes) or --admin-token (one shared world), not both"
            )

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"] and value is not None:
                value = "<hidden>"
            elif f.name == "database" and value is not None:
                value = redacted(value)
            shown.append(f"{f.name}={value!r}")
        return f"MockSettings({', '.join(shown)})"

    __str__ = __repr__

    def replace(self, **changes) -> MockSettings:
        """A copy with `changes`, validated like the original."""
        return dataclasses.replace(self, **changes)

    @property
    def hosted(self) -> bool:
        return self.operator_token is not None

    @property
    def limits(self) -> Limits:
        return Limits(
            idle_ttl=self.sandbox_idle_ttl,
            max_sandboxes=self.max_sandboxes,
            max_accounts=self.sandbox_max_accounts,
            max_posts=self.sandbox_max_posts,
        )

    # -- the workers' copy ----------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> MockSettings:
        values: dict[str, typing.Any] = json.loads(text)
        return cls(**values)

    def hand_to_workers(self, metrics_dir: str | None = None) -> None:
        """Serialize the settings once, for uvicorn's workers (`for_worker`); they inherit the variable.
        `metrics_dir`: the workers' shared metrics directory (`worker_metrics_dir`)."""
        os.environ[SETTINGS_ENV] = self.to_json()
        if metrics_dir is not None:
            os.environ[METRICS_DIR_ENV] = metrics_dir

    @classmethod
    def for_worker(cls) -> MockSettings:
        """A worker's settings: those the CLI handed over, or (the factory run by uvicorn directly,
        with no CLI before it) the environment's and the defaults."""
        handed = os.environ.get(SETTINGS_ENV)
        return cls.from_json(handed) if handed else from_sources({}, os.environ)


def worker_metrics_dir() -> str | None:
    """The metrics directory the CLI handed to this worker (None: one process, its own metrics)."""
    return os.environ.get(METRICS_DIR_ENV) or None


# -- the list, as a parser, a reader of the environment and a table ----------------------------
def label(f: dataclasses.Field) -> str:
    """How messages name a setting: its flag, and its variable if it has one."""
    env = f.metadata["env"]
    return flag_of(f) + (f" (or {env})" if env else "")


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _kind(f: dataclasses.Field) -> type:
    """bool, int, float, str or tuple (a list of strings), from the field's annotation."""
    hint = typing.get_type_hints(MockSettings)[f.name]
    return tuple if hint == tuple[str, ...] else str if hint in (str, str | None) else hint


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _from_text(f: dataclasses.Field, text: str):
    """An environment variable's text as the setting's type; SettingsError naming the variable."""
    kind, env = _kind(f), f.metadata["env"]
    if kind is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if kind is bool:
        if text.strip().lower() not in _TRUE + _FALSE:
            raise SettingsError(f"{env} must be 1 or 0 (got {text[:40]!r})")
        return text.strip().lower() in _TRUE
    try:
        return kind(text)
    except ValueError:
        raise SettingsError(
            f"{env} must be {'an integer' if kind is int else 'a number'} (got {text[:40]!r})"
        ) from None


def parser() -> argparse.ArgumentParser:
    """`layers-mock`'s parser, one option per setting. Options default to None (not given), so
    that the environment and the defaults can be told apart from what was typed."""
    p = argparse.ArgumentParser(prog="layers-mock", description="Stateful mock of Layers' revoke endpoint.")
    groups: dict[str | None, argparse._ActionsContainer] = {None: p}
    for f in dataclasses.fields(MockSettings):
        meta, kind = f.metadata, _kind(f)
        if meta["group"] not in groups:
            groups[meta["group"]] = p.add_argument_group(meta["group"])
        target = groups[meta["group"]]
        shown = "" if kind is bool or f.default in (None, ()) else f" (default {shown_default(f)})"
        text = meta["help"] + shown + (f" (env {meta['env']})" if meta["env"] else "")
        common = {"dest": f.name, "default": None, "help": text.replace("%", "%%")}
        if kind is bool:
            target.add_argument(flag_of(f), action="store_const", const=not f.default, **common)
        elif kind is tuple:
            target.add_argument(flag_of(f), action="append", metavar=meta["metavar"], **common)
        else:
            target.add_argument(
                flag_of(f), type=kind, metavar=meta["metavar"], choices=meta["choices"] or None, **common
            )
    return p


def from_sources(given: Mapping[str, typing.Any], environ: Mapping[str, str]) -> MockSettings:
    """The settings from parsed options (None: not given), else the environment, else the defaults."""
    values: dict[str, typing.Any] = {}
    for f in dataclasses.fields(MockSettings):
        value = given.get(f.name)
        if value is None and f.metadata["env"] and environ.get(f.metadata["env"]):
            value = _from_text(f, environ[f.metadata["env"]])
        if value is not None:
            values[f.name] = value
    return MockSettings(**values)


def from_command_line(argv: list[str] | None = None) -> MockSettings:
    """`layers-mock`'s settings: the flags in `argv`, the process environment, the defaults.
    A malformed flag exits 2 (argparse); a value that cannot be used raises SettingsError."""
    return from_sources(vars(parser().parse_args(argv)), os.environ)


def shown_default(f: dataclasses.Field) -> str:
    """The default as the help and the table show it."""
    if f.metadata["shown_default"]:
        return f.metadata["shown_default"]
    if f.default in (None, ()):
        return "—"
    if isinstance(f.default, bool):
        return str(f.default).lower()
    return f"{f.default:g}" if isinstance(f.default, float) else str(f.default)


def markdown_table() -> str:
    """The settings table of the site (docs/reference/settings.md): every setting, from the one list."""
    rows = ["| Setting | Flag | Environment variable | Type | Default | What it does |", "|---|---|---|---|---|---|"]
    names = {bool: "boolean", int: "integer", float: "number", str: "text", tuple: "list"}
    for f in dataclasses.fields(MockSettings):
        meta = f.metadata
        kind = names[_kind(f)] + (" (secret)" if meta["secret"] else "")
        if meta["choices"]:
            kind = " / ".join(meta["choices"])
        flag = flag_of(f) + (f" {meta['metavar']}" if meta["metavar"] else "")
        rows.append(
            f"| `{f.name}` | `{flag}` | {'`' + meta['env'] + '`' if meta['env'] else '—'} | {kind} |"
            f" {shown_default(f)} | {meta['help'].replace('|', '/')} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m mock_server.settings --markdown")
    print(markdown_table())


# -- `layers-mock report` (issue 24): its own few options, read here like every setting --------
REPORT_FAIL_ON = ("violation", "advice", "never")


@dataclass(frozen=True)
class ReportSettings:
    """Where the running mock is, how to reach its control plane, and what to write."""

    url: str
    admin_token: str | None = field(default=None, repr=False)
    junit: str | None = None
    json: bool = False
    fail_on: str = "advice"


def report_from_command_line(argv: list[str]) -> ReportSettings:
    """`layers-mock report [--url URL] [--admin-token T] [--junit FILE] [--json] [--fail-on S]`."""
    p = argparse.ArgumentParser(
        prog="layers-mock report",
        description="Print how a client behaved against a running mock (its client report) and write JUnit XML.",
    )
    p.add_argument(
        "--url",
        help="the running mock (env LAYERS_MOCK_URL; default http://127.0.0.1:4010, or the baseUrl of"
        " --ready-file / LAYERS_MOCK_READY_FILE)",
    )
    p.add_argument(
        "--ready-file", metavar="PATH", help="a mock's ready file, to find its URL (env LAYERS_MOCK_READY_FILE)"
    )
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="the control plane's token: --admin-token's, or a hosted sandbox's adminToken (env LAYERS_MOCK_ADMIN_TOKEN)",
    )
    p.add_argument("--junit", metavar="FILE", help="also write the report as JUnit XML (one test case per rule)")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the text form")
    p.add_argument(
        "--fail-on",
        choices=REPORT_FAIL_ON,
        default="advice",
        help="exit 1 (and JUnit failures) when a rule of this severity or above flagged something (default advice:"
        " any flag)",
    )
    args = p.parse_args(argv)
    url = args.url or os.environ.get("LAYERS_MOCK_URL")
    ready_file = args.ready_file or os.environ.get("LAYERS_MOCK_READY_FILE")
    if url is None and ready_file:
        try:
            with open(ready_file, encoding="utf-8") as fh:
                url = json.load(fh)["baseUrl"]
        except (OSError, ValueError, KeyError) as exc:
            raise SettingsError(f"--ready-file {ready_file}: cannot read its baseUrl ({exc})") from None
    return ReportSettings(
        url=(url or "http://127.0.0.1:4010").rstrip("/"),
        admin_token=args.admin_token or os.environ.get("LAYERS_MOCK_ADMIN_TOKEN") or None,
        junit=args.junit,
        json=args.json,
        fail_on=args.fail_on,
    )

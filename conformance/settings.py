"""The kit's settings: one list (`KitSettings`), each setting from its option, else its LAYERS_*
environment variable, else its default, each number with a bound.

A bad value is a run that cannot be made (exit 2) with the option or variable named, never a
traceback and never exit 1 (which would claim the target has violations). A variable is read only
when the option is not given on the command line, through the same converter as the option itself,
so `--max-requests 10` wins over a broken LAYERS_MAX_REQUESTS and the variable is checked exactly
like the option. The settings object is built once, by the CLI, and passed down.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TIME, DEFAULT_TIMEOUT
from conformance.secrets import BEARER_TOKEN, HEADER_TOKEN
from contract import CONTRACT

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


class EnvError(Exception):
    """A LAYERS_* variable holds a value the kit cannot use; the message names it."""


def integer(lo: int, hi: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {lo:,} to {hi:,}")
        return value

    convert.__name__ = "integer"
    convert.__doc__ = f"integer, {lo:,} to {hi:,}"  # the type column of the settings table
    return convert


def seconds(lo: float, hi: float, *, zero_ok: bool = True) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value) or value < lo or value > hi or (value == 0 and not zero_ok):
            low = f"{lo:g}" if zero_ok else f"more than {lo:g}"
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: {low} to {hi:g} seconds")
        return value

    convert.__name__ = "seconds"
    convert.__doc__ = f"seconds, {lo:g}{'' if zero_ok else ' (exclusive)'} to {hi:g}"
    return convert


def flag(text: str) -> bool:
    value = str(text).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a yes/no value (1/0, true/false, yes/no, on/off)")


def text(value: str) -> str:
    """text"""
    return value


# Every number a setting takes has a bound; the same converter reads its option and its variable.
COUNT, EXAMPLES, SEED = integer(1, 1_000_000), integer(1, 100_000), integer(0, 2**64 - 1)
CONCURRENCY = integer(2, 64)
TIMEOUT, RUN_TIME, WAIT = seconds(0, 3600, zero_ok=False), seconds(0, 7 * 86400, zero_ok=False), seconds(0, 86400)
BODY_BYTES = integer(1024, 1 << 30)
PARALLEL = integer(1, 64)


def key_tier(value: str) -> str:
    """one of the spec's key tiers"""
    tiers = CONTRACT.rate_limit_tiers
    name = str(value).strip().lower()
    if name not in tiers:
        raise argparse.ArgumentTypeError(f"{value!r} is not a key tier: {', '.join(tiers)}")
    return name


key_tier.__doc__ = "a key tier of the spec (x-rate-limit-tiers)"

VALUE, SWITCH, LIST = "value", "switch", "list"  # how a setting is given on the command line


def setting(
    default: Any,
    *flags: str,
    help: str,
    env: str | None = None,
    convert: Callable[[str], Any] = text,
    kind: str = VALUE,
    secret: re.Pattern[str] | None = None,
    default_text: str | None = None,
    metavar: str | None = None,
) -> Any:
    """One row of the settings list: a field of `KitSettings`, described once. `secret`: the
    pattern the value is checked against before anything is sent (`secrets.check_secret`)."""
    return field(
        default=default,
        metadata={
            "flags": flags,
            "help": help,
            "env": env,
            "convert": convert,
            "kind": kind,
            "secret": secret,
            "default_text": default_text,
            "metavar": metavar,
        },
    )


@dataclass(frozen=True)
class KitSettings:
    """Every setting of `layers-conformance`, each with its option, variable, type, default and help.

    Built once by `from_sources` (the option if given, else its LAYERS_* variable, else the
    default) and passed down; this module is the only one of the kit that reads the environment."""

    base_url: str | None = setting(None, "--base-url", env="LAYERS_BASE_URL", help="the implementation under test")
    api_key: str | None = setting(
        None, "--api-key", env="LAYERS_API_KEY", secret=BEARER_TOKEN, help="a valid key with the required scope"
    )
    read_only_key: str | None = setting(
        None,
        "--read-only-key",
        env="LAYERS_READ_ONLY_KEY",
        secret=BEARER_TOKEN,
        help="a key of the same organization without the scope; enables scope checks",
    )
    foreign_account_id: str | None = setting(
        None,
        "--foreign-account-id",
        env="LAYERS_FOREIGN_ACCOUNT_ID",
        help="an account of another organization; enables the cross-organization check",
    )
    accounts: str | None = setting(
        None,
        "--accounts",
        env="LAYERS_ACCOUNTS",
        help='JSON {"accounts": [{"socialAccountId": ..., "queuedPosts": N}]}: accounts the run may revoke',
    )
    mock_control: bool = setting(
        False,
        "--mock-control",
        env="LAYERS_MOCK_CONTROL",
        convert=flag,
        kind=SWITCH,
        help="the target is layers-mock: provision keys and accounts through its control plane",
    )
    admin_token: str | None = setting(
        None,
        "--admin-token",
        env="LAYERS_MOCK_ADMIN_TOKEN",
        secret=HEADER_TOKEN,
        help="the mock's --admin-token, if any",
    )
    operator_token: str | None = setting(
        None,
        "--operator-token",
        env="LAYERS_MOCK_OPERATOR_TOKEN",
        secret=HEADER_TOKEN,
        help="a hosted mock's operator token: with --mock-control the run provisions inside a sandbox"
        " of its own, deleted at the end (a sandbox's adminToken goes in --admin-token)",
    )
    junit_xml: str | None = setting(None, "--junit-xml", env="LAYERS_JUNIT_XML", help="write JUnit XML here")
    report_json: str | None = setting(
        None, "--report-json", env="LAYERS_REPORT_JSON", help="write the JSON report here"
    )
    strict: bool = setting(
        False,
        "--strict",
        env="LAYERS_STRICT",
        convert=flag,
        kind=SWITCH,
        help="also check this project's decisions where the docs are silent (labeled strict)",
    )
    documented_only: bool = setting(
        False,
        "--documented-only",
        env="LAYERS_DOCUMENTED_ONLY",
        convert=flag,
        kind=SWITCH,
        help="assert only the rules the endpoint page states (the rest is reported, not judged)",
    )
    burst: bool = setting(
        False,
        "--burst",
        env="LAYERS_BURST",
        convert=flag,
        kind=SWITCH,
        help="burst until 429, then retry after Retry-After (spends the key's rate budget)",
    )
    burst_limit: int = setting(
        200, "--burst-limit", env="LAYERS_BURST_LIMIT", convert=COUNT, help="most requests the burst may send"
    )
    max_requests: int = setting(
        500, "--max-requests", env="LAYERS_MAX_REQUESTS", convert=COUNT, help="bound on all requests of the run"
    )
    max_wait: float = setting(
        60.0,
        "--max-wait",
        env="LAYERS_MAX_WAIT",
        convert=WAIT,
        help="longest single Retry-After the kit will wait, in seconds (a truthful one is at most a rate-limit minute)",
    )
    examples: int = setting(
        25,
        "--examples",
        env="LAYERS_EXAMPLES",
        convert=EXAMPLES,
        help="generated requests per mode (positive, negative)",
    )
    seed: int | None = setting(
        None, "--seed", env="LAYERS_SEED", convert=SEED, help="generation seed (default: deterministic generation)"
    )
    timeout: float = setting(
        DEFAULT_TIMEOUT,
        "--timeout",
        env="LAYERS_TIMEOUT",
        convert=TIMEOUT,
        help="bound on each whole request (connect, send, headers, body), in seconds",
    )
    no_fuzz: bool = setting(False, "--no-fuzz", kind=SWITCH, help="skip the generated (schemathesis) phase")
    only: str = setting(
        "", "--only", env="LAYERS_ONLY", help="comma-separated scenario names to run (default: all; --list names them)"
    )
    # -- selection, skips, gateways and TLS interception (issue 11) --------------------------------
    fail_on_skip: bool = setting(
        False,
        "--fail-on-skip",
        env="LAYERS_FAIL_ON_SKIP",
        convert=flag,
        kind=SWITCH,
        help="exit 1 when any selected scenario or check was skipped",
    )
    headers: tuple[str, ...] = setting(
        (),
        "-H",
        "--header",
        env="LAYERS_HEADERS",
        kind=LIST,
        metavar="NAME:VALUE",
        help="send this header on every request (a gateway's key, a tenant header); "
        "repeatable; values are shown as ${LAYERS_HEADER_<NAME>} in curl lines",
    )
    proxy: str | None = setting(
        None, "--proxy", env="LAYERS_PROXY", help="send every request through this HTTP(S) proxy"
    )
    ca_bundle: str | None = setting(
        None, "--ca-bundle", env="LAYERS_CA_BUNDLE", help="PEM file of CAs to trust (TLS interception, a private CA)"
    )
    insecure: bool = setting(
        False,
        "--insecure",
        env="LAYERS_INSECURE",
        convert=flag,
        kind=SWITCH,
        help="do not verify the target's TLS certificate (says so in the report)",
    )
    concurrency: int = setting(
        8,
        "--concurrency",
        env="LAYERS_CONCURRENCY",
        convert=CONCURRENCY,
        help="simultaneous revokes of one account in the race scenario (2-64)",
    )
    # Bounds and safety against any target (issue 14): conformance/transport.py, secrets.py, this module.
    max_time: float = setting(
        DEFAULT_MAX_TIME,
        "--max-time",
        env="LAYERS_MAX_TIME",
        convert=RUN_TIME,
        help="bound on the whole run, in seconds: then it stops and writes its reports, marked incomplete"
        " (exit 2; exit 1 if a violation was seen before)",
    )
    max_total_wait: float = setting(
        180.0,
        "--max-total-wait",
        env="LAYERS_MAX_TOTAL_WAIT",
        convert=WAIT,
        help="bound on all Retry-After waiting of the run, in seconds",
    )
    max_body_bytes: int = setting(
        DEFAULT_MAX_BODY_BYTES,
        "--max-body-bytes",
        env="LAYERS_MAX_BODY_BYTES",
        convert=BODY_BYTES,
        default_text="1 MiB",
        help="read at most this much of a response body; a larger body is a violation",
    )
    allow_insecure_http: bool = setting(
        False,
        "--allow-insecure-http",
        env="LAYERS_ALLOW_INSECURE_HTTP",
        convert=flag,
        kind=SWITCH,
        help="allow plain http:// to a host that is not loopback (keys then cross the network in cleartext)",
    )

    # Speed and operations for CI (issue 22): conformance/schedule.py, pacing.py, target.py.
    parallel: int = setting(
        8,
        "--parallel",
        env="LAYERS_PARALLEL",
        convert=PARALLEL,
        help="scenarios, and requests, in flight at once (1: one at a time, in the listed order); the race"
        " scenario runs alone with its --concurrency",
    )
    key_tier: str | None = setting(
        None,
        "--key-tier",
        env="LAYERS_KEY_TIER",
        convert=key_tier,
        help="the --api-key's rate-limit tier: the run then stays within its per-minute budget, and a burst"
        " cut short names it (default: no pacing, 429s are waited out)",
    )
    accounts_command: str | None = setting(
        None,
        "--accounts-command",
        env="LAYERS_ACCOUNTS_COMMAND",
        help="a command (no shell; words split as a shell would) that prints the --accounts JSON on stdout,"
        " run once before the run: fresh accounts for each run",
    )
    accounts_command_timeout: float = setting(
        60.0,
        "--accounts-command-timeout",
        env="LAYERS_ACCOUNTS_COMMAND_TIMEOUT",
        convert=seconds(0, 3600, zero_ok=False),
        help="bound on --accounts-command, in seconds",
    )

    @property
    def only_names(self) -> frozenset[str]:
        return frozenset(filter(None, self.only.split(",")))

    @classmethod
    def from_sources(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> KitSettings:
        """Each setting from its option (parsed by `add_options`' parser), else its variable, else
        its default. A bad variable raises EnvError naming it; the option, when given, wins over it."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            given, meta = getattr(args, f.name), f.metadata
            if meta["kind"] == LIST:  # the variable's entries, then the options' (as before: both count)
                raw = environ.get(meta["env"]) if meta["env"] else None
                values[f.name] = tuple(h for h in (raw or "").splitlines() if h.strip()) + tuple(given or ())
            elif given is not None:
                values[f.name] = given
            else:
                values[f.name] = _from_env(f.name, meta, f.default, environ)
        return cls(**values)


def _from_env(name: str, meta: Mapping[str, Any], default: Any, environ: Mapping[str, str]) -> Any:
    raw = environ.get(meta["env"]) if meta["env"] else None
    if raw is None:
        return default
    convert = meta["convert"]
    if convert is text:
        return raw
    if raw == "" and convert is not flag:  # an empty number means "not set"; an empty switch means off
        return default
    try:
        return convert(raw)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise EnvError(f"environment variable {meta['env']}: {exc}") from None


def _help(meta: Mapping[str, Any], default: Any) -> str:
    """An option's help with its variable and default, e.g. "... [LAYERS_MAX_REQUESTS, default 500]"."""
    if not meta["env"]:
        return meta["help"]
    if meta["kind"] == LIST:
        return f"{meta['help']} [{meta['env']}, one per line]"
    shown = _default_text(meta, default)
    return f"{meta['help']} [{meta['env']}{', default ' + shown if shown else ''}]"


def _default_text(meta: Mapping[str, Any], default: Any) -> str:
    """The default as help and the table show it; empty when there is none to show."""
    if meta["default_text"]:
        return meta["default_text"]
    if default is None or default is False or default in ("", ()):
        return ""
    return f"{default:g}" if isinstance(default, float) else str(default)


def add_options(parser: argparse.ArgumentParser) -> None:
    """One option per setting. Nothing is defaulted here: an option not given stays None, so that
    `KitSettings.from_sources` knows to look at the variable."""
    for f in fields(KitSettings):
        meta = f.metadata
        extra: dict[str, Any] = {"metavar": meta["metavar"]} if meta["metavar"] else {}
        if meta["kind"] == SWITCH:
            parser.add_argument(
                *meta["flags"], dest=f.name, action="store_true", default=None, help=_help(meta, f.default)
            )
        elif meta["kind"] == LIST:
            parser.add_argument(
                *meta["flags"], dest=f.name, action="append", default=None, help=_help(meta, f.default), **extra
            )
        else:
            convert = meta["convert"]
            parser.add_argument(
                *meta["flags"],
                dest=f.name,
                default=None,
                help=_help(meta, f.default),
                **({} if convert is text else {"type": convert}),
                **extra,
            )


def secret_settings() -> list[tuple[str, str, str, re.Pattern[str]]]:
    """(attribute, option, variable, pattern) of every secret the kit sends; checked before anything is sent."""
    return [
        (f.name, f.metadata["flags"][-1], f.metadata["env"], f.metadata["secret"])
        for f in fields(KitSettings)
        if f.metadata["secret"] is not None
    ]


def settings_table() -> str:
    """Every setting as a Markdown table (name, option, variable, type, default, help), from `KitSettings`."""
    rows = ["| setting | option | variable | type | default | help |", "|---|---|---|---|---|---|"]
    for f in fields(KitSettings):
        meta = f.metadata
        kind = {SWITCH: "yes/no", LIST: "list of NAME:VALUE"}.get(meta["kind"]) or meta["convert"].__doc__
        if meta["secret"] is not None:
            kind += ", a secret (redacted from every report)"
        default = _default_text(meta, f.default) or ("no" if meta["kind"] == SWITCH else "-")
        cells = [
            f.name,
            " / ".join(f"`{flag_}`" for flag_ in meta["flags"]),
            f"`{meta['env']}`" if meta["env"] else "-",
            kind,
            default,
            meta["help"],
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_cleartext_off_loopback(url: str) -> bool:
    """Keys sent to this URL would cross a network unencrypted."""
    return url.lower().startswith("http://") and not is_loopback_url(url)


def cleartext_refusal(url: str) -> str:
    return (
        f"--base-url {url} is plain http to a host that is not loopback: the keys would cross the network "
        f"in cleartext. Use https://, or pass --allow-insecure-http (LAYERS_ALLOW_INSECURE_HTTP=1) if this "
        f"network is trusted. Nothing was sent."
    )


def report_path_problem(option: str, path: str | None) -> str | None:
    """Why a report could not be written there, known before the run spends any time."""
    if not path:
        return None
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        return f"{option} {path}: the directory {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"{option} {path}: the directory {parent} is not writable"
    return None


if __name__ == "__main__":
    # The site's settings page (docs/reference/settings.md) shows this table, generated at build time.
    if sys.argv[1:] != ["--markdown"]:
        sys.exit("usage: python -m conformance.settings --markdown")
    print(settings_table(), end="")

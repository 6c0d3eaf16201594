"""Option values from the command line or LAYERS_* environment variables, each with a bound.

A bad value is a run that cannot be made (exit 2) with the option or variable named, never a
traceback and never exit 1 (which would claim the target has violations). An option's default
may come from the environment: `FromEnv` is read only when the option is not given on the
command line, through the same converter as the option itself, so `--max-requests 10` wins
over a broken LAYERS_MAX_REQUESTS and the variable is checked exactly like the option.
"""
from __future__ import annotations

import argparse
import ipaddress
import math
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

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
    return convert


def flag(text: str) -> bool:
    value = str(text).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a yes/no value (1/0, true/false, yes/no, on/off)")


def text(value: str) -> str:
    return value


@dataclass(frozen=True)
class FromEnv:
    """An option's default: the variable `name` converted by `convert`, else `fallback`."""
    name: str
    convert: Callable[[str], Any] = text
    fallback: Any = None

    def resolve(self):
        raw = os.environ.get(self.name)
        if raw is None or (raw == "" and self.convert is not flag):
            return self.fallback
        try:
            return self.convert(raw)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise EnvError(f"environment variable {self.name}: {exc}") from None

    def __str__(self) -> str:  # what `%(default)s` shows in --help
        return f"${self.name} or {self.fallback}"


def resolve_env(args: argparse.Namespace) -> argparse.Namespace:
    """Replace every default still pending on the environment by its value (EnvError if bad)."""
    for name, value in vars(args).items():
        if isinstance(value, FromEnv):
            setattr(args, name, value.resolve())
    return args


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
    return (f"--base-url {url} is plain http to a host that is not loopback: the keys would cross the network "
            f"in cleartext. Use https://, or pass --allow-insecure-http (LAYERS_ALLOW_INSECURE_HTTP=1) if this "
            f"network is trusted. Nothing was sent.")


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

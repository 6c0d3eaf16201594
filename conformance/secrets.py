"""The kit's secrets (--api-key, --read-only-key, --admin-token): refused when malformed, and
kept out of everything the kit writes.

A key pasted with a trailing space or newline used to reach httpx, whose error message quoted
the header in full, and from there stdout, stderr, the JUnit XML and the JSON report. So a value
is checked before anything is sent (a bearer credential is an RFC 6750 `b64token`), and the
message names the option and shows only a masked hint. Then, defensively, every writer (stdout,
stderr, the reports) passes its text through `redact`, which replaces each known secret (and
escaped forms of it, and long fragments of it, as a truncated excerpt of an echoing target's
body would hold) by a label: whatever path a secret takes, it is not written.
"""

from __future__ import annotations

import functools
import io
import json
import re
import unicodedata
from contextlib import contextmanager
from xml.sax.saxutils import escape as xml_escape

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# A header value the mock compares byte for byte: visible ASCII, no spaces (RFC 9110 field-vchar).
HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")

_MIN_SUBSTRING = 8  # shorter secrets are redacted only where they stand as a whole token
_FRAGMENT = 12  # runs this long of a longer secret are redacted too (truncated excerpts)


class SecretError(ValueError):
    """A secret's value is malformed; the message holds only a masked hint."""


def _describe(ch: str) -> str:
    names = {" ": "a space", "\n": "a newline (\\n)", "\r": "a carriage return (\\r)", "\t": "a tab (\\t)"}
    if ch in names:
        return names[ch]
    name = unicodedata.name(ch, "")
    return f"the character U+{ord(ch):04X}{f' ({name})' if name else ''}"


def mask(value: str) -> str:
    """A hint that identifies a value to its owner without giving it away: a short prefix and a length."""
    # Whitespace and control characters as "·": a hint must not move the cursor or break a line.
    shown = "".join(ch if ch.isprintable() and not ch.isspace() else "·" for ch in value[:4])
    shown = shown if len(value) >= 16 else ""
    return f"{shown}… ({len(value)} characters)"


def check_secret(option: str, env: str | None, value: str, pattern: re.Pattern = BEARER_TOKEN) -> str:
    if pattern.fullmatch(value):
        return value
    bad = next((i for i, ch in enumerate(value) if not pattern.fullmatch(ch)), 0)
    ch = value[bad] if value else ""
    where = (
        "at its end"
        if bad == len(value) - 1
        else "at its start"
        if bad == 0
        else f"at position {bad + 1} of {len(value)}"
    )
    problem = f"'=' {where}, where only trailing '=' padding may be" if ch == "=" else f"{_describe(ch)} {where}"
    given = f"{option}" + (f" (or {env})" if env else "")
    advice = (
        "copy it again without the surrounding whitespace"
        if value.strip() != value and value.strip()
        else "check what was pasted"
    )
    allowed = (
        "letters, digits and - . _ ~ + / (then =)"
        if pattern is BEARER_TOKEN
        else "visible ASCII characters without spaces"
    )
    raise SecretError(
        f"{given} is malformed: it holds {problem}; a key is made of {allowed}. "
        f"Value: {mask(value)}; {advice}. Nothing was sent."
    )


class Redactor:
    """Known secrets and what to write in their place."""

    def __init__(self):
        self._secrets: dict[str, str] = {}

    def add(self, value: str | None, label: str) -> None:
        if value:
            self._secrets.setdefault(value, label)

    def clear(self) -> None:
        self._secrets.clear()

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        if not text or not self._secrets:
            return text
        for secret, label in self._secrets.items():
            text = self._redact_one(text, secret, f"[redacted {label}]")
        return text

    @staticmethod
    def _redact_one(text: str, secret: str, replacement: str) -> str:
        if len(secret) < _MIN_SUBSTRING:
            # "k" cannot be removed from every word; remove it where it stands alone ("Bearer k").
            return re.sub(r"(?<![\w.~+/-])" + re.escape(secret) + r"(?![\w.~+/=-])", replacement, text)
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
            repr(secret)[1:-1],
            repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        }
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, replacement)
        if len(secret) >= 2 * _FRAGMENT:
            text = _redact_fragments(text, secret, replacement)
        return text


@functools.lru_cache(maxsize=64)
def _fragment_finder(secret: str) -> re.Pattern:
    """Every position where a _FRAGMENT-long run of `secret` starts, overlapping ones included (the
    lookahead consumes nothing): the regex engine walks the text, not a Python loop (a report is
    tens of kilobytes, redacted once per secret)."""
    grams = sorted({secret[i : i + _FRAGMENT] for i in range(len(secret) - _FRAGMENT + 1)})
    return re.compile("(?=(?:" + "|".join(map(re.escape, grams)) + "))")


def _redact_fragments(text: str, secret: str, replacement: str) -> str:
    """Each stretch of `text` covered by fragments of `secret` (overlapping or touching) becomes
    one `replacement`."""
    spans: list[list[int]] = []  # [start, end) of the stretches, in order
    for match in _fragment_finder(secret).finditer(text):
        start = match.start()
        if spans and start <= spans[-1][1]:
            spans[-1][1] = start + _FRAGMENT
        else:
            spans.append([start, start + _FRAGMENT])
    if not spans:
        return text
    out, at = [], 0
    for start, end in spans:
        out += [text[at:start], replacement]
        at = end
    out.append(text[at:])
    return "".join(out)


# Process-wide: secrets must stay out of everything this process writes, stderr and warnings
# included, and every report writer reaches it without extra plumbing.
REDACT = Redactor()


def redact(text: str) -> str:
    return REDACT(text)


class _RedactingStream(io.TextIOBase):
    """A text stream that redacts each write before passing it on (print writes a line at once)."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, s: str) -> int:
        self._inner.write(REDACT(s))
        return len(s)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    # io.TextIOBase's `encoding` is a read-only attribute at run time, which typeshed declares
    # writable; the wrapped stream's encoding can only be passed on through a property.
    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def fileno(self) -> int:
        return self._inner.fileno()


@contextmanager
def redacted_std_streams():
    """stdout and stderr redacted for the duration (progress, warnings, any traceback)."""
    import sys

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RedactingStream(saved[0]), _RedactingStream(saved[1])
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr = saved

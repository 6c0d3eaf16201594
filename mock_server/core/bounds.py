"""The control plane's bounds that JSON Schema cannot say, in one place.

Sizes, ranges and item counts of every control input are in `control.yaml` (Connexion checks
request bodies and parameters against it; `world.py` reads the same schemas for fixture files,
through `contract.control`; the clock's range is checked by the clock). What a schema cannot
express lives here:

- the size of a request body and the nesting depth of its JSON, both checked on the raw bytes
  *before* anything parses them (a 100,000-level array made the parser raise RecursionError);
- text that is not UTF-8 (a UTF-16 body made the parser guess its encoding, then answer 500);
- `NaN`/`Infinity`, which Python's parser accepts although they are not JSON, and which slip
  past `minimum`/`maximum` (every comparison with NaN is false);
- the number of posts one call may create across all statuses (the schema bounds each status).
"""

from __future__ import annotations

import re

from contract.control import CONTROL

# Body size, JSON depth and the longest run of digits in a number literal: control.yaml's
# x-request-bounds (which says why each).
MAX_BODY_BYTES: int = CONTROL.request_bounds["maxBodyBytes"]
MAX_JSON_DEPTH: int = CONTROL.request_bounds["maxJsonDepth"]
MAX_NUMBER_DIGITS: int = CONTROL.request_bounds["maxNumberDigits"]

# One call (POST /posts, POST /accounts, a fixture) creates at most this many posts in all: the
# bound of one status count, read from control.yaml so it is written once.
MAX_POSTS_PER_CALL: int = CONTROL.schemas["PostCount"]["maximum"]

# Strings first (their contents may hold anything), then what is left is JSON structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_NOT_JSON_NUMBER = re.compile(rb"NaN|Infinity")
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_NUMBER_DIGITS + 1))


def json_text_problem(body: bytes) -> str | None:
    """Why `body` must not reach a JSON parser (too deep, NaN, huge number), or None.

    Cost is linear in the body and stops at the first bracket past the depth bound, so 100,000
    opening brackets are refused after 33 of them. Malformed JSON is left for the parser,
    whose message says where it broke."""
    try:  # JSON between systems is UTF-8 (RFC 8259); json.loads would guess UTF-16/32 from bytes
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 (byte {exc.start})"
    structure = _STRING.sub(b'""', body)
    depth = 0
    for match in _BRACKET.finditer(structure):
        if match.group() in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        else:
            depth -= 1
    if _NOT_JSON_NUMBER.search(structure):
        return "NaN and Infinity are not JSON numbers"
    if _LONG_NUMBER.search(structure):
        return f"a number with more than {MAX_NUMBER_DIGITS} digits"
    return None


def posts_problem(total: int) -> str | None:
    if total > MAX_POSTS_PER_CALL:
        return f"one call creates at most {MAX_POSTS_PER_CALL:,} posts in all (asked for {total:,})"
    return None

"""Opt-in: register the kit's response checks with schemathesis.

Importing `conformance` registers nothing. A schemathesis run against an implementation of the
revoke endpoint that wants the kit's spec-derived checks next to schemathesis' own loads this
module on purpose:

    SCHEMATHESIS_HOOKS=conformance.hooks schemathesis run openapi.yaml --url ... --checks all

`checks.REGISTERED` lists what it added (the `--strict` ones are left out: they are this
project's decisions, not the docs').
"""

from __future__ import annotations

import schemathesis
from schemathesis.checks import CHECKS

from conformance.checks import RESPONSE_CHECKS

REGISTERED = []
for _check in RESPONSE_CHECKS:
    if _check.__name__ not in CHECKS.get_all_names():  # loading the hooks twice is harmless
        schemathesis.check(_check)
    REGISTERED.append(_check.__name__)

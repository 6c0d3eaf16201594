"""`layers-conformance`'s console script: check the `conformance` extra, then run the kit."""

from __future__ import annotations

import sys

from contract.extras import require

NEEDS = ["schemathesis", "hypothesis"]


def main(argv: list[str] | None = None) -> int:
    refused = require("layers-conformance", "conformance", NEEDS)
    if refused is not None:
        return refused
    from conformance.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

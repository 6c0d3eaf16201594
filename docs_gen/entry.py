"""`layers-docs`'s console script. Rendering needs only the base install; `--screenshot` drives
headless Chromium and needs the `docs` extra."""
from __future__ import annotations

import sys

from contract.extras import require

NEEDS_FOR_SCREENSHOT = ["playwright"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a == "--screenshot" or a.startswith("--screenshot=") for a in args):
        refused = require("layers-docs --screenshot", "docs", NEEDS_FOR_SCREENSHOT)
        if refused is not None:
            return refused
    from docs_gen.cli import main as run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())

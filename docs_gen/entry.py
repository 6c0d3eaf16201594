"""`layers-docs`'s console script. Rendering needs only the base install; `--screenshot` drives
headless Chromium and needs the `docs` extra."""

from __future__ import annotations

import sys

from contract.extras import require

NEEDS_FOR_SCREENSHOT = ["playwright"]


def main(argv: list[str] | None = None) -> int:
    from docs_gen.cli import DocsSettings, run

    settings = DocsSettings.from_command_line(argv)
    if settings.screenshot is not None:
        refused = require("layers-docs --screenshot", "docs", NEEDS_FOR_SCREENSHOT)
        if refused is not None:
            return refused
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())

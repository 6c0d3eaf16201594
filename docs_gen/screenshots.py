"""Screenshots of what partners look at: Swagger UI (`/ui/`), the control plane's UI
(`/_mock/ui/`) and the reference page (`/docs`), as headless Chromium shows them, served by a
real `layers-mock`. `python -m docs_gen.screenshots [--out docs/screenshots]` (relative to the
current directory); needs the `docs` extra and Chromium (scripts/setup-chromium.sh)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHOTS = [
    # (file, path on the mock, selector to wait for, pixels from the top or None for the view,
    #  script run before the shot)
    ("swagger-ui.png", "/ui/", ".opblock-summary-path", 1100, None),
    ("control-plane-ui.png", "/_mock/ui/", ".opblock-tag", 1500, None),
    ("docs-page.png", "/docs", "h2#try-it-against-the-mock", 1500, None),
    # The same page at a deep link: its "Try it" steps, long curl lines wrapped.
    (
        "docs-page-try-it.png",
        "/docs",
        "h2#try-it-against-the-mock",
        None,
        "window.scrollTo(0, document.getElementById('try-it-against-the-mock').offsetTop - 8)",
    ),
]
VIEW_HEIGHT = 1500


def take(out: Path) -> list[Path]:
    from docs_gen.browser import HeadlessChromium
    from mock_control.launcher import MockProcess

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with MockProcess() as mock, HeadlessChromium(width=1280, height=VIEW_HEIGHT) as browser:
        for name, path, selector, height, script in SHOTS:
            report = browser.open(
                mock.base_url + path, full_page=False, clip_height=height, wait_for=selector, script=script
            )
            if report.console_errors:
                raise RuntimeError(f"{path}: console errors {report.console_errors}")
            (out / name).write_bytes(report.screenshot)
            written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m docs_gen.screenshots", description=__doc__.splitlines()[0])
    # Relative to where it is run (in the checkout: docs/screenshots/), never into the package.
    p.add_argument("--out", type=Path, default=Path("docs") / "screenshots")
    args = p.parse_args(argv)
    for path in take(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

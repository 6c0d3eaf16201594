"""Open a page in headless Chromium: what it shows, what it logs.

Used by the docs tests (the HTML page must render cleanly with no console errors), the browser
tests of Swagger UI and of the control plane's defences, and `layers-docs --screenshot`.
Playwright (the `docs` extra) drives Debian's `chromium` package (scripts/setup-chromium.sh)
through `executable_path`: the pip wheel brings Playwright's driver, and no browser of its own
is downloaded (`playwright install` is never run).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import ConsoleMessage, FloatRect, Page, sync_playwright

# What the tests ask of the page, in one evaluation (the page has no script of its own).
_PAGE_PROBE = """(() => {
  const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                      return {top: r.top + scrollY, bottom: r.bottom + scrollY, width: r.width, height: r.height}; };
  const h2 = [...document.querySelectorAll('h2')];
  const errorsHeading = h2.find(h => h.textContent.trim() === 'Errors');
  let table = errorsHeading; while (table && table.tagName !== 'TABLE') table = table.nextElementSibling;
  return {
    title: document.title,
    h1: document.querySelector('h1') && document.querySelector('h1').textContent.trim(),
    h1Box: box(document.querySelector('h1')),
    headings: h2.map(h => h.textContent.trim()),
    errorsTableBox: box(table),
    errorsRows: table ? [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(c => c.textContent.trim())) : [],
    externalResources: [...document.querySelectorAll('link[href],script[src],img[src],iframe[src]')]
                         .map(e => e.getAttribute('href') || e.getAttribute('src'))
                         .filter(u => !u.startsWith('data:')),  // inline (the empty favicon), not fetched
    pageHeight: document.documentElement.scrollHeight,
  };
})()"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    probe: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    selector_text: str | None = None  # text of the `wait_for` element, zero-width spaces removed
    evaluated: Any = None  # what the `script` given to open() returned


class HeadlessChromium:
    """One headless Chromium; `open(url)` loads a page in a fresh context and reports on it."""

    def __init__(self, width: int = 1280, height: int = 2000, timeout: float = 30.0):
        self.width, self.height, self.timeout = width, height, timeout

    def __enter__(self) -> HeadlessChromium:
        exe = chromium_path()
        if exe is None:
            raise FileNotFoundError("chromium is not installed (scripts/setup-chromium.sh installs it)")
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=exe, timeout=self.timeout * 1000)
        except BaseException:
            self._playwright.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()

    def open(
        self,
        url: str,
        full_page: bool = True,
        clip_height: int | None = None,
        wait_for: str | None = None,
        script: str | None = None,
    ) -> PageReport:
        """Load `url`, wait for `load` (and for the `wait_for` CSS selector, for pages that
        render with script), run `script` (an expression; a Promise is awaited), probe the DOM,
        take a PNG screenshot (the whole page, the top `clip_height` pixels, or the view)."""
        # A context per page: nothing (cookies, storage, cache) carries from one page to the next.
        page = self._browser.new_page(viewport={"width": self.width, "height": self.height})
        try:
            page.set_default_timeout(self.timeout * 1000)
            errors = _collect_errors(page)
            page.goto(url, wait_until="load")
            selector_text = None
            if wait_for:
                element = page.wait_for_selector(wait_for, state="attached")
                if element is None:  # only a wait for "detached" or "hidden" ends without one
                    raise RuntimeError(f"no element matches {wait_for!r}")
                selector_text = (element.text_content() or "").replace("\u200b", "").strip()
            evaluated = page.evaluate(script) if script else None  # e.g. click "Try it out", read the form
            probe = page.evaluate(_PAGE_PROBE)
            clip = FloatRect(x=0, y=0, width=self.width, height=clip_height) if clip_height else None
            shot = page.screenshot(type="png", full_page=full_page and not clip, clip=clip)
            return PageReport(probe, list(errors), shot, selector_text, evaluated)
        finally:
            page.context.close()


def _collect_errors(page: Page) -> list[str]:
    """console.error/assert calls, uncaught exceptions, and what Chromium logs as an error (a
    load that failed, an HTTP error status): Playwright passes its log on as console messages."""
    out: list[str] = []

    def console(msg: ConsoleMessage) -> None:
        if msg.type in {"error", "assert"}:
            where = msg.location.get("url", "")
            out.append(f"console.{msg.type}: {msg.text} {where}".strip())

    page.on("console", console)
    page.on("pageerror", lambda exc: out.append(f"exception: {exc}"))
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

"""The generated HTML page in headless Chromium: title and errors table on screen, no console
errors, no external resources. And Swagger UI, served by the mock, renders the operation."""

from __future__ import annotations

import pytest

from contract import CONTRACT
from docs_gen.browser import HeadlessChromium, png_size
from docs_gen.paths import COMMITTED_DIRS, PAGE_NAME

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

PAGES = {rendering: folder / f"{PAGE_NAME}.html" for rendering, folder in COMMITTED_DIRS.items()}


@pytest.fixture(scope="module")
def browser(require_chromium):
    with HeadlessChromium(width=1280, height=2000) as b:
        yield b


@pytest.mark.parametrize("rendering", sorted(PAGES))
def test_page_shows_title_and_errors_table_without_console_errors(browser, tmp_path, rendering):
    report = browser.open(PAGES[rendering].as_uri())  # file://: readable without a server
    probe = report.probe
    (tmp_path / "screenshot.png").write_bytes(report.screenshot)

    assert report.console_errors == []
    assert probe["externalResources"] == []
    title = f"{CONTRACT.method.upper()} {CONTRACT.route}"
    assert probe["h1"] == title
    assert probe["title"].startswith(title)
    rows = [(int(r[0]), r[1]) for r in probe["errorsRows"]]
    assert rows == [(s, CONTRACT.code_for_status(s)) for s in CONTRACT.error_statuses]

    # Both are laid out (non-zero boxes) inside the full-page screenshot.
    width, height = png_size(report.screenshot)
    assert width == 1280
    for box in (probe["h1Box"], probe["errorsTableBox"]):
        assert box["width"] > 0 and box["height"] > 0
        assert 0 <= box["top"] < box["bottom"] <= height


# Every inline <code> in the errors table's first two columns, as the number of line boxes it
# takes: a code broken mid-word (IDEMPOTENCY_CONFLICT over two lines, issue 23) takes two.
_CODE_LINES = """(() => {
  const h2 = [...document.querySelectorAll('h2')].find(h => h.textContent.trim() === 'Errors');
  let table = h2; while (table && table.tagName !== 'TABLE') table = table.nextElementSibling;
  return [...table.querySelectorAll('tbody td:nth-child(2) code')].map(c => [c.textContent, c.getClientRects().length]);
})()"""


@pytest.mark.parametrize("rendering", sorted(PAGES))
@pytest.mark.parametrize("width", [1280, 390])
def test_error_codes_are_never_broken_mid_word(browser, rendering, width):
    wide = browser.width
    browser.width = width  # the viewport of the next page (one Chromium per module)
    try:
        report = browser.open(PAGES[rendering].as_uri(), full_page=False, script=_CODE_LINES)
    finally:
        browser.width = wide
    codes = dict(report.evaluated)
    assert set(codes) == {CONTRACT.code_for_status(s) for s in CONTRACT.error_statuses}
    assert all(lines == 1 for lines in codes.values()), codes


def test_console_errors_are_caught(browser, tmp_path):
    """The detector itself: a page that logs an error and loads a missing file is reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><title>t</title><h1>x</h1><img src="missing.png"><script>console.error("boom")</script>'
    )
    errors = browser.open(page.as_uri()).console_errors
    assert any("boom" in e for e in errors), errors
    assert any("missing.png" in e for e in errors), errors


def test_swagger_ui_renders_the_operation(browser, base_url):
    report = browser.open(base_url + "/ui/", full_page=False, wait_for=".opblock-summary-path")
    assert report.console_errors == []
    assert report.selector_text == CONTRACT.route

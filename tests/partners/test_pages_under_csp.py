"""The mock's pages under their Content-Security-Policy (mock_server/edge/page_headers.py), in
headless Chromium against the real mock: Swagger UI (API and control plane) and /docs render,
and the browser reports no CSP violation; a script the page was not served with is refused."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

INJECT = """(async () => {
  const s = document.createElement('script');
  s.textContent = 'window.injected = true';
  document.body.appendChild(s);
  await new Promise(r => setTimeout(r, 300));
  return window.injected === true;
})()"""


@pytest.fixture(scope="module")
def mock(browser_mock):
    return browser_mock


@pytest.mark.parametrize(
    "path,wait_for", [("/ui/", ".opblock-summary-path"), ("/_mock/ui/", ".opblock-summary-path"), ("/docs", "h1")]
)
def test_page_renders_with_no_csp_violation(browser, mock, path, wait_for):
    report = browser.open(mock.base_url + path, full_page=False, wait_for=wait_for)
    assert report.selector_text, f"{path} rendered nothing"
    assert report.console_errors == []


def test_a_script_the_page_was_not_served_with_is_refused(browser, mock):
    report = browser.open(mock.base_url + "/ui/", full_page=False, wait_for=".opblock-summary-path", script=INJECT)
    assert report.evaluated is False
    assert any("Content Security Policy" in e for e in report.console_errors), report.console_errors

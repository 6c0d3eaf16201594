"""Swagger UI as a partner meets it, in headless Chromium against the real mock: the Servers
dropdown starts with the mock's own URL, the description is short, "Try it out" pre-fills no
optional header, the control plane's UI is grouped by tag, and the docs page fits its width with
deep-linkable headings."""

from __future__ import annotations

import httpx
import pytest
import yaml

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_SPEC

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

TRY_IT_OUT = """(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const until = async f => { for (let i = 0; i < 200 && !f(); i++) await sleep(25); return f(); };
  (document.querySelector('.opblock-summary-control') || document.querySelector('.opblock-summary')).click();
  (await until(() => document.querySelector('.try-out__btn'))).click();
  await until(() => document.querySelector('tr[data-param-name] input'));
  await sleep(200);
  return {
    params: Object.fromEntries([...document.querySelectorAll('tr[data-param-name]')]
      .map(tr => [tr.getAttribute('data-param-name'), (tr.querySelector('input') || {}).value ?? null])),
    servers: [...document.querySelectorAll('.servers select option')].map(o => o.value),
    text: document.body.innerText,
  };
})()"""

TAGS = """(() => ({tags: [...document.querySelectorAll('.opblock-tag')].map(t => t.getAttribute('data-tag')),
              summaries: [...document.querySelectorAll('.opblock-summary')].map(s =>
                 (s.querySelector('.opblock-summary-description') || {}).textContent || '')}))()"""

LAYOUT = """(() => ({overflow: document.documentElement.scrollWidth - window.innerWidth,
               headings: [...document.querySelectorAll('h1, h2, h3, h4')].map(h => h.id)}))()"""


@pytest.fixture(scope="module")
def mock(browser_mock):
    return browser_mock


def test_swagger_ui_servers_description_and_no_prefilled_optional_header(browser, mock):
    report = browser.open(mock.base_url + "/ui/", full_page=False, wait_for=".opblock-summary-path", script=TRY_IT_OUT)
    assert report.console_errors == []
    seen = report.evaluated
    documented = [s["url"] for s in CONTRACT.raw["servers"]]
    assert seen["servers"][0] == mock.base_url
    assert seen["servers"][1:] == [u for u in documented if u != mock.base_url]
    # The required path parameter is pre-filled from its example (so pre-filling does happen here)...
    assert seen["params"]["socialAccountId"] == CONTRACT.example_account_id
    # ...but the optional Idempotency-Key is empty: Execute twice gives the documented 404.
    assert seen["params"][CONTRACT.idempotency_header] == ""
    assert "Contract decisions" not in seen["text"] and "mock_server/" not in seen["text"]
    assert len(CONTRACT.raw["info"]["description"]) < 600


def test_control_plane_ui_is_tagged_and_summarised(browser, mock):
    report = browser.open(mock.base_url + "/_mock/ui/", full_page=False, wait_for=".opblock-tag", script=TAGS)
    assert report.console_errors == []
    assert report.evaluated["tags"] == [tag["name"] for tag in CONTROL.raw["tags"]]  # in the spec's order
    summaries = report.evaluated["summaries"]
    paths = yaml.safe_load(CONTROL_SPEC.read_text())["paths"]
    operations = [op for item in paths.values() for op in item.values() if isinstance(op, dict) and "operationId" in op]
    assert len(summaries) == len(operations) and all(s.strip() for s in summaries)
    served = httpx.get(mock.base_url + "/_mock/openapi.json").json()["servers"]
    assert served == [{"url": mock.base_url + "/_mock", "description": "This mock's control plane"}]


def test_docs_page_fits_its_width_and_every_heading_has_an_id(browser, mock):
    report = browser.open(
        mock.base_url + "/docs", full_page=False, wait_for="h2#try-it-against-the-mock", script=LAYOUT
    )
    assert report.console_errors == []
    assert report.evaluated["overflow"] <= 0, "something runs off the page horizontally"
    ids = report.evaluated["headings"]
    assert all(ids) and len(set(ids)) == len(ids)
    assert {"try-it-against-the-mock", "errors", "contract-decisions", "429-rate-limited"} <= set(ids)

"""The mock serves Swagger UI for the API and the control plane, and the generated page at /docs."""

from __future__ import annotations

from contract.control import CONTROL_PREFIX
from docs_gen.paths import COMMITTED_DIRS, PAGE_NAME
from mock_server.edge.docs_route import DOCS_ROUTE


def test_swagger_ui_for_the_api_and_the_control_plane(mock):
    with mock.client() as client:
        for prefix, title in (("", "Layers Partner API"), (CONTROL_PREFIX, "Layers mock - control plane")):
            ui = client.get(f"{prefix}/ui/")
            assert ui.status_code == 200 and "text/html" in ui.headers["content-type"]
            assert "swagger-ui" in ui.text
            assert client.get(f"{prefix}/ui/swagger-ui-bundle.js").status_code == 200
            spec = client.get(f"{prefix}/openapi.json")
            assert spec.status_code == 200
            assert spec.json()["info"]["title"].startswith(title)


def test_generated_page_at_docs(api):
    r = api.get(DOCS_ROUTE)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The sandbox rendering: the reference with "Try it against the mock".
    assert r.text == (COMMITTED_DIRS["sandbox"] / f"{PAGE_NAME}.html").read_text(encoding="utf-8")
    assert "try-it-against-the-mock" in r.text

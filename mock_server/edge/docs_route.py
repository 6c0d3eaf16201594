"""The generated reference page (docs_gen), served by the mock at /docs (next to Swagger UI at /ui/)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from docs_gen.paths import COMMITTED_DIRS, PAGE_NAME

DOCS_ROUTE = "/docs"


def page_html() -> str:
    """The committed sandbox rendering (the reference with "Try it against the mock"); rendered from
    the spec when not in a checkout."""
    committed = COMMITTED_DIRS["sandbox"] / f"{PAGE_NAME}.html"
    if committed.exists():
        return committed.read_text(encoding="utf-8")
    from contract import CONTRACT
    from docs_gen.render import render_all

    return render_all(CONTRACT, rendering="sandbox")[f"{PAGE_NAME}.html"]


async def docs_page(request: Request) -> HTMLResponse:
    return HTMLResponse(page_html())


def add_docs_route(app) -> None:
    """Mount the page on a Connexion app (AsyncApp.add_url_rule routes outside the APIs)."""
    app.add_url_rule(DOCS_ROUTE, "docs", view_func=docs_page, methods=["GET"])

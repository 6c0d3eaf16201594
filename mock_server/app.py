"""Assemble the mock: Connexion AsyncApp over a contract's spec and control.yaml, one Storage.

Who does what (moto's responses/models split, stripe-mock's single pipeline):
- edges: `fastpath.py` (well-formed revokes, raw ASGI) and Connexion with `security.py` and
  `handlers.py` (everything else); both call `pipeline.RevokePipeline`;
- rules: `domain.py` (and the invariants they keep, `invariants.py`);
- state: `storage/` (SQLite or PostgreSQL behind one interface);
- around them: `middleware.py` (request context, documented headers, journal, control-plane
  guard), `errors.py` (every envelope), `control.py` (the `/_mock` control plane).

AsyncApp, not FlaskApp: the FlaskApp runs every request through an ASGI-to-WSGI thread bridge
(a2wsgi), which stack-notes measured as most of its cost.
"""
from __future__ import annotations

import gc
import os
from functools import lru_cache

from connexion import AsyncApp
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver

from contract import CONTRACT
from contract.spec import Contract
from contract.world import DEFAULT_WORLD
from mock_server.core import world
from mock_server.edge import access_log, cors, errors, served_spec
from mock_server.tenancy import sandboxes as sandboxes_module
from mock_server.control.handlers import ControlHandlers
from mock_server.control.sandboxes import SandboxHandlers
from contract.control import CONTROL_PREFIX, CONTROL_SPEC
from mock_server.edge.docs_route import add_docs_route
from mock_server.core.clock import journal_stamp
from mock_server.core.domain import Domain
from mock_server.edge.fastpath import RevokeFastPath
from mock_server.edge.handlers import ApiHandlers
from mock_server.edge.middleware import RequestContextMiddleware
from mock_server.edge.page_headers import PageHeaders
from mock_server.core.pipeline import RevokePipeline
from mock_server.edge.security import security_handler_for
from mock_server.edge.strict_paths import StrictPaths
from mock_server.storage import open_storage

DATABASE_ENV = "LAYERS_MOCK_DATABASE"
ADMIN_TOKEN_ENV = "LAYERS_MOCK_ADMIN_TOKEN"
VALIDATE_RESPONSES_ENV = "LAYERS_MOCK_VALIDATE_RESPONSES"
FIXTURES_ENV = "LAYERS_MOCK_FIXTURES"
FAST_PATH_ENV = "LAYERS_MOCK_FAST_PATH"


def create_app(database: str, *, contract: Contract = CONTRACT, validate_responses: bool = True,
               admin_token: str | None = None, fixtures: str | None = None, fast_path: bool = True,
               operator_token: str | None = None, limits: sandboxes_module.Limits | None = None) -> AsyncApp:
    """An ASGI app over the storage at `database` (a SQLite path or URL, or a PostgreSQL URL),
    whose schema the CLI has prepared. `fixtures`: the world `/_mock/reset` restores.
    `operator_token`: hosted mode, many sandboxes (mock_server/sandboxes.py)."""
    storage = open_storage(database, serving=True, stamp=journal_stamp)
    hosted = operator_token is not None
    domain = Domain(contract, hosted=hosted)

    @lru_cache(maxsize=1)
    def default_world() -> dict:
        return world.read_fixture(fixtures or DEFAULT_WORLD)

    limits = (limits or sandboxes_module.Limits()) if hosted else None
    worlds = sandboxes_module.SandboxWorlds(limits, default_world)
    registry = sandboxes_module.Sandboxes(storage, operator_token, limits, worlds) if hosted else None
    pipeline = RevokePipeline(storage, domain, validate_responses=validate_responses,
                              on_caller=registry.seen if registry else None)
    api = ApiHandlers(pipeline)
    control = ControlHandlers(storage, domain, default_world, worlds)
    sandbox_ops = SandboxHandlers(registry)
    app = AsyncApp(__name__, security_map={"bearer": security_handler_for(pipeline)})
    app.add_api(contract.path, resolver=Resolver(function_resolver=lambda op: getattr(api, op)),
                validate_responses=validate_responses, strict_validation=True)  # Swagger UI at /ui/
    app.add_api(CONTROL_SPEC, base_path=CONTROL_PREFIX, name="control",
                resolver=Resolver(function_resolver=lambda op: getattr(control, op, None) or getattr(sandbox_ops, op)),
                strict_validation=True)
    add_docs_route(app)  # the generated reference page at /docs
    errors.install(app, contract)
    access_log.install(app)  # added first, so outermost: one line per request when the CLI asks
    cors.install(app)  # --cors-origin: API routes only, never the control plane
    served_spec.install(app)  # Swagger UI's Servers: this mock first, then the documented ones
    app.add_middleware(PageHeaders, position=MiddlewarePosition.BEFORE_EXCEPTION)  # nosniff, a CSP on pages
    app.add_middleware(RequestContextMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       storage=storage, admin_token=admin_token, contract=contract, sandboxes=registry)
    if fast_path:
        # Inside the context middleware: well-formed revokes skip Connexion's per-request stack.
        # `--no-fast-path` serves everything through Connexion; the tests run both ways.
        app.add_middleware(RevokeFastPath, position=MiddlewarePosition.BEFORE_EXCEPTION, pipeline=pipeline)
    app.add_middleware(StrictPaths, position=MiddlewarePosition.BEFORE_EXCEPTION)  # no redirects: edge/strict_paths.py
    app.storage = storage  # for in-process tests
    app.sandboxes = registry
    return app


def app_from_env() -> AsyncApp:
    """Entry point for uvicorn workers (`--factory`): the CLI has prepared the database already."""
    operator_token, limits = sandboxes_module.from_env(os.environ)
    app = create_app(
        os.environ[DATABASE_ENV],
        operator_token=operator_token, limits=limits,
        validate_responses=os.environ.get(VALIDATE_RESPONSES_ENV, "1") == "1",
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
        fixtures=os.environ.get(FIXTURES_ENV) or None,
        fast_path=os.environ.get(FAST_PATH_ENV, "1") == "1",
    )
    # The 200 path's p99 tail: a full (generation 2) garbage collection walks every object the
    # process holds, ~60,000 after Connexion has loaded both specs, and stops the event loop for
    # tens of milliseconds whenever request garbage triggers one (bench/RESULTS.md). What exists
    # now lives as long as the process: freeze it out of the collector's walks.
    gc.collect()
    gc.freeze()
    return app

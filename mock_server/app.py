"""Assemble the mock: Connexion AsyncApp over openapi.yaml and control.yaml, one Store, one Clock.

AsyncApp, not FlaskApp: the FlaskApp runs every request through an ASGI-to-WSGI thread bridge
(a2wsgi), which stack-notes measured as most of its cost; the handlers here are plain async
functions over SQLite, so nothing needs WSGI.
"""
from __future__ import annotations

import os

from connexion import AsyncApp
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver

from contract.spec import SPEC_PATH
from docs_gen.serving import add_docs_route
from mock_server import access_log, cors, errors, served_spec, world
from mock_server.clock import Clock
from mock_server.control import ControlHandlers
from mock_server.control_paths import CONTROL_PREFIX, CONTROL_SPEC
from mock_server.domain import Domain
from mock_server.fastpath import RevokeFastPath
from mock_server.handlers import ApiHandlers
from mock_server.middleware import RequestContextMiddleware
from mock_server.security import security_handler_for
from mock_server.store import Store

STATE_ENV = "LAYERS_MOCK_STATE"
ADMIN_TOKEN_ENV = "LAYERS_MOCK_ADMIN_TOKEN"
VALIDATE_RESPONSES_ENV = "LAYERS_MOCK_VALIDATE_RESPONSES"
FIXTURES_ENV = "LAYERS_MOCK_FIXTURES"
FAST_PATH_ENV = "LAYERS_MOCK_FAST_PATH"


def create_app(state_path: str, *, validate_responses: bool = True, admin_token: str | None = None,
               default_world: dict | None = None, load_world: bool = False, fast_path: bool = True) -> AsyncApp:
    """An ASGI app over the state file. `load_world` seeds an empty file with `default_world`."""
    store = Store(state_path)
    store.create_schema()
    # A serving process's store: WAL checkpoints on a background thread, not inside the
    # requests' COMMITs (store.py, bench/RESULTS.md). Stores used directly (the domain tests,
    # the CLI's seeding) keep SQLite's automatic checkpoints.
    store.start_checkpointer()
    clock = Clock(store)
    domain = Domain(store, clock)
    default_world = default_world if default_world is not None else world.read_fixture(world.DEFAULT_WORLD)
    if load_world:
        world.load(store, default_world, clock.now())

    api = ApiHandlers(domain)
    control = ControlHandlers(domain, default_world)
    app = AsyncApp(__name__, security_map={"bearer": security_handler_for(domain)})
    app.add_api(SPEC_PATH, resolver=Resolver(function_resolver=lambda op: getattr(api, op)),
                validate_responses=validate_responses, strict_validation=True)  # Swagger UI at /ui/
    app.add_api(CONTROL_SPEC, base_path=CONTROL_PREFIX, name="control",
                resolver=Resolver(function_resolver=lambda op: getattr(control, op)),
                strict_validation=True)
    add_docs_route(app)  # the generated reference page at /docs (docs_gen/serving.py)
    errors.install(app)
    access_log.install(app)  # added first, so outermost: one line per request when the CLI asks
    cors.install(app)  # --cors-origin: API routes only, never the control plane
    served_spec.install(app)  # Swagger UI's Servers: this mock first, then the documented ones
    app.add_middleware(RequestContextMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       store=store, clock=clock, admin_token=admin_token)
    if fast_path:
        # Inside the context middleware: well-formed revokes skip Connexion's per-request stack.
        # `--no-fast-path` serves everything through Connexion; the tests run both ways.
        app.add_middleware(RevokeFastPath, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           domain=domain, validate_responses=validate_responses)
    app.state_store = store  # for in-process tests and the CLI's banner
    return app


def app_from_env() -> AsyncApp:
    """Entry point for uvicorn workers (`--factory`): the CLI has seeded the state file already."""
    return create_app(
        os.environ[STATE_ENV],
        validate_responses=os.environ.get(VALIDATE_RESPONSES_ENV, "1") == "1",
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
        default_world=world.read_fixture(os.environ.get(FIXTURES_ENV) or world.DEFAULT_WORLD),
        fast_path=os.environ.get(FAST_PATH_ENV, "1") == "1",
    )

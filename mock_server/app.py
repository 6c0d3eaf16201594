"""Assemble the mock: Connexion AsyncApp over a contract's spec and control.yaml, one Storage.

Who does what (moto's responses/models split, stripe-mock's single pipeline), one package per
layer, each importing only those below it (pyproject.toml's import-linter contracts):
- `edge/`: HTTP in and out: the context middleware (request id, documented headers, journal,
  the control plane's guard), the fast edge for well-formed revokes, Connexion's handlers and
  security step, error rendering; both edges call `core.pipeline.RevokePipeline`;
- `control/`: the `/_mock` control plane; `tenancy/`: hosted sandboxes;
- `core/`: the rules (pipeline, domain, invariants, world, clock, `ApiError` and the envelope);
- `storage/`: SQLite or PostgreSQL behind one interface.
This module only assembles them, once, from a `MockSettings`.

AsyncApp, not FlaskApp: the FlaskApp runs every request through an ASGI-to-WSGI thread bridge
(a2wsgi), which stack-notes measured as most of its cost.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import logging
from functools import lru_cache

from connexion import AsyncApp
from connexion import spec as connexion_spec
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX
from contract.spec import Contract
from contract.world import DEFAULT_WORLD
from mock_server.control.handlers import ControlHandlers
from mock_server.control.operate import OperateHandlers
from mock_server.control.sandboxes import SandboxHandlers
from mock_server.core import metrics, world
from mock_server.core.clock import journal_stamp
from mock_server.core.domain import Domain
from mock_server.core.pipeline import RevokePipeline
from mock_server.edge import access_log, cors, errors, request_metrics, served_spec
from mock_server.edge.docs_route import add_docs_route
from mock_server.edge.fastpath import RevokeFastPath
from mock_server.edge.handlers import ApiHandlers
from mock_server.edge.middleware import RequestContextMiddleware
from mock_server.edge.page_headers import PageHeaders
from mock_server.edge.security import security_handler_for
from mock_server.edge.strict_paths import StrictPaths
from mock_server.settings import MockSettings, worker_metrics_dir
from mock_server.storage import open_storage
from mock_server.tenancy.lifecycle import Lifecycle
from mock_server.tenancy.registry import Sandboxes
from mock_server.tenancy.routing import SandboxRouter
from mock_server.tenancy.worlds import SandboxWorlds

log = logging.getLogger("layers.mock")


def _validate_each_spec_once() -> None:
    """Connexion checks a spec against the OpenAPI meta-schema each time it builds one (every
    worker's `add_api`, and Swagger UI's copy per base path): about nine tenths of building the
    app (jsonschema walking ~6,000 nodes). The check is kept, but each distinct spec (by its
    canonical JSON) is checked once per process; under granian that is once, in the process
    that forks the workers (`prepare`)."""
    spec_cls = connexion_spec.Specification
    # Connexion has no option for this: its own check, wrapped (same arguments, same errors).
    check = spec_cls._validate_spec.__func__  # noqa: SLF001
    passed: set[str] = set()

    def validate_once(cls, spec):
        key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        if key not in passed:
            check(cls, spec)  # raises InvalidSpecification as before
            passed.add(key)

    spec_cls._validate_spec = classmethod(validate_once)  # noqa: SLF001


_validate_each_spec_once()  # once: this module is imported once per process


def prepare(contract: Contract = CONTRACT) -> None:
    """What every worker's app needs and can be done before the workers exist (granian forks
    them): the two specs checked by Connexion's meta-schema check, once."""
    for raw in (contract.raw, CONTROL.raw):
        connexion_spec.Specification.load(copy.deepcopy(raw))


class MockApp(AsyncApp):
    """Connexion's AsyncApp whose ASGI entry is the edge (`edge`, edge/middleware.py), not
    Connexion's stack: the edge calls that stack itself for what the fast path does not answer.
    The HTTP server is handed `edge` itself (`app_from_env`); this class is for apps built in
    process (tests, benchmarks), which call the app."""

    edge: RequestContextMiddleware
    storage: object
    sandboxes: object

    async def __call__(self, scope, receive, send) -> None:
        await self.edge(scope, receive, send)


def create_app(
    settings: MockSettings | str, *, contract: Contract = CONTRACT, metrics_dir: str | None = None, **changes
) -> MockApp:
    """An ASGI app serving `settings` (mock_server/settings.py) over the storage at
    `settings.database` (a SQLite path or URL, or a PostgreSQL URL), whose schema the CLI has
    prepared. `settings.fixtures`: the world `/_mock/reset` restores; `settings.operator_token`:
    hosted mode, many sandboxes (mock_server/tenancy/).

    For apps built directly (tests, benchmarks): `create_app(database, **changes)` is
    `create_app(MockSettings(database=database, quiet=True).replace(**changes))`, quiet because
    an app in a test process has no terminal to log requests to.

    `metrics_dir`: the directory the instance's workers share for their metrics (core/metrics.py;
    the CLI makes it when it starts more than one worker); None: this process's own."""
    if isinstance(settings, str):
        settings = MockSettings(database=settings, quiet=True)
    settings = settings.replace(**changes) if changes else settings
    if settings.database is None:
        raise ValueError("create_app needs settings.database: the CLI prepares it before serving")
    storage = open_storage(
        settings.database,
        serving=True,
        stamp=journal_stamp,
        timeout=settings.storage_timeout,
        journal_limit=settings.journal_limit,
    )
    domain = Domain(contract, hosted=settings.hosted)

    @lru_cache(maxsize=1)
    def default_world() -> dict:
        return world.read_fixture(settings.fixtures or DEFAULT_WORLD)

    lifecycle = registry = router = None
    if settings.operator_token is None:
        worlds = SandboxWorlds(None, default_world)
    else:  # hosted mode: tenancy/
        limits = settings.limits
        worlds = SandboxWorlds(limits, default_world)
        lifecycle = Lifecycle(storage, limits)
        registry = Sandboxes(storage, limits, worlds, lifecycle)
        router = SandboxRouter(storage, settings.operator_token, lifecycle.seen)
    pipeline = RevokePipeline(
        storage, domain, validate_responses=settings.validate_responses, on_caller=lifecycle.seen if lifecycle else None
    )
    api = ApiHandlers(pipeline)
    control = ControlHandlers(storage, domain, default_world, worlds)
    sandbox_ops = SandboxHandlers(registry)
    if metrics_dir is not None and not metrics.multiprocess_ready():
        # prometheus_client was imported before the CLI named the directory (core/metrics.py):
        # a scrape then sees this worker's requests only. Said once per worker, not hidden.
        log.warning("metrics: %s was named too late; this worker's metrics are its own", metrics_dir)
    operate = OperateHandlers(storage, metrics_dir)
    app = MockApp(__name__, security_map={"bearer": security_handler_for(pipeline)})
    # The specs as already parsed (contract/), not their paths: Connexion would read and parse
    # both YAML files again, in every worker (a copy: Connexion fills in defaults in place).
    app.add_api(
        copy.deepcopy(contract.raw),
        resolver=Resolver(function_resolver=lambda op: getattr(api, op)),
        validate_responses=settings.validate_responses,
        strict_validation=True,
    )  # Swagger UI at /ui/
    app.add_api(
        copy.deepcopy(CONTROL.raw),
        base_path=CONTROL_PREFIX,
        name="control",
        resolver=Resolver(
            function_resolver=lambda op: (
                getattr(control, op, None) or getattr(operate, op, None) or getattr(sandbox_ops, op)
            )
        ),
        strict_validation=True,
    )
    add_docs_route(app)  # the generated reference page at /docs
    errors.install(app, contract)
    served_spec.install(app)  # Swagger UI's Servers: this mock first, then the documented ones
    app.add_middleware(PageHeaders, position=MiddlewarePosition.BEFORE_EXCEPTION)  # nosniff, a CSP on pages
    app.add_middleware(StrictPaths, position=MiddlewarePosition.BEFORE_EXCEPTION)  # no redirects: edge/strict_paths.py
    # The edge, outside Connexion's stack (its `middleware`, which it calls for what the fast path
    # does not answer): every request crosses it, a well-formed revoke nothing else.
    app.edge = RequestContextMiddleware(
        app.middleware,
        storage=storage,
        admin_token=settings.admin_token,
        allowed_hosts=settings.allowed_hosts,
        contract=contract,
        sandboxes=router,
        # Asked first by the edge: well-formed revokes skip Connexion's per-request stack.
        # `--no-fast-path` serves everything through Connexion; the tests run both ways.
        fast_path=RevokeFastPath(pipeline) if settings.fast_path else None,
        metrics=request_metrics.RequestMetrics(contract),  # every request counted, refusals included
        access_log=access_log.make(enabled=not settings.quiet),  # one line per request, refusals included
        cors=cors.make(settings.cors_origins),  # --cors-origin: API routes only, never the control plane
    )
    app.storage = storage  # for in-process tests
    app.sandboxes = registry
    return app


def app_from_env() -> RequestContextMiddleware:
    """Entry point for the HTTP server's workers (`--factory`): the CLI has prepared the database
    already and handed its settings over (`MockSettings.for_worker`). The server gets the edge
    itself (`MockApp.edge`), so a fast-path request crosses one ASGI callable: the edge."""
    app = create_app(MockSettings.for_worker(), metrics_dir=worker_metrics_dir())
    # The 200 path's p99 tail: a full (generation 2) garbage collection walks every object the
    # process holds, ~60,000 after Connexion has loaded both specs, and stops the event loop for
    # tens of milliseconds whenever request garbage triggers one (bench/RESULTS.md). What exists
    # now lives as long as the process: freeze it out of the collector's walks.
    gc.collect()
    gc.freeze()
    # Requests leave little cyclic garbage (refcounts free the rest), so the default threshold of
    # 700 ran a generation-0 walk every few requests: 10,000 keeps the walks rare and still
    # short (bench/revoke_instructions.py: 200 partner -24k, 404 partner -34k instructions).
    gc.set_threshold(10_000)
    return app.edge

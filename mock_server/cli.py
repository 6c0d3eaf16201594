"""`layers-mock`: seed a state file from a fixture and serve the mock with uvicorn."""
from __future__ import annotations

import argparse
import gc
import os
import sys

from contract.world import DEFAULT_WORLD
from mock_server import banner, listen
from mock_server.edge import access_log, cors
from mock_server import app as app_module
from mock_server import state_file
from mock_server.core import world
from mock_server.tenancy import sandboxes
from mock_server.control.guard import ALLOWED_HOSTS_ENV
from mock_server.core.clock import Clock
from mock_server.storage import is_postgres, open_storage, redacted, sqlite_path


# Two workers where there are two or more cores (the best throughput measured on the 2-core
# benchmark machine, bench/RESULTS.md; every write still queues for SQLite's one write lock),
# one on a one-core machine.
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="layers-mock", description="Stateful mock of Layers' revoke endpoint.")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4010, help="port (default 4010; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"uvicorn worker processes sharing the state file (default {DEFAULT_WORKERS}:"
                        " two, or one on a one-core machine; see bench/RESULTS.md)")
    p.add_argument("--database", metavar="URL", default=os.environ.get(app_module.DATABASE_ENV),
                   help="where the world lives: postgresql://user@host:port/dbname (shared by any number of"
                        " layers-mock instances), or sqlite:///relative.db / sqlite:////absolute.db"
                        f" (also ${app_module.DATABASE_ENV}; default: a fresh temporary SQLite world)")
    p.add_argument("--state", metavar="FILE", help="SQLite state file kept across restarts (shorthand for --database sqlite:///FILE)")
    p.add_argument("--fixtures", metavar="FILE", help="world fixture JSON (default: the shipped default world)")
    p.add_argument("--reset", action="store_true",
                   help="with --state/--database: drop what it holds and reload the fixtures")
    p.add_argument("--force", action="store_true",
                   help="with --reset: reset even while another layers-mock serves the state file")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   default=[h for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip()],
                   help="a Host name the control plane answers to besides localhost and IP addresses"
                        " (repeatable; '.example.test' allows its subdomains; env " + ALLOWED_HOSTS_ENV + ")")
    p.add_argument("--admin-token", default=os.environ.get(app_module.ADMIN_TOKEN_ENV),
                   help="require this token (header X-Mock-Admin-Token) on the control plane; allows it off loopback")
    p.add_argument("--no-validate-responses", action="store_true", help="skip validating responses against openapi.yaml")
    p.add_argument("--no-fast-path", action="store_true",
                   help="serve well-formed revokes through Connexion's full stack too (slower; same answers)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let a browser app on ORIGIN (e.g. http://localhost:3000; repeatable; * for any) call the "
                        "API routes; never the control plane")
    sandboxes.add_arguments(p)
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--quiet", action="store_true", help="print neither the banner nor the access log (a line per request)")
    return p.parse_args(argv)


def seed_state(database: str, fixture: dict, reset: bool, *, hosted: bool = False) -> bool:
    """Make (or check) the schema; load the fixture into an empty (or reset) world, once however
    many instances start together on one database. True if it was loaded. Hosted mode seeds no
    local world: every world is a sandbox made by the operator."""
    storage = open_storage(database)
    try:
        seed = None if hosted else (lambda q: world.load(q, fixture, Clock.now(q), report=False))
        return storage.prepare(seed, reset=reset)
    finally:
        storage.close()


def main(argv: list[str] | None = None) -> int:
    # No cyclic garbage collection while the fixture is read and loaded (serve() turns it back on
    # before serving): a million accounts' parsed JSON is millions of objects that every
    # collection, set off by the rows being made, walked again (~2 s of a million-account start).
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    try:
        args.port = listen.claim_port(args.host, args.port)  # before anything is printed or seeded
    except listen.PortUnavailable as exc:
        print(f"layers-mock: {exc}", file=sys.stderr)
        return 2
    try:
        fixture = world.read_fixture(args.fixtures or DEFAULT_WORLD)
    except world.WorldError as exc:
        print(f"layers-mock: {exc}", file=sys.stderr)
        return 2

    problem = sandboxes.check_arguments(args)
    if problem:
        print(f"layers-mock: {problem}", file=sys.stderr)
        return 2
    if args.state and args.database:
        print("layers-mock: give --state or --database, not both", file=sys.stderr)
        return 2
    database = args.database or args.state
    state_file.exit_on_sigterm()  # so that a temporary world is removed on SIGTERM too
    if database is not None and is_postgres(database):
        # PostgreSQL guards itself: seeding takes an advisory lock, and a damaged server says so.
        return serve(args, fixture, database, None)
    try:
        path = None if database is None else os.path.abspath(sqlite_path(database))
        with state_file.opened(path, reset=args.reset, force=args.force) as (state, lock):
            return serve(args, fixture, state, lock)
    except (state_file.StateFileError, ValueError) as exc:
        print(f"layers-mock: {exc}", file=sys.stderr)
        return 2


def serve(args: argparse.Namespace, fixture: dict, database: str, lock: state_file.StateLock | None) -> int:
    try:
        loaded = seed_state(database, fixture, args.reset, hosted=bool(args.operator_token))
    except Exception as exc:  # noqa: BLE001 - a database that cannot be used: say which, and why
        print(f"layers-mock: cannot use {redacted(database)}: {str(exc).strip()}", file=sys.stderr)
        return 2
    gc.enable()  # loaded: collect as usual while serving
    if lock is not None:
        lock.share()  # the reset (if any) is done: other mocks may serve this file beside us

    os.environ[app_module.DATABASE_ENV] = database
    os.environ[app_module.VALIDATE_RESPONSES_ENV] = "0" if args.no_validate_responses else "1"
    os.environ[app_module.FAST_PATH_ENV] = "0" if args.no_fast_path else "1"
    if args.fixtures:
        os.environ[app_module.FIXTURES_ENV] = os.path.abspath(args.fixtures)
    if args.admin_token:
        os.environ[app_module.ADMIN_TOKEN_ENV] = args.admin_token
    os.environ[ALLOWED_HOSTS_ENV] = ",".join(args.allowed_host)
    sandboxes.export_env(args, os.environ)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not (args.admin_token or args.operator_token):
        print("layers-mock: note: the control plane refuses non-loopback clients (no --admin-token)", file=sys.stderr)

    try:
        os.environ[cors.ENV] = ",".join(cors.check_origin(o) for o in args.cors_origin)
    except ValueError as exc:
        print(f"layers-mock: --cors-origin: {exc}", file=sys.stderr)
        return 2
    os.environ[access_log.ENV] = "0" if args.quiet else "1"
    if not args.quiet and args.operator_token:
        print(sandboxes.hosted_banner(f"http://{args.host}:{args.port}", sandboxes.from_env(os.environ)[1]), flush=True)
    elif not args.quiet:
        shown = redacted(database) if (args.state or args.database) else None
        print(banner.render(host=args.host, port=args.port, fixture=fixture, loaded=loaded, state=shown,
                            admin_token=bool(args.admin_token)), flush=True)

    import uvicorn

    uvicorn.run("mock_server.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

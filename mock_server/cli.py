"""`layers-mock`: seed a state file from a fixture and serve the mock (granian or uvicorn: mock_server/listen.py)."""

from __future__ import annotations

import fcntl
import gc
import glob
import os
import shutil
import sys
import tempfile

from contract.world import DEFAULT_WORLD
from mock_server import banner, listen, ready, state_file
from mock_server.core import world
from mock_server.core.clock import Clock
from mock_server.settings import MockSettings, SettingsError, from_command_line
from mock_server.storage import is_postgres, open_storage, redacted, sqlite_path
from mock_server.tenancy.limits import Limits
from mock_server.tenancy.routing import SANDBOXES_PATH

METRICS_DIR_PREFIX = "layers-metrics-"
# Inside an instance's metrics directory: a file the instance holds an exclusive flock on for its
# life (its forked workers share the lock). A mock killed with SIGKILL cannot remove its
# directory; the kernel releases its lock, and the next mock to start removes the directory.
METRICS_OWNER = "owner.lock"


def own_metrics_dir() -> tuple[str, int]:
    """A new metrics directory and the descriptor of its held lock, after removing those of
    instances that died without removing theirs."""
    for found in glob.glob(os.path.join(tempfile.gettempdir(), METRICS_DIR_PREFIX + "*")):
        _remove_if_abandoned(found)
    directory = tempfile.mkdtemp(prefix=METRICS_DIR_PREFIX)
    # Locked under another name, then renamed: a sweeper never finds the owner file unlocked.
    staging = os.path.join(directory, METRICS_OWNER + ".new")
    fd = os.open(staging, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(staging, os.path.join(directory, METRICS_OWNER))
    return directory, fd


def _remove_if_abandoned(directory: str) -> None:
    """Removes `directory` if its owner file's lock is free (its instance is gone). One without
    the file (being made, or an older version's) is left alone: nothing says its owner died, and
    so is one whose owner file is a link or a device another user of /tmp put there."""
    try:
        fd = os.open(os.path.join(directory, METRICS_OWNER), os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(directory, ignore_errors=True)
    except OSError:  # held: a live instance's
        pass
    finally:
        os.close(fd)


def parse_args(argv: list[str] | None) -> MockSettings:
    """The settings of this run: flags, then environment, then defaults (mock_server/settings.py)."""
    return from_command_line(argv)


def seed_state(
    database: str, fixture: dict, reset: bool, *, hosted: bool = False
) -> tuple[bool, banner.StoredWorld | None]:
    """Make (or check) the schema; load the fixture into an empty (or reset) world, once however
    many instances start together on one database. (Whether it was loaded; the local world as
    it is now, read once after seeding, for the banner and the ready file.) Hosted mode seeds no
    local world: every world is a sandbox made by the operator."""
    storage = open_storage(database)
    try:
        seed = None if hosted else (lambda q: world.load(q, fixture, Clock.now(q), report=False))
        loaded = storage.prepare(seed, reset=reset)
        if hosted:
            return loaded, None
        with storage.snapshot() as q:
            return loaded, banner.read_world(q, fixture)
    finally:
        storage.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["report"]:  # `layers-mock report`: a running mock's client report (issue 24)
        from mock_server.report_cli import main as report_main

        return report_main(args[1:])
    # No cyclic garbage collection while the fixture is read and loaded (serve() turns it back on
    # before serving): a million accounts' parsed JSON is millions of objects that every
    # collection, set off by the rows being made, walked again (~2 s of a million-account start).
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> int:
    try:
        settings = parse_args(argv)
        # The port before anything is printed or seeded (0: the free one picked now, for the banner).
        settings = settings.replace(port=listen.claim_port(settings.host, settings.port))
        ready.check_path(settings.ready_file)
        fixture = world.read_fixture(settings.fixtures or DEFAULT_WORLD)
    except (SettingsError, listen.PortUnavailable, ready.ReadyFileError, world.WorldError) as exc:
        print(f"layers-mock: {exc}", file=sys.stderr)
        return 2
    database = settings.database or settings.state
    state_file.exit_on_sigterm()  # so that a temporary world is removed on SIGTERM too
    if database is not None and is_postgres(database):
        # PostgreSQL guards itself: seeding takes an advisory lock, and a damaged server says so.
        return serve(settings, fixture, database, None)
    try:
        path = None if database is None else os.path.abspath(sqlite_path(database))
        with state_file.opened(path, reset=settings.reset, force=settings.force) as (state, lock):
            return serve(settings, fixture, state, lock)
    except (state_file.StateFileError, ValueError) as exc:
        print(f"layers-mock: {exc}", file=sys.stderr)
        return 2


def serve(settings: MockSettings, fixture: dict, database: str, lock: state_file.StateLock | None) -> int:
    preparation = listen.AppPreparation(settings.server)  # beside the seeding (listen.py says why)
    try:
        loaded, stored = seed_state(database, fixture, settings.reset, hosted=settings.hosted)
    except Exception as exc:  # noqa: BLE001 - a database that cannot be used: say which, and why
        print(f"layers-mock: cannot use {redacted(database)}: {str(exc).strip()}", file=sys.stderr)
        return 2
    preparation.wait()
    # Loaded: collect as usual while serving, but never walk what exists now. With collection off
    # while loading, every object made since (a million accounts' parsed JSON) sat in the youngest
    # generation, and the first allocation after gc.enable() walked them all (~1 s of a
    # million-account start). Frozen, they are left alone (granian freezes before forking anyway).
    gc.freeze()
    gc.enable()
    if lock is not None:
        lock.share()  # the reset (if any) is done: other mocks may serve this file beside us

    # Several workers share one directory for their metrics, so a scrape of any sees the whole
    # instance (core/metrics.py); removed on exit like a temporary world.
    # (Its prefix is not the temporary world's: tools that look for a mock's world find one.)
    metrics_dir, owner = own_metrics_dir() if settings.workers > 1 else (None, None)
    try:
        return _serve_prepared(settings, database, loaded, stored, metrics_dir)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if owner is not None:
            os.close(owner)


def _serve_prepared(
    settings: MockSettings, database: str, loaded: bool, stored: banner.StoredWorld | None, metrics_dir: str | None
) -> int:
    # What the workers serve: the world just prepared (--state resolved into it), and the fixture
    # by a path that holds whatever their working directory.
    settings.replace(
        database=database, state=None, fixtures=settings.fixtures and os.path.abspath(settings.fixtures)
    ).hand_to_workers(metrics_dir)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not (settings.admin_token or settings.operator_token):
        print("layers-mock: note: the control plane refuses non-loopback clients (no --admin-token)", file=sys.stderr)
    base = banner.base_url(settings.host, settings.port)
    shown = redacted(database) if (settings.state or settings.database) else None
    if not settings.quiet:  # hosted mode (no stored world): no shared world to show, its limits instead
        print(
            hosted_banner(f"http://{settings.host}:{settings.port}", settings.limits)
            if stored is None
            else banner.render(
                host=settings.host,
                port=settings.port,
                world=stored,
                loaded=loaded,
                state=shown,
                admin_token=bool(settings.admin_token),
            ),
            flush=True,
        )

    announcement = ready.document(base=base, port=settings.port, state=shown, world=stored)
    with ready.announced(
        settings.ready_file, host=banner.connect_host(settings.host), port=settings.port, doc=announcement
    ):
        listen.run(
            settings.server,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
        )
    return 0


def hosted_banner(base: str, limits: Limits) -> str:
    """What a hosted deployment prints: where the operator's calls go, and the limits (no token)."""
    return "\n".join(
        [
            f"Layers mock (hosted sandboxes) on {base}   (API docs: {base}/ui/)",
            f"operator: POST/GET {base}{SANDBOXES_PATH}, DELETE {base}{SANDBOXES_PATH}/{{id}} with X-Mock-Admin-Token",
            f"limits: {limits.max_sandboxes} sandboxes, {limits.max_accounts} accounts and {limits.max_posts} posts each,"
            f" expiry after {limits.idle_ttl:g} s unused",
            "try:",
            f'  curl -s -X POST {base}{SANDBOXES_PATH} -H "X-Mock-Admin-Token: $LAYERS_MOCK_OPERATOR_TOKEN"',
        ]
    )


if __name__ == "__main__":
    sys.exit(main())

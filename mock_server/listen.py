"""Check the listening address before anything is printed: a busy port is a clear one-line error
(exit 2), not a banner followed by uvicorn's traceback-like `[Errno 98]`."""

from __future__ import annotations

import errno
import socket


class PortUnavailable(Exception):
    pass


def claim_port(host: str, port: int) -> int:
    """The port to serve on: `port`, checked free by binding it as uvicorn will (SO_REUSEADDR),
    or for 0 a free one picked now, so the banner can print the real address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            return s.getsockname()[1]
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                f"port {port} on {host} is already in use (another layers-mock?). "
                "Stop it, or pick another port: --port N (--port 0 picks a free one)."
            ) from None
        if exc.errno == errno.EACCES:
            raise PortUnavailable(
                f"not allowed to listen on {host}:{port}; ports below 1024 need privileges: "
                "use --port 4010 or another one above 1023."
            ) from None
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


# -- the HTTP server ---------------------------------------------------------------------------
APP_FACTORY = "mock_server.app:app_from_env"  # each worker builds its app from the handed-over settings


class AppPreparation:
    """Under granian (whose workers are forked from this process), the app's modules imported
    and its specs checked here, once, on a thread started before the world is seeded: seeding
    spends most of its time inside SQLite, which releases the GIL, so on two cores the import
    runs beside it instead of after it (a million-account fixture: bench/RESULTS.md)."""

    def __init__(self, server: str):
        import threading

        self._error: BaseException | None = None
        self._thread = None
        if server == "granian":
            self._thread = threading.Thread(target=self._prepare, name="layers-mock-prepare", daemon=True)
            self._thread.start()

    def _prepare(self) -> None:
        import importlib

        try:
            importlib.import_module(APP_FACTORY.split(":", 1)[0]).prepare()
        except BaseException as exc:  # noqa: BLE001 - raised again by wait(), on the main thread
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            if self._error is not None:
                raise self._error


def run(server: str, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the mock's app on `server` ("granian" or "uvicorn") until SIGTERM or SIGINT, then
    shut down gracefully (both servers stop accepting, finish what is in flight, stop workers).
    The workers read the settings the CLI handed over (`MockSettings.hand_to_workers`) from
    their environment, whichever server started them."""
    if server == "granian":
        _run_granian(host=host, port=port, workers=workers, log_level=log_level)
    else:
        import uvicorn

        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )


# Seconds a granian worker has to finish what it is doing after SIGTERM before it is killed:
# more than a request can take (the storage bound's default is 5 s), less than `docker stop`'s 10.
WORKER_STOP_S = 8


def _run_granian(*, host: str, port: int, workers: int, log_level: str) -> None:
    import gc
    import importlib

    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    # granian forks its workers (Python 3.11's default start method on Linux): the app's modules
    # (Connexion, the specs parsed) imported here, and the specs checked here once, are every
    # worker's at no cost, instead of each worker doing both after the fork (start-up:
    # bench/RESULTS.md). Frozen, so that no collection in a worker walks them or dirties their
    # shared pages.
    importlib.import_module(APP_FACTORY.split(":", 1)[0]).prepare()  # done already by AppPreparation
    # (no gc.collect() first: a million-account fixture's objects are still alive here, and a
    # full collection would walk them all)
    gc.freeze()
    Server(
        APP_FACTORY,
        factory=True,
        address=host,
        port=port,
        # ASGI without the lifespan protocol: the app needs no start-up or shutdown events (its
        # storage opens in the factory), and with lifespan on, a worker's shutdown sometimes never
        # got its `lifespan.shutdown.complete` and SIGTERM left it running (seen at log level warning).
        interface=Interfaces.ASGINL,
        workers=workers,
        # HTTP/1.1 only, like uvicorn: the mock promises nothing about HTTP/2 (h2c).
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels(log_level),
        log_access=False,  # the app's own access log (edge/access_log.py) writes one line per request
        # A worker SIGTERM reaches while it is still starting sometimes never stops (seen after
        # a big fixture: stuck in granian's _spawn_asgi_worker, the parent waiting on it for
        # ever); granian kills a worker that has not stopped this long after being asked.
        workers_kill_timeout=WORKER_STOP_S,
    ).serve()

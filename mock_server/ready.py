"""`--ready-file PATH`: a JSON document written once the mock answers (issue 21), so that a harness
in any language learns where it is (the real port, also with `--port 0`) and which keys to use,
without scraping the banner or guessing a port.

The CLI's process writes it, once however many workers serve: a thread asks the mock for
`/openapi.json` (served without a key or token) until it answers, then writes the document to a
temporary file beside PATH (mode 0600: it holds the test keys' secrets) and renames it into place,
so that a reader sees the whole document or none. It is removed when the mock exits. It never holds
an admin or operator token.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from contract.control import CONTROL_PREFIX
from contract.spec import spec_sha256
from mock_server.banner import StoredWorld

# How long the mock may take to answer its first request before the file is given up on (a
# million-account world is loaded before uvicorn starts, so this is uvicorn's and the workers' start).
READY_TIMEOUT = 120.0
POLL_INTERVAL = 0.05


class ReadyFileError(Exception):
    pass


def check_path(path: str | None) -> None:
    """Refuse, before anything is printed, a ready file that could never be written."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise ReadyFileError(f"cannot write the ready file {path}: {directory} is not a writable directory")
    if os.path.isdir(path):
        raise ReadyFileError(f"cannot write the ready file {path}: it is a directory")


def document(*, base: str, port: int, state: str | None, world: StoredWorld | None) -> dict:
    """What the file says. `world` None: hosted mode (no shared world, so no keys)."""
    doc = {
        "baseUrl": base,
        "controlUrl": base + CONTROL_PREFIX,
        "port": port,
        "pid": os.getpid(),
        "specSha256": spec_sha256(),
        "state": state or "temporary",
        "mode": "hosted" if world is None else "local",
    }
    if world is not None:
        doc["keys"] = world.ready_keys()
        doc["exampleAccountId"] = world.example_account
    return doc


def write_atomically(path: str, doc: dict) -> None:
    """`doc` as JSON at `path`: a temporary file in the same directory (mkstemp: mode 0600), renamed."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".layers-mock-ready-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(doc, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def answers(host: str, port: int) -> bool:
    """Whether the mock answers a request now (any status: it is serving)."""
    connection = http.client.HTTPConnection(host.strip("[]"), port, timeout=2)
    try:
        connection.request("GET", "/openapi.json")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def announced(path: str | None, *, host: str, port: int, doc: dict) -> Iterator[None]:
    """Around serving: write `doc` to `path` once the mock answers on host:port; remove it after."""
    if path is None:
        yield
        return
    # A file left by a mock that was killed (no exit to remove it) would announce one that is gone.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    stop = threading.Event()

    def wait_then_write() -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not stop.is_set() and time.monotonic() < deadline:
            if answers(host, port):
                write_atomically(path, doc)
                return
            stop.wait(POLL_INTERVAL)

    writer = threading.Thread(target=wait_then_write, name="layers-mock-ready-file", daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join(5)
        # Ours only: another mock started later with the same PATH may have replaced it.
        try:
            with open(path, encoding="utf-8") as f:
                mine = json.load(f).get("pid") == doc["pid"]
        except (OSError, ValueError):
            mine = False
        if mine:
            os.unlink(path)

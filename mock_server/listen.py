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

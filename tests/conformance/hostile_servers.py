"""Small hostile HTTP servers on loopback, for the kit to be run against.

Raw sockets, so that a server can do what no framework would let it: dribble its answer a byte
at a time, never answer, send 100 MB, nest JSON 100,000 levels deep, answer 429 to everything,
echo the caller's key back. Used in-process by tests/conformance/test_hostile_targets.py, and
from the command line for the measurements in docs/reliability.md ("The kit against hostile targets"):

    python tests/conformance/hostile_servers.py dribble-headers --port 8701 --interval 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import sys
import threading
import time
import uuid
import zlib

from contract import CONTRACT

CRLF = b"\r\n"
MB = 1 << 20


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def request_id() -> str:
    """req_ + a ULID (48-bit milliseconds, 80 random bits, Crockford base32), as the docs show."""
    # os.urandom, not random: hypothesis seeds `random` while the kit generates, in this process too.
    n = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "req_" + "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def _envelope(status: int, code: str, message: str) -> tuple[bytes, dict]:
    """A documented error answer, headers included: a server hostile in its manners (it dribbles,
    storms, hangs) but not in its answers, so that what the kit reports is the manners alone."""
    rid = request_id()
    body = json.dumps({"error": {"code": code, "message": message, "requestId": rid}}).encode()
    return body, {
        "Content-Type": "application/json",
        CONTRACT.request_id_header: rid,
        CONTRACT.rate_limit_class_header: CONTRACT.rate_limit_class,
    }


def head(status: int, headers: dict, reason: str = "X") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".encode()]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
    return CRLF.join(lines) + CRLF + CRLF


def answer(status: int, body: bytes, headers: dict | None = None) -> bytes:
    return head(status, {**(headers or {}), "Content-Length": str(len(body)), "Connection": "close"}) + body


def not_found(request: dict) -> bytes:
    body, headers = _envelope(404, "NOT_FOUND", "No such social account.")
    return answer(404, body, headers)


# --- behaviours: each gets the connected socket and the parsed request head -------------------


def hang(sock, request, opts):
    time.sleep(opts.get("hold", 3600))


def dribble_headers(sock, request, opts):
    """The whole answer one byte at a time, headers included: no single read ever waits long."""
    for byte in not_found(request):
        sock.sendall(bytes([byte]))
        time.sleep(opts["interval"])


def dribble_body(sock, request, opts):
    data = not_found(request)
    split = data.index(CRLF + CRLF) + 4
    sock.sendall(data[:split])
    for byte in data[split:]:
        sock.sendall(bytes([byte]))
        time.sleep(opts["interval"])


def slow(sock, request, opts):
    """A well-formed 404, after a pause shorter than any sane --timeout."""
    time.sleep(opts["delay"])
    sock.sendall(not_found(request))


def storm(sock, request, opts):
    """429 to everything, in the envelope, with the Retry-After the test chose."""
    body, headers = _envelope(429, "RATE_LIMITED", "Per-key write budget exhausted. Honor Retry-After.")
    sock.sendall(answer(429, body, {**headers, "Retry-After": str(opts["retry_after"])}))


def huge(sock, request, opts):
    """A 404 whose body is `size` bytes of JSON-looking filler, declared or chunked."""
    size, chunk = opts["size"], b" " * (64 * 1024)
    headers = {"Content-Type": "application/json", "X-Request-Id": "req_" + uuid.uuid4().hex, "Connection": "close"}
    if opts.get("chunked"):
        sock.sendall(head(404, {**headers, "Transfer-Encoding": "chunked"}))
        sent = 0
        while sent < size:
            sock.sendall(f"{len(chunk):x}".encode() + CRLF + chunk + CRLF)
            sent += len(chunk)
        sock.sendall(b"0" + CRLF + CRLF)
    else:
        sock.sendall(head(404, {**headers, "Content-Length": str(size)}))
        sent = 0
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)
    opts.setdefault("bytes_sent", []).append(sent)


def gzip_bomb(sock, request, opts):
    """A small gzip body (about 100 KB) that inflates to `size` bytes."""
    if "_bomb" not in opts:
        z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = b" " * MB
        opts["_bomb"] = b"".join(z.compress(zeros) for _ in range(opts["size"] // MB)) + z.flush()
    sock.sendall(
        answer(
            404,
            opts["_bomb"],
            {"Content-Type": "application/json", "Content-Encoding": "gzip", "X-Request-Id": "req_1"},
        )
    )


def nested(sock, request, opts):
    depth = opts["depth"]
    body = b'{"error": ' + b"[" * depth + b"]" * depth + b"}"
    sock.sendall(answer(404, body, {"Content-Type": "application/json", "X-Request-Id": "req_1"}))


def redirect(sock, request, opts):
    sock.sendall(answer(307, b"", {"Location": opts["location"] + request["path"]}))


def echo(sock, request, opts):
    """A 404 (or a control-plane 400) that hands the caller's credentials back, whole and cut short."""
    creds = " ".join(v for k, v in request["headers"].items() if k in ("authorization", "x-mock-admin-token"))
    if request["path"].startswith("/_mock"):
        body = json.dumps({"error": {"code": "BAD", "message": f"bad admin token {creds}"}}).encode()
        sock.sendall(answer(400, body, {"Content-Type": "application/json"}))
        return
    rid = "req_" + uuid.uuid4().hex
    # The key in the message; a cut-off copy where a long message would be truncated; and the
    # key in a header, as a debugging proxy might add.
    message = f"No such social account. You sent {creds}; {'x' * 270}{creds}"
    body = json.dumps({"error": {"code": "NOT_FOUND", "message": message, "requestId": rid}}).encode()
    sock.sendall(
        answer(404, body, {"Content-Type": "application/json", "X-Request-Id": rid, "X-Echo-Auth": creds[:200]})
    )


def record(sock, request, opts):
    sock.sendall(not_found(request))


BEHAVIOURS = {
    "hang": hang,
    "dribble-headers": dribble_headers,
    "dribble-body": dribble_body,
    "slow": slow,
    "storm": storm,
    "huge": huge,
    "gzip-bomb": gzip_bomb,
    "nested": nested,
    "redirect": redirect,
    "echo": echo,
    "record": record,
}


def _read_head(sock) -> dict | None:
    data = b""
    while CRLF + CRLF not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 64 * 1024:
            return None
        data += chunk
    lines = data.split(CRLF + CRLF, 1)[0].decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return {"method": method, "path": path, "headers": headers, "raw": data}


class HostileServer:
    """One behaviour on 127.0.0.1 (or `host`), a thread per connection; records what arrived."""

    def __init__(self, behaviour: str, host: str = "127.0.0.1", port: int = 0, **opts):
        self.behaviour, self.opts = BEHAVIOURS[behaviour], opts
        self.requests: list[dict] = []
        self.connections = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer.connections += 1
                try:
                    request = _read_head(self.request)
                    if request is None:
                        return
                    outer.requests.append(request)
                    outer.behaviour(self.request, request, outer.opts)
                except OSError:  # the kit hung up: that is what a bounded client does
                    pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.host = host
        self.base_url = f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def measured(argv: list[str], kill_after: float = 3600) -> list[str]:
    """`argv` run by a wrapper process whose only child it is; the wrapper's last stderr line is
    `PEAK_RSS_KB=<the child's max RSS> KILLED=<0|1>` (getrusage(RUSAGE_CHILDREN) after the child
    ended or was killed at `kill_after` seconds), and it exits with the child's code (-9 if killed)."""
    code = (
        "import resource, subprocess, sys\n"
        "try:\n"
        "    r = subprocess.run(sys.argv[2:], timeout=float(sys.argv[1])).returncode; k = 0\n"
        "except subprocess.TimeoutExpired:\n"
        "    r, k = -9, 1\n"
        "sys.stderr.write(f'\\nPEAK_RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} KILLED={k}\\n')\n"
        "sys.exit(r if r >= 0 else 128 - r)\n"
    )
    return [sys.executable, "-c", code, str(kill_after), *argv]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("behaviour", choices=sorted(BEHAVIOURS))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--interval", type=float, default=2.0, help="dribble: seconds between bytes")
    p.add_argument("--delay", type=float, default=0.5, help="slow: seconds before answering")
    p.add_argument("--retry-after", default="1", help="storm: the Retry-After value")
    p.add_argument("--size", type=int, default=100 * MB, help="huge: body bytes")
    p.add_argument("--chunked", action="store_true", help="huge: chunked, no Content-Length")
    p.add_argument("--depth", type=int, default=100_000, help="nested: levels")
    args = p.parse_args()
    opts = {
        "interval": args.interval,
        "delay": args.delay,
        "retry_after": args.retry_after,
        "size": args.size,
        "chunked": args.chunked,
        "depth": args.depth,
    }
    with HostileServer(args.behaviour, port=args.port, **opts) as server:
        print(f"{args.behaviour} on {server.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

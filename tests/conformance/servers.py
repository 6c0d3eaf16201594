"""Starting the catalog's proxy (broken_impls.py) for the kit's tests, over HTTP or HTTPS."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from mock_control.launcher import free_port

HERE = Path(__file__).resolve().parent
ROOT_DIR = HERE.parents[1]


def serve_broken_impls(upstream: str, *, tls: tuple[str, str] | None = None, verify=True):
    """Start broken_impls.py (optionally over HTTPS) and return (process, base URL) once it answers."""
    port = free_port()
    cmd = [sys.executable, str(HERE / "broken_impls.py"), "--upstream", upstream, "--port", str(port)]
    if tls:
        cmd += ["--ssl-certfile", tls[0], "--ssl-keyfile", tls[1]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError(f"broken_impls.py exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(f"{base}/bug/none/_mock/clock", timeout=1, verify=verify).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("broken_impls.py did not answer")

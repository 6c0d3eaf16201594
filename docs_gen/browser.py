"""Open a page in headless Chromium over the DevTools protocol: what it shows, what it logs.

Used by the docs tests (the HTML page must render cleanly with no console errors) and by
`layers-docs --screenshot`. Chromium is Debian's `chromium` package
(scripts/setup-chromium.sh). The DevTools endpoint listens on loopback only.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
]

# What the tests ask of the page, in one evaluation (the page has no script of its own).
_PAGE_PROBE = """(() => {
  const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
                      return {top: r.top + scrollY, bottom: r.bottom + scrollY, width: r.width, height: r.height}; };
  const h2 = [...document.querySelectorAll('h2')];
  const errorsHeading = h2.find(h => h.textContent.trim() === 'Errors');
  let table = errorsHeading; while (table && table.tagName !== 'TABLE') table = table.nextElementSibling;
  return {
    title: document.title,
    h1: document.querySelector('h1') && document.querySelector('h1').textContent.trim(),
    h1Box: box(document.querySelector('h1')),
    headings: h2.map(h => h.textContent.trim()),
    errorsTableBox: box(table),
    errorsRows: table ? [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(c => c.textContent.trim())) : [],
    externalResources: [...document.querySelectorAll('link[href],script[src],img[src],iframe[src]')]
                         .map(e => e.getAttribute('href') || e.getAttribute('src'))
                         .filter(u => !u.startsWith('data:')),  // inline (the empty favicon), not fetched
    pageHeight: document.documentElement.scrollHeight,
  };
})()"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    probe: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    selector_text: str | None = None  # text of the `wait_for` element, zero-width spaces removed
    evaluated: Any = None  # what the `script` given to open() returned


class HeadlessChromium:
    """One headless Chromium with a fresh profile; `open(url)` loads a page and reports on it."""

    def __init__(self, width: int = 1280, height: int = 2000, timeout: float = 30.0):
        self.width, self.height, self.timeout = width, height, timeout
        self.proc: subprocess.Popen | None = None
        self.profile: str | None = None

    def __enter__(self) -> "HeadlessChromium":
        exe = chromium_path()
        if exe is None:
            raise FileNotFoundError("chromium is not installed (scripts/setup-chromium.sh installs it)")
        self.profile = profile = tempfile.mkdtemp(prefix="layers-docs-chromium-")
        self.proc = proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                             f"--window-size={self.width},{self.height}", "about:blank"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        self.port = self._devtools_port(proc, Path(profile))
        return self

    def _devtools_port(self, proc: subprocess.Popen, profile: Path) -> int:
        # With --remote-debugging-port=0 Chromium picks a free port and writes it to this file.
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {proc.returncode}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str, full_page: bool = True, clip_height: int | None = None,
             wait_for: str | None = None, script: str | None = None) -> PageReport:
        """Load `url` in the first tab, wait for `load` (and for the `wait_for` CSS selector, for
        pages that render with script), probe the DOM, take a PNG screenshot."""
        # A new tab for every page: the Log domain replays earlier entries to a reused one.
        devtools = f"http://127.0.0.1:{self.port}/json"
        tab = httpx.put(f"{devtools}/new?about:blank", timeout=self.timeout).json()
        try:
            with connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=self.timeout) as ws:
                return _Session(ws, self.timeout).load(url, self.width, self.height, full_page, clip_height, wait_for,
                                                       script)
        finally:
            httpx.get(f"{devtools}/close/{tab['id']}", timeout=self.timeout)


class _Session:
    def __init__(self, ws, timeout: float):
        self.ws, self.timeout, self.ids = ws, timeout, count(1)
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=self.timeout))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str) -> None:
        if any(e.get("method") == event for e in self.events):
            return
        while True:
            msg = json.loads(self.ws.recv(timeout=self.timeout))
            self.events.append(msg)
            if msg.get("method") == event:
                return

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def load(self, url: str, width: int, height: int, full_page: bool, clip_height: int | None,
             wait_for: str | None = None, script: str | None = None) -> PageReport:
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        selector_text = None
        if wait_for:
            deadline = time.monotonic() + self.timeout
            query = f"(e => e && e.textContent)(document.querySelector({json.dumps(wait_for)}))"
            while (selector_text := self.evaluate(query)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{wait_for!r} never appeared on {url}")
                time.sleep(0.05)
            selector_text = selector_text.replace("\u200b", "").strip()
        evaluated = None
        if script:  # e.g. click "Try it out" and read the form; may return a Promise
            evaluated = self.call("Runtime.evaluate", expression=script, returnByValue=True,
                                  awaitPromise=True)["result"].get("value")
        probe = self.evaluate(_PAGE_PROBE)
        if full_page:
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=int(probe["pageHeight"]),
                      deviceScaleFactor=1, mobile=False)
        clip = {}
        if clip_height:  # the top of the page only (a smaller PNG to look at or commit)
            clip = {"clip": {"x": 0, "y": 0, "width": width, "height": clip_height, "scale": 1}}
        shot = self.call("Page.captureScreenshot", format="png", **clip)
        return PageReport(probe, _console_errors(self.events), base64.b64decode(shot["data"]), selector_text, evaluated)


def _console_errors(events: list[dict]) -> list[str]:
    """console.error/assert calls, uncaught exceptions, and browser-logged errors (failed loads)."""
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in {"error", "assert"}:
            out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            out.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    return out


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

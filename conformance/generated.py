"""The generated phase's cases, made by schemathesis and hypothesis in a worker process.

Generating cases from the spec is most of the CPU a run spends on its own (importing schemathesis
and hypothesis, loading the spec into them, drawing 2 x `--examples` cases), and in the kit's
process it held the GIL that the scenarios' threads need to send and judge. So the kit starts a
worker process (`worker_main`) at the very beginning of a run, before it imports httpx and the
rest of itself; the worker generates while the kit probes the target and runs the scenarios, and
the kit process never imports schemathesis or hypothesis.

What crosses the pipe is plain data, one JSON object a line:

- kit -> worker: `{"run": {...}}` (the options of a run: `--examples`, `--seed`, `--strict`, the
  base URL), then `{"validate": n, ...}` per answered case (its response, to be judged by
  schemathesis' own checks), then `{"done": true}`; end of input: the worker exits;
- worker -> kit: `{"case": n, ...}` (method, URL, headers of a generated request), `{"end": ...}`
  when all cases are out, `{"verdict": n, "checks": [[name, failure or null], ...]}` per validation,
  `{"error": ...}` if generating failed.

Every request still goes out through the kit's own client (`conformance.fuzz`), with its checks,
bounds, pacing and rate budget; the worker sends nothing over the network. It never sees the API
key either: its cases carry `AUTH_PLACEHOLDER`, which the kit replaces with the key it sends.
A worker that ended a run cleanly waits for the next `run` (callers that run the kit many times in
one process, such as the kit's tests, start one worker, not one per run); it is ended when the
kit's process exits.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import gc
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from conformance import limits

if TYPE_CHECKING:
    from conformance.exchange import Exchange

# schemathesis' built-in response checks the worker runs on each generated request's response.
# Checks that send requests of their own (ignored_auth, use_after_free, unsupported_method, ...) are
# left out: those requests would escape the request bound and Retry-After handling; the scenarios
# cover the same ground. positive_data_acceptance is left out too: for random ids 404 is the right
# answer, and the spec's example Idempotency-Key drawn for two ids rightly answers 409, which it
# would count as rejections.
BUILTIN_CHECKS = (
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)

# What the worker's cases carry as the bearer token; the kit sends its --api-key in its place.
AUTH_PLACEHOLDER = "layers-conformance-api-key"
MODES = ("positive", "negative")

# The worker's command: this interpreter, with the directory this package was loaded from first on
# its path (the bench runs an older kit from a tree of its own, by PYTHONPATH).
_ROOT = str(Path(__file__).resolve().parents[1])
WORKER_COMMAND = [
    sys.executable,
    "-c",
    f"import sys; sys.path.insert(0, {_ROOT!r}); from conformance.generated import worker_main; worker_main()",
]


class GeneratedPhaseFailed(Exception):
    """The worker crashed, hung or could not generate: the run cannot finish its generated phase."""


@dataclass(frozen=True)
class Case:
    """One generated request, as the kit sends it."""

    number: int
    mode: str  # "positive" or "negative"
    method: str
    url: str
    headers: tuple[tuple[str, str | bytes], ...]

    def headers_for(self, api_key: str) -> dict[str, str | bytes]:
        """The headers with the run's key where the worker put its placeholder."""
        bearer = f"Bearer {AUTH_PLACEHOLDER}"
        return {name: (f"Bearer {api_key}" if value == bearer else value) for name, value in self.headers}


def _encode_value(value: Any) -> Any:
    return {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value


def _decode_value(value: Any) -> Any:
    return base64.b64decode(value["b64"]) if isinstance(value, dict) else value


@dataclass
class _End:
    cpu: float  # the worker's CPU seconds for this run's cases


@dataclass
class _Dead:
    reason: str


# -- the kit's side ---------------------------------------------------------------------------------


class Worker:
    """The kit's handle on one worker process: cases in, validations out, verdicts back."""

    def __init__(self) -> None:
        # Read back only to say why a worker failed; closed with the worker (`close`).
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0
        )
        self._write_lock = threading.Lock()
        self._lock = threading.Condition()
        self._inbox: queue.Queue[Case | _End | _Dead] = queue.Queue()
        self._pending: dict[int, Callable[[list[tuple[str, str | None]]], None]] = {}
        self._dead: str | None = None
        self._heard = time.monotonic()
        self._begun = False
        self._ended = False
        self.cpu = 0.0  # the worker's CPU seconds for the last run's cases
        self._reader = threading.Thread(target=self._read, name="generated-reader", daemon=True)
        self._reader.start()

    # The run's side: begin, take cases, ask for verdicts, wait for them.

    def begin(self, *, base_url: str, examples: int, seed: int | None, strict: bool) -> None:
        self._begun = True
        self._ended = False
        self._heard = time.monotonic()
        self._send({"run": {"base_url": base_url, "examples": examples, "seed": seed, "strict": strict}})

    def cases(self, stop: Callable[[], bool], check_time: Callable[[str], None]) -> Iterator[Case]:
        """The run's cases as the worker makes them, until it has made all of them or `stop()`.
        `check_time` raises when the run's --max-time has passed."""
        while True:
            if stop():
                return
            check_time("the next generated case")
            try:
                item = self._inbox.get(timeout=0.2)
            except queue.Empty:
                self._raise_if_silent("the next generated case")
                continue
            if isinstance(item, _Dead):
                raise GeneratedPhaseFailed(item.reason)
            if isinstance(item, _End):
                self._ended = True
                self.cpu = item.cpu
                return
            yield item

    def validate(
        self, case: Case, exchange: Exchange, on_verdict: Callable[[list[tuple[str, str | None]]], None]
    ) -> None:
        """Have schemathesis' checks judge `exchange`, the answer to `case`; `on_verdict` gets their
        outcomes (name, failure message or None) on the reader's thread."""
        response = exchange.response
        request = response.request
        with self._lock:
            self._pending[case.number] = on_verdict
        self._send(
            {
                "validate": case.number,
                "status": response.status_code,
                "reason": response.reason_phrase,
                "http_version": response.http_version,
                # As schemathesis' conversion of an httpx response reads them (a repeated header joined).
                "headers": list(response.headers.items()),
                "encoding": response.encoding,
                "content": base64.b64encode(response.content).decode(),
                "elapsed": response.elapsed.total_seconds(),
                "request": {
                    "method": request.method,
                    "url": str(request.url),
                    "headers": list(request.headers.items()),
                    "params": list(dict(request.url.params).items()),
                    "content": base64.b64encode(request.content).decode(),
                },
            }
        )

    def wait_verdicts(self, check_time: Callable[[str], None]) -> None:
        """Until every validation asked for has its verdict."""
        with self._lock:
            while self._pending:
                if self._dead is not None:
                    raise GeneratedPhaseFailed(self._dead)
                check_time("the generated cases' verdicts")
                self._raise_if_silent("the generated cases' verdicts")
                self._lock.wait(0.2)

    def finish(self) -> None:
        """The run is over: keep a worker that ended it cleanly for the next run of this process,
        end any other."""
        global _idle
        # A run that ended before its generated phase began (a usage error, a 401) left it unused;
        # one that stopped mid-way left it generating or judging: that one is not reused.
        clean = not self._begun or (self._ended and not self._pending)
        if clean and self._begun:
            with contextlib.suppress(GeneratedPhaseFailed):
                self._send({"done": True})
        if clean and self.alive and _idle is None:
            self._begun = False
            _idle = self
            return
        self.close(wait=clean)

    @property
    def alive(self) -> bool:
        return self._dead is None and self._proc.poll() is None

    def close(self, *, wait: bool = True) -> None:
        """End the worker: at the end of its input (`wait`: it ends by itself within moments), or
        at once (a run that stopped mid-way leaves it generating, to no purpose)."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        try:
            self._proc.wait(2 if wait and self._dead is None else 0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(2)
        self._stderr.close()

    # The pipe.

    def _send(self, message: dict) -> None:
        line = (json.dumps(message) + "\n").encode()
        try:
            with self._write_lock:
                self._proc.stdin.write(line)  # type: ignore[union-attr]
        except OSError:
            self._died("the pipe to it broke")
            raise GeneratedPhaseFailed(self._dead) from None

    def _read(self) -> None:
        for line in self._proc.stdout:  # type: ignore[union-attr]
            try:
                message = json.loads(line)
            except ValueError:
                self._died(f"it wrote {line[:200]!r}, which is not a message")
                return
            self._heard = time.monotonic()
            if "case" in message:
                self._inbox.put(
                    Case(
                        message["case"],
                        message["mode"],
                        message["method"],
                        message["url"],
                        tuple((name, _decode_value(value)) for name, value in message["headers"]),
                    )
                )
            elif "verdict" in message:
                with self._lock:
                    on_verdict = self._pending.get(message["verdict"])
                if on_verdict is not None:
                    on_verdict([(name, failure) for name, failure in message["checks"]])
                with self._lock:
                    self._pending.pop(message["verdict"], None)
                    self._lock.notify_all()
            elif "end" in message:
                self._inbox.put(_End(message["cpu"]))
            elif "error" in message:
                self._died(f"generating failed: {message['error']}")
                return
        self._died(None)

    def _died(self, why: str | None) -> None:
        code = self._proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(1)
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-6:]
        reason = (
            f"the generated phase's worker process {why or 'ended'}"
            f" (exit code {code}){': ' + ' | '.join(tail) if tail else ''}"
        )
        with self._lock:
            if self._dead is None:
                self._dead = reason
            self._lock.notify_all()
        self._inbox.put(_Dead(self._dead))

    def _raise_if_silent(self, waiting_for: str) -> None:
        if self._dead is not None:
            raise GeneratedPhaseFailed(self._dead)
        silent = time.monotonic() - self._heard
        if silent > limits.WORKER_SILENCE:
            self._proc.kill()
            raise GeneratedPhaseFailed(
                f"the generated phase's worker process said nothing for {silent:.0f} s while the kit waited"
                f" for {waiting_for}: stopped it as hung"
            )


_idle: Worker | None = None


def start_worker() -> Worker:
    """A worker for a run: the one an earlier run of this process left, or a new one."""
    global _idle
    worker, _idle = _idle, None
    if worker is not None and worker.alive:
        return worker
    if worker is not None:
        worker.close()
    worker = Worker()
    _started.add(worker)
    return worker


_started: weakref.WeakSet[Worker] = weakref.WeakSet()  # every worker of this process, to end at its exit


@atexit.register
def _close_all() -> None:
    """The kept worker ends with its input; one a run failed to finish (the kit crashed) at once."""
    global _idle
    for worker in list(_started):
        worker.close(wait=worker is _idle)
    _idle = None


# -- the worker's side ------------------------------------------------------------------------------


def worker_main() -> None:
    """The worker process: generate each run's cases, judge their responses, until end of input."""
    # A short-lived process that allocates much and frees little: no collection while it works.
    # (hypothesis still collects explicitly when a generating thread starts; the frozen imports
    # below make that walk short.)
    gc.disable()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the messages
    sys.stdout = sys.stderr
    inbox: queue.Queue[dict | None] = queue.Queue()
    threading.Thread(target=_read_inbox, args=(sys.stdin.buffer, inbox), daemon=True).start()
    try:
        generator = _Generator(out, inbox)
    except Exception as exc:  # the kit reports it; the worker ends
        _emit(out, {"error": f"{exc.__class__.__name__}: {exc}"})
        raise
    gc.freeze()  # the libraries, loaded once, are never walked again
    while (message := inbox.get()) is not None:
        if "run" in message:
            try:
                generator.run(message["run"])
            except Exception as exc:
                _emit(out, {"error": f"{exc.__class__.__name__}: {exc}"})
                raise


def _read_inbox(stream: IO[bytes], inbox: queue.Queue) -> None:
    for line in stream:
        inbox.put(json.loads(line))
    inbox.put(None)


def _emit(out: IO[str], message: dict) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


class _Generator:
    def __init__(self, out: IO[str], inbox: queue.Queue) -> None:
        # Everything a run needs, loaded now: worker_main freezes it out of the collector's way.
        import hypothesis  # noqa: F401
        import requests  # noqa: F401
        import schemathesis  # noqa: F401
        from schemathesis.specs.openapi import checks  # noqa: F401

        self.out = out
        self.inbox = inbox
        # The spec loaded into schemathesis (which imports most of its OpenAPI support on first use),
        # now, while the kit is still starting: for a run without --strict (the default); a strict
        # run loads its own variant when it begins.
        self.operations: dict[bool, Any] = {False: _operation(False)}
        self.cases: dict[int, tuple[Any, Any]] = {}  # number -> (schemathesis case, its headers)

    def run(self, options: dict) -> None:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hypothesis_seed
        from schemathesis import GenerationMode

        started = time.process_time()
        strict, seed = options["strict"], options["seed"]
        if strict not in self.operations:
            self.operations[strict] = _operation(strict)
        operation = self.operations[strict]
        self.cases.clear()
        number = iter(range(1 << 30))
        auth = {"Authorization": f"Bearer {AUTH_PLACEHOLDER}"}

        # One function for both modes (hypothesis wraps it once per mode).
        def one_case(case):
            _only_unknown_accounts(case)
            kwargs = case.as_transport_kwargs(base_url=options["base_url"], headers=auth)
            n = next(number)
            self.cases[n] = (case, kwargs["headers"])
            mode = case.meta.generation.mode.value if case.meta else "schemathesis"
            headers = [[name, _encode_value(value)] for name, value in kwargs["headers"].items()]
            _emit(
                self.out,
                {"case": n, "mode": mode, "method": kwargs["method"], "url": kwargs["url"], "headers": headers},
            )
            self.serve(block=False)  # the kit's first answers are judged while generating goes on

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            test = settings(
                max_examples=options["examples"],
                deadline=None,
                database=None,
                derandomize=seed is None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )(given(operation.as_strategy(generation_mode=mode))(one_case))
            if seed is not None:
                test = hypothesis_seed(seed)(test)
            test()
        _emit(self.out, {"end": True, "cpu": round(time.process_time() - started, 3)})
        self.serve(block=True)

    def serve(self, *, block: bool) -> None:
        """Judge the responses the kit sent back; with `block`, until the kit says the run is done."""
        while True:
            try:
                message = self.inbox.get(block=block)
            except queue.Empty:
                return
            if message is None or "done" in message:
                if message is None:
                    self.inbox.put(None)  # end of input: worker_main ends too
                return
            self._validate(message)

    def _validate(self, message: dict) -> None:
        import requests
        import schemathesis
        from schemathesis.specs.openapi import checks as st_checks

        case, sent_headers = self.cases[message["validate"]]
        req = message["request"]
        request = requests.Request(
            method=req["method"],
            url=req["url"],
            headers=dict(req["headers"]),
            params=dict(req["params"]),
            data=base64.b64decode(req["content"]),
        ).prepare()
        # What schemathesis' own conversion of the kit's httpx response made (Response.from_any).
        response = schemathesis.Response(
            status_code=message["status"],
            headers={name: [value] for name, value in message["headers"]},
            content=base64.b64decode(message["content"]),
            request=request,
            elapsed=message["elapsed"],
            message=message["reason"],
            encoding=message["encoding"],
            http_version=message["http_version"],
            verify=True,
        )
        outcomes: list[list[str | None]] = []
        for name in BUILTIN_CHECKS:
            try:
                case.validate_response(response, checks=[getattr(st_checks, name)], headers=sent_headers)
            except (AssertionError, BaseExceptionGroup, Exception) as exc:  # noqa: BLE001
                # schemathesis raises a FailureGroup (a BaseExceptionGroup) of its failures.
                lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
                outcomes.append([name, " ".join(lines[:4])])
            else:
                outcomes.append([name, None])
        _emit(self.out, {"verdict": message["validate"], "checks": outcomes})


def _operation(strict: bool):
    import copy

    import schemathesis

    from conformance.checks import open_success_schema
    from contract import CONTRACT

    raw = copy.deepcopy(CONTRACT.raw)
    if not strict:
        # Same relaxation as checks.success_body_shape: extra 200 fields are decision 13.
        success = _success_schema(raw)
        relaxed = open_success_schema(success)
        success.clear()
        success.update(relaxed)
    schema = schemathesis.openapi.from_dict(raw)
    return schema[CONTRACT.route][CONTRACT.method]


def _success_schema(raw: dict) -> dict:
    """The 200 body's schema object inside `raw` itself (the component its `$ref` names, found by
    `referencing`), so that changing it changes what schemathesis loads."""
    from contract import CONTRACT
    from contract.spec import resolver_for

    media = raw["paths"][CONTRACT.route][CONTRACT.method]["responses"][str(CONTRACT.success_status)]["content"]
    return resolver_for(raw).lookup(media["application/json"]["schema"]["$ref"]).contents


def _only_unknown_accounts(case) -> None:
    """Swap any well-formed account id for a fresh random one.

    Generation draws the spec's own examples, and the example id may name a real account (it
    does in the mock's default world): a positive case, or a negative one whose only invalid
    part is a header, would then revoke it. A random id keeps the case exactly as valid."""
    from conformance.ids import unknown_account_id
    from contract import CONTRACT

    name = CONTRACT.path_parameter["name"]
    value = (case.path_parameters or {}).get(name)
    if isinstance(value, str) and CONTRACT.account_id_pattern.match(value):
        case.path_parameters[name] = unknown_account_id()

"""Shared pieces of the benchmarks: tools, worlds, servers, wrk.

Everything runs on loopback (127.0.0.1). Every load run is bounded by wrk's `-d` duration;
every polling loop by a deadline.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOOLS = BENCH / ".tools"  # gitignored: Prism's node_modules
OUT = BENCH / "out"  # gitignored: state files, id lists, logs
SPEC = ROOT / "openapi.yaml"
LUA = BENCH / "delete.lua"
PRISM_PACKAGE = "@stoplight/prism-cli@5.14.2"
HOST = "127.0.0.1"

sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # postgres_server: the tests' throwaway PostgreSQL server

from postgres_server import PostgresServer  # noqa: E402,F401

from contract import CONTRACT  # noqa: E402
from contract.world import DEFAULT_WORLD  # noqa: E402
from mock_control.launcher import MockProcess, free_port  # noqa: E402,F401
from mock_server.core import world  # noqa: E402
from mock_server.core.clock import Clock  # noqa: E402
from mock_server.settings import DEFAULT_WORKERS  # noqa: E402
from mock_server.storage import is_postgres, open_storage  # noqa: E402

BENCH_ORG = "org_0b0b0b0b-0000-4000-8000-000000000001"
BENCH_KEY_ID = "key_0b0b0b0b-0000-4000-8000-000000000001"
BENCH_SECRET = "lp_test_bench_internal_0000000000000001"
DEFAULT_WRITE_SECRET = next(
    k["secret"] for k in json.loads(DEFAULT_WORLD.read_text())["keys"] if CONTRACT.required_scope in k.get("scopes", [])
)  # in every world below
UNKNOWN_ID = "sa_ffffffff-ffff-4fff-8fff-ffffffffffff"  # well-formed, in no world: 404
TEST_200_ID = "sa_00000000-0000-4000-8000-000000000200"  # reserved: always 200, no state change


# -- tools -----------------------------------------------------------------------------------
def run_quiet(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("installing wrk from Debian's packages ...", flush=True)
    run_quiet(["apt-get", "update", "-qq"])
    run_quiet(["apt-get", "install", "-y", "-qq", "wrk"])
    return shutil.which("wrk") or sys.exit("wrk did not install")


def ensure_prism() -> Path:
    prism = TOOLS / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        print(f"installing {PRISM_PACKAGE} into {TOOLS} ...", flush=True)
        TOOLS.mkdir(parents=True, exist_ok=True)
        run_quiet(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS), PRISM_PACKAGE])
    return prism


def machine() -> dict:
    meminfo, cpuinfo = Path("/proc/meminfo").read_text().splitlines(), Path("/proc/cpuinfo").read_text().splitlines()
    mem_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor()
    )

    def version(cmd):
        try:
            return (
                subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
                .stdout.strip()
                .splitlines()[0]
            )
        except Exception:  # noqa: BLE001
            return "?"

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": version(["node", "--version"]),
        "wrk": version(["wrk", "-v"]),
    }


# -- worlds ----------------------------------------------------------------------------------
PARTNER_TIER = "partner"


def partner_secrets(n: int) -> list[str]:
    """The secrets of the benchmark organization's `n` partner-tier keys (seeded by seed_world)."""
    return [f"lp_test_bench_partner_{i:08d}" for i in range(n)]


def seed_world(database: Path | str, *, accounts: int, queued_per_account: int = 0, partner_keys: int = 0) -> list[str]:
    """A world (a SQLite file, or a PostgreSQL database URL), made afresh: the default world,
    plus one organization with an `internal`-tier key (no rate limit) and `partner_keys`
    partner-tier keys (each with its own rate windows: 3,000 a minute), owning `accounts` fresh
    connected accounts. Returns the fresh accounts' ids."""
    database = str(database)
    if not is_postgres(database):
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
    ids = [f"sa_{uuid.UUID(int=(0xB0B << 112) | n, version=4)}" for n in range(accounts)]
    posts = {"queued": queued_per_account} if queued_per_account else None

    def seed(q):
        now = Clock.now(q)
        world.load(q, world.read_fixture(DEFAULT_WORLD), now, report=False)
        world.add_organization(q, {"id": BENCH_ORG, "name": "Benchmark"})
        world.add_key(
            q,
            {
                "id": BENCH_KEY_ID,
                "secret": BENCH_SECRET,
                "organizationId": BENCH_ORG,
                "scopes": [CONTRACT.required_scope],
                "tier": "internal",
                "label": "bench",
            },
        )
        for n, secret in enumerate(partner_secrets(partner_keys)):
            world.add_key(
                q,
                {
                    "id": f"key_0b0b0b0b-0000-4000-9000-{n:012d}",
                    "secret": secret,
                    "organizationId": BENCH_ORG,
                    "scopes": [CONTRACT.required_scope],
                    "tier": PARTNER_TIER,
                    "label": f"bench-partner-{n}",
                },
            )
        world.add_accounts(q, [{"id": a, "organizationId": BENCH_ORG, "posts": posts} for a in ids], now)

    storage = open_storage(database)
    try:
        storage.prepare(seed, reset=True)
    finally:
        storage.close()
    return ids


def to_iso(ts: float) -> str:
    from mock_server.core.clock import to_iso as iso

    return iso(ts)


def write_ids(path: Path, ids: list[str]) -> Path:
    path.write_text("\n".join(ids) + "\n")
    return path


# -- servers ---------------------------------------------------------------------------------
class Server:
    """A server child process in its own process group; `ready_s` is start-to-first-200."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        port: int,
        log: Path,
        env: dict | None = None,
        ready_status: int | None = 200,
        cores: set[int] | None = None,
    ):
        self.name, self.cmd, self.port, self.log_path = name, cmd, port, log
        self.cores = cores  # the CPU affinity it starts with (None: this process's), as taskset -c
        self.ready_status = ready_status  # None: any answer means ready (the bare app answers 401)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.ready_s: float | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.log = open(self.log_path, "w")  # noqa: SIM115 - the server's log while it runs; stop() closes it
        t0 = time.perf_counter()
        cores = self.cores
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
        )
        try:
            self.ready_s = wait_first_200(self.base, self.proc, t0, timeout, self.ready_status)
        except BaseException:
            self.stop()  # a server that did not start is not left running
            raise
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()

    def __enter__(self):
        return self if self.proc is not None else self.start()  # started already: start(timeout=...)

    def __exit__(self, *exc):
        self.stop()


def wait_first_200(base: str, proc: subprocess.Popen, t0: float, timeout: float, status: int | None = 200) -> float:
    """Seconds from process start until DELETE on the reserved 200 account answers 200 (both
    servers answer it: the mock by its test-account rule, Prism by its example); `status` None:
    until anything answers."""
    url = base + CONTRACT.path_for(TEST_200_ID)
    headers = {"Authorization": f"Bearer {DEFAULT_WRITE_SECRET}"}
    deadline = t0 + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                code = client.delete(url, headers=headers).status_code
                if status is None or code == status:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"no 200 from {base} within {timeout}s")


def mock_cmd(port: int, database: Path | str | None, extra: list[str] = (), exe: str | None = None) -> list[str]:
    """The mock as partners start it (`exe`: another install's layers-mock; default this checkout's venv)."""
    cmd = [exe or str(ROOT / ".venv" / "bin" / "layers-mock"), "--host", HOST, "--port", str(port), "--quiet"]
    if database is not None:
        cmd += ["--database", str(database)]
    return cmd + list(extra)


def mock_process(database: Path | str, extra: list[str] = ()) -> MockProcess:
    """The mock for a load run: the CLI's default worker count, on `database`."""
    return MockProcess(host=HOST, workers=DEFAULT_WORKERS, database=str(database), extra_args=list(extra))


def prism_cmd(port: int) -> list[str]:
    # `-v warn`: Prism's logging at its default (info) costs it ~25% (stack notes); the mock logs
    # nothing per request either, so both run without per-request logs.
    return [str(ensure_prism()), "mock", str(SPEC), "-h", HOST, "-p", str(port), "-v", "warn"]


# -- load ------------------------------------------------------------------------------------
def wrk(url: str, *, seconds: float, connections: int = 32, threads: int = 1, env: dict | None = None) -> dict:
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA), url]
    res = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=seconds + 60,
    )
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed:\n{res.stdout}")
    out = json.loads(line.split(" ", 1)[1])
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    return out


# -- the machine's other load (other engineers' tests share these cores) --------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_total() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / _TICK, sum(fields) / _TICK


def _group_cpu(pgid: int) -> float:
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(parts[2]) == pgid:  # field 5: process group
            total += (int(parts[11]) + int(parts[12])) / _TICK  # utime + stime
    return total


class CpuMeter:
    """CPU used during a run by the server's process group, by wrk, and by everything else."""

    def __init__(self, server_pgids: int | list[int]):
        self.pgids = [server_pgids] if isinstance(server_pgids, int) else list(server_pgids)

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.busy0, self.all0 = _cpu_total()
        self.srv0 = sum(_group_cpu(g) for g in self.pgids)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.kids0 = ru.ru_utime + ru.ru_stime
        return self

    def __exit__(self, *exc):
        busy1, _ = _cpu_total()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - self.t0
        self.server_cores = (sum(_group_cpu(g) for g in self.pgids) - self.srv0) / wall
        self.wrk_cores = (ru.ru_utime + ru.ru_stime - self.kids0) / wall
        self.machine_cores = (busy1 - self.busy0) / wall
        self.other_cores = max(0.0, self.machine_cores - self.server_cores - self.wrk_cores)


def wait_for_quiet(max_wait: float, threshold_cores: float = 0.3) -> float:
    """Wait (at most `max_wait` s) until the machine's CPU use over 1 s is below `threshold_cores`;
    return the last measured use. Other engineers' test suites share this machine."""
    if max_wait <= 0:
        return float("nan")
    deadline = time.monotonic() + max_wait
    while True:
        b0, _ = _cpu_total()
        time.sleep(1.0)
        b1, _ = _cpu_total()
        if b1 - b0 < threshold_cores or time.monotonic() >= deadline:
            return b1 - b0


def median(values):
    return statistics.median(values) if values else float("nan")


def write_results_block(block: str, begin: str, end: str, heading: str = "") -> None:
    """Put `block` (which starts with `begin` and ends with `end`) into bench/RESULTS.md: in place
    of the previous one between the same markers, or appended under `heading`."""
    path = BENCH / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + (f"## {heading}\n\n" if heading else "") + block + "\n"
    path.write_text(text)

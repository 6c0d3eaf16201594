"""Instructions per revoke on the embedded default (SQLite), counted by callgrind: deterministic
whatever else the machine runs, so a change of a few percent shows (wall and CPU time on the
shared 2-core machine move by more than that from run to run).

The app granian serves (`mock_server.app:app_from_env`: the edge, with the settings the CLI hands
its workers, `--quiet` as bench/run.py starts the mock, and several workers' metrics unless
`--one-worker`) is called in-process as an ASGI app (no sockets: the HTTP server's share is
bench/run.py's to show), on a world of bench/common.py `seed_world`:
fresh accounts with 2 queued posts each and partner-tier keys. A child process runs under
`valgrind --tool=callgrind --instr-atstart=no`: start-up and a warm-up run uninstrumented; for
each kind, instrumentation is switched on (callgrind's client requests, through a 6-line shim
compiled here into bench/out/) around N requests sent by C concurrent clients (the event loop
interleaves them, so group commits carry several revokes, as under wrk), including the journal
flush of their entries, and the counts are dumped per thread (the event loop's; the
housekeeping thread's: journal writes and checkpoints).

    .venv/bin/python bench/revoke_instructions.py                  # 200 partner, 404 partner
    .venv/bin/python bench/revoke_instructions.py --top 25         # and the costliest C functions
    .venv/bin/python bench/revoke_instructions.py --profile        # cProfile instead (no valgrind)
    .venv/bin/python bench/revoke_instructions.py --native         # CPU time (user + system) instead
    .venv/bin/python bench/revoke_instructions.py --kinds 401 --tree /tmp/old   # another checkout
    .venv/bin/python bench/revoke_instructions.py --postgres --uvloop --native   # the mock's side on PostgreSQL

`--tree DIR` measures another checkout's mock_server (`git worktree add /tmp/old <commit>`) on a
world seeded by this one's code (the same schema: an older schema version refuses to open).
Work done once per millisecond or per batch is over-counted under valgrind, where a request takes
about a millisecond instead of tens of microseconds (the request id's time digits, the journal's
batches): compare versions with the same tool, not these counts with served CPU time.

System calls are not instructions: each run also counts the read and write system calls per
request (/proc/self/io), where SQLite's reads of pages another connection changed show.

Kinds: `200`: a partner-tier key (keys in rotation) revoking a fresh account; `404`: a
partner-tier key on an unknown account (its rate windows are spent: a write); `404i`: the
internal-tier key on an unknown account (no write); `401`: no Authorization header.
The mock's clock is frozen (settings row), so a minute boundary crossing during the slow
instrumented run cannot make some requests read twice.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

WORK = c.OUT / "instructions"
KINDS = ("200", "404", "404i", "401")
SHIM_C = r"""
#include <valgrind/callgrind.h>
void instr_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void instr_stop(const char *name) { CALLGRIND_DUMP_STATS_AT(name); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def shim() -> Path:
    """callgrind's client requests are C macros: a tiny library Python calls through ctypes
    (outside valgrind they do nothing)."""
    so = WORK / "callgrind_shim.so"
    if not so.exists():
        src = WORK / "callgrind_shim.c"
        src.write_text(SHIM_C)
        subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return so


# -- the child: the app, in-process --------------------------------------------------------
def child(args) -> None:
    if args.tree:  # another checkout's mock serves (the world was seeded by this one's code)
        sys.path.insert(0, args.tree)
        for name in [m for m in sys.modules if m.split(".")[0] in ("mock_server", "contract")]:
            del sys.modules[name]
    from mock_server import app as app_module
    from mock_server.settings import MockSettings
    from mock_server.storage import base, sqlite

    if args.tree:
        assert Path(app_module.__file__).is_relative_to(Path(args.tree).resolve()), app_module.__file__

    # Under callgrind everything runs ~50x slower, but the housekeeping thread's waits are wall
    # time: unscaled, it would flush the journal (and checkpoint) ~50x more often per request than
    # a served worker does, taking the write lock away from the group commit. Scaled, the
    # requests see the same pattern of flushes as natively (compare the system calls a request).
    for module in (sqlite, base):  # (the busy batches' delay is base.py's, both backends')
        for name in ("CHECKPOINT_INTERVAL_S", "JOURNAL_DELAY_S", "JOURNAL_BUSY_DELAY_S", "TRIM_PAUSE_S"):
            if hasattr(module, name):  # an older checkout (--tree) may lack one
                setattr(module, name, getattr(module, name) * args.slowdown)

    marks = ctypes.CDLL(str(args.shim)) if args.shim else None
    fresh = Path(args.ids).read_text().split()
    secrets = c.partner_secrets(args.keys)
    # The app granian is handed (`app_from_env`: the edge, the collector frozen and tuned), with
    # the settings the CLI hands its workers (`--quiet`, as bench/run.py starts the mock) and,
    # unless `--one-worker`, the multiprocess metrics of several workers.
    MockSettings(database=args.database, quiet=True).hand_to_workers(args.metrics_dir)
    app = app_module.app_from_env()
    storage = app.storage
    # How the writes went (they decide much of the cost): group commits, journal flushes on the
    # housekeeping thread (each invalidates the event loop connection's page cache).
    tally = {"commits": 0, "flushes": 0}

    def counted_begin(conn):
        began = try_begin(conn)
        tally["commits"] += began
        return began

    def counted_flush(jc):
        tally["flushes"] += bool(storage._journal_pending)
        flush_taken(jc)

    if not c.is_postgres(args.database):  # SQLite's group commit and housekeeping thread: PostgreSQL has neither
        try_begin, flush_taken = storage._try_begin, storage._flush_taken
        storage._try_begin, storage._flush_taken = counted_begin, counted_flush
    with storage.transaction() as q:  # frozen: no window boundary while the slow run goes on
        q.set_clock(frozen=float(int(time.time())), offset=0.0)
    path_of = c.CONTRACT.path_for
    statuses: dict[int, int] = {}

    def scope(account: str, secret: str | None) -> dict:
        path = path_of(account)
        headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/json")]
        if secret is not None:
            headers.append((b"authorization", f"Bearer {secret}".encode()))
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
            "root_path": "",
        }

    counter = {"account": 0, "key": 0}

    def next_scope(kind: str) -> dict:
        if kind == "401":
            return scope(c.UNKNOWN_ID, None)
        if kind == "404i":
            return scope(c.UNKNOWN_ID, c.BENCH_SECRET)
        counter["key"] += 1
        secret = secrets[counter["key"] % len(secrets)]
        if kind == "404":
            return scope(c.UNKNOWN_ID, secret)
        counter["account"] += 1
        return scope(fresh[counter["account"]], secret)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def clients(kind: str, n: int) -> None:
        async def client(count: int) -> None:
            for _ in range(count):
                await app(next_scope(kind), receive, send)
                await asyncio.sleep(0)

        per, extra = divmod(n, args.concurrency)
        await asyncio.gather(*(client(per + (i < extra)) for i in range(args.concurrency)))

    async def journal_written() -> None:
        """Until the housekeeping thread has written every entry (bounded). The clients are done:
        the event loop sleeps (blocking) rather than polling, whose turns callgrind would count
        (as many as the thread's wait for its batch lasts: JOURNAL_DELAY_S scaled). PostgreSQL's
        flush is a task on the loop instead, which a blocking sleep would starve forever."""
        deadline = time.monotonic() + 600
        on_loop = c.is_postgres(args.database)  # PostgreSQL flushes on this loop: it must run meanwhile
        while storage._journal_pending or storage._journal_flushing:
            if time.monotonic() > deadline:
                raise RuntimeError("the journal was not written")
            if on_loop:
                await asyncio.sleep(0.005)
            else:
                time.sleep(0.005)

    async def main() -> dict:
        out = {}
        for kind in args.kinds:
            await clients(kind, args.warmup)
            await journal_written()
        for kind in args.kinds:
            statuses.clear()
            tally.update(commits=0, flushes=0)
            profiler = None
            if args.profile:
                import cProfile

                # CPU time: with the wall clock, time the loop spent waiting for PostgreSQL
                # was charged to whichever function ran last.
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
            t0, io0, ru0 = time.process_time(), _io(), resource.getrusage(resource.RUSAGE_SELF)
            if marks:
                marks.instr_start()
            await clients(kind, args.requests)
            await journal_written()
            cpu, io1, ru1 = time.process_time() - t0, _io(), resource.getrusage(resource.RUSAGE_SELF)
            if marks:  # after reading the counters: the dump is written with system calls
                marks.instr_stop(f"kind-{kind}".encode())
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(WORK / f"profile-{kind}.pstats"))
            n = args.requests
            out[kind] = {
                "statuses": dict(statuses),
                "cpu_us": cpu / n * 1e6,
                "sys_us": (ru1.ru_stime - ru0.ru_stime) / n * 1e6,
                # read and write system calls (pread, pwrite, ...: what callgrind does not count)
                "reads": (io1["syscr"] - io0["syscr"]) / n,
                "writes": (io1["syscw"] - io0["syscw"]) / n,
                "commits": tally["commits"],
                "flushes": tally["flushes"],
            }
        return out

    if args.uvloop:  # granian's loop when uvloop is installed (as it is in every install)
        import uvloop

        result = uvloop.run(main())
    else:
        result = asyncio.run(main())
    storage.close()
    print("RESULT " + json.dumps(result))


def _io() -> dict[str, int]:
    """This process's I/O counters (Linux): syscr/syscw count read and write system calls."""
    return {k: int(v) for k, v in (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())}


# -- the parent: seed, run, read the dumps ---------------------------------------------------
EXPECTED = {"200": 200, "404": 404, "404i": 404, "401": 401}


def read_dumps(prefix: str) -> dict[str, dict]:
    """{kind: {"total": Ir, "threads": {thread: Ir}}} from callgrind's per-thread dump files."""
    found: dict[str, dict] = {}
    for path in sorted(glob.glob(prefix + ".*")):
        text = Path(path).read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.M)
        totals = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if not trigger or not totals:
            continue
        kind = trigger.group(1).removeprefix("kind-")
        thread = re.search(r"^thread: (\d+)", text, re.M)
        entry = found.setdefault(kind, {"total": 0, "threads": {}, "files": []})
        entry["total"] += int(totals.group(1))
        entry["threads"][thread.group(1) if thread else "1"] = int(totals.group(1))
        entry["files"].append(path)
    return found


def top_functions(files: list[str], n: int) -> str:
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=99", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ).stdout
    lines = [line for line in out.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
    return "\n".join(lines[:n])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400, help="measured requests per kind")
    p.add_argument("--warmup", type=int, default=700, help="requests per kind before measuring")
    p.add_argument("--concurrency", type=int, default=16, help="clients at once (wrk -c32 over 2 workers: 16 each)")
    p.add_argument("--keys", type=int, default=600, help="partner-tier keys in rotation (bench/run.py's number)")
    p.add_argument("--world", type=int, default=0, help="accounts in the world (at least those the 200s revoke)")
    p.add_argument("--kinds", default="200,404", help=f"comma-separated, of {','.join(KINDS)}")
    p.add_argument("--top", type=int, default=0, help="print the N costliest functions (self cost) per kind")
    p.add_argument("--profile", action="store_true", help="no valgrind: cProfile's top functions per kind")
    p.add_argument("--sort", default="tottime", help="--profile's order (pstats: tottime, cumulative)")
    p.add_argument(
        "--slowdown",
        type=float,
        default=40.0,
        help="callgrind's slowdown: the housekeeping thread's waits are scaled by it",
    )
    p.add_argument("--native", action="store_true", help="no valgrind: CPU time per request (noisy: a shared machine)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tree", help="measure another checkout's mock_server (e.g. a `git worktree` of an older commit)")
    p.add_argument("--one-worker", action="store_true", help="one worker's metrics (no shared directory)")
    p.add_argument("--uvloop", action="store_true", help="on uvloop, granian's loop (default: asyncio's own)")
    p.add_argument(
        "--postgres",
        action="store_true",
        help="on a throwaway PostgreSQL server (fsync on, as bench/run.py's): the mock's side only"
        " (the server's CPU is bench/pg_profile.py's to show)",
    )
    # the child's arguments
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--database", help=argparse.SUPPRESS)
    p.add_argument("--ids", help=argparse.SUPPRESS)
    p.add_argument("--shim", help=argparse.SUPPRESS)
    p.add_argument("--metrics-dir", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    if args.child:
        child(args)
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    pg = c.PostgresServer().start() if args.postgres else None
    try:
        return _measure(args, pg.new_database("instr") if pg else str(WORK / "world.sqlite3"))
    finally:
        if pg is not None:
            pg.stop()


def _measure(args, database: str) -> int:
    n_fresh = (args.warmup + args.requests) * args.kinds.count("200") + 1
    ids = c.seed_world(database, accounts=max(n_fresh, args.world), queued_per_account=2, partner_keys=args.keys)
    ids_file = c.write_ids(WORK / "fresh_ids.txt", ids)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--database",
        str(database),
        "--ids",
        str(ids_file),
        "--requests",
        str(args.requests),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        str(args.concurrency),
        "--keys",
        str(args.keys),
        "--kinds",
        ",".join(args.kinds),
        "--slowdown",
        str(1.0 if args.native or args.profile else args.slowdown),
    ]
    if args.tree:
        cmd += ["--tree", str(Path(args.tree).resolve())]
    if args.uvloop:
        cmd.append("--uvloop")
    if not args.one_worker:
        metrics_dir = WORK / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        cmd += ["--metrics-dir", str(metrics_dir)]
    prefix = str(WORK / "callgrind.out")
    if args.profile:
        cmd.append("--profile")
    elif not args.native:
        for old in glob.glob(prefix + "*"):
            os.unlink(old)
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--separate-threads=no",  # the housekeeping thread's work counts too
            f"--callgrind-out-file={prefix}",
            *cmd,
            "--shim",
            str(shim()),
        ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=c.ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        return proc.returncode
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for kind, r in result.items():
        assert set(r["statuses"]) == {str(EXPECTED[kind])}, (kind, r["statuses"])
    if args.profile:
        import pstats

        for kind in args.kinds:
            print(f"== {kind}: {result[kind]['cpu_us']:.0f} us CPU/request under cProfile")
            stats = pstats.Stats(str(WORK / f"profile-{kind}.pstats"))
            stats.sort_stats(args.sort).print_stats(args.top or 30)
        return 0
    dumps = {} if args.native else read_dumps(prefix)
    rows = {}
    for kind in args.kinds:
        r = result[kind]
        row = rows[kind] = {k: r[k] for k in ("reads", "writes", "commits", "flushes")}
        syscalls = (
            f"read/write system calls {r['reads']:.2f}/{r['writes']:.2f} a request;"
            f" {r['commits']} group commits, {r['flushes']} journal flushes on the thread"
        )
        if args.native:
            row.update(cpu_us=r["cpu_us"], sys_us=r["sys_us"])
            print(f"{kind:>4}: {r['cpu_us']:7.1f} us CPU/request (system {r['sys_us']:.1f}); {syscalls}")
            continue
        row["instructions"] = dumps[kind]["total"] / args.requests
        print(f"{kind:>4}: {row['instructions']:>10,.0f} instructions/request; {syscalls}")
        if args.top:
            print(top_functions(dumps[kind]["files"], args.top))
    how = "natively" if args.native else "under callgrind"
    print(
        f"({args.requests} requests a kind, {args.concurrency} clients at once, {args.keys} partner keys;"
        f" {time.monotonic() - t0:.0f} s {how})"
    )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

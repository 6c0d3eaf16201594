"""Where a revoke's time goes on PostgreSQL (issue 20): one mock (the CLI's default workers) on a
throwaway PostgreSQL server with pg_stat_statements, under wrk on one path and key tier.

    .venv/bin/python bench/pg_profile.py                        # 200 path, partner-tier keys
    .venv/bin/python bench/pg_profile.py --path 404 --pyspy     # and py-spy of the mock's workers
    .venv/bin/python bench/pg_profile.py --instances 2          # two mocks on one database

Prints, per request: the CPU the mock's processes and the PostgreSQL server's processes used,
transactions committed and rolled back (a rollback on the request path is a lost race), the
statements PostgreSQL ran (pg_stat_statements: calls per request, mean planning and execution
time), and EXPLAIN (ANALYZE, BUFFERS) of the gathered read and of a 200's writes. The server runs
with fsync on, as bench/run.py's. Absolute times are this machine's at that moment; read the
shares and the per-request counts.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import psycopg
from run import PARTNER_KEYS, load_env

from mock_server.core.domain import CANCELABLE_STATUS
from mock_server.storage.gathered import Ask, Revoke, Writes
from mock_server.storage.postgres import _APPLY, _GATHER, apply_params
from mock_server.storage.queries import Queries, hash_secret

# track=all: the statements inside layers_apply are listed too (their time is also its own).
STATEMENTS = (
    "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on"
    " -c pg_stat_statements.track=all"
)


def _cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (
            int(parts[11]) + int(parts[12]) + int(parts[13]) + int(parts[14])
        ) / c._TICK  # with waited-for children
    return total


def server_cpu(datadir: Path) -> float:
    """CPU seconds of the PostgreSQL server (the postmaster and its children, the backends)."""
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    kids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    kids.append(int(pid))
            except OSError:
                continue
    return _cpu_of([postmaster, *kids])


def xacts(admin: psycopg.Connection) -> tuple[int, ...]:
    """Transactions committed and rolled back; WAL records, full-page images, bytes; WAL syncs."""
    row = admin.execute(
        "SELECT xact_commit, xact_rollback, w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_sync"
        " FROM pg_stat_database, pg_stat_wal w WHERE datname = current_database()"
    ).fetchone()
    return tuple(int(x) for x in row)


def table_writes(admin: psycopg.Connection) -> dict[str, tuple[int, ...]]:
    """Per table: rows inserted, updated, updated HOT (on their page, no index entry written),
    index entries read (idx_tup_read + idx_scan), and heap/index blocks touched."""
    rows = admin.execute(
        "SELECT s.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd,"
        " io.heap_blks_hit + io.heap_blks_read, COALESCE(io.idx_blks_hit + io.idx_blks_read, 0)"
        " FROM pg_stat_user_tables s JOIN pg_statio_user_tables io USING (relid)"
    ).fetchall()
    return {r[0]: tuple(int(x) for x in r[1:]) for r in rows}


def print_table_writes(before: dict, after: dict, requests: int) -> None:
    print("\nper request, by table: inserted, updated (HOT), heap blocks, index blocks")
    for name in sorted(after):
        d = [(b - a) / requests for a, b in zip(before.get(name, (0,) * 5), after[name], strict=True)]
        if any(d):
            print(
                f"  {name:14} ins {d[0]:5.2f}  upd {d[1]:5.2f} ({d[2]:5.2f} HOT)  heap {d[3]:6.1f}  index {d[4]:6.1f}"
            )


def statements(admin: psycopg.Connection, requests: int, top: int) -> None:
    rows = admin.execute(
        "SELECT calls, total_plan_time, total_exec_time, rows, shared_blks_hit, shared_blks_read, query"
        " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " ORDER BY total_plan_time + total_exec_time DESC"
    ).fetchall()
    total = sum(r[1] + r[2] for r in rows) or 1.0
    print(f"\npg_stat_statements ({total / requests:.3f} ms of planning + execution per request):")
    print("  calls/req  plan ms  exec ms  share  blks/call  statement")
    for calls, plan, execute, _n, hit, read, query in [r for r in rows if r[0]][:top]:
        text = re.sub(r"\s+", " ", query)[:100]
        print(
            f"  {calls / requests:9.2f} {plan / calls:8.3f} {execute / calls:8.3f} {(plan + execute) / total:6.1%}"
            f" {(hit + read) / calls:10.1f}  {text}"
        )


def explain_generic(admin: psycopg.Connection, sql: str, params: tuple, label: str) -> None:
    """The plan the request path runs: prepared, generic (postgres.py sets plan_cache_mode)."""
    numbers = iter(range(1, len(params) + 1))
    admin.execute("SET plan_cache_mode = force_generic_plan")
    admin.execute("PREPARE layers_explain AS " + re.sub("%s", lambda _: f"${next(numbers)}", sql))
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE, the generic plan: {label}")
    with psycopg.ClientCursor(admin) as cur:  # the parameters as literals of EXECUTE
        cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE layers_explain({', '.join(['%s'] * len(params))})", params)
        for (line,) in cur.fetchall():
            print("  " + line)
    admin.execute("DEALLOCATE layers_explain")


def explain_all(admin: psycopg.Connection, account_id: str, secret: str) -> None:
    digest = hash_secret(secret)
    windows = tuple(r[0] for r in admin.execute("SELECT DISTINCT window_key FROM rate_windows ORDER BY 1").fetchall())
    ask = Ask(digest, account_id, None, windows[:2], CANCELABLE_STATUS)
    explain_generic(admin, _GATHER.sql, Queries.gather_params(ask), "GATHER (a fresh account, a partner key)")
    key = admin.execute(
        "SELECT sandbox, id, organization_id FROM api_keys WHERE secret_sha256=%s", (digest,)
    ).fetchone()
    cancelable = admin.execute(
        "SELECT COUNT(*) FROM posts p JOIN accounts a ON a.sandbox=p.sandbox AND a.seq=p.account_seq"
        " WHERE a.sandbox=%s AND a.id=%s AND p.status=%s",
        (key[0], account_id, CANCELABLE_STATUS),
    ).fetchone()[0]
    revoke = Revoke(
        account_id, key[2], "revoked_by_partner", "2026-01-01T00:00:00Z", "req_x", CANCELABLE_STATUS, cancelable
    )
    w = Writes(key[0], key[1], spend=tuple((w, 10**9) for w in windows[:2]), revoke=revoke)
    explain_nested(admin, _APPLY.sql, apply_params(w), "layers_apply: a 200's writes (rolled back)")


def explain_nested(admin: psycopg.Connection, sql: str, params: tuple, label: str) -> None:
    """The plans of the statements inside a function call, by auto_explain (as notices)."""
    admin.execute("LOAD 'auto_explain'")
    for name, value in (("min_duration", "0"), ("nested_statements", "on"), ("analyze", "on"), ("buffers", "on")):
        admin.execute(f"SET auto_explain.log_{name} = {value}")
    admin.execute("SET auto_explain.log_level = notice")
    notes: list[str] = []
    admin.add_notice_handler(lambda diag: notes.append(diag.message_primary or ""))
    print(f"\nauto_explain (ANALYZE, BUFFERS), generic plans: {label}")
    admin.execute("BEGIN")
    try:
        admin.execute(sql, params)
    finally:
        admin.execute("ROLLBACK")
        admin.execute("SET auto_explain.log_min_duration = -1")
    for note in notes:
        print("  " + note.replace("\n", "\n  "))


def pyspy(pids: list[int], seconds: float, out: Path, gil: bool) -> subprocess.Popen:
    spy = c.ROOT / ".venv" / "bin" / "py-spy"
    if not spy.exists():
        c.run_quiet([str(c.ROOT / ".venv" / "bin" / "pip"), "install", "-q", "py-spy==0.4.3"])
    cmd = [str(spy), "record", "--subprocesses", "-d", str(int(seconds)), "-r", "200", "-f", "raw", "--nonblocking"]
    cmd += ["--gil"] if gil else []
    return subprocess.Popen(
        [*cmd, "-o", str(out), "-p", str(pids[0])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def pyspy_summary(path: Path, top: int) -> None:
    """Self time by function, and the share of samples whose stack passes through each layer."""
    self_c: collections.Counter = collections.Counter()
    through: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        total += int(n)
        frames = stack.split(";")
        self_c[frames[-1]] += int(n)
        for layer in {
            m for f in frames for m in re.findall(r"\((?:.*/)?(mock_server/[^/.]+|psycopg_pool|psycopg)[/.]", f)
        }:
            through[layer] += int(n)
    print(f"\npy-spy: {total} samples; passing through:")
    for k, n in through.most_common(12):
        print(f"  {n / total:6.1%} {k}")
    print("top self time:")
    for k, n in self_c.most_common(top):
        print(f"  {n / total:6.1%} {k[:150]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=("200", "404"), default="200")
    ap.add_argument("--tier", choices=("partner", "internal"), default="partner")
    ap.add_argument("--accounts", type=int, default=250_000)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--instances", type=int, default=1)
    ap.add_argument("--connections", type=int, default=32, help="wrk's connections to each instance")
    ap.add_argument("--pyspy", action="store_true", help="sample the (first) mock's processes with py-spy")
    ap.add_argument("--gil", action="store_true", help="py-spy: only threads holding the GIL (Python's CPU time)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--no-explain", action="store_true")
    ap.add_argument("mock_args", nargs="*", help="more layers-mock arguments (after --)")
    args = ap.parse_args()
    c.OUT.mkdir(exist_ok=True)
    pg = c.PostgresServer(options=STATEMENTS).start()
    mocks: list[c.Server] = []
    try:
        url = pg.new_database("prof")
        t0 = time.perf_counter()
        ids = c.seed_world(url, accounts=args.accounts, queued_per_account=2, partner_keys=PARTNER_KEYS)
        print(f"seeded {len(ids):,} accounts in {time.perf_counter() - t0:.1f}s", flush=True)
        ids_file = c.write_ids(c.OUT / "fresh_ids_pgprof.txt", ids)
        c.write_ids(c.OUT / "partner_keys.txt", c.partner_secrets(PARTNER_KEYS))
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for n in range(args.instances):
            port = c.free_port()
            log = c.OUT / f"pgprof-mock-{n}.log"
            mocks.append(c.Server("mock", c.mock_cmd(port, url, args.mock_args), port, log).start(timeout=120))
        runs = iter(range(2))  # the warm-up and the measured run, each instance its own part of the ids
        part = len(ids) // (2 * len(mocks))

        def load(seconds: int) -> list[dict]:
            first = next(runs) * len(mocks)
            envs = [
                load_env(args.path, "mock", ids_file, (first + k) * part, args.tier, part=k, parts=len(mocks))
                for k in range(len(mocks))
            ]
            with ThreadPoolExecutor(len(mocks)) as pool:  # wrk runs as a child process: threads suffice
                out = list(
                    pool.map(
                        lambda m, e: c.wrk(m.base, seconds=seconds, env=e, connections=args.connections), mocks, envs
                    )
                )
            return out

        load(2)  # warm-up: pools filled, statements prepared
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_stat_statements_reset()")
            time.sleep(1.1)  # the backends report their counters (pg_stat_database, tables) at most once a second
            x0, cpu0, t0w = xacts(admin), server_cpu(pg.dir / "data"), table_writes(admin)
            load_before = os.getloadavg()[0]
            spy = (
                pyspy([m.proc.pid for m in mocks], args.seconds - 1, c.OUT / "pgprof-pyspy.txt", args.gil)
                if args.pyspy
                else None
            )
            with c.CpuMeter([m.proc.pid for m in mocks]) as cpu:
                rs = load(args.seconds)
            cpu1 = server_cpu(pg.dir / "data")
            time.sleep(1.1)  # the backends report their table counters at most once a second
            x1, t1w = xacts(admin), table_writes(admin)
            n = sum(r["requests"] for r in rs)
            wall = max(r["duration_us"] for r in rs) / 1e6
            statuses = {k: sum(r[k] for r in rs) for k in ("s200", "s401", "s404", "s429", "s5xx", "other")}
            print(
                f"\n{args.path} {args.tier}, {len(mocks)} instance(s): {n / wall:.0f} req/s"
                f" p50 {max(r['p50_us'] for r in rs) / 1000:.2f} ms p99 {max(r['p99_us'] for r in rs) / 1000:.2f} ms"
                f" {statuses}  load avg before {load_before:.1f}"
            )
            mock_s, pg_s = cpu.server_cores * wall, cpu1 - cpu0
            print(
                f"CPU per request: mock {mock_s / n * 1000:.2f} ms ({cpu.server_cores:.2f} cores),"
                f" PostgreSQL {pg_s / n * 1000:.2f} ms ({pg_s / wall:.2f} cores), wrk {cpu.wrk_cores:.2f} cores,"
                f" the rest {max(0.0, cpu.other_cores - pg_s / wall):.2f} cores"
            )
            d = [(b - a) / n for a, b in zip(x0, x1, strict=True)]
            print(
                f"per request: transactions committed {d[0]:.2f}, rolled back {d[1]:.3f} (lost races);"
                f" WAL records {d[2]:.1f}, full-page images {d[3]:.2f}, bytes {d[4]:,.0f}, syncs {d[5]:.2f}"
            )
            print_table_writes(t0w, t1w, n)
            statements(admin, n, args.top)
            if spy is not None:
                spy.wait(timeout=60)
                pyspy_summary(c.OUT / "pgprof-pyspy.txt", args.top)
            if not args.no_explain:
                explain_all(admin, ids[-1], c.partner_secrets(1)[0])
    finally:
        for m in mocks:
            m.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

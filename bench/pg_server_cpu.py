"""PostgreSQL's own side of a revoke (issue 20), without the mock: one connection runs the request
path's two statements (GATHER, then `layers_apply`, prepared, generic plans, as postgres.py sends
them) for fresh accounts one after another, on a throwaway server with fsync on.

    .venv/bin/python bench/pg_server_cpu.py                  # 60,000 accounts, 3 rounds of 8,000 revokes
    .venv/bin/python bench/pg_server_cpu.py --statements     # and pg_stat_statements (adds its own cost)

Prints, per revoke: the CPU of that connection's server process (/proc, user + system: no other
process's work is in it, so it is far steadier on a shared machine than a served rate), WAL
records and bytes, blocks touched, and each table's inserted / updated (HOT) rows. The best of
the rounds is the number to compare (a round is slowed, never sped up, by other load).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import psycopg
from pg_profile import STATEMENTS, print_table_writes, statements, table_writes

from mock_server.core.domain import CANCELABLE_STATUS
from mock_server.storage.gathered import Ask, Revoke, Writes
from mock_server.storage.postgres import _APPLY, _GATHER, apply_params
from mock_server.storage.queries import Queries, hash_secret


def backend_cpu(pid: int) -> float:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / c._TICK


def wal(admin: psycopg.Connection) -> tuple[int, int, int]:
    row = admin.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def revoke(conn: psycopg.Connection, cur: psycopg.Cursor, digest: str, account_id: str, windows: tuple) -> None:
    ask = Ask(digest, account_id, None, windows, CANCELABLE_STATUS)
    cur.execute(_GATHER.sql, Queries.gather_params(ask), prepare=True)
    names = [d.name for d in cur.description]
    row = dict(zip(names, cur.fetchone(), strict=True))
    r = Revoke(
        account_id,
        row["organization_id"],
        "revoked_by_partner",
        "2026-01-01T00:00:00Z",
        "req_bench",
        CANCELABLE_STATUS,
        int(row["cancelable"]),
    )
    w = Writes(row["sandbox"], row["id"], spend=tuple((x, 10**9) for x in windows), revoke=r)
    cur.execute(_APPLY.sql, apply_params(w), prepare=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=60_000)
    ap.add_argument("--revokes", type=int, default=8_000, help="per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--statements", action="store_true", help="load pg_stat_statements (track=all) and list them")
    args = ap.parse_args()
    if args.revokes * (args.rounds + 1) > args.accounts:
        ap.error("each revoke takes a fresh account: --accounts must cover the warm-up and every round")
    pg = c.PostgresServer(options=STATEMENTS if args.statements else "").start()
    try:
        url = pg.new_database("cpu")
        t0 = time.perf_counter()
        ids = c.seed_world(url, accounts=args.accounts, queued_per_account=2, partner_keys=1)
        print(f"seeded {len(ids):,} accounts in {time.perf_counter() - t0:.1f}s", flush=True)
        digest = hash_secret(c.partner_secrets(1)[0])
        now = time.time()
        windows = (f"m:{int(now // 60)}", f"d:{int(now // 86400)}")
        options = "-c plan_cache_mode=force_generic_plan"  # as postgres.py's request path
        with (
            psycopg.connect(url, autocommit=True) as admin,
            psycopg.connect(url, autocommit=True, options=options) as conn,
        ):
            if args.statements:
                admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            cur = conn.cursor()
            left = iter(ids)
            for _ in range(args.revokes):  # warm-up: plans cached, the function compiled
                revoke(conn, cur, digest, next(left), windows)
            best = None
            for n in range(args.rounds):
                if args.statements:
                    admin.execute("SELECT pg_stat_statements_reset()")
                conn.execute("SELECT pg_stat_force_next_flush()")
                time.sleep(0.1)
                w0, t0w, cpu0 = wal(admin), table_writes(admin), backend_cpu(pid)
                for _ in range(args.revokes):
                    revoke(conn, cur, digest, next(left), windows)
                cpu1 = backend_cpu(pid)
                conn.execute("SELECT pg_stat_force_next_flush()")  # its counters, reported as it goes idle
                time.sleep(0.1)
                w1, t1w = wal(admin), table_writes(admin)
                ms = (cpu1 - cpu0) / args.revokes * 1000
                records, fpi, wbytes = ((b - a) / args.revokes for a, b in zip(w0, w1, strict=True))
                print(
                    f"round {n + 1}: server CPU {ms:.3f} ms per revoke;"
                    f" WAL records {records:.1f}, full-page images {fpi:.2f}, bytes {wbytes:,.0f}"
                )
                if best is None or ms < best:
                    best = ms
            print(f"best: server CPU {best:.3f} ms per revoke")
            print_table_writes(t0w, t1w, args.revokes)
            if args.statements:
                statements(admin, args.revokes, 12)
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

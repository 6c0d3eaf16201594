"""PostgreSQL's instructions per revoke (issue 20), counted by valgrind (callgrind): exact and
repeatable on a shared machine, where CPU times are not (bench/pg_server_cpu.py).

    .venv/bin/python bench/pg_server_instructions.py             # 100 and 600 revokes
    .venv/bin/python bench/pg_server_instructions.py --keep out  # and keep the callgrind files

A world is seeded on a throwaway server, which is then stopped; `postgres --single` (one process,
the same executor, plans and commits) runs under callgrind the request path's two statements per
revoke, prepared with generic plans as postgres.py sends them: GATHER, then `layers_apply`, for
fresh accounts. Two runs (a few revokes, then more, on other fresh accounts): the difference of
their totals over the difference of their counts is a revoke's instructions, start-up excluded.
(No network or protocol: the server's own work on the statements, and each commit's.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import psycopg
from postgres_server import USER as PG_USER

from mock_server.core.domain import CANCELABLE_STATUS
from mock_server.storage.gathered import Ask, Revoke, Writes
from mock_server.storage.postgres import _APPLY, _GATHER, apply_params
from mock_server.storage.queries import Queries, hash_secret

QUEUED = 2  # each fresh account's queued posts (its revoke cancels them all)


def _numbered(sql: str) -> str:
    numbers = iter(range(1, 100))
    return re.sub("%s", lambda _: f"${next(numbers)}", sql)


def script(conn: psycopg.Connection, accounts: list[str], key: tuple, digest: str, windows: tuple) -> str:
    """The statements `postgres --single` reads, one a line."""
    literal = psycopg.ClientCursor(conn)
    lines = [
        "SET plan_cache_mode = force_generic_plan",
        "PREPARE g AS " + _numbered(_GATHER.sql),
        "PREPARE a AS " + _numbered(_APPLY.sql),
    ]
    for account in accounts:
        ask = Ask(digest, account, None, windows, CANCELABLE_STATUS)
        r = Revoke(account, key[2], "revoked_by_partner", "2026-01-01T00:00:00Z", "req_b", CANCELABLE_STATUS, QUEUED)
        w = Writes(key[0], key[1], spend=tuple((x, 10**9) for x in windows), revoke=r)
        for name, params in (("g", Queries.gather_params(ask)), ("a", apply_params(w))):
            lines.append(literal.mogrify(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params))
    return "\n".join(lines) + "\n"


def callgrind(datadir: Path, dbname: str, text: str, out: Path) -> int:
    """Total instructions of `postgres --single` running `text`."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "postgres", "--single"]
    cmd += ["-D", str(datadir), dbname]
    if os.geteuid() == 0:  # postgres refuses root; the data directory is the postgres user's
        cmd = ["runuser", "-u", PG_USER, "--", *cmd]
    done = subprocess.run(cmd, input=text, text=True, capture_output=True, check=False)
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line]
    if done.returncode != 0 or errors:
        raise SystemExit(f"postgres --single failed ({done.returncode}): {errors[:3]} {done.stderr[-2000:]}")
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--few", type=int, default=100)
    ap.add_argument("--many", type=int, default=600)
    ap.add_argument("--accounts", type=int, default=60_000, help="the world's fresh accounts")
    ap.add_argument("--keep", type=Path, help="a directory for the callgrind files")
    args = ap.parse_args()
    pg = c.PostgresServer().start()
    work = Path(tempfile.mkdtemp(prefix="layers-pgi-"))
    if os.geteuid() == 0:
        shutil.chown(work, PG_USER)
    try:
        url = pg.new_database("instr")
        ids = c.seed_world(url, accounts=args.accounts, queued_per_account=QUEUED, partner_keys=1)
        digest = hash_secret(c.partner_secrets(1)[0])
        now = time.time()
        windows = (f"m:{int(now // 60)}", f"d:{int(now // 86400)}")
        with psycopg.connect(url, autocommit=True) as conn:
            key = conn.execute(
                "SELECT sandbox, id, organization_id FROM api_keys WHERE secret_sha256=%s", (digest,)
            ).fetchone()
            conn.execute("CHECKPOINT")
            texts = (
                script(conn, ids[: args.few], key, digest, windows),
                script(conn, ids[args.few : args.few + args.many], key, digest, windows),
            )
        pg.executor.stop()
        dbname = url.rsplit("/", 1)[1]
        few, many = (callgrind(pg.dir / "data", dbname, t, work / f"callgrind.{n}") for n, t in enumerate(texts))
        per = (many - few) / (args.many - args.few)
        print(f"PostgreSQL instructions per revoke (GATHER + layers_apply + commits): {per:,.0f}")
        print(f"  ({args.few} revokes: {few:,} in all; {args.many}: {many:,})")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for f in work.glob("callgrind.*"):
                shutil.copy(f, args.keep / f.name)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PostgreSQL's instructions per revoke (issue 20), counted by valgrind (callgrind): exact and
repeatable on a shared machine, where CPU times are not (bench/pg_server_cpu.py).

    .venv/bin/python bench/pg_server_instructions.py                    # 100 and 600 revokes
    .venv/bin/python bench/pg_server_instructions.py --kinds 200,404,404i  # and the 404s
    .venv/bin/python bench/pg_server_instructions.py --keep out         # and keep the callgrind files

A world is seeded on a throwaway server, which is then stopped; `postgres --single` (one process,
the same executor, plans and commits) runs under callgrind the request path's statements per
request, prepared with generic plans as postgres.py sends them. Kinds (as bench/revoke_instructions.py
names them): `200`: a partner-tier key revoking a fresh account (GATHER, then `layers_apply`:
both rate windows spent, the account disconnected, its posts canceled, the revocation recorded);
`404`: the partner-tier key on an unknown account (GATHER, then `layers_apply` spending the
windows only); `404i`: the internal-tier key on an unknown account (GATHER only). Two runs per
kind (a few requests, then more, on other accounts): the difference of their totals over the
difference of their counts is a request's instructions, start-up excluded.
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
KINDS = {
    "200": "GATHER + layers_apply + commits",
    "404": "GATHER + layers_apply spending the windows + commits",
    "404i": "GATHER + commit",
}


def _numbered(sql: str) -> str:
    numbers = iter(range(1, 100))
    return re.sub("%s", lambda _: f"${next(numbers)}", sql)


def script(conn: psycopg.Connection, kind: str, accounts: list[str], key: tuple, digest: str, windows: tuple) -> str:
    """The statements `postgres --single` reads for `kind`'s requests on `accounts`, one a line."""
    literal = psycopg.ClientCursor(conn)
    lines = [
        "SET plan_cache_mode = force_generic_plan",
        "PREPARE g AS " + _numbered(_GATHER.sql),
        "PREPARE a AS " + _numbered(_APPLY.sql),
    ]
    for account in accounts:
        ask = Ask(digest, account, None, windows, CANCELABLE_STATUS)
        steps = [("g", Queries.gather_params(ask))]
        if kind != "404i":  # the internal tier has no rate windows: nothing to write
            r = Revoke(
                account, key[2], "revoked_by_partner", "2026-01-01T00:00:00Z", "req_b", CANCELABLE_STATUS, QUEUED
            )
            spend = tuple((x, 10**9) for x in windows)
            w = Writes(key[0], key[1], spend=spend, revoke=r if kind == "200" else None)
            steps.append(("a", apply_params(w)))
        for name, params in steps:
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
    ap.add_argument("--kinds", default="200", help="comma-separated: 200, 404, 404i")
    ap.add_argument("--accounts", type=int, default=60_000, help="the world's fresh accounts")
    ap.add_argument("--keep", type=Path, help="a directory for the callgrind files")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        raise SystemExit(f"unknown kinds {sorted(unknown)}: {', '.join(KINDS)}")
    pg = c.PostgresServer().start()
    work = Path(tempfile.mkdtemp(prefix="layers-pgi-"))
    if os.geteuid() == 0:
        shutil.chown(work, PG_USER)
    try:
        url = pg.new_database("instr")
        ids = c.seed_world(url, accounts=args.accounts, queued_per_account=QUEUED, partner_keys=1)
        now = time.time()
        windows = (f"m:{int(now // 60)}", f"d:{int(now // 86400)}")
        texts = {}
        with psycopg.connect(url, autocommit=True) as conn:
            for kind in kinds:
                digest = hash_secret(c.BENCH_SECRET if kind == "404i" else c.partner_secrets(1)[0])
                key = conn.execute(
                    "SELECT sandbox, id, organization_id FROM api_keys WHERE secret_sha256=%s", (digest,)
                ).fetchone()
                if kind == "200":  # fresh accounts, each revoked once
                    few, many = ids[: args.few], ids[args.few : args.few + args.many]
                else:  # accounts no world has
                    few = [f"sa_unknown_{n}" for n in range(args.few)]
                    many = [f"sa_unknown_{n}" for n in range(args.few, args.few + args.many)]
                texts[kind] = (
                    script(conn, kind, few, key, digest, windows),
                    script(conn, kind, many, key, digest, windows),
                )
            conn.execute("CHECKPOINT")
        pg.executor.stop()
        dbname = url.rsplit("/", 1)[1]
        # Each kind's runs on a copy of the stopped server's data: the same start for every kind.
        for kind in kinds:
            data = work / f"data-{kind}"
            totals = []
            for n, text in enumerate(texts[kind]):
                subprocess.run(["cp", "-a", str(pg.dir / "data"), str(data)], check=True)
                totals.append(callgrind(data, dbname, text, work / f"callgrind.{kind}.{n}"))
                shutil.rmtree(data)
            per = (totals[1] - totals[0]) / (args.many - args.few)
            print(f"{kind:>4}: PostgreSQL instructions per request ({KINDS[kind]}): {per:,.0f}")
            print(f"      ({args.few} requests: {totals[0]:,} in all; {args.many}: {totals[1]:,})")
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

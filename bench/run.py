"""The mock against Prism, side by side, on loopback; writes bench/RESULTS.md.

    cd /work/main && .venv/bin/python bench/run.py            # everything (~6 minutes)
    .venv/bin/python bench/run.py --only throughput,startup    # a part

Parts:
  throughput  wrk on three paths (401 no key, 404 unknown account, 200 fresh accounts) against ours
              on SQLite, ours on PostgreSQL (one instance, two instances on one database) and
              Prism, alternating, several rounds; medians of req/s, p50, p99 and ours/Prism.
  startup     process start to first 200, both servers (the mock on a fresh default world and on
              the benchmark's state file).
  revoke      one revoke of an account with 0 / 1k / 10k / 100k queued posts: time and peak memory
              (bench/revoke_cost.py, one process per size), and over HTTP.
  fixtures    a 1,000,000-account fixture (3 queued posts each): `--fixtures FILE` to first 200.
  scale       worlds of 1,000 and 1,000,000 accounts: start-up with --state, and latency.
  conformance the conformance kit against the mock as served here, if `conformance/` has its CLI.

Both servers run in their default setting: `layers-mock --state FILE` (its default worker count)
and `prism mock openapi.yaml -v warn`. wrk runs on the same machine (-t1 -c32).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
from common import CONTRACT

PATHS = ("401", "404", "200")
BEGIN, END = "<!-- bench:run.py:begin -->", "<!-- bench:run.py:end -->"


def load_env(path: str, server: str, ids_file: Path, offset: int) -> dict:
    env = {"BENCH_AUTH": "", "BENCH_ID": c.UNKNOWN_ID, "BENCH_IDS_FILE": "", "BENCH_OFFSET": "0", "BENCH_PREFER": ""}
    if path in ("404", "200"):
        env["BENCH_AUTH"] = f"Bearer {c.BENCH_SECRET}"
    if path == "404" and server == "prism":
        env["BENCH_PREFER"] = "code=404"  # Prism has no state: this is how it answers its 404
    if path == "200":
        env["BENCH_IDS_FILE"] = str(ids_file)
        env["BENCH_OFFSET"] = str(offset)
    return env


TARGETS = ("sqlite", "pg1", "pg2", "prism")
TARGET_NAMES = {"sqlite": "ours, SQLite", "pg1": "ours, PostgreSQL x1", "pg2": "ours, PostgreSQL x2", "prism": "Prism"}


def _combined(runs: list[dict]) -> dict:
    """Several wrk runs at once (one per instance): summed throughput and statuses, the worst
    of their percentiles (a conservative stand-in for the percentile of the union)."""
    if len(runs) == 1:
        return runs[0]
    out = {
        k: sum(r[k] for r in runs)
        for k in ("requests", "s200", "s401", "s404", "s429", "s5xx", "other", "socket_errors", "rps")
    }
    out.update(
        p50_us=max(r["p50_us"] for r in runs),
        p99_us=max(r["p99_us"] for r in runs),
        duration_us=max(r["duration_us"] for r in runs),
    )
    return out


def _wrk_all(urls: list[str], seconds: float, envs: list[dict], connections: int = 32) -> dict:
    """wrk against each URL at once, the connections split between them."""
    import concurrent.futures

    each = connections // len(urls)
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        runs = list(
            pool.map(
                lambda ue: c.wrk(ue[0], seconds=seconds, connections=each, env=ue[1]), zip(urls, envs, strict=True)
            )
        )
    return _combined(runs)


def throughput(args, report: dict) -> None:
    """The three paths on each target: ours on SQLite (the default), ours on PostgreSQL with one
    and two instances, and Prism; targets alternate within each round."""
    c.OUT.mkdir(exist_ok=True)
    targets = [t for t in args.targets if t in TARGETS]
    pg = c.PostgresServer().start() if {"pg1", "pg2"} & set(targets) else None  # durable (fsync on)
    servers: dict[str, list] = {}
    ids: dict[str, list[str]] = {}
    used: dict[str, int] = {}
    results: dict = {p: {t: [] for t in targets} for p in PATHS}
    try:
        for t in targets:
            if t == "prism":
                port = c.free_port()
                servers[t] = [c.Server("prism", c.prism_cmd(port), port, c.OUT / "prism.log").start()]
                c.write_ids(c.OUT / "fresh_ids_prism.txt", [CONTRACT.example_account_id])  # stateless: any id
                continue
            database = c.OUT / "bench.sqlite3" if t == "sqlite" else pg.new_database(t)
            t0 = time.perf_counter()
            ids[t] = c.seed_world(database, accounts=args.accounts, queued_per_account=2)
            c.write_ids(c.OUT / f"fresh_ids_{t}.txt", ids[t])
            print(
                f"{t}: seeded {len(ids[t]):,} fresh accounts (2 queued posts each) in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            servers[t] = [c.mock_process(database, args.mock_args).start() for _ in range(2 if t == "pg2" else 1)]
            used[t] = 0

        def urls(t):
            return [getattr(s, "base", None) or s.base_url for s in servers[t]]

        def envs(path, t):
            n = len(servers[t])
            ids_file = c.OUT / f"fresh_ids_{t}.txt"
            # each instance takes ids from its own part of the list, so that no id is sent twice
            spread = (len(ids.get(t, [])) - used.get(t, 0)) // n
            return [
                load_env(path, "prism" if t == "prism" else "mock", ids_file, used.get(t, 0) + k * spread)
                for k in range(n)
            ]

        for path in args.paths:
            for t in targets:  # warm-up, not recorded
                r = _wrk_all(urls(t), args.warmup, envs(path, t))
                if path == "200" and t in used:
                    used[t] += r["requests"] + 200 * len(servers[t])
            for rnd in range(args.rounds):
                for t in targets if rnd % 2 == 0 else list(reversed(targets)):
                    c.wait_for_quiet(args.quiet_wait)
                    load_before = os.getloadavg()[0]
                    with c.CpuMeter([s.proc.pid for s in servers[t]]) as cpu:
                        r = _wrk_all(urls(t), args.seconds, envs(path, t))
                    r.update(
                        server_cores=cpu.server_cores,
                        wrk_cores=cpu.wrk_cores,
                        other_cores=cpu.other_cores,
                        loadavg=load_before,
                    )
                    if path == "200" and t in used:
                        used[t] += r["requests"] + 200 * len(servers[t])
                    r["unexpected"] = r["requests"] - r["s" + path]
                    results[path][t].append(r)
                    print(
                        f"  {path} {t:<6} round {rnd + 1}: {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms"
                        f"  p99 {r['p99_us'] / 1000:6.2f} ms  statuses 200={r['s200']} 401={r['s401']}"
                        f" 404={r['s404']} 429={r['s429']} 5xx={r['s5xx']} other={r['other']}"
                        f" sockerr={r['socket_errors']}  cores: server {r['server_cores']:.2f} wrk"
                        f" {r['wrk_cores']:.2f} others {r['other_cores']:.2f}  load avg {load_before:.1f}",
                        flush=True,
                    )
        integrity = {}
        for t in targets:
            if t in used:
                if used[t] > len(ids[t]):
                    print(f"WARNING: {t}: the 200 path ran out of fresh accounts; raise --accounts", flush=True)
                with c.httpx.Client() as h:
                    integrity[t] = h.get(urls(t)[0] + "/_mock/integrity", timeout=300).json()
        mock_cmds = {t: " ".join(c.mock_cmd(0, "DATABASE", args.mock_args)) for t in targets if t != "prism"}
        report["throughput"] = {
            "results": results,
            "integrity": integrity,
            "accounts": args.accounts,
            "targets": targets,
            "mock_cmd": mock_cmds.get("sqlite") or next(iter(mock_cmds.values()), ""),
            "prism_cmd": " ".join(c.prism_cmd(0)),
            "mock_workers": c.DEFAULT_WORKERS,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "uptime": _uptime(),
        }
    finally:
        for group in servers.values():
            for s in group:
                s.stop()
        if pg is not None:
            pg.stop()


def _uptime() -> str:
    return subprocess.run(["uptime"], stdout=subprocess.PIPE, text=True).stdout.strip()


def startup(args, report: dict) -> None:
    c.OUT.mkdir(exist_ok=True)
    state = c.OUT / "bench.sqlite3"
    if not state.exists():
        c.seed_world(state, accounts=args.accounts, queued_per_account=2)
    storage = c.open_storage(str(state))
    with storage.snapshot() as q:
        n_accounts = q.counts()["accounts"]
    storage.close()
    kinds = {
        "mock (default world)": lambda p: c.mock_cmd(p, None, args.mock_args),
        f"mock (--state, {n_accounts:,} accounts)": lambda p: c.mock_cmd(p, state, args.mock_args),
        "prism": lambda p: c.prism_cmd(p),
    }
    times: dict = {k: [] for k in kinds}
    for _ in range(args.startup_rounds):
        for name, make in kinds.items():
            port = c.free_port()
            with c.Server(name, make(port), port, c.OUT / "startup.log") as s:
                times[name].append(s.ready_s)
    for name, ts in times.items():
        print(f"  start-up {name}: median {c.median(ts):.2f}s  ({', '.join(f'{t:.2f}' for t in ts)})", flush=True)
    report["startup"] = times


def revoke(args, report: dict) -> None:
    out = subprocess.run(
        [sys.executable, str(c.BENCH / "revoke_cost.py"), "--json"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        cwd=c.ROOT,
        timeout=1800,
    ).stdout
    report["revoke"] = json.loads(out.strip().splitlines()[-1])
    for row in report["revoke"]["rows"]:
        print(
            f"  revoke {row['queued']:>7,} queued: domain {row['domain_ms']:.1f} ms, peak +{row['peak_rss_mib']:.1f} MiB"
            f" rss, http {row['http_ms']:.1f} ms",
            flush=True,
        )


SCALE_REVOKES = 500


def sequential_revokes(base: str, ids: list[str]) -> dict:
    """One client, one connection, one revoke after another: latency of each 200."""
    times, statuses = [], []
    with c.httpx.Client(base_url=base, headers={"Authorization": f"Bearer {c.BENCH_SECRET}"}, timeout=30) as h:
        h.delete(CONTRACT.path_for(c.UNKNOWN_ID))  # connect
        t_all = time.perf_counter()
        for account_id in ids:
            t0 = time.perf_counter()
            statuses.append(h.delete(CONTRACT.path_for(account_id)).status_code)
            times.append(time.perf_counter() - t0)
        wall = time.perf_counter() - t_all
    times.sort()
    return {
        "rps": len(ids) / wall,
        "p50_us": times[len(times) // 2] * 1e6,
        "p99_us": times[int(len(times) * 0.99)] * 1e6,
        "unexpected": sum(1 for x in statuses if x != 200),
    }


def scale(args, report: dict) -> None:
    rows = []
    for n in (1_000, 1_000_000):
        state = c.OUT / f"world_{n}.sqlite3"
        t0 = time.perf_counter()
        ids = c.seed_world(state, accounts=n)
        seeded = time.perf_counter() - t0
        file_mib = (
            sum(Path(str(state) + x).stat().st_size for x in ("", "-wal") if Path(str(state) + x).exists()) / 2**20
        )  # the main file and its WAL
        ids_file = c.write_ids(c.OUT / f"world_{n}_ids.txt", ids[-20_000:] if n > 20_000 else ids)
        starts, lat = [], {}
        for _ in range(args.startup_rounds):
            port = c.free_port()
            with c.Server("mock", c.mock_cmd(port, state, args.mock_args), port, c.OUT / "scale.log") as s:
                starts.append(s.ready_s)
        port = c.free_port()
        with c.Server("mock", c.mock_cmd(port, state, args.mock_args), port, c.OUT / "scale.log") as s:
            r = c.wrk(s.base, seconds=args.seconds, env=load_env("404", "mock", ids_file, 0))
            r["unexpected"] = r["requests"] - r["s404"]
            lat["404"] = r
            lat["200"] = sequential_revokes(s.base, ids[-SCALE_REVOKES:])  # the small world has only 1,000
        rows.append({"accounts": n, "seed_s": seeded, "startup_s": starts, "load": lat, "file_mib": file_mib})
        print(
            f"  world {n:>9,}: file {rows[-1]['file_mib']:.0f} MiB, start-up median {c.median(starts):.2f}s, "
            + ", ".join(
                f"{p}: {r['rps']:.0f} req/s p50 {r['p50_us'] / 1000:.2f} ms p99 {r['p99_us'] / 1000:.2f} ms"
                f" (unexpected {r['unexpected']})"
                for p, r in lat.items()
            ),
            flush=True,
        )
    report["scale"] = rows


FIXTURE_ACCOUNTS = 1_000_000


def fixture_file(path: Path, accounts: int, posts: int = 3) -> Path:
    """The default world plus `accounts` accounts (random ids, `posts` queued posts each) as JSON."""
    import uuid

    data = json.loads(c.DEFAULT_WORLD.read_text())
    data["organizations"].append({"id": c.BENCH_ORG, "name": "Benchmark"})
    data["keys"].append(
        {
            "id": c.BENCH_KEY_ID,
            "secret": c.BENCH_SECRET,
            "organizationId": c.BENCH_ORG,
            "scopes": [CONTRACT.required_scope],
            "tier": "internal",
            "label": "bench",
        }
    )
    data["accounts"] += [
        {"id": f"sa_{uuid.uuid4()}", "organizationId": c.BENCH_ORG, "posts": {"queued": posts}} for _ in range(accounts)
    ]
    path.write_text(json.dumps(data))
    return path


def fixtures(args, report: dict) -> None:
    """`layers-mock --fixtures FILE` with 1,000,000 accounts (3 queued posts each): process start
    to first 200 on a fresh SQLite world; and what a broken file says (it must still say where)."""
    c.OUT.mkdir(exist_ok=True)
    path = c.OUT / f"fixture_{args.fixture_accounts}.json"
    if not path.exists():
        t0 = time.perf_counter()
        fixture_file(path, args.fixture_accounts)
        print(f"  wrote {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f}s", flush=True)
    times = []
    for _ in range(args.startup_rounds):
        state = c.OUT / "fixture_state.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(state) + suffix).unlink(missing_ok=True)
        load_before = os.getloadavg()[0]
        port = c.free_port()
        cmd = c.mock_cmd(port, state, ["--fixtures", str(path)] + args.mock_args)
        with c.Server("mock", cmd, port, c.OUT / "fixture.log") as s:
            times.append({"ready_s": s.ready_s, "loadavg": load_before})
        print(
            f"  {args.fixture_accounts:,} accounts: ready in {s.ready_s:.1f}s (load avg before {load_before:.1f})",
            flush=True,
        )
    broken = c.OUT / "fixture_broken.json"
    broken.write_text(path.read_text()[:5000])  # cut mid-way
    res = subprocess.run(
        c.mock_cmd(c.free_port(), None, ["--fixtures", str(broken)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    report["fixtures"] = {
        "accounts": args.fixture_accounts,
        "posts_each": 3,
        "runs": times,
        "file_mib": path.stat().st_size / 2**20,
        "broken_exit": res.returncode,
        "broken_message": res.stdout.strip()[-300:],
    }
    print(f"  broken file: exit {res.returncode}: {res.stdout.strip()[-200:]}", flush=True)


def conformance(args, report: dict) -> None:
    exe = c.ROOT / ".venv" / "bin" / "layers-conformance"
    if not (c.ROOT / "conformance" / "cli.py").exists() or not exe.exists():
        print("  conformance kit not present: skipped", flush=True)
        report["conformance"] = None
        return
    state = c.OUT / "conformance.sqlite3"
    c.seed_world(state, accounts=0)
    fixture = json.loads(c.DEFAULT_WORLD.read_text())
    keys = {k["label"]: k["secret"] for k in fixture["keys"]}
    foreign = next(a["id"] for a in fixture["accounts"] if a["organizationId"] != fixture["keys"][0]["organizationId"])
    rows = {}
    port = c.free_port()
    with c.Server("mock", c.mock_cmd(port, state, args.mock_args), port, c.OUT / "conformance-mock.log") as s:
        # full: the kit provisions through the control plane and runs every scenario (--strict too);
        # non-destructive: no --accounts and no --mock-control, so nothing of the caller's is revoked.
        for label, extra in (
            ("full (--mock-control --strict)", ["--mock-control", "--strict"]),
            ("non-destructive", ["--read-only-key", keys["read-only"], "--foreign-account-id", foreign]),
        ):
            cmd = [str(exe), "--base-url", s.base, "--api-key", keys["write"]] + extra
            t0 = time.perf_counter()
            res = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=c.ROOT, timeout=600
            )
            rows[label] = {
                "seconds": time.perf_counter() - t0,
                "exit": res.returncode,
                "cmd": " ".join(cmd),
                "tail": res.stdout[-1500:],
            }
            print(f"  conformance {label}: {rows[label]['seconds']:.1f}s exit {res.returncode}", flush=True)
    report["conformance"] = rows


# -- RESULTS.md ------------------------------------------------------------------------------
def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def render(report: dict, command: str) -> str:
    m = report["machine"]
    lines = [
        BEGIN,
        "",
        f"Generated by `{command}` on {report['date']}.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB RAM, {m['os']}; Python {m['python']},"
        f" Node {m['node']}, {m['wrk']}. Load generator, mock and Prism share the same cores.",
        "",
    ]
    t = report.get("throughput")
    if t:
        targets = t["targets"]
        lines += [
            f"### Throughput ({t['rounds']} rounds of {t['seconds']} s per target and path, alternating;"
            " wrk -c32 in all (two wrk of -c16 for two instances); medians)",
            "",
            f"- ours: `{t['mock_cmd']}` ({t['mock_workers']} uvicorn worker(s) per instance, the CLI default);"
            " DATABASE is a SQLite file, or a database on one local PostgreSQL server (fsync on, defaults);"
            " x2 = two instances (separate processes and ports) on the same database",
            f"- Prism: `{t['prism_cmd']}`",
            "- 401: no `Authorization`. 404: the internal-tier key, an unknown well-formed id (Prism: "
            "`Prefer: code=404`). 200: the same key, each request a fresh account with 2 queued posts "
            f"({t['accounts']:,} seeded per target; Prism answers its example).",
            f"- Machine load while measuring (`uptime` at the end): `{t.get('uptime', '?')}`",
            "",
            "| path | target | req/s | x Prism | p50 ms | p99 ms | unexpected statuses | server cores "
            "| other load (cores) | load avg (1 min) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for path in [p for p in PATHS if any(t["results"][p][x] for x in targets)]:
            prism = t["results"][path].get("prism") or []
            prr = c.median([r["rps"] for r in prism]) if prism else None
            for x in targets:
                runs = t["results"][path][x]
                if not runs:
                    continue
                rps = c.median([r["rps"] for r in runs])
                ratio = f"**{rps / prr:.2f}**" if prr and x != "prism" else ""
                lines.append(
                    f"| {path} | {TARGET_NAMES[x]} | {rps:,.0f} | {ratio} | {ms(c.median([r['p50_us'] for r in runs]))} "
                    f"| {ms(c.median([r['p99_us'] for r in runs]))} | {sum(r['unexpected'] for r in runs)} "
                    f"| {c.median([r['server_cores'] for r in runs]):.2f} | {c.median([r['other_cores'] for r in runs]):.2f} "
                    f"| {c.median([r.get('loadavg', float('nan')) for r in runs]):.1f} |"
                )
        lines += [
            "",
            "*server cores*: CPU the mock's processes (or Prism's) used during the run (2 = both cores; "
            "PostgreSQL's own processes count as *other load*); *other load*: CPU used meanwhile by everything "
            "but the server and wrk.",
        ]
        lines += [
            "",
            "Per round (req/s): "
            + "; ".join(
                f"{p} " + ", ".join(f"{x} " + "/".join(f"{r['rps']:.0f}" for r in t["results"][p][x]) for x in targets)
                for p in PATHS
                if any(t["results"][p][x] for x in targets)
            )
            + ".",
            "",
            f"Integrity after the load (`GET /_mock/integrity`): `{json.dumps(t['integrity'])[:400]}`",
            "",
        ]
    s = report.get("startup")
    if s:
        lines += [
            "### Start-up (process start to first 200 on `DELETE` of the reserved 200 account; median)",
            "",
            "| server | median s | runs |",
            "|---|---|---|",
        ]
        for name, ts in s.items():
            lines.append(f"| {name} | {c.median(ts):.2f} | {', '.join(f'{x:.2f}' for x in ts)} |")
        lines.append("")
    r = report.get("revoke")
    if r:
        lines += [
            "### Revoke cost (one revoke, one transaction; `bench/revoke_cost.py`)",
            "",
            r["note"],
            "",
            "| queued posts | domain.revoke ms | peak RSS growth MiB | tracemalloc peak KiB | over HTTP ms | canceled |",
            "|---|---|---|---|---|---|",
        ]
        for row in r["rows"]:
            lines.append(
                f"| {row['queued']:,} | {row['domain_ms']:.1f} | {row['peak_rss_mib']:.1f} "
                f"| {row['tracemalloc_kib']:.0f} | {row['http_ms']:.1f} | {row['canceled']:,} |"
            )
        lines.append("")
    sc = report.get("scale")
    if sc:
        lines += [
            "### World size (`--state` with N accounts; start-up median; wrk on the 404 path; "
            f"{SCALE_REVOKES} revokes one after another on one connection for the 200 path)",
            "",
            "| accounts | state file MiB | start-up s | 404 req/s | 404 p50 / p99 ms | 200 sequential req/s "
            "| 200 p50 / p99 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in sc:
            a, b = row["load"]["404"], row["load"]["200"]
            lines.append(
                f"| {row['accounts']:,} | {row['file_mib']:.0f} | {c.median(row['startup_s']):.2f} "
                f"| {a['rps']:,.0f} | {ms(a['p50_us'])} / {ms(a['p99_us'])} | {b['rps']:,.0f} "
                f"| {ms(b['p50_us'])} / {ms(b['p99_us'])} |"
            )
        lines.append("")
    fx = report.get("fixtures")
    if fx:
        lines += [
            f"### A {fx['accounts']:,}-account fixture ({fx['posts_each']} queued posts each, "
            f"{fx['file_mib']:.0f} MiB of JSON): `layers-mock --fixtures FILE --database NEW.sqlite3`, "
            "process start to first 200",
            "",
            "| run | ready s | load avg (1 min) before |",
            "|---|---|---|",
        ]
        for i, r in enumerate(fx["runs"], 1):
            lines.append(f"| {i} | {r['ready_s']:.1f} | {r['loadavg']:.1f} |")
        lines += ["", f"A file cut mid-way: exit {fx['broken_exit']}, `{fx['broken_message']}`", ""]
    cf = report.get("conformance", "absent")
    if cf is None:
        lines += ["### Conformance kit", "", "`conformance/` had no CLI when this ran: not measured.", ""]
    elif cf != "absent":
        lines += [
            "### Conformance kit against the mock as served above",
            "",
            "| run | seconds | exit | command |",
            "|---|---|---|---|",
        ]
        for label, row in cf.items():
            lines.append(f"| {label} | {row['seconds']:.1f} | {row['exit']} | `{row['cmd']}` |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_results(block: str) -> None:
    c.write_results_block(block, BEGIN, END)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="throughput,fixtures,startup,revoke,scale,conformance")
    p.add_argument("--fixture-accounts", type=int, default=FIXTURE_ACCOUNTS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--paths", default=",".join(PATHS), help="throughput paths to run (default: 401,404,200)")
    p.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="throughput targets (default: sqlite,pg1,pg2,prism: ours on SQLite, on PostgreSQL with one"
        " and two instances, and Prism)",
    )
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--startup-rounds", type=int, default=3)
    p.add_argument("--accounts", type=int, default=150_000, help="fresh accounts for the 200 path")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each load run, wait up to this many seconds for the machine to be idle",
    )
    p.add_argument("--mock-args", default="", help="extra layers-mock arguments (for experiments)")
    p.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = p.parse_args()
    args.mock_args = args.mock_args.split()
    args.paths = [x for x in args.paths.split(",") if x]
    args.targets = [x for x in args.targets.split(",") if x]
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    c.ensure_wrk()
    c.ensure_prism()
    report = {"machine": c.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for part in parts:
        print(f"== {part}", flush=True)
        globals()[part](args, report)
    command = "cd /work/main && .venv/bin/python bench/run.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    (c.OUT / "report.json").write_text(json.dumps(report, indent=1, default=str))
    block = render(report, command)
    print(block)
    if not args.no_write:
        write_results(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mock against Prism, side by side, on loopback: one table; writes bench/RESULTS.md.

    cd /work/main && .venv/bin/python bench/run.py            # the table and the fixture (~12 minutes)
    .venv/bin/python bench/run.py --quick                      # a first look, under a minute
    .venv/bin/python bench/run.py --targets sqlite,prism --rounds 3   # some rows

Parts (`--only`, default table,fixtures):
  table       one row per target (bench/targets.py: SQLite from the development install and from a
              mock-only install, the container image, PostgreSQL x1 and x2, a bare ASGI app on each
              HTTP server, Prism), one column per path and key tier: 401 (no key), 404 and 200 with
              the internal-tier key and with 600 partner-tier keys in rotation; wrk, targets
              alternating, several rounds; medians of req/s, p50, p99, and x Prism; and start-up,
              process start to the first 200 of the default world.
  fixtures    a 1,000,000-account fixture (3 queued posts each): `--fixtures FILE` to first 200,
              from the mock-only install (`--fixture-install dev` for this checkout's venv).
  revoke      one revoke of an account with 0 / 1k / 10k / 100k queued posts (bench/revoke_cost.py).
  scale       worlds of 1,000 and 1,000,000 accounts: start-up with --state, and latency.
  conformance the conformance kit against the mock as served here.

The mock runs as partners start it (`layers-mock --database FILE`: its default workers and HTTP
server), Prism as `prism mock openapi.yaml -v warn`; wrk runs on the same machine (-t1 -c32).
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
import targets as T
from common import CONTRACT

PATHS = ("401", "404", "200")
# The table's columns: (path, key tier); the 401 path sends no key.
COMBOS = (("401", None), ("404", "internal"), ("404", "partner"), ("200", "internal"), ("200", "partner"))
BEGIN, END = "<!-- bench:run.py:begin -->", "<!-- bench:run.py:end -->"
DEFAULT_TARGETS = (
    "sqlite",
    "sqlite-uvicorn",
    "mock-only",
    "container",
    "pg1",
    "pg1-socket",
    "pg2",
    "pg2-split",
    "pg2-pinned",
    "bare-granian",
    "bare-uvicorn",
    "prism",
)
QUICK_TARGETS = ("sqlite", "bare-granian", "prism")
# Partner-tier keys in rotation: a partner key's window is 3,000 requests a minute
# (openapi.yaml's x-rate-limit-tiers); 600 keys take 30,000 requests a second for a whole minute.
PARTNER_KEYS = 600


def load_env(
    path: str,
    server: str,
    ids_file: Path | None,
    offset: int,
    tier: str | None = "internal",
    *,
    part: int = 0,
    parts: int = 1,
) -> dict:
    """wrk's environment (bench/delete.lua) for one path and key tier. `part` of `parts`: one of
    several wrk sent at once, one per instance, which starts its partner keys `part / parts` of
    the way into them: in lock-step, each instance would get the same key at the same moment,
    both writing that key's rate-window row, which a load balancer spreading 600 keys' requests
    over instances seldom does (it moved no row measurably: bench/RESULTS.md)."""
    env = {"BENCH_AUTH": "", "BENCH_ID": c.UNKNOWN_ID, "BENCH_IDS_FILE": "", "BENCH_OFFSET": "0", "BENCH_PREFER": ""}
    env["BENCH_KEYS_FILE"] = ""
    env["BENCH_KEYS_OFFSET"] = str(part * PARTNER_KEYS // parts)
    if path in ("404", "200"):
        env["BENCH_AUTH"] = f"Bearer {c.BENCH_SECRET}"
        if tier == c.PARTNER_TIER:
            env["BENCH_KEYS_FILE"] = str(c.OUT / "partner_keys.txt")
    if path == "404" and server == "prism":
        env["BENCH_PREFER"] = "code=404"  # Prism has no state: this is how it answers its 404
    if path == "200" and ids_file is not None:
        env["BENCH_IDS_FILE"] = str(ids_file)
        env["BENCH_OFFSET"] = str(offset)
    return env


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


def _combo_name(path: str, tier: str | None) -> str:
    return path if tier is None else f"{path} {tier}"


def _uptime() -> str:
    return subprocess.run(["uptime"], stdout=subprocess.PIPE, text=True).stdout.strip()


def _prepare(targets: list[T.Target], args, failed: dict[str, str]) -> dict:
    """Installs and images the targets need: the mock-only venv, the container image. One that
    cannot be made is reported (`failed`) and its rows left out, not the whole run lost."""
    made: dict = {}
    steps = (
        ("mock-only", "mock-only venv", lambda: str(T.mock_only_venv())),
        ("container", "image", lambda: T.build_image() if not args.no_build else T.IMAGE),
    )
    for install, what, make in steps:
        if not any(t.install == install for t in targets):
            continue
        t0 = time.perf_counter()
        try:
            made[what] = make()
            print(f"{what} ready in {time.perf_counter() - t0:.0f}s", flush=True)
        except Exception as exc:  # noqa: BLE001 - said in the report, the other rows still measured
            for t in targets:
                if t.install == install:
                    failed[t.key] = f"{what} could not be made: {str(exc).strip()[-300:]}"
            print(f"WARNING: {what} could not be made: {exc}", flush=True)
    return made


def startup_times(targets: list[T.Target], args, pg) -> dict[str, list[float]]:
    """Process start to the first 200 of the default world (the mock: no --database, so a fresh
    temporary SQLite world; on PostgreSQL a fresh database), or Prism's; alternating, rounds."""
    times: dict[str, list[float]] = {t.key: [] for t in targets if t.kind != "bare" and t.instances == 1}
    for _ in range(args.startup_rounds):
        for t in targets:
            if t.key not in times:
                continue
            try:
                database = pg.new_database("startup") if t.backend == "postgres" and t.kind == "mock" else None
                times[t.key].append(T.timed_start(t, database, c.OUT / f"startup-{t.key}.log", args.mock_args))
            except Exception as exc:  # noqa: BLE001 - a start that failed is reported, not measured
                print(f"WARNING: start-up of {t.key} failed: {exc}", flush=True)
    for key, ts in times.items():
        print(f"  start-up {key}: median {c.median(ts):.2f}s  ({', '.join(f'{x:.2f}' for x in ts)})", flush=True)
    return times


def _start_target(t: T.Target, args, pg, servers: dict, ids: dict, used: dict) -> None:
    """Seed the target's world (the mock) and start its server(s)."""
    database = None
    if t.kind == "mock":
        if t.backend == "postgres":
            database = pg.new_database(t.key.replace("-", "_"))
            if t.socket:
                database = pg.over_socket(database)
        else:
            folder = c.OUT / f"db-{t.key}"
            folder.mkdir(exist_ok=True)
            database = str(folder / "bench.sqlite3")
        t0 = time.perf_counter()
        ids[t.key] = c.seed_world(database, accounts=args.accounts, queued_per_account=2, partner_keys=PARTNER_KEYS)
        c.write_ids(c.OUT / f"fresh_ids_{t.key}.txt", ids[t.key])
        if t.install == "container":
            T.share_with_container(Path(database))
        print(f"{t.key}: seeded {len(ids[t.key]):,} fresh accounts in {time.perf_counter() - t0:.1f}s", flush=True)
        used[t.key] = 0
    servers[t.key] = []
    for n in range(t.instances):
        server = T.server(t, c.free_port(), database, extra=args.mock_args, log=c.OUT / f"{t.key}-{n}.log", instance=n)
        servers[t.key].append(server.start(timeout=120))


def table(args, report: dict) -> None:
    """The one table: every target on every (path, key tier), start-up, ratios against Prism."""
    c.OUT.mkdir(exist_ok=True)
    targets = [T.CATALOG[k] for k in args.targets]
    failed: dict[str, str] = {}
    report["table_failed"] = failed
    report["prepared"] = _prepare(targets, args, failed)
    targets = [t for t in targets if t.key not in failed]
    c.write_ids(c.OUT / "partner_keys.txt", c.partner_secrets(PARTNER_KEYS))
    pg = c.PostgresServer().start() if any(t.backend == "postgres" for t in targets if t.kind == "mock") else None
    servers: dict[str, list] = {}
    ids: dict[str, list[str]] = {}
    used: dict[str, int] = {}
    results: dict = {_combo_name(p, tier): {t.key: [] for t in targets} for p, tier in COMBOS}
    try:
        report["startup"] = startup_times(targets, args, pg) if args.startup_rounds else {}
        for t in list(targets):
            try:
                _start_target(t, args, pg, servers, ids, used)
            except Exception as exc:  # noqa: BLE001 - reported; the other rows are still measured
                failed[t.key] = str(exc).strip()[-300:]
                print(f"WARNING: {t.key} could not be started: {exc}", flush=True)
                for s in servers.pop(t.key, []):
                    s.stop()
                ids.pop(t.key, None)
                used.pop(t.key, None)
                targets.remove(t)
        results = {k: {t.key: [] for t in targets} for k in results}

        def urls(t):
            return [s.base for s in servers[t.key]]

        def envs(path, tier, t):
            n = len(servers[t.key])
            ids_file = c.OUT / f"fresh_ids_{t.key}.txt" if t.key in ids else None
            # Each instance takes ids from its own fixed part of the list, `used` ids into it, so
            # that no id is sent twice (a part recomputed from what is left moved instance 1's
            # start back into ids it had revoked the round before: 404s on pg2's 200 path).
            region = len(ids.get(t.key, [])) // n
            return [
                load_env(path, t.kind, ids_file, k * region + used.get(t.key, 0), tier, part=k, parts=n)
                for k in range(n)
            ]

        for path, tier in COMBOS:
            combo = _combo_name(path, tier)
            todo = [t for t in targets if t.kind != "bare" or path == "401"]
            for t in todo:  # warm-up, not recorded
                r = _wrk_all(urls(t), args.warmup, envs(path, tier, t))
                if path == "200" and t.key in used:
                    used[t.key] += r["requests"] + 200  # all instances' requests: a bound on each one's
            for rnd in range(args.rounds):
                for t in todo if rnd % 2 == 0 else list(reversed(todo)):
                    c.wait_for_quiet(args.quiet_wait)
                    load_before = os.getloadavg()[0]
                    try:
                        with c.CpuMeter([s.proc.pid for s in servers[t.key]]) as cpu:
                            r = _wrk_all(urls(t), args.seconds, envs(path, tier, t))
                    except Exception as exc:  # noqa: BLE001 - one failed run is reported, not the whole table lost
                        print(f"WARNING: {combo} {t.key}: {exc}", flush=True)
                        continue
                    r.update(
                        server_cores=cpu.server_cores if t.install != "container" else float("nan"),
                        wrk_cores=cpu.wrk_cores,
                        other_cores=cpu.other_cores,
                        machine_cores=cpu.machine_cores,
                        loadavg=load_before,
                    )
                    if path == "200" and t.key in used:
                        used[t.key] += r["requests"] + 200  # all instances' requests: a bound on each one's
                    r["unexpected"] = r["requests"] - r["s" + path]
                    results[combo][t.key].append(r)
                    print(
                        f"  {combo:<12} {t.key:<14} {r['rps']:8.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms"
                        f"  p99 {r['p99_us'] / 1000:6.2f} ms  200={r['s200']} 401={r['s401']}"
                        f" 404={r['s404']} 429={r['s429']} 5xx={r['s5xx']} other={r['other']}"
                        f" sockerr={r['socket_errors']}  cores: server {r['server_cores']:.2f} wrk"
                        f" {r['wrk_cores']:.2f} others {r['other_cores']:.2f}  load {load_before:.1f}",
                        flush=True,
                    )
        integrity = {}
        for key in used:
            if used[key] > len(ids[key]) // len(servers[key]):
                print(f"WARNING: {key}: the 200 path ran out of fresh accounts; raise --accounts", flush=True)
            with c.httpx.Client() as h:
                integrity[key] = h.get(servers[key][0].base + "/_mock/integrity", timeout=300).json()
        report["table"] = {
            "results": results,
            "integrity": integrity,
            "accounts": args.accounts,
            "partner_keys": PARTNER_KEYS,
            "targets": [t.key for t in targets],
            "names": {t.key: t.name for t in targets},
            "mock_cmd": " ".join(["layers-mock", *T.mock_args(T.CATALOG["sqlite"], 0, "DATABASE", args.mock_args)]),
            "container_cmd": "podman run --network host -v DIR:/data IMAGE "
            + " ".join(T.mock_args(T.CATALOG["container"], 0, "/data/bench.sqlite3", args.mock_args)),
            "prism_cmd": " ".join(c.prism_cmd(0)),
            "workers": c.DEFAULT_WORKERS,
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
    exe = None
    if args.fixture_install == "mock-only":
        if "mock-only venv" not in report.get("prepared", {}):
            report.setdefault("prepared", {})["mock-only venv"] = str(T.mock_only_venv())
        exe = str(Path(report["prepared"]["mock-only venv"]) / "bin" / "layers-mock")
    times = []
    for _ in range(args.startup_rounds):
        state = c.OUT / "fixture_state.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(state) + suffix).unlink(missing_ok=True)
        # The fixture file was just written (131 MiB for a million accounts) and the last round's
        # state file removed: write back the page cache first, so that the load does not share the
        # disk with that write-back (a fresh machine's first round did: 20.8 s, issue 20).
        os.sync()
        load_before = os.getloadavg()[0]
        port = c.free_port()
        cmd = c.mock_cmd(port, state, ["--fixtures", str(path)] + args.mock_args, exe=exe)
        with c.Server("mock", cmd, port, c.OUT / "fixture.log").start(timeout=600) as s:
            times.append({"ready_s": s.ready_s, "loadavg": load_before})
        print(
            f"  {args.fixture_accounts:,} accounts: ready in {s.ready_s:.1f}s (load avg before {load_before:.1f})",
            flush=True,
        )
    broken = c.OUT / "fixture_broken.json"
    broken.write_text(path.read_text()[:5000])  # cut mid-way
    res = subprocess.run(
        c.mock_cmd(c.free_port(), None, ["--fixtures", str(broken)], exe=exe),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    report["fixtures"] = {
        "install": args.fixture_install,
        "command": " ".join(cmd).replace(str(c.ROOT) + "/", ""),
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


def _cell(runs: list[dict], prism: list[dict] | None, ratio_of: str = "Prism") -> str:
    if not runs:
        return "—"
    rps = c.median([r["rps"] for r in runs])
    ratio = ""
    if prism:
        ratio = f" (**{rps / c.median([r['rps'] for r in prism]):.2f}x**)"
    return f"{rps:,.0f}{ratio}<br>{ms(c.median([r['p50_us'] for r in runs]))} / {ms(c.median([r['p99_us'] for r in runs]))}"


def render_targets(report: dict) -> list[str]:
    """Issue 20's targets, met or missed (and by how much), from this run's numbers."""
    t, startup, fx = report.get("table"), report.get("startup") or {}, report.get("fixtures")
    rows: list[tuple[str, str, bool]] = []

    def med(key: str, combo: str, field: str) -> float | None:
        runs = (t or {}).get("results", {}).get(combo, {}).get(key) or []
        return c.median([r[field] for r in runs]) if runs else None

    def versus(key: str, combo: str, want_x: float, p99_x: float) -> None:
        ours, prism = med(key, combo, "rps"), med("prism", combo, "rps")
        if ours is None or prism is None:
            return
        x, p99 = ours / prism, med(key, combo, "p99_us") / med("prism", combo, "p99_us")
        ok = x >= want_x and p99 <= p99_x
        rows.append(
            (
                f"{key} {combo}: ≥ {want_x:g}x Prism, p99 ≤ {p99_x:g}x Prism's",
                f"{x:.2f}x, p99 {p99:.2f}x Prism's ({ms(med(key, combo, 'p99_us'))} vs"
                f" {ms(med('prism', combo, 'p99_us'))} ms)",
                ok,
            )
        )

    for combo in ("200 partner", "404 partner"):
        versus("sqlite", combo, 2, 1)
    for combo in ("200 partner", "404 partner"):
        versus("pg1", combo, 1, 2)
    for combo in ("200 partner", "404 partner"):
        for two_key, how in (
            ("pg2-pinned", ", each instance on its own core"),
            ("pg2-split", ", one worker each"),
            ("pg2", ", two workers each (on two cores: oversubscribed)"),
        ):
            one, two = med("pg1", combo, "rps"), med(two_key, combo, "rps")
            if one and two:
                rows.append(
                    (f"{two_key} {combo}: not below pg1 in aggregate{how}", f"{two / one:.2f}x pg1", two >= one)
                )
    ours, bare = med("sqlite", "401", "rps"), med("bare-granian", "401", "rps")
    if ours and bare:
        rows.append(("401 ≥ 50 % of a bare ASGI app (granian)", f"{ours / bare * 100:.0f} %", ours >= bare / 2))
    if startup.get("sqlite") and startup.get("prism"):
        a, b = c.median(startup["sqlite"]), c.median(startup["prism"])
        rows.append(("start-up below Prism's", f"{a:.2f} vs {b:.2f} s ({a / b:.2f}x)", a < b))
    if fx:
        best = c.median([r["ready_s"] for r in fx["runs"]])
        rows.append(
            (
                f"{fx['accounts']:,}-account fixture ≤ 15 s ({fx.get('install', 'dev')} install)",
                f"{best:.1f} s",
                best <= 15,
            )
        )
    if not rows:
        return []
    lines = [
        "### Targets (issue 20, partner-tier keys in rotation; this run)",
        "",
        "| target | result | |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {result} | {'met' if ok else '**missed**'} |" for name, result, ok in rows]
    return lines + [""]


def render_table(report: dict) -> list[str]:
    """The one table (what `bench/run.py` prints), its commands and its notes."""
    t, startup = report["table"], report.get("startup") or {}
    res, keys, names = t["results"], t["targets"], t["names"]
    combos = [_combo_name(p, tier) for p, tier in COMBOS]
    prism_up = c.median(startup.get("prism") or [])
    head = ["target", "start-up s (x Prism)"] + [
        f"{p} {'(no key)' if tier is None else tier + ' key' + ('s' if tier == c.PARTNER_TIER else '')}"
        for p, tier in COMBOS
    ]
    lines = [
        f"### One table ({t['rounds']} rounds of {t['seconds']} s per target and column, targets alternating; wrk -t1"
        " -c32 (two wrk of -c16 for two instances); medians)",
        "",
        "Each cell: **req/s (x Prism's req/s)**, then p50 / p99 in ms. Start-up: process start to the first 200 of the"
        " default world (PostgreSQL: into a fresh database).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for key in keys:
        ups = startup.get(key) or []
        up = "—"
        if ups:
            up = f"{c.median(ups):.2f}" + (f" ({c.median(ups) / prism_up:.2f}x)" if key != "prism" and prism_up else "")
        cells = [
            _cell(res[combo][key], None if key == "prism" else res[combo].get("prism") or None) for combo in combos
        ]
        lines.append(f"| {names[key]} | {up} | " + " | ".join(cells) + " |")
    lines += [""]
    for key, why in (report.get("table_failed") or {}).items():
        lines += [f"**Not measured: {T.CATALOG[key].name}**: {why}", ""]
    # the 401 path against the bare app on the same server
    notes = []
    for mock, bare in (("sqlite", "bare-granian"), ("sqlite-uvicorn", "bare-uvicorn")):
        if res["401"].get(mock) and res["401"].get(bare):
            a = c.median([r["rps"] for r in res["401"][mock]])
            b = c.median([r["rps"] for r in res["401"][bare]])
            notes.append(f"{names[mock]}: {a / b * 100:.0f} % of the {names[bare]} ({a:,.0f} vs {b:,.0f} req/s)")
    if notes:
        lines += ["401 path against a bare ASGI app on the same server (target ≥ 50 %): " + "; ".join(notes) + ".", ""]
    lines += [
        f"- ours: `{t['mock_cmd']}` ({t['workers']} workers, the CLI's default; DATABASE: a SQLite file, or a database"
        " on one local PostgreSQL server, fsync on); x2: two instances on one database"
        " (each on its own core: started with that core as its CPU affinity, as `taskset -c N` does, the CLI's"
        " default workers following it, one each; of one worker each: `--workers 1` per instance, the same number of"
        " workers as x1; otherwise the CLI's default each); mock-only: the same command"
        f" from a venv made by `pip install -c constraints.txt .`; container: `{t['container_cmd']}`",
        f"- Prism: `{t['prism_cmd']}`; bare ASGI app: `bench/bare_app.py` on the same server and workers",
        "- 401: no `Authorization`. 404: an unknown well-formed id (Prism: `Prefer: code=404`). 200: each request a"
        f" fresh account with 2 queued posts ({t['accounts']:,} seeded per target; Prism answers its example)."
        f" internal key: one key of the rate-limit-free `internal` tier; partner keys: {t['partner_keys']} partner-tier"
        " keys in rotation, each spending its own 3,000-a-minute window (none runs out).",
        f"- Machine load at the end (`uptime`): `{t['uptime']}`",
        "",
        "<details><summary>Per run: req/s, unexpected statuses, CPU of the server / everything else, load average"
        "</summary>",
        "",
        "| column | target | runs req/s | unexpected | server cores | other cores | load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    for combo in combos:
        for key in keys:
            runs = res[combo][key]
            if runs:
                each = " / ".join(f"{r['rps']:,.0f}" for r in runs)
                lines.append(
                    f"| {combo} | {key} | {each} "
                    f"| {sum(r['unexpected'] for r in runs)} | {c.median([r['server_cores'] for r in runs]):.2f} "
                    f"| {c.median([r['other_cores'] for r in runs]):.2f} "
                    f"| {c.median([r['loadavg'] for r in runs]):.1f} |"
                )
    lines += [
        "",
        "</details>",
        "",
        f"Integrity after the load (`GET /_mock/integrity`): `{json.dumps(t['integrity'])[:600]}`",
        "",
    ]
    return lines


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
    t = report.get("table")
    if t:
        lines += render_table(report)
    lines += render_targets(report)
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
            f"{fx['file_mib']:.0f} MiB of JSON), {fx.get('install', 'dev')} install: "
            f"`{fx.get('command', 'layers-mock --fixtures FILE --database NEW.sqlite3')}`, process start to first 200"
            " (target ≤ 15 s)",
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
    p.add_argument(
        "--only",
        default="table,fixtures",
        help="parts to run (default: table,fixtures; also revoke, scale, conformance)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run for a first look (under a minute): targets {','.join(QUICK_TARGETS)}, 1 round of 2 s,"
        " 1 start-up each, no fixture; RESULTS.md untouched",
    )
    p.add_argument("--fixture-accounts", type=int, default=FIXTURE_ACCOUNTS)
    p.add_argument(
        "--fixture-install",
        choices=("mock-only", "dev"),
        default="mock-only",
        help="which install loads the fixture (default: the mock-only one, as partners install it)",
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help=f"table rows (default: {','.join(DEFAULT_TARGETS)}; bench/targets.py says what each is)",
    )
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--startup-rounds", type=int, default=3)
    p.add_argument("--accounts", type=int, default=250_000, help="fresh accounts for the 200 path, per target")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each load run, wait up to this many seconds for the machine to be idle",
    )
    p.add_argument("--no-build", action="store_true", help="use the container image built before (IMAGE in targets.py)")
    p.add_argument("--mock-args", default="", help="extra layers-mock arguments (for experiments)")
    p.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = p.parse_args()
    if args.quick:
        args.only, args.rounds, args.seconds, args.warmup = "table", 1, 2, 1
        args.startup_rounds, args.accounts, args.quiet_wait, args.no_write = 1, 20_000, 0.0, True
        if "--targets" not in " ".join(sys.argv):
            args.targets = ",".join(QUICK_TARGETS)
    args.mock_args = args.mock_args.split()
    args.targets = [x for x in args.targets.split(",") if x]
    unknown = [x for x in args.targets if x not in T.CATALOG]
    if unknown:
        p.error(f"unknown targets {unknown}; known: {', '.join(T.CATALOG)}")
    # `throughput` and `startup` (before issue 20) are the table's now: one table, one run
    parts = list(dict.fromkeys("table" if x in ("throughput", "startup") else x for x in args.only.split(",") if x))
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

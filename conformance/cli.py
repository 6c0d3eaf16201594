"""`layers-conformance`: check an implementation of the revoke endpoint against the contract.

Exit 0: conformant. Exit 1: violations found. Exit 2: the run could not be made (bad arguments,
target unreachable, an accounts file that does not parse, the --api-key rejected, ...).
Every option also reads an environment variable (LAYERS_BASE_URL, LAYERS_API_KEY, ...), for CI.
"""
from __future__ import annotations

import argparse
import os
import sys

from conformance import secrets
from conformance.client import PoliteClient, TargetTooSlow, TargetUnreachable
from conformance.pipeline import Pipeline
from conformance.results import EXIT_CANNOT_RUN, EXIT_CONFORMANT, Results
from conformance.settings import (EnvError, FromEnv, cleartext_refusal, flag, integer, is_cleartext_off_loopback,
                                  report_path_problem, resolve_env, seconds)
from conformance.target import Target, UsageError, load_accounts, provision_mock, provision_sandbox, unknown_account_id
from conformance.transport import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TIME, Bounds, RunStopped
from conformance.waiting import MockClockWaiter, RealWaiter

# Every number an option takes has a bound (settings.py); the same converter reads its LAYERS_* variable.
COUNT, EXAMPLES, SEED = integer(1, 1_000_000), integer(1, 100_000), integer(0, 2**64 - 1)
CONCURRENCY = integer(2, 64)
TIMEOUT, RUN_TIME, WAIT = seconds(0, 3600, zero_ok=False), seconds(0, 7 * 86400, zero_ok=False), seconds(0, 86400)
BODY_BYTES = integer(1024, 1 << 30)
# The secrets the kit sends, with the variables they may come from; checked before anything is sent.
SECRET_OPTIONS = (("api_key", "--api-key", "LAYERS_API_KEY", secrets.BEARER_TOKEN),
                  ("read_only_key", "--read-only-key", "LAYERS_READ_ONLY_KEY", secrets.BEARER_TOKEN),
                  ("admin_token", "--admin-token", "LAYERS_MOCK_ADMIN_TOKEN", secrets.HEADER_TOKEN),
                  ("operator_token", "--operator-token", "LAYERS_MOCK_OPERATOR_TOKEN", secrets.HEADER_TOKEN))


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse already exits 2; say so in our words too
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"layers-conformance: bad arguments: {message}\n")


def _env(name: str, default=None):
    return os.environ.get(name, default)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="layers-conformance", description=__doc__.split("\n\n")[0],
                epilog="Exit codes: 0 conformant, 1 violations found, 2 the run could not be made.")
    p.add_argument("--base-url", default=_env("LAYERS_BASE_URL"), help="the implementation under test [LAYERS_BASE_URL]")
    p.add_argument("--api-key", default=_env("LAYERS_API_KEY"), help="a valid key with the required scope [LAYERS_API_KEY]")
    p.add_argument("--read-only-key", default=_env("LAYERS_READ_ONLY_KEY"),
                   help="a key of the same organization without the scope; enables scope checks [LAYERS_READ_ONLY_KEY]")
    p.add_argument("--foreign-account-id", default=_env("LAYERS_FOREIGN_ACCOUNT_ID"),
                   help="an account of another organization; enables the cross-organization check [LAYERS_FOREIGN_ACCOUNT_ID]")
    p.add_argument("--accounts", default=_env("LAYERS_ACCOUNTS"),
                   help='JSON {"accounts": [{"socialAccountId": ..., "queuedPosts": N}]}: accounts the run may revoke [LAYERS_ACCOUNTS]')
    p.add_argument("--mock-control", action="store_true", default=FromEnv("LAYERS_MOCK_CONTROL", flag, False),
                   help="the target is layers-mock: provision keys and accounts through its control plane [LAYERS_MOCK_CONTROL]")
    p.add_argument("--admin-token", default=_env("LAYERS_MOCK_ADMIN_TOKEN"), help="the mock's --admin-token, if any [LAYERS_MOCK_ADMIN_TOKEN]")
    p.add_argument("--operator-token", default=_env("LAYERS_MOCK_OPERATOR_TOKEN"),
                   help="a hosted mock's operator token: with --mock-control the run provisions inside a sandbox"
                        " of its own, deleted at the end (a sandbox's adminToken goes in --admin-token)"
                        " [LAYERS_MOCK_OPERATOR_TOKEN]")
    p.add_argument("--junit-xml", default=_env("LAYERS_JUNIT_XML"), help="write JUnit XML here [LAYERS_JUNIT_XML]")
    p.add_argument("--report-json", default=_env("LAYERS_REPORT_JSON"), help="write the JSON report here [LAYERS_REPORT_JSON]")
    p.add_argument("--strict", action="store_true", default=FromEnv("LAYERS_STRICT", flag, False),
                   help="also check this project's decisions where the docs are silent (labeled strict) [LAYERS_STRICT]")
    p.add_argument("--burst", action="store_true", default=FromEnv("LAYERS_BURST", flag, False),
                   help="burst until 429, then retry after Retry-After (spends the key's rate budget) [LAYERS_BURST]")
    p.add_argument("--burst-limit", type=COUNT, default=FromEnv("LAYERS_BURST_LIMIT", COUNT, 200),
                   help="most requests the burst may send [LAYERS_BURST_LIMIT, default 200]")
    p.add_argument("--max-requests", type=COUNT, default=FromEnv("LAYERS_MAX_REQUESTS", COUNT, 500),
                   help="bound on all requests of the run [LAYERS_MAX_REQUESTS, default 500]")
    p.add_argument("--max-wait", type=WAIT, default=FromEnv("LAYERS_MAX_WAIT", WAIT, 60.0),
                   help="longest single Retry-After the kit will wait, in seconds (a truthful one is at most a "
                        "rate-limit minute) [LAYERS_MAX_WAIT, default 60]")
    p.add_argument("--examples", type=EXAMPLES, default=FromEnv("LAYERS_EXAMPLES", EXAMPLES, 25),
                   help="generated requests per mode (positive, negative) [LAYERS_EXAMPLES, default 25]")
    p.add_argument("--seed", type=SEED, default=FromEnv("LAYERS_SEED", SEED, None),
                   help="generation seed (default: deterministic generation) [LAYERS_SEED]")
    p.add_argument("--timeout", type=TIMEOUT, default=FromEnv("LAYERS_TIMEOUT", TIMEOUT, 15.0),
                   help="bound on each whole request (connect, send, headers, body), in seconds "
                        "[LAYERS_TIMEOUT, default 15]")
    p.add_argument("--no-fuzz", action="store_true", help="skip the generated (schemathesis) phase")
    p.add_argument("--only", default=_env("LAYERS_ONLY", ""),
                   help="comma-separated scenario names to run (default: all; --list names them) [LAYERS_ONLY]")
    # -- selection, skips, gateways and TLS interception (issue 11) --------------------------------
    p.add_argument("--list", action="store_true", help="print the scenarios and the checks, then exit")
    p.add_argument("--fail-on-skip", action="store_true", default=FromEnv("LAYERS_FAIL_ON_SKIP", flag, False),
                   help="exit 1 when any selected scenario or check was skipped [LAYERS_FAIL_ON_SKIP]")
    p.add_argument("-H", "--header", action="append", metavar="NAME:VALUE",
                   default=[h for h in _env("LAYERS_HEADERS", "").splitlines() if h.strip()],
                   help="send this header on every request (a gateway's key, a tenant header); repeatable; "
                        "values are shown as ${LAYERS_HEADER_<NAME>} in curl lines [LAYERS_HEADERS, one per line]")
    p.add_argument("--proxy", default=_env("LAYERS_PROXY"), help="send every request through this HTTP(S) proxy [LAYERS_PROXY]")
    p.add_argument("--ca-bundle", default=_env("LAYERS_CA_BUNDLE"),
                   help="PEM file of CAs to trust (TLS interception, a private CA) [LAYERS_CA_BUNDLE]")
    p.add_argument("--insecure", action="store_true", default=FromEnv("LAYERS_INSECURE", flag, False),
                   help="do not verify the target's TLS certificate (says so in the report) [LAYERS_INSECURE]")
    p.add_argument("--concurrency", type=CONCURRENCY, default=FromEnv("LAYERS_CONCURRENCY", CONCURRENCY, 8),
                   help="simultaneous revokes of one account in the race scenario (2-64) [LAYERS_CONCURRENCY, default 8]")
    # Bounds and safety against any target (issue 14): conformance/transport.py, secrets.py, settings.py.
    p.add_argument("--max-time", type=RUN_TIME, default=FromEnv("LAYERS_MAX_TIME", RUN_TIME, DEFAULT_MAX_TIME),
                   help="bound on the whole run, in seconds: then it stops and writes its reports, marked "
                        "incomplete (exit 2) [LAYERS_MAX_TIME, default 600]")
    p.add_argument("--max-total-wait", type=WAIT, default=FromEnv("LAYERS_MAX_TOTAL_WAIT", WAIT, 180.0),
                   help="bound on all Retry-After waiting of the run, in seconds [LAYERS_MAX_TOTAL_WAIT, default 180]")
    p.add_argument("--max-body-bytes", type=BODY_BYTES,
                   default=FromEnv("LAYERS_MAX_BODY_BYTES", BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
                   help="read at most this much of a response body; a larger body is a violation "
                        "[LAYERS_MAX_BODY_BYTES, default 1 MiB]")
    p.add_argument("--allow-insecure-http", action="store_true",
                   default=FromEnv("LAYERS_ALLOW_INSECURE_HTTP", flag, False),
                   help="allow plain http:// to a host that is not loopback (keys then cross the network in "
                        "cleartext) [LAYERS_ALLOW_INSECURE_HTTP]")
    return p


def parse_headers(values: list[str]) -> dict[str, str]:
    import re

    headers = {}
    for value in values or []:
        name, sep, rest = value.partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise UsageError(f"-H/--header {value.split(':', 1)[0][:40]!r}…: expected NAME:VALUE with a valid header name")
        headers[name] = rest.strip()
    return headers


def header_env_name(name: str) -> str:
    import re

    return "LAYERS_HEADER_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def tls_verify(args) -> bool | str:
    if args.insecure and args.ca_bundle:
        raise UsageError("--insecure and --ca-bundle exclude each other: trust a CA bundle, or verify nothing")
    if args.insecure:
        return False
    if args.ca_bundle:
        if not os.path.isfile(args.ca_bundle):
            raise UsageError(f"--ca-bundle {args.ca_bundle}: no such file")
        import ssl

        try:
            return ssl.create_default_context(cafile=args.ca_bundle)
        except (ssl.SSLError, ValueError) as exc:
            raise UsageError(f"--ca-bundle {args.ca_bundle}: not a PEM bundle of certificates: {exc}") from exc
    return True


def list_everything(strict: bool = True) -> str:
    from conformance.fuzz import BUILTIN_CHECKS
    from conformance.pipeline import all_checks, is_strict
    from conformance.scenarios import SCENARIOS, Context, Options

    lines = ["Scenarios (run in this order; --only NAME,... selects):"]
    bare = Context(None, Target("http://x", "k"), None, Options())  # what each needs beyond --api-key
    for sc in SCENARIOS:
        need = sc.needs(bare)
        lines.append(f"  {sc.name}{'  [strict]' if sc.strict else ''}{'  (' + need + ')' if need else ''}")
    lines.append("Checks (run on every response they apply to, in every phase):")
    for check in all_checks(strict):
        lines.append(f"  {check.__name__}{'  [strict]' if is_strict(check) else ''}: {check.applies_to}")
    lines.append("Schemathesis checks (on generated requests):")
    lines += [f"  {c.__name__}" for c in BUILTIN_CHECKS]
    return "\n".join(lines)


def _build_target(args) -> Target:
    if not args.base_url:
        raise UsageError("--base-url (or LAYERS_BASE_URL) is required")
    if not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url {args.base_url!r} is not an http(s) URL")
    _refuse_unsafe(args)
    from conformance.scenarios import SCENARIOS
    unknown = set(filter(None, args.only.split(","))) - {sc.name for sc in SCENARIOS}
    if unknown:
        raise UsageError(f"--only: no such scenario {', '.join(sorted(unknown))}; valid names: "
                         f"{', '.join(sc.name for sc in SCENARIOS)}")
    if args.concurrency < 2:
        raise UsageError("--concurrency must be at least 2")
    if args.mock_control:
        if args.accounts:
            raise UsageError("--accounts and --mock-control exclude each other: the mock run provisions its own")
        if args.operator_token:
            return provision_sandbox(args.base_url, args.api_key, args.operator_token)
        return provision_mock(args.base_url, args.api_key, args.admin_token)
    if not args.api_key:
        raise UsageError("--api-key (or LAYERS_API_KEY) is required without --mock-control")
    accounts = load_accounts(args.accounts) if args.accounts else []
    return Target(args.base_url.rstrip("/"), args.api_key, args.read_only_key, args.foreign_account_id, accounts)


def _refuse_unsafe(args) -> None:
    """Before anything is sent: malformed secrets, keys in cleartext, reports that could not be written."""
    for attr, option, env, pattern in SECRET_OPTIONS:
        if getattr(args, attr):
            try:
                secrets.check_secret(option, env, getattr(args, attr), pattern)
            except secrets.SecretError as exc:
                raise UsageError(str(exc)) from None
    if is_cleartext_off_loopback(args.base_url) and not args.allow_insecure_http:
        raise UsageError(cleartext_refusal(args.base_url))
    for option, path in (("--junit-xml", args.junit_xml), ("--report-json", args.report_json)):
        if report_path_problem(option, path):
            raise UsageError(report_path_problem(option, path))


def _bounds(args) -> Bounds:
    return Bounds(timeout=args.timeout, max_time=args.max_time, max_body_bytes=args.max_body_bytes)


def run(args, results: Results, progress, bounds: Bounds | None = None) -> tuple[int, str | None]:
    from conformance.fuzz import run_fuzz
    from conformance.scenarios import Context, Options, run_scenarios

    bounds = bounds or _bounds(args)
    try:
        target = _build_target(args)
    except UsageError as exc:
        return EXIT_CANNOT_RUN, str(exc)
    if is_cleartext_off_loopback(target.base_url):  # allowed by --allow-insecure-http, but not silently
        progress(f"layers-conformance: warning: keys go to {target.base_url} in cleartext (--allow-insecure-http)")
    curl_secrets = {k: env for k, env in ((args.api_key, "LAYERS_API_KEY"), (args.read_only_key, "LAYERS_READ_ONLY_KEY")) if k}
    try:
        extra_headers, verify = parse_headers(args.header), tls_verify(args)
    except UsageError as exc:
        return EXIT_CANNOT_RUN, str(exc)
    curl_secrets.update({v: header_env_name(n) for n, v in extra_headers.items() if v})
    for name, value in extra_headers.items():  # a gateway's key is a secret too: never in a report
        secrets.REDACT.add(value, f"-H {name}")
    if verify is False:
        progress("layers-conformance: WARNING: --insecure: the target's TLS certificate is not verified")
        results.notes.append("--insecure: the target's TLS certificate was not verified")
    waiter = (MockClockWaiter(target.control) if target.mock
              else RealWaiter(args.max_wait, max_total=args.max_total_wait, bounds=bounds))
    pipeline = Pipeline(results, strict=args.strict)
    for account in target.accounts + target.kill_accounts:
        pipeline.know(account.id, account.queued)
    if target.accounts and not any(a.queued for a in target.accounts):
        warning = ("no account in --accounts has queued posts: a server that cancels nothing cannot be told"
                   " apart; give at least one account with queuedPosts > 0")
        progress(f"layers-conformance: WARNING: {warning}")
        results.notes.append(warning)
    client = PoliteClient(target.base_url, results, waiter, max_requests=args.max_requests, secrets=curl_secrets,
                          timeout=args.timeout, progress=progress, strict=args.strict, extra_headers=extra_headers,
                          proxy=args.proxy, verify=verify, pipeline=pipeline, bounds=bounds)
    mode = "mock (provisioned through /_mock)" if target.mock else "external"
    progress(f"layers-conformance: target {target.base_url} [{mode}], {len(target.accounts)} account(s) to revoke,"
             f" strict={'on' if args.strict else 'off'}, max {args.max_requests} requests")
    try:
        probe = client.revoke(unknown_account_id(), token=target.api_key, label="probe: unknown account")
        if probe.status == 401:
            return EXIT_CANNOT_RUN, "the --api-key was rejected with 401: give a valid key"
        if not args.no_fuzz:
            run_fuzz(client, target.api_key, results, examples=args.examples, seed=args.seed, progress=progress,
                     strict=args.strict)
        run_scenarios(Context(client, target, results, Options(args.strict, args.burst, args.burst_limit,
                                                                 frozenset(filter(None, args.only.split(","))),
                                                                 args.concurrency)), progress)
        pipeline.finish()
    except TargetUnreachable as exc:
        return EXIT_CANNOT_RUN, f"target {'too slow' if isinstance(exc, TargetTooSlow) else 'unreachable'}: {exc}"
    except RunStopped as exc:
        return EXIT_CANNOT_RUN, f"run stopped before the end: {exc}"
    finally:
        if waiter.waited and not target.mock:
            results.notes.append(f"waited {waiter.waited:g}s in all for Retry-After ({waiter.waits} wait(s))")
        client.close()
        target.release()  # closes the control client; deletes the run's own sandbox (hosted mock)
    return results.judged_exit_code(), None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_everything())
        return EXIT_CONFORMANT
    try:
        resolve_env(args)
    except EnvError as exc:
        print(f"layers-conformance: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # Known secrets are redacted from everything this run writes, even if malformed (then refused).
    secrets.REDACT.clear()
    for attr, option, _env_name, _pattern in SECRET_OPTIONS:
        secrets.REDACT.add(getattr(args, attr), option)
    with secrets.redacted_std_streams():
        return _main(args)


def _main(args) -> int:
    import time

    from conformance.report import json_text, junit_xml, render_console, write

    progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = Results(target=args.base_url, strict=args.strict, fail_on_skip=args.fail_on_skip)
    started = time.perf_counter()
    bounds = _bounds(args)
    try:
        with bounds.whole_run():  # no network call outlives --max-time, control-plane calls included
            code, error = run(args, results, progress, bounds)
    except Exception as exc:  # noqa: BLE001 - a kit failure is "could not run", never "conformant"
        import traceback
        traceback.print_exc()
        code, error = EXIT_CANNOT_RUN, f"the kit failed: {exc.__class__.__name__}: {exc}"
    results.end(code, error, time.perf_counter() - started)
    print(render_console(results), flush=True)
    if code == EXIT_CANNOT_RUN and error:
        print(f"layers-conformance: {error}", file=sys.stderr)
    try:
        if args.junit_xml:
            write(args.junit_xml, junit_xml(results))
        if args.report_json:
            write(args.report_json, json_text(results))
    except OSError as exc:
        print(f"layers-conformance: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return code


if __name__ == "__main__":
    sys.exit(main())

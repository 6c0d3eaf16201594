"""`layers-conformance`: check an implementation of the revoke endpoint against the contract.

Exit 0: conformant. Exit 1: violations found. Exit 2: the run could not be made (bad arguments,
target unreachable, an accounts file that does not parse, the --api-key rejected, ...).
Every option also reads an environment variable (LAYERS_BASE_URL, LAYERS_API_KEY, ...), for CI.
"""
from __future__ import annotations

import argparse
import os
import sys

from conformance.client import PoliteClient, RequestBudgetExhausted, TargetUnreachable
from conformance.results import Results
from conformance.target import Target, UsageError, load_accounts, provision_mock, provision_sandbox, unknown_account_id
from conformance.waiting import MockClockWaiter, RealWaiter, WaitTooLong

EXIT_CONFORMANT, EXIT_VIOLATIONS, EXIT_CANNOT_RUN = 0, 1, 2
TRUE = {"1", "true", "yes", "on"}


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
    p.add_argument("--mock-control", action="store_true", default=_env("LAYERS_MOCK_CONTROL", "").lower() in TRUE,
                   help="the target is layers-mock: provision keys and accounts through its control plane [LAYERS_MOCK_CONTROL]")
    p.add_argument("--admin-token", default=_env("LAYERS_MOCK_ADMIN_TOKEN"), help="the mock's --admin-token, if any [LAYERS_MOCK_ADMIN_TOKEN]")
    p.add_argument("--operator-token", default=_env("LAYERS_MOCK_OPERATOR_TOKEN"),
                   help="a hosted mock's operator token: with --mock-control the run provisions inside a sandbox"
                        " of its own, deleted at the end (a sandbox's adminToken goes in --admin-token)"
                        " [LAYERS_MOCK_OPERATOR_TOKEN]")
    p.add_argument("--junit-xml", default=_env("LAYERS_JUNIT_XML"), help="write JUnit XML here [LAYERS_JUNIT_XML]")
    p.add_argument("--report-json", default=_env("LAYERS_REPORT_JSON"), help="write the JSON report here [LAYERS_REPORT_JSON]")
    p.add_argument("--strict", action="store_true", default=_env("LAYERS_STRICT", "").lower() in TRUE,
                   help="also check this project's decisions where the docs are silent (labeled strict) [LAYERS_STRICT]")
    p.add_argument("--burst", action="store_true", default=_env("LAYERS_BURST", "").lower() in TRUE,
                   help="burst until 429, then retry after Retry-After (spends the key's rate budget) [LAYERS_BURST]")
    p.add_argument("--burst-limit", type=int, default=int(_env("LAYERS_BURST_LIMIT", "200")),
                   help="most requests the burst may send [LAYERS_BURST_LIMIT, default 200]")
    p.add_argument("--max-requests", type=int, default=int(_env("LAYERS_MAX_REQUESTS", "500")),
                   help="bound on all requests of the run [LAYERS_MAX_REQUESTS, default 500]")
    p.add_argument("--max-wait", type=float, default=float(_env("LAYERS_MAX_WAIT", "120")),
                   help="longest Retry-After the kit will wait, in seconds [LAYERS_MAX_WAIT, default 120]")
    p.add_argument("--examples", type=int, default=int(_env("LAYERS_EXAMPLES", "25")),
                   help="generated requests per mode (positive, negative) [LAYERS_EXAMPLES, default 25]")
    p.add_argument("--seed", type=int, default=int(_env("LAYERS_SEED")) if _env("LAYERS_SEED") else None,
                   help="generation seed (default: deterministic generation) [LAYERS_SEED]")
    p.add_argument("--timeout", type=float, default=float(_env("LAYERS_TIMEOUT", "15")),
                   help="per-request timeout in seconds [LAYERS_TIMEOUT]")
    p.add_argument("--no-fuzz", action="store_true", help="skip the generated (schemathesis) phase")
    p.add_argument("--only", default=_env("LAYERS_ONLY", ""),
                   help="comma-separated scenario names to run (default: all) [LAYERS_ONLY]")
    return p


def _build_target(args) -> Target:
    if not args.base_url:
        raise UsageError("--base-url (or LAYERS_BASE_URL) is required")
    if not args.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url {args.base_url!r} is not an http(s) URL")
    from conformance.scenarios import SCENARIOS
    unknown = set(filter(None, args.only.split(","))) - {sc.name for sc in SCENARIOS}
    if unknown:
        raise UsageError(f"--only: no such scenario {', '.join(sorted(unknown))}")
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


def run(args, results: Results, progress) -> tuple[int, str | None]:
    from conformance.fuzz import run_fuzz
    from conformance.scenarios import Context, Options, run_scenarios

    try:
        target = _build_target(args)
    except UsageError as exc:
        return EXIT_CANNOT_RUN, str(exc)
    secrets = {k: env for k, env in ((args.api_key, "LAYERS_API_KEY"), (args.read_only_key, "LAYERS_READ_ONLY_KEY")) if k}
    waiter = MockClockWaiter(target.control) if target.mock else RealWaiter(args.max_wait)
    client = PoliteClient(target.base_url, results, waiter, max_requests=args.max_requests, secrets=secrets,
                          timeout=args.timeout, progress=progress, strict=args.strict)
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
                                                                 frozenset(filter(None, args.only.split(","))))), progress)
    except TargetUnreachable as exc:
        return EXIT_CANNOT_RUN, f"target unreachable: {exc}"
    except (RequestBudgetExhausted, WaitTooLong) as exc:
        return EXIT_CANNOT_RUN, f"run stopped before the end: {exc}"
    finally:
        client.close()
        target.release()
    return (EXIT_CONFORMANT if results.conformant else EXIT_VIOLATIONS), None


def main(argv: list[str] | None = None) -> int:
    from conformance.report import render_console, write_json, write_junit

    args = build_parser().parse_args(argv)
    progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = Results()
    try:
        code, error = run(args, results, progress)
    except Exception as exc:  # noqa: BLE001 - a kit failure is "could not run", never "conformant"
        import traceback
        traceback.print_exc()
        code, error = EXIT_CANNOT_RUN, f"the kit failed: {exc.__class__.__name__}: {exc}"
    print(render_console(results, exit_code=code, error=error), flush=True)
    if code == EXIT_CANNOT_RUN and error:
        print(f"layers-conformance: {error}", file=sys.stderr)
    if args.junit_xml:
        write_junit(results, args.junit_xml, error=error)
    if args.report_json:
        write_json(results, args.report_json, exit_code=code, base_url=args.base_url, strict=args.strict, error=error)
    return code


if __name__ == "__main__":
    sys.exit(main())

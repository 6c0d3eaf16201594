"""`layers-conformance`: check an implementation of the revoke endpoint against the contract.

Exit 0: conformant. Exit 1: violations found. Exit 2: the run could not be made (bad arguments,
target unreachable, an accounts file that does not parse, the --api-key rejected, ...).
Every option also reads an environment variable (LAYERS_BASE_URL, LAYERS_API_KEY, ...), for CI:
the settings, their options, variables, types and defaults are `conformance.settings.KitSettings`.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from conformance import secrets
from conformance.results import EXIT_CANNOT_RUN, EXIT_CONFORMANT, EXIT_VIOLATIONS, Results
from conformance.settings import (
    EnvError,
    KitSettings,
    add_options,
    cleartext_refusal,
    is_cleartext_off_loopback,
    report_path_problem,
    secret_settings,
)

# The rest of the kit (httpx, the client, the scenarios) is imported where it is used: a run
# starts the generated phase's worker process first (`conformance.generated`), so that it
# generates while this process loads them.
if TYPE_CHECKING:
    import ssl

    from conformance.generated import Worker
    from conformance.target import Target
    from conformance.transport import Bounds


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse already exits 2; say so in our words too
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT_RUN, f"layers-conformance: bad arguments: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="layers-conformance",
        description=__doc__.split("\n\n")[0],
        epilog="Exit codes: 0 conformant, 1 violations found, 2 the run could not be made.",
    )
    add_options(p)  # one per setting of KitSettings
    p.add_argument("--list", action="store_true", help="print the scenarios and the checks, then exit")
    return p


def parse_headers(values: Iterable[str]) -> dict[str, str]:
    import re

    from conformance.target import UsageError

    headers = {}
    for value in values:
        name, sep, rest = value.partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise UsageError(
                f"-H/--header {value.split(':', 1)[0][:40]!r}…: expected NAME:VALUE with a valid header name"
            )
        headers[name] = rest.strip()
    return headers


def header_env_name(name: str) -> str:
    import re

    return "LAYERS_HEADER_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def tls_verify(settings: KitSettings) -> bool | ssl.SSLContext:
    import ssl

    from conformance.target import UsageError

    if settings.insecure and settings.ca_bundle:
        raise UsageError("--insecure and --ca-bundle exclude each other: trust a CA bundle, or verify nothing")
    if settings.insecure:
        return False
    if settings.ca_bundle:
        if not os.path.isfile(settings.ca_bundle):
            raise UsageError(f"--ca-bundle {settings.ca_bundle}: no such file")
        try:
            return ssl.create_default_context(cafile=settings.ca_bundle)
        except (ssl.SSLError, ValueError) as exc:
            raise UsageError(f"--ca-bundle {settings.ca_bundle}: not a PEM bundle of certificates: {exc}") from exc
    return True


def list_everything(strict: bool = True) -> str:
    from conformance import schedule
    from conformance.generated import BUILTIN_CHECKS
    from conformance.pipeline import all_checks, is_strict
    from conformance.scenario_base import Options
    from conformance.scenarios import SCENARIOS
    from conformance.target import Target

    lines = [
        "Scenarios (started in this order, independent ones at the same time: --parallel;"
        " [alone]: run by itself at the end; --only NAME,... selects):"
    ]
    bare = Target("http://x", "k"), Options()  # what each needs beyond --api-key
    for sc in SCENARIOS:
        need = sc.needs(*bare)
        alone = "  [alone]" if schedule.is_exclusive(sc) else ""
        lines.append(f"  {sc.name}{'  [strict]' if sc.strict else ''}{alone}{'  (' + need + ')' if need else ''}")
    lines.append("Checks (run on every response they apply to, in every phase):")
    for check in all_checks(strict):
        lines.append(f"  {check.__name__}{'  [strict]' if is_strict(check) else ''}: {check.applies_to}")
    lines.append("Schemathesis checks (on generated requests):")
    lines += [f"  {name}" for name in BUILTIN_CHECKS]
    return "\n".join(lines)


def _build_target(settings: KitSettings, bounds: Bounds) -> Target:
    from conformance.target import (
        Target,
        UsageError,
        accounts_from_command,
        load_accounts,
        provision_mock,
        provision_sandbox,
    )

    if not settings.base_url:
        raise UsageError("--base-url (or LAYERS_BASE_URL) is required")
    if not settings.base_url.startswith(("http://", "https://")):
        raise UsageError(f"--base-url {settings.base_url!r} is not an http(s) URL")
    _refuse_unsafe(settings, settings.base_url)
    from conformance.scenarios import SCENARIOS

    unknown = set(settings.only_names) - {sc.name for sc in SCENARIOS}
    if unknown:
        raise UsageError(
            f"--only: no such scenario {', '.join(sorted(unknown))}; valid names: "
            f"{', '.join(sc.name for sc in SCENARIOS)}"
        )
    if settings.concurrency < 2:
        raise UsageError("--concurrency must be at least 2")
    if settings.accounts and settings.accounts_command:
        raise UsageError("--accounts and --accounts-command exclude each other: a file, or a command that prints one")
    if settings.mock_control:
        if settings.accounts or settings.accounts_command:
            raise UsageError("--accounts and --mock-control exclude each other: the mock run provisions its own")
        if settings.operator_token:
            return provision_sandbox(settings.base_url, settings.api_key, settings.operator_token, bounds)
        return provision_mock(settings.base_url, settings.api_key, settings.admin_token, bounds)
    if not settings.api_key:
        raise UsageError("--api-key (or LAYERS_API_KEY) is required without --mock-control")
    accounts, source = [], "--accounts"
    if settings.accounts:
        accounts, source = load_accounts(settings.accounts), f"--accounts {settings.accounts}"
    elif settings.accounts_command:
        accounts = accounts_from_command(settings.accounts_command, settings.accounts_command_timeout)
        source = "--accounts-command"
    return Target(
        settings.base_url.rstrip("/"),
        settings.api_key,
        settings.read_only_key,
        settings.foreign_account_id,
        accounts,
        accounts_source=source,
    )


def _refuse_unsafe(settings: KitSettings, base_url: str) -> None:
    """Before anything is sent: malformed secrets, keys in cleartext, reports that could not be written."""
    from conformance.target import UsageError

    for attr, option, env, pattern in secret_settings():
        if getattr(settings, attr):
            try:
                secrets.check_secret(option, env, getattr(settings, attr), pattern)
            except secrets.SecretError as exc:
                raise UsageError(str(exc)) from None
    if is_cleartext_off_loopback(base_url) and not settings.allow_insecure_http:
        raise UsageError(cleartext_refusal(base_url))
    for option, path in (("--junit-xml", settings.junit_xml), ("--report-json", settings.report_json)):
        if report_path_problem(option, path):
            raise UsageError(report_path_problem(option, path))


def _bounds(settings: KitSettings) -> Bounds:
    from conformance.transport import Bounds

    return Bounds(timeout=settings.timeout, max_time=settings.max_time, max_body_bytes=settings.max_body_bytes)


def _load() -> None:
    """Import what a run needs (httpx, the client, the scenarios), then freeze the heap. Called
    before the run's clock starts, so that --max-time bounds the run's requests, not the
    interpreter loading libraries."""
    from conformance import client, fuzz, scenarios, schedule, waiting  # noqa: F401

    _freeze_heap()


def _freeze_heap() -> None:
    """Exempt what is on the heap now from garbage collection, once per process.

    The heap is then mostly the modules just imported (schemathesis, hypothesis, httpx), which live
    as long as the process. Every full collection walks all of it: the automatic ones, and the one
    hypothesis makes when the generated phase starts (`register_random` runs `gc.collect()` and
    `gc.get_referrers()` for the new thread's PRNG): a tenth of a second of CPU each, on a run whose
    CPU is about two seconds. Frozen objects are never walked again. Once per process: in-process
    callers (the kit's tests) run `main` many times, and a second freeze would pin what the first
    run left behind."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


def start_generating(settings: KitSettings) -> Worker | None:
    """The generated phase's worker process, started before this process imports the rest of the
    kit, so that it loads schemathesis and hypothesis while this one loads httpx and the scenarios
    (None under --no-fuzz)."""
    if settings.no_fuzz:
        return None
    from conformance.generated import start_worker

    return start_worker()


def run(
    settings: KitSettings, results: Results, progress, bounds: Bounds | None = None, worker: Worker | None = None
) -> tuple[int, str | None]:
    """One run of the kit. `worker`: the generated phase's, already started (`start_generating`);
    started here when not given. This run ends it (or keeps it for the next run of this process)."""
    if worker is None:
        worker = start_generating(settings)
    try:
        return _run(settings, results, progress, bounds, worker)
    finally:
        if worker is not None:
            worker.finish()


def _run(
    settings: KitSettings, results: Results, progress, bounds: Bounds | None, worker: Worker | None
) -> tuple[int, str | None]:
    from conformance import schedule
    from conformance.client import (
        NotThisApi,
        PoliteClient,
        RateLimitedThroughout,
        TargetTooSlow,
        TargetUnreachable,
        budget_hint,
        not_this_api,
    )
    from conformance.fuzz import run_fuzz
    from conformance.generated import GeneratedPhaseFailed
    from conformance.ids import unknown_account_id
    from conformance.pacing import Pacer
    from conformance.pipeline import Pipeline
    from conformance.scenario_base import AccountsStale, Context, Options
    from conformance.scenarios import selected
    from conformance.target import UsageError
    from conformance.transport import RunStopped
    from conformance.waiting import MockClockWaiter, RealWaiter, WaitTooLong
    from contract import CONTRACT

    _freeze_heap()
    bounds = bounds or _bounds(settings)
    try:
        target = _build_target(settings, bounds)
    except UsageError as exc:
        return EXIT_CANNOT_RUN, str(exc)
    if is_cleartext_off_loopback(target.base_url):  # allowed by --allow-insecure-http, but not silently
        progress(f"layers-conformance: warning: keys go to {target.base_url} in cleartext (--allow-insecure-http)")
    curl_secrets = {
        k: env
        for k, env in ((settings.api_key, "LAYERS_API_KEY"), (settings.read_only_key, "LAYERS_READ_ONLY_KEY"))
        if k
    }
    try:
        extra_headers, verify = parse_headers(settings.headers), tls_verify(settings)
    except UsageError as exc:
        return EXIT_CANNOT_RUN, str(exc)
    curl_secrets.update({v: header_env_name(n) for n, v in extra_headers.items() if v})
    for name, value in extra_headers.items():  # a gateway's key is a secret too: never in a report
        secrets.REDACT.add(value, f"-H {name}")
    if verify is False:
        progress("layers-conformance: WARNING: --insecure: the target's TLS certificate is not verified")
        results.notes.append("--insecure: the target's TLS certificate was not verified")
    waiter = (
        MockClockWaiter(target.provisioned.control)
        if target.provisioned
        else RealWaiter(settings.max_wait, max_total=settings.max_total_wait, bounds=bounds, progress=progress)
    )
    pipeline = Pipeline(results, strict=settings.strict)
    if target.provisioned is not None:  # the mock's clock, which the kit may move, is the target's
        pipeline.truth.mock_clock = target.provisioned.control.clock
    for account in target.known_accounts:
        pipeline.know(account.id, account.queued)
    if target.accounts and not any(a.queued for a in target.accounts):
        warning = (
            "no account in --accounts has queued posts: a server that cancels nothing cannot be told"
            " apart; give at least one account with queuedPosts > 0"
        )
        progress(f"layers-conformance: WARNING: {warning}")
        results.notes.append(warning)
    client = PoliteClient(
        target.base_url,
        results,
        waiter,
        max_requests=settings.max_requests,
        secrets=curl_secrets,
        timeout=settings.timeout,
        progress=progress,
        strict=settings.strict,
        extra_headers=extra_headers,
        proxy=settings.proxy,
        verify=verify,
        pipeline=pipeline,
        bounds=bounds,
        parallel=settings.parallel,
        pacer=Pacer(
            CONTRACT.rate_limit_tiers[settings.key_tier]["perMinute"] if settings.key_tier else None,
            tier=settings.key_tier,
            bounds=bounds,
            progress=progress,
        ),
    )
    mode = "mock (provisioned through /_mock)" if target.mock else "external"
    progress(
        f"layers-conformance: target {target.base_url} [{mode}], {len(target.accounts)} account(s) to revoke,"
        f" strict={'on' if settings.strict else 'off'}, max {settings.max_requests} requests,"
        f" {settings.parallel} at once" + (f", {settings.key_tier} tier pacing" if settings.key_tier else "")
    )
    try:
        client.gate = not_this_api  # the first answer tells whether this is the API at all
        try:
            probe = client.revoke(unknown_account_id(), token=target.api_key, label="probe: unknown account")
        finally:
            client.gate = None
        if probe.status == 401:
            return stopped(results, "the --api-key was rejected with 401: give a valid key")
        fuzz = None
        if worker is not None:
            generating = worker  # (for mypy: not None inside the closure)
            generating.begin(
                base_url=client.base_url, examples=settings.examples, seed=settings.seed, strict=settings.strict
            )

            def fuzz() -> None:
                run_fuzz(client, target.api_key, results, generating, progress=progress, parallel=settings.parallel)

        ctx = Context(
            client,
            target,
            results,
            Options(
                settings.strict,
                settings.burst,
                settings.burst_limit,
                settings.only_names,
                settings.concurrency,
                settings.parallel,
                settings.key_tier,
            ),
        )
        # The generated phase runs with the independent scenarios (it names unknown accounts only).
        schedule.run_all(ctx, selected(ctx.options), progress, settings.parallel, alongside=fuzz)
        pipeline.finish()
    except TargetUnreachable as exc:
        return stopped(results, f"target {'too slow' if isinstance(exc, TargetTooSlow) else 'unreachable'}: {exc}")
    except (NotThisApi, AccountsStale, GeneratedPhaseFailed) as exc:  # said in full: they are the whole story
        return stopped(results, str(exc))
    except RunStopped as exc:
        hint = f" ({budget_hint(settings.key_tier)})" if isinstance(exc, WaitTooLong | RateLimitedThroughout) else ""
        return stopped(results, f"run stopped before the end: {exc}{hint}")
    finally:
        if waiter.waited and not target.mock:
            results.notes.append(f"waited {waiter.waited:g}s in all for Retry-After ({waiter.waits} wait(s))")
        client.close()
        target.release()  # closes the control client; deletes the run's own sandbox (hosted mock)
    return results.judged_exit_code(), None


def stopped(results: Results, reason: str) -> tuple[int, str]:
    """The exit code of a run that did not reach its end. A violation already observed stands
    (exit 1, the reason reported beside it): what comes after it (a 429 storm, a timeout, a crash)
    cannot make the run "could not be made", or a CI job that retries exit 2 would never see the bug.
    Only a run that found nothing before it stopped exits 2."""
    return (EXIT_VIOLATIONS if results.failed_names else EXIT_CANNOT_RUN), reason


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_everything())
        return EXIT_CONFORMANT
    try:
        settings = KitSettings.from_sources(args)
    except EnvError as exc:
        print(f"layers-conformance: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    # Known secrets are redacted from everything this run writes, even if malformed (then refused).
    secrets.REDACT.clear()
    for attr, option, _env_name, _pattern in secret_settings():
        secrets.REDACT.add(getattr(settings, attr), option)
    with secrets.redacted_std_streams():
        return _main(settings)


def _main(settings: KitSettings) -> int:
    import time

    worker = start_generating(settings)  # first: it generates while this process loads the kit
    from conformance.report import json_text, junit_xml, render_console, write

    progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = Results(
        target=settings.base_url,
        strict=settings.strict,
        fail_on_skip=settings.fail_on_skip,
        documented_only=settings.documented_only,
    )
    _load()
    started = time.perf_counter()
    bounds = _bounds(settings)
    try:
        code, error = run(settings, results, progress, bounds, worker)  # no network call outlives --max-time
    except Exception as exc:  # noqa: BLE001 - a kit failure is "could not run", never "conformant"
        import traceback

        traceback.print_exc()
        code, error = stopped(results, f"the kit failed: {exc.__class__.__name__}: {exc}")
    results.end(code, error, time.perf_counter() - started)
    print(render_console(results), flush=True)
    if error:
        print(f"layers-conformance: {error}", file=sys.stderr)
    try:
        if settings.junit_xml:
            write(settings.junit_xml, junit_xml(results))
        if settings.report_json:
            write(settings.report_json, json_text(results))
    except OSError as exc:
        print(f"layers-conformance: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return code


if __name__ == "__main__":
    sys.exit(main())

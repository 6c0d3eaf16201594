"""The generated phase: schemathesis builds positive and negative requests from the spec.

Requests go out through the kit's PoliteClient (bounded, Retry-After honoured, every response
judged by the spec-derived checks) and are then validated with schemathesis' own built-in
checks. Generated cases only ever name random ids (see `_only_unknown_accounts`), so this phase
revokes nothing.
"""

from __future__ import annotations

import copy
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as st_checks

from conformance.checks import open_success_schema
from conformance.client import PoliteClient, TargetUnreachable
from conformance.results import Results
from conformance.target import unknown_account_id
from conformance.transport import RunStopped
from contract import CONTRACT
from contract.spec import resolver_for

# schemathesis' built-in response checks. Checks that send requests of their own
# (ignored_auth, use_after_free, unsupported_method, ...) are left out: those requests would
# escape the request bound and Retry-After handling; the scenarios cover the same ground.
# positive_data_acceptance is left out too: for random ids 404 is the right answer, and the spec's
# example Idempotency-Key drawn for two ids rightly answers 409, which it would count as rejections.
BUILTIN_CHECKS = [
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
]


def _operation(strict: bool):
    raw = copy.deepcopy(CONTRACT.raw)
    if not strict:
        # Same relaxation as checks.success_body_shape: extra 200 fields are decision 13.
        success = _success_schema(raw)
        relaxed = open_success_schema(success)
        success.clear()
        success.update(relaxed)
    schema = schemathesis.openapi.from_dict(raw)
    return schema[CONTRACT.route][CONTRACT.method]


def _success_schema(raw: dict) -> dict:
    """The 200 body's schema object inside `raw` itself (the component its `$ref` names, found by
    `referencing`), so that changing it changes what schemathesis loads."""
    media = raw["paths"][CONTRACT.route][CONTRACT.method]["responses"][str(CONTRACT.success_status)]["content"]
    return resolver_for(raw).lookup(media["application/json"]["schema"]["$ref"]).contents


def _only_unknown_accounts(case) -> None:
    """Swap any well-formed account id for a fresh random one.

    Generation draws the spec's own examples, and the example id may name a real account (it
    does in the mock's default world): a positive case, or a negative one whose only invalid
    part is a header, would then revoke it. A random id keeps the case exactly as valid."""
    name = CONTRACT.path_parameter["name"]
    value = (case.path_parameters or {}).get(name)
    if isinstance(value, str) and CONTRACT.account_id_pattern.match(value):
        case.path_parameters[name] = unknown_account_id()


def run_fuzz(
    client: PoliteClient,
    api_key: str,
    results: Results,
    *,
    examples: int,
    seed: int | None,
    progress,
    strict: bool = False,
    parallel: int = 1,
) -> None:
    """Generate the cases (hypothesis, in this thread) and send them; with `parallel` > 1 each case
    is sent and validated on a pool of that many threads while generation goes on, so a slow target
    costs one answer's wait per `parallel` cases. Nothing in a case depends on an earlier answer
    (no assertion reaches hypothesis, so it never shrinks): the cases are the same either way."""
    operation = _operation(strict)
    counts: dict[str, int] = {}
    stopped: list[Exception] = []
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fuzz") if parallel > 1 else None
    pending: list[Future] = []

    def send_and_validate(case, kwargs: dict, label: str, mode: str) -> None:
        if stopped:
            return
        try:
            exchange = client.send(kwargs["method"], kwargs["url"], kwargs["headers"], label)
        except (RunStopped, TargetUnreachable) as exc:
            # Raised inside hypothesis it would be shrunk and retried; stop quietly instead.
            stopped.append(exc)
            return
        with client.pipeline.lock:
            counts[mode] = counts.get(mode, 0) + 1
        if exchange.body_problem is not None:  # too big or too deep: already a finding, not judgeable
            return
        for check in BUILTIN_CHECKS:
            try:
                case.validate_response(exchange.checked_response, checks=[check], headers=kwargs["headers"])
            except (AssertionError, BaseExceptionGroup, Exception) as exc:  # noqa: BLE001
                # schemathesis raises a FailureGroup (a BaseExceptionGroup) of its failures.
                message = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
                with client.pipeline.lock:
                    results.failed(check.__name__, "schemathesis", f"{label}: {' '.join(message[:4])}", exchange)
            else:
                with client.pipeline.lock:
                    results.passed(check.__name__, "schemathesis")

    # One function for both modes (hypothesis wraps it once per mode).
    def one_case(case):
        if stopped:
            return
        _only_unknown_accounts(case)
        kwargs = case.as_transport_kwargs(base_url=client.base_url, headers={"Authorization": f"Bearer {api_key}"})
        mode = case.meta.generation.mode.value if case.meta else "schemathesis"
        label = f"generated {mode} case"
        if pool is None:
            send_and_validate(case, kwargs, label, mode)
            return
        # Generation runs ahead of the answers by at most a few rounds of the pool.
        while sum(not f.done() for f in pending) >= 4 * parallel:
            wait(pending, return_when=FIRST_COMPLETED)
        pending.append(pool.submit(send_and_validate, case, kwargs, label, mode))

    try:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            test = settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=seed is None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )(given(operation.as_strategy(generation_mode=mode))(one_case))
            if seed is not None:
                from hypothesis import seed as hypothesis_seed

                test = hypothesis_seed(seed)(test)
            test()
            if stopped:
                break
    finally:
        if pool is not None:
            wait(pending)
            pool.shutdown()
    if stopped:
        raise stopped[0]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        progress(f"[fuzz] {mode.value}: {counts.get(mode.value, 0)} generated requests")

"""The kit's command line as CI engineers use it (schemathesis-like): the result line, --list,
--only, --fail-on-skip, -H, --proxy, --ca-bundle / --insecure, JUnit times, readable bodies, and
no global registration in schemathesis on import."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from servers import ROOT_DIR, serve_broken_impls

from conformance import cli

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


def test_importing_the_kit_registers_no_schemathesis_check():
    """A process that imports `conformance` must not judge every other API by the revoke schema;
    `conformance.hooks` is the opt-in."""
    code = (
        "from schemathesis.checks import CHECKS\n"
        "import conformance, conformance.cli, conformance.checks, conformance.pipeline, conformance.fuzz, "
        "conformance.scenarios\n"
        "from conformance.checks import RESPONSE_CHECKS\n"
        "mine = {c.__name__ for c in RESPONSE_CHECKS}\n"
        "print(sorted(mine & set(CHECKS.get_all_names())))\n"
        "import conformance.hooks\n"
        "print(sorted(mine - set(CHECKS.get_all_names())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT_DIR, check=True)
    before, after = out.stdout.splitlines()
    assert before == "[]", f"registered on import: {before}"
    assert after == "[]", f"the hooks module left out: {after}"


def test_list_prints_scenarios_and_checks(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "concurrent_revokes_one_succeeds",
        "foreign_404_indistinguishable",
        "boundary_ids_answer_400",
        "lenient_credentials_answer_401",
        "no_unexpected_server_error",
        "canceled_posts_equal_queued",
        "documented_headers_present",
        "response_schema_conformance",
    ):
        assert name in out
    assert "kill_switch_answers_503  [alone]  (needs --mock-control" in out
    assert "strict_order_of_checks  [strict]" in out


def test_only_with_an_unknown_name_lists_the_valid_ones(kit_mock, capsys):
    code = cli.main(["--base-url", kit_mock.base_url, "--api-key", "k", "--only", "revoke_succeds"])
    out = capsys.readouterr()
    assert code == 2
    assert "no such scenario revoke_succeds" in out.err and "revoke_succeeds, second_revoke_answers_404" in out.err


def test_result_line_counts_checked_and_skipped_and_fail_on_skip(kit, kit_mock, keys, default_world):
    foreign = next(a for a in default_world["accounts"] if a["organizationId"] != keys["write"]["organizationId"])
    args = [
        "--base-url",
        kit_mock.base_url,
        "--api-key",
        keys["write"]["secret"],
        "--read-only-key",
        keys["read-only"]["secret"],
        "--foreign-account-id",
        foreign["id"],
        "--examples",
        "2",
    ]
    code, report = kit(*args)
    assert code == 0, report["failedChecks"]
    skipped = set(report["skippedChecks"])
    assert {"revoke_succeeds", "concurrent_revokes_one_succeeds", "internal_error_changes_nothing"} <= skipped
    assert len(report["passedChecks"]) >= 20
    code, report = kit(*args, "--fail-on-skip")
    assert code == 1 and report["failedChecks"] == []


def test_result_line_as_printed(kit_mock, keys, capsys):
    code = cli.main(["--base-url", kit_mock.base_url, "--api-key", keys["write"]["secret"], "--no-fuzz"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    assert last.startswith("Result: CONFORMANT: ") and " checks passed, " in last
    assert (
        " skipped (needs " in last
        and "needs --mock-control: internal_error_changes_nothing, kill_switch_answers_503" in last
    )


def test_full_mock_run_skips_nothing_and_junit_has_times(kit_mock, keys, tmp_path):
    junit = tmp_path / "junit.xml"
    code = cli.main(
        [
            "--base-url",
            kit_mock.base_url,
            "--api-key",
            keys["write"]["secret"],
            "--mock-control",
            "--fail-on-skip",
            "--examples",
            "3",
            "--junit-xml",
            str(junit),
        ]
    )
    assert code == 0
    suite = ET.parse(junit).getroot()
    assert float(suite.get("time")) > 0
    times = {case.get("name"): float(case.get("time")) for case in suite.iter("testcase")}
    assert all(t >= 0 for t in times.values()) and times["concurrent_revokes_one_succeeds"] > 0


def test_bodies_are_printed_as_text(kit, broken_base, staging_args):
    code, report = kit(
        "--base-url",
        f"{broken_base}/bug/errors_not_in_envelope",
        "--no-fuzz",
        *staging_args(),
        "--only",
        "unknown_account_answers_404",
    )
    assert code == 1
    message = next(c for c in report["checks"] if c["name"] == "error_envelope_shape")["failures"][0]["message"]
    assert 'body: {"code": "NOT_FOUND"' in message and "b'" not in message


def test_accounts_without_queued_posts_warn(kit, kit_mock, staging_args, capsys):
    code, report = kit("--base-url", kit_mock.base_url, "--no-fuzz", *staging_args([0, 0, 0, 0, 0, 0]))
    assert code == 0, report["failedChecks"]
    assert any("no account in --accounts has queued posts" in n for n in report["notes"])
    assert "WARNING: no account in --accounts has queued posts" in capsys.readouterr().err


class _Recorder(BaseHTTPRequestHandler):
    """A forward proxy that remembers what went through it."""

    seen: ClassVar[list[tuple[str, dict]]] = []

    def _any(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"proxy-connection", "connection", "host"}}
        r = httpx.request(self.command, self.path, headers=headers, content=body)
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            if k.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    do_GET = do_DELETE = do_POST = _any

    def log_message(self, *args):
        pass


def test_proxy_and_headers_reach_every_request_and_header_values_are_masked(kit, broken_base, staging_args):
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, report = kit(
            "--base-url",
            f"{broken_base}/bug/wrong_code_string",
            "--no-fuzz",
            *staging_args(),
            "--proxy",
            f"http://127.0.0.1:{server.server_address[1]}",
            "-H",
            "X-Gateway-Key: gw-secret-4711",
            "--header",
            "X-Tenant:acme",
            "--only",
            "unknown_account_answers_404,lenient_credentials_answer_401",
        )
    finally:
        server.shutdown()
    assert code == 1 and "error_code_matches_status" in report["failedChecks"]
    assert len(_Recorder.seen) == report["requests"] > 5
    assert all(path.startswith(broken_base) for path, _ in _Recorder.seen), "absolute-form: it went via the proxy"
    assert all(h.get("x-gateway-key") == "gw-secret-4711" and h.get("x-tenant") == "acme" for _, h in _Recorder.seen)
    dumped = json.dumps(report)
    assert "gw-secret-4711" not in dumped and "${LAYERS_HEADER_X_GATEWAY_KEY}" in dumped


@pytest.mark.parametrize("bad", ["NoColon", "Bad Name: x"])
def test_a_malformed_header_option_exits_2(bad, kit_mock, capsys):
    assert cli.main(["--base-url", kit_mock.base_url, "--api-key", "k", "-H", bad]) == 2
    assert "expected NAME:VALUE" in capsys.readouterr().out


@pytest.fixture(scope="module")
def tls_target(kit_mock, tmp_path_factory):
    """The mock behind a TLS-terminating proxy whose certificate comes from a throwaway CA, as on a
    staging network with TLS interception."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    d = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    proc, base = serve_broken_impls(
        kit_mock.base_url, tls=(str(d / "cert.pem"), str(d / "key.pem")), verify=str(d / "ca.pem")
    )
    try:
        yield base, str(d / "ca.pem")
    finally:
        proc.terminate()
        proc.wait(10)


def test_tls_with_ca_bundle_insecure_and_neither(kit, tls_target, keys, capsys):
    base, ca = tls_target
    args = [
        "--base-url",
        f"{base}/bug/none",
        "--api-key",
        keys["write"]["secret"],
        "--no-fuzz",
        "--only",
        "unknown_account_answers_404",
    ]
    code, report = kit(*args)
    assert code == 2 and "CERTIFICATE_VERIFY_FAILED" in report["error"]
    code, report = kit(*args, "--ca-bundle", ca)
    assert code == 0, report
    code, report = kit(*args, "--insecure")
    assert code == 0 and any("--insecure" in n for n in report["notes"])
    assert "WARNING: --insecure" in capsys.readouterr().err
    code, report = kit(*args, "--insecure", "--ca-bundle", ca)
    assert code == 2 and "exclude each other" in report["error"]


def test_first_revoke_aims_at_queued_posts(kit, broken_base, staging_args):
    """The accounts file lists empty accounts first: the revoke still lands on the one with posts,
    so a server that cancels nothing is caught by the revoke scenario alone."""
    code, report = kit(
        "--base-url",
        f"{broken_base}/bug/never_cancels_posts",
        "--no-fuzz",
        *staging_args([0, 0, 0, 0, 3]),
        "--only",
        "revoke_succeeds",
    )
    assert code == 1 and report["failedChecks"] == ["canceled_posts_equal_queued"]
    failure = next(c for c in report["checks"] if c["name"] == "canceled_posts_equal_queued")["failures"][0]
    assert "canceledScheduledPosts is 0, the account had 3 queued posts" in failure["message"]


def test_a_404_shape_ignores_what_differs_per_request():
    """The leak comparison normalises the asked id and request ids, and ignores transport headers."""
    from conformance.exchange import Exchange
    from conformance.leaks import differences, shape

    def ex(account_id, message, headers):
        body = {"error": {"code": "NOT_FOUND", "message": message.format(id=account_id), "requestId": "req_X1"}}
        response = httpx.Response(404, json=body, headers=headers)
        return Exchange("DELETE", f"https://h/prefix/v1/social-accounts/{account_id}", {}, response)

    a = ex("sa_a", "No account {id} (req_ABC).", {"x-request-id": "req_1", "date": "Mon", "content-length": "9"})
    b = ex("sa_b", "No account {id} (req_DEF).", {"x-request-id": "req_2", "server": "edge"})
    assert differences(shape(a), shape(b)) == []
    c = ex("sa_c", "No account {id} (req_DEF).", {"x-request-id": "req_2", "www-authenticate": "Bearer"})
    assert differences(shape(a), shape(c)) == [
        "header names: ['content-type', 'x-request-id'] vs ['content-type', 'www-authenticate', 'x-request-id']"
    ]

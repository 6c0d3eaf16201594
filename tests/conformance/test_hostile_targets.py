"""The kit against hostile targets, and with secrets (issue 14): small loopback servers that hang,
dribble, redirect, storm with 429, send huge or nested bodies, or echo the caller's key back.

Each run is bounded by generous wall-time limits (the point is "seconds, not minutes or hours"),
never tight timing. Peak memory is the kit's own max RSS, read by a wrapper process whose only
child is the kit (getrusage(RUSAGE_CHILDREN)), compared with the same run against an honest
server: the 100 MB body may not cost more than a fraction of itself.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hostile_servers import MB, HostileServer, measured

from conformance import cli
from conformance.secrets import Redactor, SecretError, check_secret
from conformance.transport import DEPTH_CHECK, MAX_JSON_DEPTH, SIZE_CHECK, json_depth

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

ROOT = Path(__file__).resolve().parents[2]
KIT = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]
KEY = "lp_test_Zq8TopSecretKeyValue4711xYz"  # what a real key looks like
READ_ONLY = "lp_test_Rd3OtherSecretValue0815aBc"
ADMIN = "admin-Tk9SecretAdminToken2024qWe"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, wall: float, tmp: Path):
        self.code, self.wall, self.out, self.err = proc.returncode, wall, proc.stdout, proc.stderr
        self.junit_text = (tmp / "junit.xml").read_text() if (tmp / "junit.xml").exists() else ""
        self.json_text = (tmp / "report.json").read_text() if (tmp / "report.json").exists() else ""
        self.report = json.loads(self.json_text) if self.json_text else None
        peak = re.search(r"PEAK_RSS_KB=(\d+)", self.err)
        self.peak_mb = int(peak.group(1)) / 1024 if peak else None

    @property
    def everything(self) -> str:
        return "\n".join([self.out, self.err, self.junit_text, self.json_text])

    def __repr__(self):
        return f"exit {self.code} in {self.wall:.1f}s\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def kit(
    tmp_path: Path,
    base_url: str,
    *args: str,
    key: str | None = KEY,
    env: dict | None = None,
    measure: bool = False,
    timeout: float = 120,
) -> Run:
    """The kit as CI runs it, in a process of its own, with both reports asked for."""
    for name in ("junit.xml", "report.json"):
        (tmp_path / name).unlink(missing_ok=True)
    argv = [
        "--base-url",
        base_url,
        *(["--api-key", key] if key else []),
        *args,
        "--junit-xml",
        str(tmp_path / "junit.xml"),
        "--report-json",
        str(tmp_path / "report.json"),
    ]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERS_")}
    started = time.monotonic()
    proc = subprocess.run(
        measured(KIT + argv) if measure else KIT + argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**clean_env, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return Run(proc, time.monotonic() - started, tmp_path)


def outcome(run: Run, name: str) -> str | None:
    return next((c["outcome"] for c in run.report["checks"] if c["name"] == name), None)


# --- secrets --------------------------------------------------------------------------------

MALFORMED = {
    "trailing space": "{} ",
    "trailing newline": "{}\n",
    "trailing CRLF": "{}\r\n",
    "carriage return inside": "{}\rX-Injected: 1",
    "leading tab": "\t{}",
    "non-ASCII": "{}é",
}


@pytest.mark.parametrize("slip", list(MALFORMED))
@pytest.mark.parametrize(
    "option, env, secret",
    [
        ("--api-key", "LAYERS_API_KEY", KEY),
        ("--read-only-key", "LAYERS_READ_ONLY_KEY", READ_ONLY),
        ("--admin-token", "LAYERS_MOCK_ADMIN_TOKEN", ADMIN),
    ],
)
def test_a_malformed_secret_is_refused_before_anything_is_sent(
    option, env, secret, slip, tmp_path, capsys, monkeypatch
):
    value = MALFORMED[slip].format(secret)
    for name in [e for e in os.environ if e.startswith("LAYERS_")]:
        monkeypatch.delenv(name)
    via_env = slip in ("trailing newline", "non-ASCII")  # the same check holds for the variable
    with HostileServer("record") as server:
        args = [
            "--base-url",
            server.base_url,
            "--junit-xml",
            str(tmp_path / "j.xml"),
            "--report-json",
            str(tmp_path / "r.json"),
        ]
        if option == "--read-only-key":
            args += ["--api-key", "lp_test_fine_key_000000000000"]
        elif option == "--admin-token":
            args += ["--mock-control"]
        if via_env:
            monkeypatch.setenv(env, value)
        else:
            args += [option, value]
        code = cli.main(args)
        out = capsys.readouterr()
        assert server.connections == 0, "a malformed secret must stop the run before any connection"
    assert code == 2, out.out + out.err
    assert f"{option} (or {env}) is malformed" in out.err
    assert "Nothing was sent." in out.err and "characters)" in out.err  # the masked hint: prefix and length
    written = out.out + out.err + (tmp_path / "j.xml").read_text() + (tmp_path / "r.json").read_text()
    assert secret[4:] not in written and secret[6:18] not in written


def test_the_masked_hint_names_the_slip_and_shows_no_more_than_four_characters():
    with pytest.raises(SecretError) as err:
        check_secret("--api-key", "LAYERS_API_KEY", KEY + "\n")
    message = str(err.value)
    assert "a newline (\\n) at its end" in message and f"{KEY[:4]}… ({len(KEY) + 1} characters)" in message
    assert KEY[4:] not in message
    with pytest.raises(SecretError, match="a space at position 8"):
        check_secret("--api-key", None, "lp_test abcdefghijklmnop")
    with pytest.raises(SecretError, match="'=' at position 8 of 24, where only trailing"):
        check_secret("--api-key", None, "lp_test=abcdefghijklmnop")
    assert check_secret("--api-key", None, "abc+/-._~123==") == "abc+/-._~123=="


def test_redactor_catches_whole_escaped_and_cut_off_secrets_but_not_single_letters():
    redact = Redactor()
    redact.add(KEY, "--api-key")
    redact.add("k", "--read-only-key")
    text = f"got {KEY}; json {json.dumps(KEY)}; cut: ...{KEY[:14]}' and '{KEY[-13:]}; Bearer k; keep kiwi and k8s"
    out = redact(text)
    assert KEY not in out and KEY[:14] not in out and KEY[-13:] not in out
    assert "Bearer [redacted --read-only-key]" in out and "keep kiwi and k8s" in out


def test_no_output_holds_a_secret_even_when_the_target_echoes_it(tmp_path):
    """The target puts the keys in its error messages (whole and cut off) and in a header: every
    output of the run (stdout, stderr, JUnit XML, JSON) is grepped for them."""
    with HostileServer("echo") as server:
        run = kit(tmp_path, server.base_url, "--read-only-key", READ_ONLY, "--examples", "5")
        assert any(KEY in r["headers"].get("authorization", "") for r in server.requests), "the key was sent"
    assert run.code == 1, run  # the echoed messages make no envelope violation; the extra length does
    assert "[redacted --api-key]" in run.everything, "the echo reached the reports, so this test can fail"
    for secret in (KEY, READ_ONLY):
        for fragment in {secret, secret[:12], secret[-12:], secret[8:20]}:
            assert fragment not in run.everything, (fragment, run)


def test_an_admin_token_echoed_by_the_control_plane_is_redacted(tmp_path):
    with HostileServer("echo") as server:
        run = kit(tmp_path, server.base_url, "--mock-control", "--admin-token", ADMIN, key=None)
        assert any(r["headers"].get("x-mock-admin-token") == ADMIN for r in server.requests)
    assert run.code == 2, run
    assert "could not provision" in run.err
    assert ADMIN not in run.everything and ADMIN[6:18] not in run.everything, run


# --- bounded time ---------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["dribble-headers", "dribble-body"])
def test_a_dribbling_server_trips_the_timeout_of_the_whole_request(behaviour, tmp_path):
    """One byte every 0.5 s: no single read waits 2 s, yet the request must end at --timeout 2."""
    with HostileServer(behaviour, interval=0.5) as server:
        run = kit(tmp_path, server.base_url, "--timeout", "2")
    assert run.code == 2, run
    assert run.wall < 30, run  # before: killed at 90 s, no reports
    assert "target too slow" in run.err and "no complete response within --timeout 2s" in run.err
    assert run.report["complete"] is False and run.report["exitCode"] == 2
    assert list(ET.fromstring(run.junit_text).iter("error")), "the JUnit report says the run did not complete"


def test_a_server_that_never_answers_gives_exit_2_after_the_timeout(tmp_path):
    with HostileServer("hang", hold=60) as server:
        run = kit(tmp_path, server.base_url, "--timeout", "1")
    assert run.code == 2 and run.wall < 30, run
    assert run.report["requests"] == 1


def test_max_time_stops_the_run_and_writes_what_was_done(tmp_path):
    with HostileServer("slow", delay=0.2) as server:
        # Only what a server answering 404 to everything passes (a violation seen first would make
        # the run exit 1: the verdict is monotone), so that the bound, not a finding, ends it.
        # --parallel 2: at most two requests in flight when the bound ends the run.
        run = kit(
            tmp_path,
            server.base_url,
            *("--max-time", "2", "--timeout", "5", "--parallel", "2", "--only", "unknown_account_answers_404"),
        )
        answered = len(server.requests)
    assert run.code == 2, run
    assert run.wall < 30, run
    assert "--max-time 2s" in run.report["error"] and run.report["complete"] is False
    # Counted as they leave: those in flight when the bound struck (one per slot) may never have arrived.
    assert 1 <= run.report["requests"] <= answered + 2
    assert "RUN NOT COMPLETED" in run.out and "Result: ERROR" in run.out


# --- 429 storms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after, args, requests, says",
    [
        ("1", [], 4, "still answered 429"),  # 3 waits, then stop
        ("120", [], 1, "exceeds --max-wait 60s"),  # would have been ~6 h
        ("2", ["--max-total-wait", "3"], 2, "beyond --max-total-wait 3s"),  # the total is capped too
        ("9" * 5000, [], 1, "exceeds --max-wait"),  # int() refuses 5,000 digits
    ],
)
def test_a_429_storm_is_waited_out_within_caps_and_reported(retry_after, args, requests, says, tmp_path):
    with HostileServer("storm", retry_after=retry_after) as server:
        run = kit(tmp_path, server.base_url, *args)
    assert run.code == 2, run
    assert run.wall < 30, run  # before: 361 s with Retry-After 1
    assert run.report["requests"] == requests and says in run.report["error"], run
    assert "Traceback" not in run.err


# --- bounded memory and depth ---------------------------------------------------------------


@pytest.fixture(scope="module")
def honest_peak_mb(tmp_path_factory):
    """The kit's peak memory for the same run against a server of small, well-formed answers.

    Run twice, the second one counts: hypothesis' first run in a directory builds its unicode
    tables into ./.hypothesis (~200 MB more, once), which would hide a 100 MB body."""
    with HostileServer("record") as server:
        runs = [kit(tmp_path_factory.mktemp("honest"), server.base_url, measure=True) for _ in range(2)]
    assert all(r.code == 1 and r.peak_mb for r in runs), runs  # 404 to everything: violations, but a normal run
    return runs[-1].peak_mb


@pytest.mark.parametrize(
    "behaviour, opts",
    [
        ("huge", {"size": 100 * MB}),  # Content-Length: 104857600
        ("huge", {"size": 100 * MB, "chunked": True}),  # no length announced: the stream is cut at the cap
        ("gzip-bomb", {"size": 100 * MB}),  # 100 KB on the wire, 100 MB inflated
    ],
)
def test_a_100_mb_body_is_a_finding_and_memory_stays_bounded(behaviour, opts, honest_peak_mb, tmp_path):
    with HostileServer(behaviour, **opts) as server:
        run = kit(tmp_path, server.base_url, measure=True)
    assert run.code == 1, run
    assert outcome(run, SIZE_CHECK) == "failed", run
    assert "cap of 1,048,576" in run.out
    # Before: 2.6 GB. Generous: the whole body would be 100 MB more than the honest run.
    assert run.peak_mb - honest_peak_mb < 40, (run.peak_mb, honest_peak_mb)
    assert run.peak_mb < 400, run.peak_mb  # and absolutely, whatever the baseline
    assert run.wall < 60, run


@pytest.mark.parametrize("depth", [100_000, 1_000])
def test_deeply_nested_json_is_the_targets_violation_not_a_crash(depth, tmp_path):
    with HostileServer("nested", depth=depth) as server:
        run = kit(tmp_path, server.base_url)
    assert run.code == 1, run
    assert outcome(run, DEPTH_CHECK) == "failed"
    assert "Traceback" not in run.err and "RecursionError" not in run.everything, run


@pytest.mark.parametrize("depth, finding", [(MAX_JSON_DEPTH - 1, False), (MAX_JSON_DEPTH, True)])
def test_nesting_bound_at_and_just_past_it(depth, finding, tmp_path):
    """The server wraps `depth` levels in {"error": …}: depth + 1 in all."""
    with HostileServer("nested", depth=depth) as server:
        run = kit(tmp_path, server.base_url, "--no-fuzz")
    assert run.code == 1, run  # not the envelope either way
    assert outcome(run, DEPTH_CHECK) == ("failed" if finding else "passed"), run


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]]"}]}') == 3
    assert json_depth(b"[" * 5000 + b"]" * 5000) == 5000
    assert json_depth(b"not json") == 0


# --- redirects, cleartext -------------------------------------------------------------------


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(tmp_path):
    with HostileServer("record") as elsewhere, HostileServer("redirect", location=elsewhere.base_url) as server:
        run = kit(tmp_path, server.base_url, "--no-fuzz")
        assert elsewhere.connections == 0, "the key must not follow a redirect"
        assert server.requests
    assert run.code == 1, run


def test_plain_http_off_loopback_is_refused_before_sending(tmp_path):
    # TEST-NET-1 (RFC 5737): nothing answers there, and nothing is tried.
    run = kit(tmp_path, "http://192.0.2.1:4010", "--timeout", "30")
    assert run.code == 2 and run.wall < 20, run
    assert "--allow-insecure-http" in run.err and "Nothing was sent." in run.err


def _own_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith(("127.", "0.")) else addr


def test_allow_insecure_http_sends_with_a_warning(tmp_path):
    addr = _own_address()
    if addr is None:
        pytest.skip("no non-loopback address on this machine")
    with HostileServer("record", host=addr) as server:
        refused = kit(tmp_path, server.base_url, "--no-fuzz")
        assert server.connections == 0
        allowed = kit(tmp_path, server.base_url, "--no-fuzz", env={"LAYERS_ALLOW_INSECURE_HTTP": "1"})
        assert server.requests
    assert refused.code == 2 and "cleartext" in refused.err
    assert allowed.code == 1 and "warning: keys go to" in allowed.err, allowed


def test_loopback_http_needs_no_flag(tmp_path):
    with HostileServer("record") as server:
        run = kit(tmp_path, server.base_url.replace("127.0.0.1", "localhost"), "--no-fuzz")
    assert run.code == 1 and "cleartext" not in run.err, run


# --- bad settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [
        ("LAYERS_MAX_REQUESTS", "abc"),
        ("LAYERS_MAX_REQUESTS", "0"),
        ("LAYERS_BURST_LIMIT", "-1"),
        ("LAYERS_EXAMPLES", "1e3"),
        ("LAYERS_SEED", "x"),
        ("LAYERS_TIMEOUT", "nan"),
        ("LAYERS_TIMEOUT", "0"),
        ("LAYERS_MAX_WAIT", "inf"),
        ("LAYERS_MAX_TIME", "-5"),
        ("LAYERS_MAX_TOTAL_WAIT", "soon"),
        ("LAYERS_MAX_BODY_BYTES", "10"),
        ("LAYERS_STRICT", "maybe"),
        ("LAYERS_MOCK_CONTROL", "2"),
        ("LAYERS_BURST", "?"),
        ("LAYERS_ALLOW_INSECURE_HTTP", "perhaps"),
    ],
)
def test_a_bad_environment_value_exits_2_naming_the_variable(name, value, monkeypatch, capsys):
    monkeypatch.setenv(name, value)
    code = cli.main(["--base-url", "http://127.0.0.1:9", "--api-key", "k"])
    out = capsys.readouterr()
    assert code == 2
    assert f"environment variable {name}: " in out.err and "Traceback" not in out.err


def test_the_option_wins_over_a_bad_variable(monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_MAX_REQUESTS", "abc")
    with HostileServer("record") as server:
        # One scenario this server answers correctly: the bound, not a violation, ends the run (exit 2).
        code = cli.main(
            ["--base-url", server.base_url, "--api-key", "k", "--max-requests", "1", "--no-fuzz"]
            + ["--only", "unknown_account_answers_404"]
        )
    out = capsys.readouterr()
    assert code == 2 and "--max-requests 1" in out.out, out.out + out.err


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "nan"],
        ["--max-time", "0"],
        ["--max-body-bytes", "10"],
        ["--max-requests", "-3"],
        ["--max-total-wait", "inf"],
    ],
)
def test_a_bad_option_value_exits_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--base-url", "http://127.0.0.1:9", "--api-key", "k", *args])
    assert exc.value.code == 2
    assert f"argument {args[0]}" in capsys.readouterr().err


def test_an_unwritable_report_path_exits_2_before_the_run(tmp_path, capsys):
    with HostileServer("record") as server:
        code = cli.main(
            [
                "--base-url",
                server.base_url,
                "--api-key",
                "k",
                "--no-fuzz",
                "--report-json",
                str(tmp_path / "no" / "such" / "dir" / "r.json"),
            ]
        )
        assert server.connections == 0
    out = capsys.readouterr()
    assert code == 2 and "does not exist" in out.err and "Traceback" not in out.err

"""Every command of README.md and of the site's pages (docs/**/*.md), as written, runs and exits 0
against a started mock, so no line can go stale (issue 23). The exceptions are listed in
EXCLUDED, each with its reason; an exclusion that no page shows any more fails the test too.

A command is a line of a fenced block marked `bash` (continuation lines belong to their command);
each block runs as one `bash -euo pipefail` script, in the order of the page, in a copy of the
checkout (so nothing here writes into the working tree), with only these substitutions:

- `http://127.0.0.1:4010` (the mock's documented default) becomes the started mock's URL; the
  operator guide's blocks go to a second mock started in hosted mode;
- `/tmp/layers-mock.json` (the ready file the pages show) becomes the started mock's ready file;
- `LAYERS_MOCK_URL` (read by the Node example) names the started mock, in the Node blocks only,
  and `LAYERS_MOCK_OPERATOR_TOKEN` is set for the operator guide's blocks only.

Every `curl` must answer the status written after it (`# 429`, as in the status steps), or a
status below 400 when none is written: a wrapper prints each call's status on stderr. Before each
block the local mock is reset to its default world, as every page assumes. Blocks
of another language (python, json) or none (output shown as text) are not commands; a block
without a language that starts like a command fails the test (mark it `bash` or `text`).
The generated reference pages (docs/reference/, docs/sandbox/) are left out: their examples are
the published page's own (api.layers.com, `lp_...`), and the sandbox steps are run by
test_readme_commands.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mock_control import ControlClient
from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e  # starts mocks and runs the commands as processes

REPO = Path(__file__).resolve().parents[2]
DOCUMENTED_BASE = "http://127.0.0.1:4010"
DOCUMENTED_READY_FILE = "/tmp/layers-mock.json"
OPERATOR_TOKEN = "docs-test-operator-token-0123456789"
HOSTED_PAGES = {"docs/guides/operator.md"}
GENERATED = ("docs/reference/", "docs/sandbox/")
COMMAND_LANGUAGES = {"bash", "sh", "shell", "console"}
# Each curl's status on stderr, in call order (curl 7.63+: %{stderr}).
CURL_WRAPPER = "curl() { command curl --write-out '%{stderr}[doc-test status %{http_code}]\\n' \"$@\"; }\n"
STATUS = re.compile(r"\[doc-test status (\d{3})\]")
EXPECTED = re.compile(r"\s#\s*(\d{3})\s*$")  # a trailing `   # 429`
LOOKS_LIKE_A_COMMAND = re.compile(r"^(curl|layers-|\.venv/|python|pip|bash|docker|podman|node|export|cd) ")

# command (exactly as a page shows it, comment included) -> why it is not run here.
SETUP = "installs system and Python packages (CI runs it first: .ci/run, scripts/setup.sh)"
SERVER = "starts a mock that serves until stopped; this test starts the same mock itself"
DOCKER = "needs Docker; tests/container/ builds and runs the same Dockerfile with podman"
STAGING = "needs Layers' staging and real keys (the same command against the mock is run)"
POSTGRES = "needs a PostgreSQL server at db-host; tests/mock/ run it against a throwaway one"
EXCLUDED: dict[str, str] = {
    "bash scripts/setup.sh && .venv/bin/layers-mock": SETUP + "; then " + SERVER,
    "bash scripts/test.sh": "the whole test suite: the command that runs this test",
    "bash scripts/check.sh          # --fix applies ruff's safe fixes and formats first": (
        "the code checks (ruff, mypy, import-linter): CI runs them before the tests"
    ),
    'pip install -c ../layers-contract-kit/constraints.txt "../layers-contract-kit[pytest]"': (
        "installs into a partner's environment from a sibling clone; tests/install/ checks that install"
    ),
    "docker build -t layers-mock .": DOCKER,
    "docker run -p 4010:4010 layers-mock": DOCKER,
    "docker run -p 4010:4010 -e LAYERS_MOCK_ADMIN_TOKEN=change-me layers-mock": DOCKER,
    "export LAYERS_BASE_URL=https://staging.api.layers.com LAYERS_API_KEY=lp_... \\": STAGING,
    "layers-conformance": STAGING,
    "layers-conformance            # add --burst to spend the key's budget on the 429 scenario": STAGING,
    'layers-mock --host 0.0.0.0 --operator-token "$OPERATOR_TOKEN" --database '
    "postgresql://user@db-host:5432/layers_mock": POSTGRES,
    'layers-mock --host 0.0.0.0 --operator-token "$LAYERS_MOCK_OPERATOR_TOKEN"': SERVER,
    "layers-mock --database postgresql://user@db-host:5432/layers_mock --port 4010   # on as many hosts as you like": (
        POSTGRES
    ),
    "LAYERS_MOCK_DATABASE=postgresql://user@db-host:5432/layers_mock layers-mock --port 4011": POSTGRES,
    "layers-mock --port 0 --quiet --ready-file /tmp/layers-mock.json &": SERVER,
    ".venv/bin/layers-mock --port 0 --quiet --ready-file /tmp/layers-mock.json &": SERVER,
    ".venv/bin/layers-mock &                         # or: docker run -p 4010:4010 -e LAYERS_MOCK_ADMIN_TOKEN=… "
    "layers-mock": SERVER,
    "python -m docs_gen.screenshots       # Swagger UI, the control plane's UI and /docs, served by a real mock": (
        "Chromium running Swagger UI's JavaScript against a mock of its own (~40 s, flaky under load); "
        "tests/docs/test_html_in_browser.py drives the same pages, and the screenshot command above runs"
    ),
    ".venv/bin/mkdocs serve               # http://127.0.0.1:8000, rebuilt on every change": (
        "serves until stopped; the build it serves is run (mkdocs build --strict)"
    ),
    ".venv/bin/python bench/run.py          # 5-10 minutes; installs wrk (apt) and Prism (npm, into "
    "bench/.tools/)": "a long benchmark (5-10 minutes); speed numbers come from bench/ runs only",
    "bash bench/profile.sh 404              # py-spy: where one worker's time goes under load": (
        "a profile under load (installs py-spy); a benchmark, not a check"
    ),
    ".venv/bin/python -m pytest -n 2 tests/reliability            # the CI part": (
        "part of the test suite (scripts/test.sh runs it)"
    ),
    ".venv/bin/python bench/soak_reliability.py                    # the soak: all parts": "a long soak",
    ".venv/bin/python bench/soak_reliability.py --only crash --crash-iterations 20": "a long soak",
}


@dataclass
class Block:
    page: str
    line: int
    commands: list[str]  # each command with its continuation lines joined by "\n"
    excluded: list[str]

    def script(self) -> str:
        return CURL_WRAPPER + "\n".join(self.commands) + "\n"

    def expected_statuses(self) -> list[int | None]:
        """For each curl command, the status written after it (None: any below 400)."""
        out: list[int | None] = []
        for command in self.commands:
            if command.lstrip().startswith("curl "):
                last = command.rsplit("\n", 1)[-1]
                m = EXPECTED.search(last)
                out.append(int(m.group(1)) if m else None)
        return out


def pages() -> list[Path]:
    found = [REPO / "README.md"] + sorted((REPO / "docs").rglob("*.md"))
    return [p for p in found if not str(p.relative_to(REPO)).startswith(GENERATED)]


def blocks_of(path: Path) -> list[Block]:
    name = str(path.relative_to(REPO))
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        indent, lang = fence.group(1), fence.group(2).lower()
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in COMMAND_LANGUAGES:
            if not lang:
                starts = [ln for ln in body if LOOKS_LIKE_A_COMMAND.match(ln)]
                assert not starts, f"{name}:{start}: a block without a language holds commands: {starts[0]!r}"
            continue
        commands: list[str] = []
        for ln in body:
            if commands and commands[-1].endswith("\\"):
                commands[-1] += "\n" + ln
            elif ln.strip() and not ln.lstrip().startswith("#"):
                commands.append(ln)
        excluded = [c for c in commands if c.split("\n", 1)[0] in EXCLUDED]
        kept = [c for c in commands if c not in excluded]
        out.append(Block(name, start, kept, excluded))
    return out


def all_blocks() -> list[Block]:
    return [b for p in pages() for b in blocks_of(p)]


def test_every_exclusion_is_still_shown_somewhere():
    shown = {c.split("\n", 1)[0] for b in all_blocks() for c in b.excluded}
    assert set(EXCLUDED) <= shown, f"exclusions no page shows any more: {sorted(set(EXCLUDED) - shown)}"


def test_the_commands_are_found():
    blocks = all_blocks()
    assert sum(len(b.commands) for b in blocks) >= 50
    assert {b.page for b in blocks if b.commands} >= {
        "README.md",
        "docs/guides/any-language.md",
        "docs/guides/container.md",
        "docs/guides/operator.md",
        "docs/guides/pytest.md",
        "docs/guides/publishing.md",
        "docs/guides/staging-ci.md",
        "docs/using-the-mock.md",
    }


def _checkout_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored), and its venv linked in as `.venv`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    (dest / ".venv").symlink_to(Path(sys.prefix))
    return dest


def _block_env(block: Block, script: str, target: MockProcess) -> dict[str, str]:
    """Variables for one block only: the pytest plugin would take LAYERS_MOCK_URL for a hosted
    mock, and a mock started by a command would go hosted with LAYERS_MOCK_OPERATOR_TOKEN."""
    extra = {}
    if block.page in HOSTED_PAGES:
        extra["LAYERS_MOCK_OPERATOR_TOKEN"] = OPERATOR_TOKEN
    if "examples/node" in script:  # the Node example's default is the documented port
        extra["LAYERS_MOCK_URL"] = target.base_url
    return extra


def test_every_command_of_readme_and_the_guides_runs(tmp_path):
    for tool in ("curl", "jq", "node"):
        if shutil.which(tool) is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{tool} is not installed: the pages' commands need it")
            pytest.skip(f"{tool} is not installed")
    work = _checkout_copy(tmp_path / "checkout")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAYERS_", "PYTEST_", "COV_CORE")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    # The copy's packages, not the working tree's (the editable install points there): a command
    # that writes generated files writes them into the copy.
    env["PYTHONPATH"] = str(work)
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ran, counted, curls = [], 0, 0
    hosted = MockProcess(port=0, env={"LAYERS_MOCK_OPERATOR_TOKEN": OPERATOR_TOKEN})
    with MockProcess(port=0) as local, hosted:
        control = ControlClient(local.base_url)
        for block in all_blocks():
            if not block.commands:
                continue
            target = hosted if block.page in HOSTED_PAGES else local
            script = block.script().replace(DOCUMENTED_BASE, target.base_url)
            script = script.replace(DOCUMENTED_READY_FILE, target.ready_file)
            control.reset()
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=work,
                env=env | _block_env(block, script, target),
                capture_output=True,
                text=True,
                timeout=600,
            )
            where = f"{block.page}:{block.line}"
            assert proc.returncode == 0, (
                f"{where}: exit {proc.returncode}\n--- script\n{script}--- stdout\n{proc.stdout[-3000:]}"
                f"\n--- stderr\n{proc.stderr[-3000:]}"
            )
            statuses = [int(s) for s in STATUS.findall(proc.stderr)]
            expected = block.expected_statuses()
            assert len(statuses) == len(expected), f"{where}: {len(statuses)} curl answers for {len(expected)} curls"
            for status, want in zip(statuses, expected, strict=True):
                ok = status == want if want is not None else 200 <= status < 400
                assert ok, f"{where}: a curl answered {status}, the page says {want or 'success'}\n{script}"
            curls += len(expected)
            counted += len(block.commands)
            ran.append(f"{where}: {len(block.commands)} command(s)")
    excluded = sorted({c.split(chr(10))[0] for b in all_blocks() for c in b.excluded})
    print(f"\nran {counted} commands ({curls} curl answers checked) in {len(ran)} blocks; excluded {len(excluded)}:")
    print("\n".join(ran))
    print("\n".join(f"  excluded: {c}  ({EXCLUDED[c]})" for c in excluded))

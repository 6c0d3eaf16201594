"""Every command of the any-language guide's "Reaching every documented status" (README's until
issue 23), run in order, as written, by bash against a fresh mock (only the port changed),
answers the status written after it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from contract import CONTRACT
from docs_gen.readme import START, STEPS_PAGE, current_block, render_block
from docs_gen.try_it import mock_base_url
from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

COMMAND = re.compile(r"^(curl .*?)\s+# (\d{3})$")


def readme_commands() -> list[tuple[str, int]]:
    block = current_block(STEPS_PAGE.read_text(encoding="utf-8"))
    fences = re.findall(r"```bash\n(.*?)```", block, re.S)
    commands = []
    for fence in fences:
        for line in fence.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            m = COMMAND.match(line)
            assert m, f"a status-steps command without its expected status: {line!r}"
            commands.append((m.group(1), int(m.group(2))))
    return commands


def test_readme_block_is_generated_from_try_it():
    assert current_block(STEPS_PAGE.read_text(encoding="utf-8")) == render_block(CONTRACT), (
        "the guide's status steps are stale: run `layers-docs --committed`"
    )


def test_every_documented_status_is_reached_by_a_readme_command():
    assert {status for _, status in readme_commands()} >= set(CONTRACT.documented_statuses)


def test_every_readme_command_answers_its_status_in_order():
    if shutil.which("curl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("curl is not installed (apt-get install curl): the guide's commands need it")
        pytest.skip("curl is not installed")
    commands = readme_commands()
    documented_base = mock_base_url(CONTRACT)
    ran = []
    with MockProcess() as mock:
        for i, (command, expected) in enumerate(commands, 1):
            assert documented_base in command
            live = command.replace(documented_base, mock.base_url)
            proc = subprocess.run(
                ["bash", "-c", live + " --silent --show-error"], capture_output=True, text=True, timeout=30
            )
            assert proc.returncode == 0, f"{command}\n{proc.stderr}"
            status = int(re.match(r"HTTP/[\d.]+ (\d{3})", proc.stdout).group(1))
            ran.append(f"{i:2}. {status} (expected {expected})  {command}")
            assert status == expected, "\n".join(ran) + "\n" + proc.stdout[-800:]
    print("\nstatus-steps commands run, in order:\n" + "\n".join(ran))


def test_layers_docs_check_catches_a_hand_edited_steps_block(tmp_path, capsys):
    from docs_gen.cli import main

    head, block = STEPS_PAGE.read_text(encoding="utf-8").split(START, 1)
    edited = head + START + block.replace("   # 429\n", "   # 200\n", 1)  # inside the generated block
    page = tmp_path / "any-language.md"
    page.write_text(edited, encoding="utf-8")
    assert main(["--check", "--readme", str(page), "--out", str(tmp_path / "docs")]) == 1
    assert "status steps are stale" in capsys.readouterr().err
    assert main(["--readme", str(page), "--out", str(tmp_path / "docs")]) == 0
    assert page.read_text(encoding="utf-8") == STEPS_PAGE.read_text(encoding="utf-8")

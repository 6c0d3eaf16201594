"""`layers-mock report`: a running mock's client report, printed, and as JUnit XML for any CI.

A client of the mock like any other (mock_control's ControlClient over HTTP): it works against a
local mock, a container, or a hosted sandbox (with the sandbox's adminToken).
"""

from __future__ import annotations

import json
import sys

from mock_control import ControlClient
from mock_control.client import ControlPlaneError
from mock_control.report import counted, junit_xml
from mock_server.settings import ReportSettings, SettingsError, report_from_command_line


def main(argv: list[str]) -> int:
    try:
        settings = report_from_command_line(argv)
    except SettingsError as exc:
        print(f"layers-mock report: {exc}", file=sys.stderr)
        return 2
    return run(settings)


def run(settings: ReportSettings) -> int:
    try:
        with ControlClient(settings.url, admin_token=settings.admin_token) as control:
            report = control.client_report()
            text = None if settings.json else control.client_report_text()
    except (ControlPlaneError, OSError, ValueError) as exc:
        print(f"layers-mock report: cannot read the client report of {settings.url}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - httpx's connection errors: say where, not a traceback
        print(f"layers-mock report: cannot reach {settings.url}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if text is None else text, end="" if text else "\n")
    fail_on = "advice" if settings.fail_on == "never" else settings.fail_on
    if settings.junit:
        with open(settings.junit, "w", encoding="utf-8") as fh:
            fh.write(junit_xml(report, fail_on=fail_on))
    if settings.fail_on == "never":
        return 0
    return 1 if counted(report, fail_on) else 0

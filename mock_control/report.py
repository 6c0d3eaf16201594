"""The client report (GET /_mock/client-report) as a client shows it: the failure lines a test
assertion prints, and JUnit XML for any language's CI. One place for both, so the pytest plugin
(`layers_mock.assert_client_behaved()`) and `layers-mock report --junit` say the same thing.

Works on the report's JSON only (the mock grades; this formats), so it imports nothing of the mock.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

SEVERITIES = ("violation", "advice")  # most serious first


def counted(report: dict, severity: str = "advice") -> list[dict]:
    """The rules that flagged something, at `severity` or more serious ("advice": all of them)."""
    wanted = SEVERITIES[: SEVERITIES.index(severity) + 1]
    return [r for r in report["rules"] if r["flags"] and r["severity"] in wanted]


def source_line(rule: dict) -> str:
    source = rule["source"]
    if source.get("quote"):
        return f'the published page: "{source["quote"]}"'
    return f"inferred from the Layers docs ({source['where']})"


def describe_flag(rule: dict, flag: dict) -> str:
    """One flagged request: the rule, the request, why, the fix (what an assertion message shows)."""
    code = f" {flag['code']}" if flag.get("code") else ""
    return "\n".join(
        [
            f"[{rule['severity']}] {rule['id']}: {flag['why']}",
            f"    request: {flag['requestId']} {flag['method']} {flag['socialAccountId']} -> {flag['status']}{code}"
            f" at {flag['at']} (key {flag['keyId']})",
            f"    {flag['curl']}",
            f"    fix: {rule['fix']}",
            f"    source: {source_line(rule)}",
        ]
    )


def failure_message(report: dict, severity: str = "advice", *, per_rule: int = 3) -> str | None:
    """Why a client failed the report at `severity`, or None if it did not."""
    rules = counted(report, severity)
    if not rules:
        return None
    total = sum(r["flags"] for r in rules)
    lines = [f"the client broke {len(rules)} rule(s) of the Layers API, {total} flag(s) (layers-mock client report):"]
    for rule in rules:
        for flag in rule["flagged"][:per_rule]:
            lines.append(describe_flag(rule, flag))
        if rule["flags"] > per_rule:
            lines.append(f"    ... and {rule['flags'] - per_rule} more flag(s) of {rule['id']}")
    return "\n".join(lines)


def junit_xml(report: dict, *, fail_on: str = "advice", suite: str = "layers-mock client report") -> str:
    """One test case per rule; a rule that flagged anything at `fail_on` or above is a <failure>
    (its type the severity), below it a <system-out> note."""
    failing = {r["id"] for r in counted(report, fail_on)}
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(report["rules"])),
        failures=str(len(failing)),
        errors="0",
        skipped="0",
    )
    for rule in report["rules"]:
        case = ET.SubElement(root, "testcase", classname=f"layers_mock.{rule['severity']}", name=rule["id"])
        details = "\n\n".join(describe_flag(rule, f) for f in rule["flagged"]) or "(no flag)"
        summary = f"{rule['flags']} flagged, {rule['passes']} passed: {rule['title']}"
        if rule["id"] in failing:
            failure = ET.SubElement(case, "failure", type=rule["severity"], message=summary)
            failure.text = details
        else:
            ET.SubElement(case, "system-out").text = summary + ("\n" + details if rule["flags"] else "")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

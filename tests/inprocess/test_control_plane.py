"""The control plane as partners call it by hand (curl), not only through ControlClient."""

from __future__ import annotations

JSON = {"Content-Type": "application/json"}


def test_bodyless_calls_use_the_documented_defaults(api, control):
    # Issue 14: a call that changes state must say it sends JSON (a web page cannot, without a
    # CORS preflight); the body itself may be empty or {}.
    reset = api.post("/_mock/reset", headers=JSON)
    assert reset.status_code == 200 and reset.json()["counts"]["accounts"] > 0
    fault = api.post("/_mock/faults", content=b"{}", headers=JSON)
    assert fault.status_code == 201 and fault.json()["step"] == "cancel_posts"


def test_bodyless_calls_without_a_content_type_are_refused(api, control):
    before = control.state()["counts"]
    for path in ("/_mock/reset", "/_mock/faults"):
        r = api.post(path)
        assert r.status_code == 415 and "application/json" in r.json()["error"]["message"], r.text
    assert control.state()["counts"] == before and control.state()["faults"] == []


def test_control_plane_errors_use_the_envelope(api, control):
    missing = api.get("/_mock/accounts/sa_00000000-0000-4000-8000-00000000dead")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    bad = api.put("/_mock/kill-switches", json={"scope": "key", "enabled": True})
    assert bad.status_code == 400 and "target" in bad.json()["error"]["message"]

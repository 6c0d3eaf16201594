"""What `layers-mock` prints at start-up: where everything is, every id a partner needs (keys with
label, id and secret; organizations; accounts), and a few ready commands, so that nothing has to
be looked up in the source or in `/_mock/state`."""
from __future__ import annotations

from contract import CONTRACT
from contract.steps import Step, control_step, load_control_spec
from contract.world import default_write_key

MAX_ACCOUNTS = 8
ADMIN_HEADER_HINT = '-H "X-Mock-Admin-Token: <your admin token>"'


def connect_host(host: str) -> str:
    """Where a client on this machine connects: a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def render(*, host: str, port: int, fixture: dict, loaded: bool, state: str | None,
           admin_token: bool = False) -> str:
    base = f"http://{connect_host(host)}:{port}"
    orgs = {o["id"]: o.get("name", "") for o in fixture.get("organizations", [])}
    out = [f"Layers mock on {base}" + (f"   (listening on {host})" if connect_host(host) != host else ""),
           f"  reference page   {base}/docs",
           f"  Swagger UI       {base}/ui/",
           f"  control plane    {base}/_mock   (UI: {base}/_mock/ui/)"
           + ("   needs X-Mock-Admin-Token" if admin_token else "   loopback only"),
           f"state: {state or 'temporary (fresh world each start)'}" + ("" if loaded else " (kept from before)")]
    if orgs:
        out.append("organizations:")
        out += [f"  {oid}  {name}" for oid, name in orgs.items()]
    keys = fixture.get("keys", [])
    if keys:
        out.append("keys (the control plane takes a key's label or its id):")
        for k in keys:
            label = k.get("label") or "(no label)"
            out.append(f"  {label:<24} {k.get('id', '(id made at load)')}  {k['secret']}")
            out.append(f"  {'':<24} {orgs.get(k['organizationId'], k['organizationId'])}, "
                       f"{k.get('tier', 'standard')} tier, scopes {','.join(k.get('scopes', [CONTRACT.required_scope]))}")
    accounts = fixture.get("accounts", [])
    if accounts:
        out.append("accounts:")
        for a in accounts[:MAX_ACCOUNTS]:
            out.append(f"  {a.get('id', '(id made at load)')}  {a.get('status', 'connected'):<15} {a.get('note') or ''}".rstrip())
        if len(accounts) > MAX_ACCOUNTS:
            out.append(f"  … and {len(accounts) - MAX_ACCOUNTS} more (GET {base}/_mock/state)")
    if fixture.get("testAccounts"):
        out.append("test accounts (always answer this status, never change state): "
                   + ", ".join(f"{t['status']}=…{t['id'][-3:]}" for t in fixture["testAccounts"]))

    write = default_write_key(fixture)
    if write is not None:
        spec = load_control_spec()
        admin = f" {ADMIN_HEADER_HINT}" if admin_token else ""
        label = write.get("label") or write.get("id")
        example = next((a for a in accounts if a.get("id") == CONTRACT.example_account_id), None)
        target = CONTRACT.example_account_id if example else None
        out.append("next steps:")
        if target:
            revoke = Step("", CONTRACT.method.upper(), CONTRACT.path_for(target), CONTRACT.success_status,
                          {"Authorization": f"Bearer {write['secret']}"})
            out += ["  revoke the example account (run it twice: 200, then 404):", "    " + revoke.curl(base)]
        if label:
            out += [f"  exhaust the {label!r} key's budget (the next revoke answers 429):",
                    "    " + control_step(spec, "set_budget", {"remaining": 0}, keyId=label).curl(base) + admin]
        out += [f"  create an account with 3 queued posts (in {orgs.get(write['organizationId'], 'its organization')}):",
                "    " + control_step(spec, "create_account", {"posts": {"queued": 3}}).curl(base) + admin,
                "  start over:",
                "    " + control_step(spec, "reset", {}).curl(base) + admin,
                f"  every documented status, step by step: {base}/docs#try-it-against-the-mock"]
    return "\n".join(out)

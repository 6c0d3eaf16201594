"""What `layers-mock` prints at start-up: where everything is, every id a partner needs (keys with
label, id and secret; organizations; accounts), and a few ready commands, so that nothing has to
be looked up in the source or in `/_mock/state`.

Everything shown is the STORED world as it is at start-up (`read_world`, one snapshot after
seeding), not the fixture: a state file kept from before may hold revoked accounts, accounts and
keys made through the control plane, and kill switches left on (issue 21). The fixture adds only
what the store never holds: the keys' secrets (the store keeps their hashes) and the accounts'
notes (shown while the account is still in the state the note describes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from contract.steps import Step, control_step, load_control_spec
from contract.world import default_write_key
from mock_server.storage.queries import Queries, hash_secret

MAX_ACCOUNTS = 8
ADMIN_HEADER_HINT = '-H "X-Mock-Admin-Token: <your admin token>"'


@dataclass(frozen=True)
class StoredWorld:
    """The local world as one start-up snapshot saw it, with the fixture's secrets and notes."""

    organizations: list[dict]
    keys: list[dict]  # as a fixture writes them; "secret" None when the fixture does not know it
    accounts: list[dict]  # the first MAX_ACCOUNTS: id, status, note
    account_count: int
    test_accounts: list[dict]
    kill_switches: list[str] = field(default_factory=list)  # what is on: "global", "key <label>", ...
    armed_faults: int = 0
    example_account: str | None = None  # revocable with the write key; None: no such account

    @property
    def write_key(self) -> dict | None:
        """The key partners are pointed at first, among those whose secret is known."""
        return default_write_key({"keys": [k for k in self.keys if k["secret"]]})

    def ready_keys(self) -> list[dict]:
        """The keys a partner can use as printed (a known secret): the ready file lists them."""
        return [
            {
                "id": k["id"],
                "label": k["label"],
                "secret": k["secret"],
                "scopes": k["scopes"],
                "organizationId": k["organizationId"],
                "tier": k["tier"],
            }
            for k in self.keys
            if k["secret"]
        ]


def read_world(q: Queries, fixture: dict) -> StoredWorld:
    """The world in `q` (a snapshot of the local sandbox), named as the banner shows it."""
    secrets = {hash_secret(k["secret"]): k["secret"] for k in fixture.get("keys", []) if k.get("secret")}
    keys = [
        {
            "id": r["id"],
            "label": r["label"],
            "secret": secrets.get(r["secret_sha256"]),
            "hint": r["secret_hint"],
            "organizationId": r["organization_id"],
            "scopes": json.loads(r["scopes"]),
            "tier": r["tier"],
            "killed": bool(r["killed"]),
        }
        for r in q.list_keys()
    ]
    orgs = [{"id": r["id"], "name": r["name"], "killed": bool(r["killed"])} for r in q.list_organizations()]
    accounts = []
    listed = q.list_accounts(limit=MAX_ACCOUNTS)
    notes = _fixture_notes(fixture, {r["id"] for r in listed})
    for r in listed:
        status, note = notes.get(r["id"], (None, None))
        accounts.append(
            {
                "id": r["id"],
                "status": r["status"],
                # a note describes the fixture's account: shown while the account is still so
                "note": note
                if status == r["status"]
                else (f"{r['disconnected_reason']} at {r['disconnected_at']}" if r["disconnected_reason"] else None),
            }
        )
    switches = (
        (["global"] if q.get_setting("global_kill") == "1" else [])
        + [f"organization {o['id']} ({o['name']})" for o in orgs if o["killed"]]
        + [f"key {k['label'] or k['id']}" for k in keys if k["killed"]]
    )
    world = StoredWorld(
        organizations=orgs,
        keys=keys,
        accounts=accounts,
        account_count=q.counts(("accounts",))["accounts"],
        test_accounts=[{"id": r["id"], "status": r["status"]} for r in q.list_test_accounts()],
        kill_switches=switches,
        armed_faults=len(q.list_faults()),
    )
    write = world.write_key
    if write is None:
        return world
    org = write["organizationId"]
    example = (
        CONTRACT.example_account_id
        if q.revocable_account(CONTRACT.example_account_id, org)
        else q.first_revocable_account(org)
    )
    return replace(world, example_account=example)


def _fixture_notes(fixture: dict, ids: set[str]) -> dict[str, tuple[str, str]]:
    """id -> (status, note) of the fixture's accounts among `ids` that carry a note. The scan stops
    once every one of `ids` is seen: the accounts a banner shows are a fresh world's first few,
    where a million-account fixture's whole list took ~0.5 s to go through."""
    notes, left = {}, set(ids)
    for a in fixture.get("accounts", []):
        if not left:
            break
        if a.get("id") in left:
            left.discard(a["id"])
            if a.get("note"):
                notes[a["id"]] = (a.get("status", "connected"), a["note"])
    return notes


def connect_host(host: str) -> str:
    """Where a client on this machine connects: a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def base_url(host: str, port: int) -> str:
    return f"http://{connect_host(host)}:{port}"


def render(
    *, host: str, port: int, world: StoredWorld, loaded: bool, state: str | None, admin_token: bool = False
) -> str:
    base = base_url(host, port)
    orgs = {o["id"]: o["name"] for o in world.organizations}
    out = [
        f"Layers mock on {base}" + (f"   (listening on {host})" if connect_host(host) != host else ""),
        f"  reference page   {base}/docs",
        f"  Swagger UI       {base}/ui/",
        f"  control plane    {base}{CONTROL_PREFIX}   (UI: {base}{CONTROL_PREFIX}/ui/)"
        + ("   needs X-Mock-Admin-Token" if admin_token else "   loopback only"),
        f"state: {state or 'temporary (fresh world each start)'}" + ("" if loaded else " (kept from before)"),
    ]
    kill_status = CONTRACT.status_for_code("KILL_SWITCH")
    if world.kill_switches:
        out.append(f"kill switches ON (revokes they cover answer {kill_status}): " + ", ".join(world.kill_switches))
    if world.armed_faults:
        out.append(f"faults armed: {world.armed_faults} (GET {base}{CONTROL_PREFIX}/state)")
    if orgs:
        out.append("organizations:")
        out += [
            f"  {o['id']}  {o['name']}" + ("   (kill switch on)" if o["killed"] else "") for o in world.organizations
        ]
    if world.keys:
        out.append("keys (the control plane takes a key's label or its id):")
        for k in world.keys:
            label = k["label"] or "(no label)"
            out.append(f"  {label:<24} {k['id']}  {k['secret'] or k['hint'] + ' (secret shown when it was made)'}")
            out.append(
                f"  {'':<24} {orgs.get(k['organizationId'], k['organizationId'])}, "
                f"{k['tier']} tier, scopes {','.join(k['scopes'])}" + ("   (kill switch on)" if k["killed"] else "")
            )
    if world.accounts:
        out.append("accounts:")
        for a in world.accounts:
            out.append(f"  {a['id']}  {a['status']:<15} {a['note'] or ''}".rstrip())
        if world.account_count > len(world.accounts):
            out.append(f"  … and {world.account_count - len(world.accounts)} more (GET {base}{CONTROL_PREFIX}/state)")
    if world.test_accounts:
        out.append(
            "test accounts (always answer this status, never change state): "
            + ", ".join(f"{t['status']}=…{t['id'][-3:]}" for t in world.test_accounts)
        )

    write = world.write_key
    if write is not None:
        spec = load_control_spec()
        admin = f" {ADMIN_HEADER_HINT}" if admin_token else ""
        label = write["label"] or write["id"]
        out.append("next steps:")
        if world.example_account:
            which = (
                "the example account" if world.example_account == CONTRACT.example_account_id else "a connected account"
            )
            revoke = Step(
                "",
                CONTRACT.method.upper(),
                CONTRACT.path_for(world.example_account),
                CONTRACT.success_status,
                {"Authorization": f"Bearer {write['secret']}"},
            )
            killed = f"; {kill_status} while a kill switch covers it" if world.kill_switches else ""
            out += [f"  revoke {which} (run it twice: 200, then 404{killed}):", "    " + revoke.curl(base)]
        else:
            out.append(
                f"  no account of {orgs.get(write['organizationId'], write['organizationId'])} is left to"
                " revoke: create one (below), or start over"
            )
        out += [
            f"  exhaust the {label!r} key's budget (the next revoke answers 429):",
            "    " + control_step(spec, "set_budget", {"remaining": 0}, keyId=label).curl(base) + admin,
        ]
        out += [
            f"  create an account with 3 queued posts (in {orgs.get(write['organizationId'], 'its organization')}):",
            "    " + control_step(spec, "create_account", {"posts": {"queued": 3}}).curl(base) + admin,
            "  start over:",
            "    " + control_step(spec, "reset", {}).curl(base) + admin,
            f"  every documented status, step by step: {base}/docs#try-it-against-the-mock",
        ]
    return "\n".join(out)

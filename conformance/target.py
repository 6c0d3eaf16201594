"""The implementation under test: where it is, which keys to use, which accounts it may revoke.

Accounts come from two places only: a file the operator hands over (`--accounts`), or the
mock's control plane (`--mock-control`), where the kit makes its own organization, keys and
accounts. The kit never revokes anything else: fuzzing only ever targets random unknown ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.transport import BoundedTransport, Bounds
from contract import CONTRACT

if TYPE_CHECKING:  # imported where used: only --mock-control runs need the control plane's client
    from mock_control import ControlClient


class UsageError(Exception):
    """The run cannot be made as asked (exit 2)."""


@dataclass
class Account:
    id: str
    queued: int


@dataclass
class Provisioned:
    """What the kit made on the mock through its control plane (--mock-control)."""

    control: ControlClient
    write_key: str  # the provisioned write key scenarios revoke with
    rate_limited_key: dict  # a budgeted (partner) key the 429 scenario exhausts
    kill_key: dict  # a key and organization the 503 scenario switches off
    kill_org_id: str
    kill_accounts: list[Account]  # connected accounts of that organization


@dataclass
class Target:
    base_url: str
    api_key: str
    read_only_key: str | None = None
    foreign_account_id: str | None = None
    accounts: list[Account] = field(default_factory=list)
    provisioned: Provisioned | None = None  # only with --mock-control
    # With --operator-token (a hosted mock): the sandbox made for this run, deleted by `release`.
    sandbox: tuple[ControlClient, str] | None = field(default=None, repr=False)  # (operator, sandboxId)
    # Where the accounts came from, as the stale-account message names it.
    accounts_source: str = "--accounts"
    # Whether accounts were given at all (scenarios use them up; "none left" is not "none given").
    had_accounts: bool = field(init=False)

    def __post_init__(self) -> None:
        self.had_accounts = bool(self.accounts)

    def release(self) -> None:
        """Close the control plane's client; delete the run's own sandbox, if it made one."""
        if self.provisioned is not None:
            self.provisioned.control.close()
        if self.sandbox is not None:
            operator, sandbox_id = self.sandbox
            try:
                operator.delete_sandbox(sandbox_id)
            finally:
                operator.close()

    @property
    def scenario_key(self) -> str:
        return self.provisioned.write_key if self.provisioned else self.api_key

    def take_account(self) -> Account | None:
        return self.accounts.pop(0) if self.accounts else None

    @property
    def mock(self) -> bool:
        return self.provisioned is not None

    @property
    def known_accounts(self) -> list[Account]:
        """Every account whose queued posts the run knows: what each 200 for it must report."""
        return self.accounts + (self.provisioned.kill_accounts if self.provisioned else [])


def load_accounts(path: str) -> list[Account]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--accounts {path}: cannot read it: {exc}") from exc
    return parse_accounts(text, f"--accounts {path}")


# What --accounts-command may print: an accounts file is a few KB; a command that prints more is
# not printing one (and the kit does not hold a runaway's output in memory).
MAX_ACCOUNTS_OUTPUT = 1 << 20
MAX_STDERR_SHOWN = 2000
# Words that look like credentials, in a command's stderr: shown as [redacted] (the known secrets of
# the run are redacted from all output anyway; these are the provisioning tool's own).
_CREDENTIAL_LIKE = re.compile(
    r"(?i)\b(?:lp|sk|pk|tok|key|ghp|xox[a-z])_[A-Za-z0-9_\-]{6,}"
    r"|(?i:(?:bearer|token|secret|password|passwd|api[-_]?key|authorization)\s*[=:]?\s*)[^\s\"',;]{4,}"
)


def scrub(text: str) -> str:
    return _CREDENTIAL_LIKE.sub("[redacted]", text)


def accounts_from_command(command: str, timeout: float) -> list[Account]:
    """Run --accounts-command once (no shell), bounded in time and output; its stdout is the
    accounts file. On failure its stderr's end is shown, scrubbed; the command line is never shown
    past its first word (it may carry a token)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--accounts-command: cannot split it into words: {exc}") from None
    if not argv:
        raise UsageError("--accounts-command is empty")
    name = f"--accounts-command ({os.path.basename(argv[0])} …)"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its children are ended with it
        )
    except OSError as exc:
        raise UsageError(f"{name}: cannot start it: {exc.strerror or exc}") from None
    out, err = bytearray(), bytearray()
    over = threading.Event()

    def drain(stream, into: bytearray, cap: int, flag: bool) -> None:
        while chunk := stream.read1(65536):
            room = cap + 1 - len(into)
            if room > 0:
                into += chunk[:room]
            if flag and len(into) > cap:
                over.set()
                _kill(proc)
                return

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out, MAX_ACCOUNTS_OUTPUT, True), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, err, 64 * 1024, False), daemon=True),
    ]
    for r in readers:
        r.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait()
        raise UsageError(
            f"{name} did not finish within --accounts-command-timeout {timeout:g}s; it was ended" + _stderr_tail(err)
        ) from None
    finally:
        for r in readers:
            r.join(5)
    if over.is_set():
        raise UsageError(f"{name} printed more than {MAX_ACCOUNTS_OUTPUT:,} bytes: that is not an accounts file")
    if code != 0:
        raise UsageError(f"{name} failed with exit status {code}" + _stderr_tail(err))
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name} printed something that is not UTF-8 text") from None
    return parse_accounts(text, name)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _stderr_tail(err: bytearray) -> str:
    text = scrub(bytes(err).decode("utf-8", errors="replace")).strip()
    if not text:
        return " (it wrote nothing on stderr)"
    if len(text) > MAX_STDERR_SHOWN:
        text = f"…[cut: {len(text) - MAX_STDERR_SHOWN:,} characters before]" + text[-MAX_STDERR_SHOWN:]
    return "; its stderr:\n" + text


def parse_accounts(text: str, source: str) -> list[Account]:
    """The accounts file's JSON, checked: what the run may revoke and how many posts each has queued."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source}: not valid JSON: {exc}") from exc
    items = data.get("accounts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UsageError(f'{source}: expected {{"accounts": [{{"socialAccountId": …, "queuedPosts": N}}]}}')
    accounts = []
    for i, item in enumerate(items):
        account_id = item.get("socialAccountId") if isinstance(item, dict) else None
        queued = item.get("queuedPosts") if isinstance(item, dict) else None
        if not isinstance(account_id, str) or not CONTRACT.account_id_pattern.match(account_id):
            raise UsageError(
                f"{source}: accounts[{i}].socialAccountId {str(account_id)[:80]!r} is not a "
                f"{CONTRACT.path_parameter['schema']['pattern']} id"
            )
        if not isinstance(queued, int) or isinstance(queued, bool) or queued < 0:
            raise UsageError(f"{source}: accounts[{i}].queuedPosts must be an integer >= 0")
        accounts.append(Account(account_id, queued))
    return accounts


# Posts the kit gives each provisioned account: queued ones are what revoke must cancel; the
# others are there so that an implementation counting them is caught.
PROVISIONED_POSTS = {"queued": 3, "published": 2, "draft": 1, "failed": 1, "publishing": 1}
PROVISIONED_ACCOUNTS = 7
# And one account with nothing queued, one with a single queued post: the count at the world's
# boundaries (conformance.picking, the revoke_counts_at_boundaries scenario).
BOUNDARY_POSTS = [{"queued": 0, "published": 2, "draft": 1}, {"queued": 1, "published": 1, "failed": 1}]


def provision_sandbox(base_url: str, api_key: str | None, operator_token: str, bounds: Bounds) -> Target:
    """On a hosted mock (`layers-mock --operator-token`): an empty sandbox of the run's own, then
    `provision_mock` inside it. `Target.release` deletes it."""
    from mock_control import ControlClient, ControlPlaneError

    operator = ControlClient(base_url, admin_token=operator_token, transport=BoundedTransport(bounds))
    try:
        made = operator.create_sandbox(label="layers-conformance", fixtures={})
    except (ControlPlaneError, OSError) as exc:
        operator.close()
        raise UsageError(f"--operator-token: could not make a sandbox at {base_url}/_mock/sandboxes: {exc}") from exc
    try:
        target = provision_mock(base_url, api_key, made["adminToken"], bounds)
    except UsageError:
        operator.delete_sandbox(made["sandboxId"])
        operator.close()
        raise
    target.sandbox = (operator, made["sandboxId"])
    return target


def provision_mock(base_url: str, api_key: str | None, admin_token: str | None, bounds: Bounds) -> Target:
    """Make an organization of the kit's own on the mock, with keys and accounts to revoke."""
    from mock_control import ControlClient, ControlPlaneError

    # Control-plane calls end by --max-time too (not by --timeout: they keep the client's 30 s per read).
    control = ControlClient(base_url, admin_token=admin_token, transport=BoundedTransport(bounds))
    try:
        run = uuid.uuid4().hex[:8]
        org = control.create_organization(f"conformance {run}")
        # `internal` has no rate limit, so fuzzing and scenarios never hit 429 by accident.
        write = control.create_key(org["id"], [CONTRACT.required_scope], tier="internal", label="kit write")
        # Any scope but the required one: the key is valid, it just may not revoke.
        read_only = control.create_key(org["id"], ["social:read"], tier="partner", label="kit read-only")
        limited = control.create_key(org["id"], [CONTRACT.required_scope], tier="partner", label="kit rate-limited")
        kill_org = control.create_organization(f"conformance {run} kill switch")
        kill_key = control.create_key(kill_org["id"], [CONTRACT.required_scope], tier="internal", label="kit kill")
        kill_accounts = [
            control.create_account(kill_org["id"], posts=PROVISIONED_POSTS) for _ in CONTRACT.kill_switch_scopes
        ]
        foreign_org = control.create_organization(f"conformance {run} foreign")
        foreign = control.create_account(foreign_org["id"], posts=PROVISIONED_POSTS)
        accounts = [control.create_account(org["id"], posts=PROVISIONED_POSTS) for _ in range(PROVISIONED_ACCOUNTS)]
        accounts += [control.create_account(org["id"], posts=posts) for posts in BOUNDARY_POSTS]
    except (ControlPlaneError, OSError, Exception) as exc:  # any failure means "no control plane"
        control.close()
        raise UsageError(f"--mock-control: could not provision through {base_url}/_mock: {exc}") from exc
    return Target(
        base_url=base_url,
        api_key=api_key or write["secret"],
        read_only_key=read_only["secret"],
        foreign_account_id=foreign["socialAccountId"],
        accounts=[Account(a["socialAccountId"], a["posts"].get("queued", 0)) for a in accounts],
        provisioned=Provisioned(
            control=control,
            write_key=write["secret"],
            rate_limited_key=limited,
            kill_key=kill_key,
            kill_org_id=kill_org["id"],
            kill_accounts=[Account(a["socialAccountId"], a["posts"].get("queued", 0)) for a in kill_accounts],
        ),
    )

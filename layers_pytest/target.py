"""Where the tests send their requests: a mock started for this session, or a live target.

The live target comes from `--layers-base-url` (or `LAYERS_BASE_URL`); its keys from options or
the environment. A live target has no control plane, so the helpers that need one skip.

A hosted mock (`--layers-mock-url`, a `layers-mock --operator-token` deployment) gives each
session (each xdist worker) a sandbox of its own: made with `--layers-operator-token` and
deleted at the end, or an existing one named by its `--layers-sandbox-token`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

# Command-line option -> environment variable that supplies it when the option is absent.
OPTIONS = {
    "layers_base_url": ("--layers-base-url", "LAYERS_BASE_URL",
                        "run against this live target instead of a local layers-mock"),
    "layers_api_key": ("--layers-api-key", "LAYERS_API_KEY",
                       "live target: an API key that has the revoke scope"),
    "layers_read_only_key": ("--layers-read-only-key", "LAYERS_READ_ONLY_KEY",
                             "live target: an API key without the revoke scope"),
    "layers_mock_url": ("--layers-mock-url", "LAYERS_MOCK_URL",
                        "a hosted layers-mock (started with --operator-token): the session gets its own sandbox"),
    "layers_operator_token": ("--layers-operator-token", "LAYERS_MOCK_OPERATOR_TOKEN",
                              "hosted mock: the operator token, to make (and delete) the session's sandbox"),
    "layers_sandbox_token": ("--layers-sandbox-token", "LAYERS_SANDBOX_TOKEN",
                             "hosted mock: an existing sandbox's adminToken (made from the default world)"),
}


def add_options(parser) -> None:
    group = parser.getgroup("layers", "Layers mock (layers_mock fixture)")
    for dest, (flag, env, help_text) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, metavar="VALUE", help=f"{help_text} (env {env})")


def option_value(config, dest: str) -> str | None:
    """The option if given, else its environment variable; empty strings count as absent."""
    value = config.getoption(dest, default=None)
    if not value:
        value = os.environ.get(OPTIONS[dest][1]) or None
    return value


@dataclass(frozen=True)
class Target:
    """The server under test for this session (one per xdist worker)."""

    base_url: str
    live: bool
    write_key: str | None = None
    read_only_key: str | None = None
    # A hosted mock's sandbox: the token for its control plane, and its keys' secrets by key id.
    admin_token: str | None = field(default=None, repr=False)
    key_secrets: dict | None = field(default=None, repr=False)

    @classmethod
    def live_from_config(cls, config) -> "Target | None":
        base_url = option_value(config, "layers_base_url")
        if base_url is None:
            return None
        return cls(base_url=base_url.rstrip("/"), live=True,
                   write_key=option_value(config, "layers_api_key"),
                   read_only_key=option_value(config, "layers_read_only_key"))

    def describe(self) -> str:
        if self.admin_token:
            return f"hosted layers-mock at {self.base_url}, this session's own sandbox, reset before each test"
        if self.live:
            return f"live target {self.base_url} (control-plane helpers skip)"
        return f"local layers-mock at {self.base_url}, reset before each test"

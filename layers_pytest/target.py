"""Where the tests send their requests: a mock started for this session, or a live target.

The live target comes from `--layers-base-url` (or `LAYERS_BASE_URL`); its keys from options or
the environment. A live target has no control plane, so the helpers that need one skip.

The plugin's settings (`PluginSettings`): every option with the environment variable that supplies
it when the option is absent, read once per session (plugin.py's `pytest_configure`). This module
is the only one of the plugin that reads the environment (ruff TID251, pyproject.toml).

A hosted mock (`--layers-mock-url`, a `layers-mock --operator-token` deployment) gives each
session (each xdist worker) a sandbox of its own: made with `--layers-operator-token` and
deleted at the end, or an existing one named by its `--layers-sandbox-token`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# PluginSettings field -> (command-line option, environment variable that supplies it when the
# option is absent, help).
OPTIONS = {
    "layers_base_url": (
        "--layers-base-url",
        "LAYERS_BASE_URL",
        "run against this live target instead of a local layers-mock",
    ),
    "layers_api_key": ("--layers-api-key", "LAYERS_API_KEY", "live target: an API key that has the revoke scope"),
    "layers_read_only_key": (
        "--layers-read-only-key",
        "LAYERS_READ_ONLY_KEY",
        "live target: an API key without the revoke scope",
    ),
    "layers_mock_url": (
        "--layers-mock-url",
        "LAYERS_MOCK_URL",
        "a hosted layers-mock (started with --operator-token): the session gets its own sandbox",
    ),
    "layers_operator_token": (
        "--layers-operator-token",
        "LAYERS_MOCK_OPERATOR_TOKEN",
        "hosted mock: the operator token, to make (and delete) the session's sandbox",
    ),
    "layers_sandbox_token": (
        "--layers-sandbox-token",
        "LAYERS_SANDBOX_TOKEN",
        "hosted mock: an existing sandbox's adminToken (made from the default world)",
    ),
}


def add_options(parser) -> None:
    group = parser.getgroup("layers", "Layers mock (layers_mock fixture)")
    for dest, (flag, env, help_text) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, metavar="VALUE", help=f"{help_text} (env {env})")


@dataclass(frozen=True)
class PluginSettings:
    """The options of one pytest session, each from its option, else its variable (empty strings
    count as absent). Keys and tokens stay out of the repr."""

    layers_base_url: str | None = None
    layers_api_key: str | None = field(default=None, repr=False)
    layers_read_only_key: str | None = field(default=None, repr=False)
    layers_mock_url: str | None = None
    layers_operator_token: str | None = field(default=None, repr=False)
    layers_sandbox_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config) -> PluginSettings:
        return cls(
            **{
                dest: config.getoption(dest, default=None) or os.environ.get(env) or None
                for dest, (_, env, _) in OPTIONS.items()
            }
        )


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
    def live_from(cls, settings: PluginSettings) -> Target | None:
        if settings.layers_base_url is None:
            return None
        return cls(
            base_url=settings.layers_base_url.rstrip("/"),
            live=True,
            write_key=settings.layers_api_key,
            read_only_key=settings.layers_read_only_key,
        )

    def describe(self) -> str:
        if self.admin_token:
            return f"hosted layers-mock at {self.base_url}, this session's own sandbox, reset before each test"
        if self.live:
            return f"live target {self.base_url} (control-plane helpers skip)"
        return f"local layers-mock at {self.base_url}, reset before each test"

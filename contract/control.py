"""The control plane's own spec (control.yaml, beside openapi.yaml) and where it lives (its server URL).

A module of its own, importing no web framework, so that light clients (ControlClient, the
pytest plugin) do not pull in Connexion just to know a prefix.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

CONTROL_SPEC = Path(__file__).with_name("control.yaml")
CONTROL_PREFIX: str = urlsplit(yaml.safe_load(CONTROL_SPEC.read_text())["servers"][0]["url"]).path.rstrip("/")

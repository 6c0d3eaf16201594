"""An HTTP client for the mock's control plane (`/_mock`, contract/control.yaml).

A package of its own, outside `mock_server`, so that the conformance kit, the pytest plugin, the
benches and the tests reach the mock only over HTTP: it imports `contract` and httpx, never the
mock's server modules (and so never Connexion).
"""

from mock_control.client import ControlClient, ControlPlaneError

__all__ = ["ControlClient", "ControlPlaneError"]

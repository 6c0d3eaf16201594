"""The probes and metrics for whoever hosts the mock (control.yaml's `Operate` tag, `x-probe`):
`GET /_mock/health` (live: the process answers), `GET /_mock/ready` (the database answers within
the storage timeout and holds this version's schema; else 503 `NOT_READY` with the reason) and
`GET /_mock/metrics` (Prometheus text format, core/metrics.py).

They need no token and answer any client address (control/guard.py says why); the guard's Host
and Origin rules keep web pages out.
"""

from __future__ import annotations

import logging

from mock_server.core import metrics
from mock_server.core.errors import control_error
from mock_server.storage import SCHEMA_VERSION, StorageFault

log = logging.getLogger("layers.mock")
NOT_CURRENT = "schema not current"
UNREACHABLE = "database unreachable"


class OperateHandlers:
    def __init__(self, storage, metrics_dir: str | None = None):
        self.storage = storage
        self.metrics_dir = metrics_dir

    def get_health(self):
        return {"status": "live"}

    def get_ready(self):
        try:
            found = self.storage.schema_version()
        except StorageFault as fault:
            reason = fault.cause
        except Exception as exc:  # noqa: BLE001 - the driver's own error: the database did not answer
            # One line, the error's type only: a driver's message may carry the database URL.
            log.error("not ready (%s): %s", UNREACHABLE, type(exc).__name__)
            reason = UNREACHABLE
        else:
            if found == str(SCHEMA_VERSION):
                return {"status": "ready", "backend": self.storage.backend, "schemaVersion": SCHEMA_VERSION}
            reason = NOT_CURRENT
        raise control_error("NOT_READY", f"Not ready: {reason}.", details={"reason": reason})

    def get_metrics(self):
        # Connexion sets the one content type control.yaml declares (metrics.CONTENT_TYPE).
        return metrics.exposition(self.metrics_dir).decode(), 200

"""The kit's default bounds, in a module of their own that imports nothing.

`conformance.settings` reads them for its defaults and `conformance.transport` enforces them. The
settings are parsed at the very start of a run, before the generated phase's worker is started
(`conformance.generated`), and this module keeps that step from importing httpx and anyio, which
the transport needs: a run pays for those while the worker already generates."""

from __future__ import annotations

DEFAULT_TIMEOUT = 15.0  # one whole request: connect, send, headers and body, in seconds
DEFAULT_MAX_TIME = 600.0  # the whole run, in seconds
DEFAULT_MAX_BODY_BYTES = 1 << 20

# How long the kit waits for the generated phase's worker to say anything (a case, the end of the
# cases, a verdict) before it calls the worker hung. Generating one case takes milliseconds; a
# loaded CI machine may stretch that a hundredfold, never to a minute.
WORKER_SILENCE = 60.0

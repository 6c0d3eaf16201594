"""The stateful Layers mock: a Connexion app driven by openapi.yaml over a SQLite or PostgreSQL world."""

import warnings

# Connexion 3.3 (the latest release) warns when it is imported, about its own dependencies:
# Starlette 1.x about the httpx-based TestClient Connexion imports, jsonschema 4.18+ about the
# RefResolver API Connexion still uses. None of it is about the mock or a partner's code, and a
# partner's suite run with warnings as errors (`python -W error`, or PYTHONWARNINGS=error, which
# the mock's own process inherits) must not fail on it. So exactly these are ignored: each by its
# message, its category and the Connexion module that raises it, registered here because every
# entry point (the CLI, uvicorn's worker factory, an in-process create_app) imports this package
# before any module of it imports Connexion. Every other warning stays as the caller set it.
_CONNEXION_IMPORT_WARNINGS = (
    # starlette.exceptions.StarletteDeprecationWarning, a UserWarning (named by its base here, so
    # that importing this package does not import Starlette).
    (r"Using `httpx` with `starlette\.testclient` is deprecated", UserWarning, r"connexion\.apps\.abstract\Z"),
    (r"jsonschema\.RefResolver is deprecated", DeprecationWarning, r"connexion\.json_schema\Z"),
    (r"jsonschema\.exceptions\.RefResolutionError is deprecated", DeprecationWarning, r"connexion\.json_schema\Z"),
)
for _message, _category, _module in _CONNEXION_IMPORT_WARNINGS:
    warnings.filterwarnings("ignore", message=_message, category=_category, module=_module)

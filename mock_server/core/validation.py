"""Fast JSON Schema checks compiled once (jsonschema_rs), for the hot path and bulk fixture loads."""

from __future__ import annotations

import jsonschema_rs


def compile_schema(schema: dict):
    """A fast `is_valid(instance)` for one schema, formats checked (as Connexion does).
    jsonschema_rs is a declared dependency of the mock: no slower fallback to keep in step."""
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True).is_valid

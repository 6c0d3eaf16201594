"""Fast JSON Schema checks compiled once (jsonschema_rs), for the hot path and bulk fixture loads."""
from __future__ import annotations


def compile_schema(schema: dict):
    """A fast `is_valid(instance)` for one schema, formats checked (as Connexion does)."""
    try:
        import jsonschema_rs

        return jsonschema_rs.Draft4Validator(schema, validate_formats=True).is_valid
    except Exception:  # noqa: BLE001 - not installed, or a schema it cannot compile
        import jsonschema

        return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).is_valid

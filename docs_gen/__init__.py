"""Spec-driven docs: the revoke endpoint's reference page, rendered from openapi.yaml alone.

`layers-docs` writes docs/revoke-social-account.md and .html; the mock serves the HTML at /docs.
"""

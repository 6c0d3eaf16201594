"""The conformance kit: checks any implementation of the revoke endpoint against the contract.

`layers-conformance` (conformance.cli) builds a Target, fuzzes it with schemathesis plus the
spec-derived checks in `checks`, runs the deterministic `scenarios`, and writes a `report`.
"""

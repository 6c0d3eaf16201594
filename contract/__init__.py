"""The contract: openapi.yaml loaded once, and questions about it answered in one place.

The mock, the conformance kit and the docs generator all ask this module; none of them
retypes a status, a code, a scope or a header name from the spec. The control plane's own
spec (control.yaml) is read the same way, by `contract.control.CONTROL`.
"""

from contract.spec import CONTRACT, Contract, load_contract

__all__ = ["CONTRACT", "Contract", "load_contract"]

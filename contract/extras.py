"""Optional parts of the kit and what to install for them (pyproject's extras).

The mock and the pytest plugin need only the base install; `layers-conformance` needs the
`conformance` extra (schemathesis) and `layers-docs --screenshot` the `docs` extra (Playwright,
which drives the system's headless Chromium). A console script whose extra is missing says what to install
and exits 2 (could not run), instead of failing with an ImportError traceback.
"""

from __future__ import annotations

import importlib.util
import sys

DISTRIBUTION = "layers-contract-kit"
EXIT_CANNOT_RUN = 2


def missing_modules(modules: list[str]) -> list[str]:
    absent = []
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                absent.append(name)
        except ImportError:  # a finder that refuses the name outright
            absent.append(name)
    return absent


def install_line(extra: str) -> str:
    return f'pip install "{DISTRIBUTION}[{extra}]"   (from a clone: pip install ".[{extra}]")'


def require(command: str, extra: str, modules: list[str]) -> int | None:
    """None when everything is importable; else print what to install and return the exit code."""
    absent = missing_modules(modules)
    if not absent:
        return None
    print(
        f"{command}: needs the [{extra}] extra (missing: {', '.join(absent)}). Install it with:\n"
        f"  {install_line(extra)}",
        file=sys.stderr,
    )
    return EXIT_CANNOT_RUN

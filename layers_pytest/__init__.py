"""A pytest plugin that gives a partner's test suite a fresh, stateful Layers mock per test.

Installed with this package and registered through the `pytest11` entry point, so a partner only
adds the package to their test dependencies and asks for the `layers_mock` fixture. See
`layers_pytest.plugin` for the fixtures and options, `layers_pytest.harness` for the helpers.
"""

from layers_pytest.harness import ClockSleep, LayersMock
from layers_pytest.target import Target

__all__ = ["ClockSleep", "LayersMock", "Target"]

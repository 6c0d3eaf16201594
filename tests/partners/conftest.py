"""What the partners' browser tests share: one headless Chromium and one real mock per module."""

from __future__ import annotations

import pytest

from docs_gen.browser import HeadlessChromium
from mock_control.launcher import MockProcess


@pytest.fixture(scope="module")
def browser(require_chromium):
    with HeadlessChromium(width=1280, height=1200) as b:
        yield b


@pytest.fixture(scope="module")
def browser_mock():
    with MockProcess() as proc:
        yield proc

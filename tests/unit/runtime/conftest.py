from __future__ import annotations

import pytest

from reloader.runtime.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()

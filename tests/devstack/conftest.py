"""``make run``'s launcher as a user starts it (see :mod:`tests.launcher`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.launcher import Launch, launching


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    with launching(tmp_path) as start:
        yield start

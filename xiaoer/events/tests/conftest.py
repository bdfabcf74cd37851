from __future__ import annotations

import pytest

from xiaoer.events.base import unsubscribe
from xiaoer.events.tests import probe


@pytest.fixture
def probes(db):
    """The three durable probe listeners, recording into their table in the test's database."""
    probe.create_table()
    probe.install()
    yield probe
    for name in probe.LISTENERS:
        unsubscribe(name)

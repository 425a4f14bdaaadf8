"""The portal suite's shared fixture: the org admin scene most of its org admin tests play in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.org_world import OrgWorld


@pytest.fixture
def world(db: Any) -> OrgWorld:
    """Acme and Globex with their admins, contracts, codes and runs (tests/support/org_world.py);
    a module with a world of its own overrides this."""
    return OrgWorld(db)

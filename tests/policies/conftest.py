"""The real policy pack, started once per test session and stopped by its pid at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_fixtures import PolicyAnalyzer, StackPack


@pytest.fixture(scope="session")
def pack() -> Iterator[StackPack]:
    with PolicyAnalyzer(
        project="aurora-platform", stack="test", dry_run=True, stack_config={"aws:region": "us-east-1"}
    ) as analyzer:
        yield StackPack(analyzer)

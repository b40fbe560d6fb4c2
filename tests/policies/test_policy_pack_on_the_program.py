"""The committed stacks, captured on the mock engine, through the real pack: no mandatory violation.

The fixtures elsewhere prove each policy can fail; this proves none of them fails the
platform's own resources, in preview mode (computed values unknown) and in update mode.
"""

from __future__ import annotations

import pytest
from policy_fixtures import StackPack

from tests.conftest import captured


@pytest.mark.parametrize("mode", ["preview", "update"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stack_has_no_mandatory_violation(pack: StackPack, stack: str, mode: str) -> None:
    resources = captured(stack, mode).resources

    violations = pack.analyze(stack, *resources) + pack.analyze_stack(stack, *resources)

    assert [v for v in violations if v.level == "mandatory"] == []

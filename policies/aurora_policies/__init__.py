"""The aurora-platform CrossGuard policies, grouped by area.

``ALL_POLICIES`` is what the pack serves; policy names are a fixed contract (users set
enforcement levels by name in ``policies/config/<stack>.json``).
"""

from . import access, audit, backup, compute, encryption, public_access, rds, stack_policies

RESOURCE_POLICIES = [
    *encryption.POLICIES,
    *public_access.POLICIES,
    *compute.POLICIES,
    *rds.POLICIES,
    *backup.RESOURCE_POLICIES,
    *access.RESOURCE_POLICIES,
]
STACK_POLICIES = [*stack_policies.POLICIES, *access.STACK_POLICIES, *backup.STACK_POLICIES, *audit.POLICIES]
ALL_POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]

__all__ = ["ALL_POLICIES", "RESOURCE_POLICIES", "STACK_POLICIES"]

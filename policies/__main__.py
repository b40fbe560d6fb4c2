"""The aurora-platform policy pack, as run by `pulumi preview --policy-pack policies`."""

from aurora_policies import ALL_POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="aurora-platform", enforcement_level=EnforcementLevel.MANDATORY, policies=ALL_POLICIES)

"""The warnings of the stack settings: risky but legal combinations, each a small named function that
reads the values the rules left (``components/setting_rules.py``) and returns its messages. ``parse_settings``
runs them only when no rule failed."""
from __future__ import annotations

from components.aws_facts import instance_memory_gib, parameter_group_family
from components.setting_rules import Found, qualified


def reader_smaller_than_writer(found: Found) -> list[str]:
    writer, reader = found["instanceClass"], found["readerInstanceClass"]
    writer_gib, reader_gib = instance_memory_gib(writer), instance_memory_gib(reader)
    if found["readerCount"] and writer_gib and reader_gib and reader_gib < writer_gib:
        return [f"{qualified('readerInstanceClass')} = {reader!r} is smaller than the writer class "
                f"{writer!r}: a failover to a reader lowers capacity"]
    return []


def major_upgrade_without_snapshot(found: Found) -> list[str]:
    engine, version, target = found["engine"], found["engineVersion"], found["engineUpgradeTarget"]
    if (found["production"] and target and not found["preUpgradeSnapshot"]
            and parameter_group_family(engine, target) != parameter_group_family(engine, version)):
        return [f"{qualified('engineUpgradeTarget')} = {target!r} prepares a major upgrade of a "
                f"production stack, and {qualified('preUpgradeSnapshot')} records no fresh snapshot: take one with "
                f"`python -m deploy upgrade --stack {found.stack} --engine-version {target} "
                f"--snapshot` (it refuses a production major upgrade without one)"]
    return []


def deletion_protection_off(found: Found) -> list[str]:
    if not found["production"] and found["deletionProtection"] is False:
        return [f"{qualified('deletionProtection')} is false: the cluster can be deleted by a single `pulumi destroy`"]
    return []


WARNINGS = (reader_smaller_than_writer, major_upgrade_without_snapshot, deletion_protection_off)

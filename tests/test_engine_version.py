"""How the program treats `engineVersion`: no automatic minor upgrades against a pinned minor,
a major upgrade as an in-place modify with parameter groups of the new family created first,
parameter groups of a prepared upgrade's family declared beside the current ones, and the
settings that prepare an upgrade."""

from __future__ import annotations

import pytest

from components.settings import SettingsError, parse_settings
from deploy.offline.capture import Capture, run_program
from deploy.offline.stack_config import load_stack_config
from tests.conftest import captured

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CLUSTER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
INSTANCE_GROUP = "aws:rds/parameterGroup:ParameterGroup"
NEXT_MAJOR = "17.4"  # dev runs 16.6


def dev_with(**settings: str) -> Capture:
    return captured("dev", "update", overrides={f"aurora-platform:{k}": v for k, v in settings.items()})


def groups_by_name(capture: Capture, type_: str) -> dict:
    return {g.inputs["name"]: g for g in capture.by_type(type_)}


# ---------------------------------------------------------------------------------------
# A pinned minor version: no automatic minor upgrades.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_automatic_minor_upgrades_are_off_on_every_cluster_and_instance(stack):
    """engineVersion pins a minor; had RDS upgraded 16.6 to 16.x on its own, the next update
    would ask it to downgrade, which it refuses. Aurora upgrades only when every instance allows it."""
    capture = captured(stack)
    clusters, instances = capture.by_type(CLUSTER), capture.by_type(INSTANCE)
    assert clusters and instances
    assert [c.inputs.get("autoMinorVersionUpgrade") for c in clusters] == [False] * len(clusters)
    assert [i.inputs.get("autoMinorVersionUpgrade") for i in instances] == [False] * len(instances)


def test_a_major_only_engine_version_is_refused():
    raw = load_stack_config("dev")
    raw["aurora-platform:engineVersion"] = "16"
    with pytest.raises(SettingsError, match="engineVersion = '16': not a aurora-postgresql version"):
        parse_settings(raw, "dev")


# ---------------------------------------------------------------------------------------
# A major version change of engineVersion in the settings (the program's side).
# ---------------------------------------------------------------------------------------

def test_next_major_on_dev_is_an_in_place_modify_with_groups_of_the_new_family():
    before, after = captured("dev"), dev_with(engineVersion=NEXT_MAJOR)
    old, new = before.one(CLUSTER, "aurora-us-east-2"), after.one(CLUSTER, "aurora-us-east-2")

    assert new.inputs["engineVersion"] == NEXT_MAJOR
    assert new.inputs["allowMajorVersionUpgrade"] is True
    cluster_groups, instance_groups = groups_by_name(after, CLUSTER_GROUP), groups_by_name(after, INSTANCE_GROUP)
    assert {g.inputs["family"] for g in cluster_groups.values()} == {"aurora-postgresql17"}
    assert {g.inputs["family"] for g in instance_groups.values()} == {"aurora-postgresql17"}
    assert cluster_groups[new.inputs["dbClusterParameterGroupName"]].inputs["parameters"][0] == {
        "name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"}
    assert new.inputs["dbInstanceParameterGroupName"] in instance_groups
    for instance in after.by_type(INSTANCE):
        assert instance.inputs["dbParameterGroupName"] == new.inputs["dbInstanceParameterGroupName"]

    # New groups under new names: the engine creates them before it updates the cluster that
    # references them, and deletes the old ones (no longer declared) after it.
    old_groups = {g.urn for g in before.by_type(CLUSTER_GROUP) + before.by_type(INSTANCE_GROUP)}
    new_groups = {g.urn for g in after.by_type(CLUSTER_GROUP) + after.by_type(INSTANCE_GROUP)}
    assert old_groups.isdisjoint(new_groups) and len(new_groups) == 2
    assert not any(g.delete_before_replace for g in after.by_type(CLUSTER_GROUP) + after.by_type(INSTANCE_GROUP))
    assert {u for u in new.property_dependencies["dbClusterParameterGroupName"]} <= new_groups

    # Nothing else of the cluster changes: in particular none of the provider's force-new
    # properties (identifier, engine, key, encryption, subnet group, AZs, credentials).
    changed = {k for k in set(old.inputs) | set(new.inputs) if old.inputs.get(k) != new.inputs.get(k)}
    assert changed == {"engineVersion", "dbClusterParameterGroupName", "dbInstanceParameterGroupName"}
    assert (new.urn, new.delete_before_replace) == (old.urn, False)
    # Paired by URN: the capture records registrations as the SDK's worker threads make them,
    # in no fixed order.
    old_instances = {i.urn: i for i in before.by_type(INSTANCE)}
    new_instances = {i.urn: i for i in after.by_type(INSTANCE)}
    assert old_instances and set(old_instances) == set(new_instances)
    for urn, new_i in new_instances.items():
        old_i = old_instances[urn]
        assert {k for k in new_i.inputs if old_i.inputs.get(k) != new_i.inputs.get(k)} == {"dbParameterGroupName"}


def alias_names(resource) -> list[str]:
    return [a.get("spec", {}).get("name") for a in resource.aliases]


def test_parameter_groups_keep_their_state_from_before_the_family_was_in_their_name():
    """An alias keeps the groups a stack already has: no churn on the first update after this change.
    The aliases are read from the registration request, as the engine receives them."""
    capture = captured("dev")
    for type_, kind in ((CLUSTER_GROUP, "cluster"), (INSTANCE_GROUP, "instance")):
        group = capture.one(type_, f"aurora-us-east-2-{kind}-aurora-postgresql16")
        assert group.inputs["family"] == "aurora-postgresql16"
        assert alias_names(group) == [f"aurora-us-east-2-{kind}"]
    prepared = dev_with(engineUpgradeTarget=NEXT_MAJOR)
    for type_, kind in ((CLUSTER_GROUP, "cluster"), (INSTANCE_GROUP, "instance")):
        assert alias_names(prepared.one(type_, f"aurora-us-east-2-{kind}-aurora-postgresql16")) == [
            f"aurora-us-east-2-{kind}"]
        # The groups of the prepared family are new: no alias could claim the current groups' state.
        target = prepared.one(type_, f"aurora-us-east-2-{kind}-aurora-postgresql17")
        assert (target.inputs["family"], target.aliases) == ("aurora-postgresql17", [])


def test_upgrade_target_declares_groups_of_its_family_beside_the_current_ones():
    capture = dev_with(engineUpgradeTarget=NEXT_MAJOR)
    cluster = capture.one(CLUSTER, "aurora-us-east-2")
    families = {g.inputs["name"]: g.inputs["family"] for g in capture.by_type(CLUSTER_GROUP)}
    assert sorted(families.values()) == ["aurora-postgresql16", "aurora-postgresql17"]
    assert families[cluster.inputs["dbClusterParameterGroupName"]] == "aurora-postgresql16"  # still the running one
    assert cluster.inputs["engineVersion"] == "16.6"
    exported = capture.outputs["regions"]["us-east-2"]["parameterGroups"]
    assert set(exported) == {"aurora-postgresql16", "aurora-postgresql17"}
    assert families[exported["aurora-postgresql17"]["cluster"]] == "aurora-postgresql17"
    instance_families = {g.inputs["name"]: g.inputs["family"] for g in capture.by_type(INSTANCE_GROUP)}
    assert instance_families[exported["aurora-postgresql17"]["instance"]] == "aurora-postgresql17"


def test_a_minor_upgrade_target_adds_no_groups():
    capture = dev_with(engineUpgradeTarget="16.8")
    assert len(capture.by_type(CLUSTER_GROUP)) == len(capture.by_type(INSTANCE_GROUP)) == 1


def test_every_member_of_a_global_database_exports_the_target_family():
    capture = run_program("prod", "update", overrides={"aurora-platform:engineUpgradeTarget": NEXT_MAJOR,
                                                        "aurora-platform:preUpgradeSnapshot": "before-17"})
    for region in ("us-east-1", "us-west-2"):
        assert set(capture.outputs["regions"][region]["parameterGroups"]) == {"aurora-postgresql16",
                                                                               "aurora-postgresql17"}
    assert not [w for w in capture.warnings if "engineUpgradeTarget" in w]


# ---------------------------------------------------------------------------------------
# The settings that prepare an upgrade.
# ---------------------------------------------------------------------------------------

def settings_of(stack: str, **overrides: str):
    raw = load_stack_config(stack)
    raw.update({f"aurora-platform:{k}": v for k, v in overrides.items()})
    return parse_settings(raw, stack)


@pytest.mark.parametrize("overrides, message", [
    ({"engineUpgradeTarget": "16.6"}, "engineUpgradeTarget = '16.6': must be newer than engineVersion (16.6)"),
    ({"engineUpgradeTarget": "16.4"}, "engineUpgradeTarget = '16.4': must be newer than engineVersion (16.6)"),
    ({"engineUpgradeTarget": "17"}, "engineUpgradeTarget = '17': not a aurora-postgresql version"),
    ({"preUpgradeSnapshot": "snap--1"}, "preUpgradeSnapshot = 'snap--1': a DB cluster snapshot identifier"),
    ({"preUpgradeSnapshot": "1snap"}, "preUpgradeSnapshot = '1snap': a DB cluster snapshot identifier"),
])
def test_bad_upgrade_settings_name_the_value(overrides, message):
    with pytest.raises(SettingsError) as error:
        settings_of("dev", **overrides)
    assert message in str(error.value)


def test_minor_versions_compare_numerically():
    assert settings_of("dev", engineVersion="16.9", engineUpgradeTarget="16.10").database.engine_upgrade_target == "16.10"


def test_production_major_upgrade_without_a_snapshot_warns():
    warnings = settings_of("prod", engineUpgradeTarget=NEXT_MAJOR).warnings
    assert any("prepares a major upgrade of a production stack" in w and "--snapshot" in w for w in warnings)
    assert not [w for w in settings_of("prod", engineUpgradeTarget=NEXT_MAJOR,
                                       preUpgradeSnapshot="aurora-platform-prod-before-17-4").warnings
                if "engineUpgradeTarget" in w]
    assert not [w for w in settings_of("prod", engineUpgradeTarget="16.8").warnings if "engineUpgradeTarget" in w]
    assert not [w for w in settings_of("dev", engineUpgradeTarget=NEXT_MAJOR).warnings if "engineUpgradeTarget" in w]

"""The Aurora Global Database on the committed prod stack and on variants built from settings."""

from __future__ import annotations

import json

import pytest

from components.settings import SettingsError
from deploy.offline.capture import run_program
from tests.conftest import captured
from tests.helpers import key_arns, region_of, transitive_dependencies

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
MEMBER_IGNORES = {"engineVersion", "globalClusterIdentifier", "replicationSourceIdentifier"}


def member(capture, region):
    return capture.one(CLUSTER, f"aurora-{region}")


def writer_of(capture, region):
    cluster_component = capture.one("aurora-platform:database:AuroraCluster", f"aurora-{region}")
    return next(i for i in capture.by_type(INSTANCE)
                if i.parent == cluster_component.urn and i.inputs["promotionTier"] == 0)


def with_global(secondaries, **global_fields):
    value = {"writerRegion": "us-east-1", "secondaryRegions": secondaries, **global_fields}
    return {"aurora-platform:globalDatabase": json.dumps(value)}


@pytest.fixture(scope="module", params=["update", "preview"])
def prod_any_mode(request):
    return captured("prod", request.param)


def test_secondary_waits_for_the_primary_writer_instance(prod_any_mode):
    secondary = member(prod_any_mode, "us-west-2")
    writer = writer_of(prod_any_mode, "us-east-1")
    assert writer.urn in secondary.dependencies, "an explicit dependency, not only through the global cluster"
    assert writer.urn in transitive_dependencies(prod_any_mode, secondary)


def test_each_member_uses_its_own_region_provider_and_key(prod):
    keys = key_arns(prod)
    assert set(keys) == {"us-east-1", "us-west-2"}
    for region in ("us-east-1", "us-west-2"):
        cluster = member(prod, region)
        assert region_of(prod, cluster) == region
        assert cluster.inputs["storageEncrypted"] is True
        assert cluster.inputs["kmsKeyId"] == keys[region]
        assert cluster.inputs["kmsKeyId"].split(":")[3] == region
        for instance in prod.by_type(INSTANCE):
            if instance.inputs["identifier"].startswith(cluster.inputs["clusterIdentifier"]):
                assert region_of(prod, instance) == region
                assert instance.inputs["performanceInsightsKmsKeyId"] == keys[region]


def test_members_join_the_global_cluster(prod):
    (global_cluster,) = prod.by_type("aws:rds/globalCluster:GlobalCluster")
    assert global_cluster.inputs["storageEncrypted"] is True and global_cluster.inputs["deletionProtection"] is True
    assert global_cluster.inputs["engine"] == "aurora-postgresql" and global_cluster.inputs["engineVersion"] == "16.6"
    for region in ("us-east-1", "us-west-2"):
        assert member(prod, region).inputs["globalClusterIdentifier"] == global_cluster.id


def test_secondaries_carry_no_credentials_or_database_name(prod):
    secondary = member(prod, "us-west-2")
    for key in ("masterUsername", "masterPassword", "databaseName", "manageMasterUserPassword",
                "masterUserSecretKmsKeyId"):
        assert key not in secondary.inputs, key


def test_primary_password_is_generated_and_secret(prod):
    primary = member(prod, "us-east-1")
    assert primary.inputs["masterUsername"] == "dbadmin" and primary.inputs["databaseName"] == "app"
    assert "manageMasterUserPassword" not in primary.inputs, "RDS-managed secrets are not allowed for members"
    assert primary.inputs["masterPassword"][SECRET_SIG], "the password reaches the engine as a secret"
    (version,) = prod.by_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"][SECRET_SIG]


def test_members_ignore_global_drift(prod):
    for region in ("us-east-1", "us-west-2"):
        assert MEMBER_IGNORES <= set(member(prod, region).ignore_changes)


def test_stateful_resources_are_protected(prod):
    stateful = ("aws:rds/globalCluster:GlobalCluster", CLUSTER, "aws:kms/key:Key", "aws:secretsmanager/secret:Secret")
    for type_ in stateful:
        resources = prod.by_type(type_)
        assert resources, type_
        for resource in resources:
            assert resource.protect, resource.name


def test_secret_replicated_to_every_secondary_with_its_key(prod):
    keys = key_arns(prod)
    (secret,) = prod.by_type("aws:secretsmanager/secret:Secret")
    assert region_of(prod, secret) == "us-east-1" and secret.inputs["kmsKeyId"] == keys["us-east-1"]
    assert secret.inputs["replicas"] == [{"region": "us-west-2", "kmsKeyId": keys["us-west-2"]}]
    regions = prod.outputs["regions"]
    assert regions["us-west-2"]["secretArn"] == secret.outputs["arn"].replace(":us-east-1:", ":us-west-2:")


def test_secondary_network_is_its_own(prod):
    vpcs = {region_of(prod, v): v.inputs["cidrBlock"] for v in prod.by_type("aws:ec2/vpc:Vpc")}
    assert vpcs == {"us-east-1": "10.0.0.0/16", "us-west-2": "10.1.0.0/16"}
    secondary = member(prod, "us-west-2")
    groups = {g.outputs["name"]: g for g in prod.by_type("aws:rds/subnetGroup:SubnetGroup")}
    assert region_of(prod, groups[secondary.inputs["dbSubnetGroupName"]]) == "us-west-2"


def test_exports_describe_every_region(prod):
    regions = prod.outputs["regions"]
    assert regions["us-east-1"]["role"] == "primary" and regions["us-east-1"]["writer"] is True
    assert regions["us-west-2"]["role"] == "secondary" and regions["us-west-2"]["writer"] is False
    assert prod.outputs["globalClusterIdentifier"] == "aurora-platform-prod"


def test_three_secondary_regions_from_settings():
    capture = run_program("prod", "update", overrides=with_global([
        {"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2},
        {"region": "eu-west-1", "vpcCidr": "10.2.0.0/16", "instances": 1},
        {"region": "ap-southeast-2", "vpcCidr": "10.3.0.0/16", "instances": 1, "instanceClass": "db.r6g.large"},
    ]))
    keys = key_arns(capture)
    assert set(keys) == {"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"}
    writer = writer_of(capture, "us-east-1")
    for region in ("us-west-2", "eu-west-1", "ap-southeast-2"):
        cluster = member(capture, region)
        assert cluster.inputs["kmsKeyId"] == keys[region] and region_of(capture, cluster) == region
        assert writer.urn in cluster.dependencies
        assert "masterUsername" not in cluster.inputs
    (secret,) = capture.by_type("aws:secretsmanager/secret:Secret")
    assert {r["region"]: r["kmsKeyId"] for r in secret.inputs["replicas"]} == {
        r: keys[r] for r in ("us-west-2", "eu-west-1", "ap-southeast-2")}
    sydney = [i for i in capture.by_type(INSTANCE) if region_of(capture, i) == "ap-southeast-2"]
    assert [i.inputs["instanceClass"] for i in sydney] == ["db.r6g.large"]


def test_headless_secondary_from_settings():
    capture = captured("prod", "update", overrides=with_global([
        {"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 0}]))
    secondary = member(capture, "us-west-2")
    assert [i for i in capture.by_type(INSTANCE) if region_of(capture, i) == "us-west-2"] == []
    assert writer_of(capture, "us-east-1").urn in secondary.dependencies
    assert secondary.inputs["kmsKeyId"] == key_arns(capture)["us-west-2"]


def test_write_forwarding_on_members_that_are_not_the_writer():
    capture = run_program("prod", "update", overrides=with_global(
        [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 1}], writeForwarding=True))
    assert member(capture, "us-west-2").inputs["enableGlobalWriteForwarding"] is True
    assert "enableGlobalWriteForwarding" not in member(capture, "us-east-1").inputs


def test_after_a_switchover_the_writer_region_moves_without_recreating_members():
    before = captured("prod", "update")
    after = captured("prod", "update", overrides=with_global(
        [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}], writerRegion="us-west-2"))
    assert after.outputs["writerRegion"] == "us-west-2"
    assert after.outputs["regions"]["us-west-2"]["writer"] is True
    for region in ("us-east-1", "us-west-2"):
        old, new = member(before, region), member(after, region)
        assert old.urn == new.urn
        assert {k: v for k, v in old.inputs.items()} == {k: v for k, v in new.inputs.items()}, region


BAD_GLOBAL = [
    ([{"region": "us-east-1", "vpcCidr": "10.1.0.0/16"}], {}, "globalDatabase.secondaryRegions[0].region",
     "equals the primary region"),
    ([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}, {"region": "us-west-2", "vpcCidr": "10.2.0.0/16"}], {},
     "globalDatabase.secondaryRegions[1].region", "listed twice"),
    ([{"region": "us-west-2", "vpcCidr": "10.0.128.0/17"}], {}, "globalDatabase.secondaryRegions[0].vpcCidr",
     "overlaps 10.0.0.0/16 of us-east-1"),
    ([{"region": r, "vpcCidr": f"10.{i + 1}.0.0/16"} for i, r in enumerate(
        ["us-west-2", "us-east-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"])], {},
     "globalDatabase.secondaryRegions", "6 secondary regions; allowed: 0 to 5"),
    ([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}], {"writerRegion": "eu-west-1"},
     "globalDatabase.writerRegion", "must be a member region: us-east-1, us-west-2"),
    ([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 0}], {"writerRegion": "us-west-2"},
     "globalDatabase.writerRegion", "headless secondary"),
    ([{"region": "us-west-2"}], {}, "globalDatabase.secondaryRegions[0].vpcCidr", "required"),
    ([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "availabilityZones": ["us-west-2a", "us-west-2a"]}], {},
     "globalDatabase.secondaryRegions[0].availabilityZones", "each zone at most once"),
]


@pytest.mark.parametrize("secondaries,extra,key,allowed", BAD_GLOBAL, ids=[b[3] for b in BAD_GLOBAL])
def test_bad_global_settings(secondaries, extra, key, allowed):
    with pytest.raises(SettingsError) as caught:
        run_program("prod", "preview", overrides=with_global(secondaries, **extra))
    message = str(caught.value)
    assert f"aurora-platform:{key}" in message and allowed in message


def test_backtrack_with_global_database_is_rejected():
    overrides = {"aurora-platform:engine": "aurora-mysql", "aurora-platform:engineVersion": "8.0.mysql_aurora.3.08.2",
                 "aurora-platform:backtrackWindowHours": "24"}
    with pytest.raises(SettingsError, match="backtrackWindowHours = 24: backtrack is not supported with Aurora Global Database"):
        run_program("prod", "preview", overrides=overrides)


def test_write_forwarding_needs_a_supporting_engine_version():
    overrides = {**with_global([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}], writeForwarding=True),
                 "aurora-platform:engineVersion": "15.4"}
    with pytest.raises(SettingsError,
                       match=r"globalDatabase.writeForwarding = true: aurora-postgresql 15.4 has no global write forwarding"):
        run_program("prod", "preview", overrides=overrides)


def test_dev_has_no_global_database(dev):
    assert dev.by_type("aws:rds/globalCluster:GlobalCluster") == []
    assert "globalClusterIdentifier" not in dev.outputs
    assert list(dev.outputs["regions"]) == ["us-east-2"]


def test_reader_auto_scaling_follows_the_writer_region():
    def scaled_clusters(capture):
        return {t.inputs["resourceId"] for t in capture.by_type("aws:appautoscaling/target:Target")}

    assert scaled_clusters(captured("prod")) == {"cluster:aurora-platform-prod-us-east-1"}
    after = captured("prod", "update", overrides=with_global(
        [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}], writerRegion="us-west-2"))
    assert scaled_clusters(after) == {"cluster:aurora-platform-prod-us-west-2"}


def fleet_group(capture, region):
    component = capture.one("aurora-platform:compute:InstanceFleet", f"fleet-{region}")
    return next(g for g in capture.by_type("aws:autoscaling/group:Group") if g.parent == component.urn)


def test_standby_fleet_in_secondary_regions(prod):
    writer, standby = fleet_group(prod, "us-east-1"), fleet_group(prod, "us-west-2")
    assert (writer.inputs["minSize"], writer.inputs["desiredCapacity"], writer.inputs["maxSize"]) == (3, 3, 9)
    assert (standby.inputs["minSize"], standby.inputs["desiredCapacity"]) == (0, 0)
    assert region_of(prod, standby) == "us-west-2"
    assert prod.outputs["regions"]["us-west-2"]["fleetAsgName"] == standby.outputs["name"]
    assert prod.outputs["fleetAsgName"] == writer.outputs["name"]


def test_standby_capacity_from_settings_and_fleet_follows_the_writer():
    warm = run_program("prod", "update", overrides=with_global(
        [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2, "standbyFleetDesiredCapacity": 2}]))
    assert fleet_group(warm, "us-west-2").inputs["desiredCapacity"] == 2
    moved = captured("prod", "update", overrides=with_global(
        [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}], writerRegion="us-west-2"))
    assert fleet_group(moved, "us-west-2").inputs["minSize"] == 3
    assert fleet_group(moved, "us-east-1").inputs["minSize"] == 0
    assert fleet_group(moved, "us-west-2").urn == fleet_group(captured("prod"), "us-west-2").urn
    assert moved.outputs["fleetAsgName"] == fleet_group(moved, "us-west-2").outputs["name"]


@pytest.mark.parametrize("overrides,key", [
    ({"aurora-platform:instanceClass": "db.t4g.medium"}, "aurora-platform:instanceClass"),
    ({"aurora-platform:readerInstanceClass": "db.t4g.large"}, "aurora-platform:readerInstanceClass"),
])
def test_global_database_refuses_burstable_classes(overrides, key):
    with pytest.raises(SettingsError) as caught:
        run_program("prod", "preview", overrides=overrides)
    assert key in str(caught.value) and "memory-optimised classes" in str(caught.value)


def test_burstable_secondary_class_is_refused():
    with pytest.raises(SettingsError, match=r"secondaryRegions\[0\].instanceClass = 'db.t4g.medium': a global database"):
        run_program("prod", "preview", overrides=with_global(
            [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instanceClass": "db.t4g.medium"}]))


def test_mysql_write_forwarding_needs_3_04():
    mysql = {"aurora-platform:engine": "aurora-mysql", "aurora-platform:masterUsername": "appadmin"}
    forwarding = with_global([{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}], writeForwarding=True)
    with pytest.raises(SettingsError, match="aurora-mysql 8.0.mysql_aurora.3.03.1 has no global write forwarding"):
        run_program("prod", "preview", overrides={**mysql, **forwarding,
                                                  "aurora-platform:engineVersion": "8.0.mysql_aurora.3.03.1"})
    capture = run_program("prod", "update", overrides={**mysql, **forwarding,
                                                       "aurora-platform:engineVersion": "8.0.mysql_aurora.3.08.2"})
    assert member(capture, "us-west-2").inputs["enableGlobalWriteForwarding"] is True


def test_switchover_with_write_forwarding_only_moves_forwarding():
    def forwarding(writer):
        return run_program("prod", "update", overrides=with_global(
            [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}], writeForwarding=True, writerRegion=writer))

    before, after = forwarding("us-east-1"), forwarding("us-west-2")
    for region, was, now in (("us-east-1", None, True), ("us-west-2", True, None)):
        old, new = member(before, region).inputs, member(after, region).inputs
        assert (old.get("enableGlobalWriteForwarding"), new.get("enableGlobalWriteForwarding")) == (was, now)
        assert {k: v for k, v in old.items() if k != "enableGlobalWriteForwarding"} == \
               {k: v for k, v in new.items() if k != "enableGlobalWriteForwarding"}

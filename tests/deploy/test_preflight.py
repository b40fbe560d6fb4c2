"""`deploy preflight` against a real moto server process (see conftest.py), plus botocore
Stubber where moto has no answer (noted per test).

What moto 5.2.5 answers, read from its source: no DescribeDBEngineVersions at all (the
server answers HTTP 500 with an HTML page); DescribeOrderableDBInstanceOptions from a
bundled aurora-postgresql list that stops at 15.2 and ignores the DBInstanceClass filter;
Service Quotas for the ``vpc`` service only (``ec2`` quotas answer NoSuchResourceException,
GetAWSDefaultServiceQuota is not implemented); EC2 zones, instance type offerings, account
attributes, VPCs, addresses and NAT gateways; the public Amazon Linux 2023 SSM parameters.
"""

from __future__ import annotations

import json
import socket

import boto3
import pytest
from botocore.stub import Stubber

from components.settings import parse_settings
from deploy import cli
from deploy.offline.capture import run_program
from deploy.offline.check import parse_overrides
from deploy.offline.stack_config import load_stack_config
from deploy.runbooks import preflight, preflight_plan
from deploy.runbooks.base import resolve_settings
from tests.deploy import aws_deployment as aws

STACK_TAGS = {"project": "aurora-platform", "stack": "dev"}


def stack_variant(stack: str, *pairs: str):
    """Settings and plan of a stack file with ``--set``-style overrides, from the captured program."""
    overrides = parse_overrides(list(pairs))
    settings = parse_settings({**load_stack_config(stack), **overrides}, stack)
    return settings, preflight_plan.plan_from_capture(run_program(stack, "preview", overrides=overrides), settings)


@pytest.fixture(scope="module")
def prod():
    settings = resolve_settings("prod")
    return settings, preflight.plan_stack("prod", settings)


@pytest.fixture(scope="module")
def dev():
    settings = resolve_settings("dev")
    return settings, preflight.plan_stack("dev", settings)


@pytest.fixture(scope="module")
def dev_in_us_east_1e():
    """dev moved to us-east-1 with a reader in us-east-1e, on 15.2 (moto's newest orderable version):
    moto offers neither db.r6g.large nor t4g.small in us-east-1e."""
    return stack_variant("dev", "aws:region=us-east-1", "availabilityZones=[us-east-1a, us-east-1e]",
                         "engineVersion='15.2'", "instanceClass=db.r6g.large")


def run_preflight(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["preflight", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def checks_of(findings) -> list[tuple[str, str]]:
    return sorted((f.check, f.resource) for f in findings)


# ---------------------------------------------------------------------------------------
# The plan: what the program declares.
# ---------------------------------------------------------------------------------------

def test_prod_plan_is_what_the_program_registers(prod):
    settings, plan = prod
    east, west = plan.regions["us-east-1"], plan.regions["us-west-2"]
    assert plan.global_database and plan.engine_version == "16.6"
    assert plan.stack_tags == {"project": "aurora-platform", "stack": "prod", "managed-by": "pulumi"}
    assert sorted(east.zones) == ["us-east-1a", "us-east-1b", "us-east-1c"] == sorted(east.fleet_zones)
    assert (east.vpcs, east.eips, dict(east.nat_gateways)) == (1, 3, {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1})
    assert sorted((i.identifier, i.instance_class, i.availability_zone, i.role) for i in east.instances) == [
        ("aurora-platform-prod-us-east-1-1", "db.r7g.xlarge", "us-east-1a", "writer"),
        ("aurora-platform-prod-us-east-1-2", "db.r7g.xlarge", "us-east-1b", "reader"),
        ("aurora-platform-prod-us-east-1-3", "db.r7g.xlarge", "us-east-1c", "reader")]
    assert len(west.instances) == 2 and west.eips == 3
    assert east.fleet_instance_type == "m7g.large"
    assert east.ami_parameter == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    names = {(n.kind, n.name) for n in east.names}
    assert {("db-cluster", "aurora-platform-prod-us-east-1"), ("global-cluster", "aurora-platform-prod"),
            ("kms-alias", "alias/aurora-platform-prod-us-east-1"), ("db-instance", "aurora-platform-prod-us-east-1-1"),
            ("db-subnet-group", "aurora-platform-prod-us-east-1-db"),
            ("log-group", "/aws/rds/cluster/aurora-platform-prod-us-east-1/postgresql")} <= names
    # Parameter groups are auto-named (the provider adds a random suffix at creation): nothing to collide with.
    assert not {n for n in names if n[0].endswith("parameter-group")}


def test_dev_plan_single_nat(dev):
    _, plan = dev
    region = plan.regions["us-east-2"]
    assert not plan.global_database
    assert (region.vpcs, region.eips, dict(region.nat_gateways)) == (1, 1, {"us-east-2a": 1})
    assert region.fleet_instance_type == "t4g.small" and region.ami_parameter.endswith("-arm64")


# ---------------------------------------------------------------------------------------
# Whole runs on moto.
# ---------------------------------------------------------------------------------------

# Findings on moto that come from its gaps, not from the stack: no DescribeDBEngineVersions, and
# no orderable Aurora PostgreSQL 16.x options.
def moto_gaps(region: str, instance_class: str) -> list[tuple[str, str, str]]:
    """What moto cannot answer: DescribeDBEngineVersions, orderable 16.x classes, and AWS Backup's
    DescribeRegionSettings (not implemented in moto 5.2.5's backup backend)."""
    return [("instance-class", region, instance_class), ("not-checked", region, "DescribeDBEngineVersions"),
            ("not-checked", region, "DescribeRegionSettings")]


def test_prod_on_moto(moto, capsys):
    code, report = run_preflight(capsys, "--stack", "prod", "--endpoint-url", moto)
    assert code == 1 and report["stack"] == "prod" and report["clean"] is False
    found = sorted((f["check"], f["region"], f["resource"]) for f in report["findings"])
    assert found == sorted(moto_gaps("us-east-1", "db.r7g.xlarge") + moto_gaps("us-west-2", "db.r7g.xlarge"))


def test_dev_on_moto_table_output(moto, capsys):
    code = cli.main(["preflight", "--stack", "dev", "--endpoint-url", moto])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("preflight stack dev: regions us-east-2\n")
    assert "db.t4g.medium is not orderable for aurora-postgresql 16.6 in us-east-2" in out
    assert "3 findings" in out  # with moto's missing DescribeDBEngineVersions and DescribeRegionSettings


RDS_NOT_FOUND = {"db-cluster": "DBClusterNotFoundFault", "db-instance": "DBInstanceNotFound",
                 "db-subnet-group": "DBSubnetGroupNotFoundFault"}


def test_dev_clean_run_exits_0(moto, dev, capsys):
    """A clean run of the committed dev stack end to end. RDS answers through botocore's Stubber
    (moto has no DescribeDBEngineVersions and no orderable 16.x options), in the order the checks
    ask; EC2, Service Quotas, KMS, CloudWatch Logs and SSM are moto's."""
    _, plan = dev
    rds, stub = _stubbed("rds")
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": "aurora-postgresql", "EngineVersion": "16.6", "SupportsGlobalDatabases": True}]},
        {"Engine": "aurora-postgresql", "EngineVersion": "16.6"})
    stub.add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": [{
        "Engine": "aurora-postgresql", "EngineVersion": "16.6", "DBInstanceClass": "db.t4g.medium",
        "AvailabilityZones": [{"Name": z} for z in ("us-east-2a", "us-east-2b", "us-east-2c")]}]},
        {"Engine": "aurora-postgresql", "EngineVersion": "16.6", "DBInstanceClass": "db.t4g.medium", "Vpc": True})
    rds_names = [n for n in plan.regions["us-east-2"].names if n.kind.startswith("db-")]
    assert {n.kind for n in rds_names} == set(RDS_NOT_FOUND)
    for planned in rds_names:
        stub.add_client_error(LOOKUP_OPERATIONS[planned.kind], RDS_NOT_FOUND[planned.kind], "not found", 404)
    backup, backup_stub = _stubbed("backup")  # moto has no DescribeRegionSettings
    backup_stub.add_response("describe_region_settings", {"ResourceTypeOptInPreference": {"Aurora": True, "RDS": True}})
    moto_clients = aws.Aws(moto)
    args = cli.build_parser().parse_args(["preflight", "--stack", "dev", "--json"])
    stubbed = {"rds": rds, "backup": backup}
    with stub, backup_stub:
        code = preflight.run(args, lambda service, region: stubbed.get(service) or moto_clients(service, region))
    stub.assert_no_pending_responses()
    backup_stub.assert_no_pending_responses()
    assert (code, json.loads(capsys.readouterr().out)) == (0, {"stack": "dev", "clean": True, "findings": []})


LOOKUP_OPERATIONS = {"db-cluster": "describe_db_clusters", "db-instance": "describe_db_instances",
                     "db-subnet-group": "describe_db_subnet_groups"}


def test_region_option_limits_the_checks(moto, capsys):
    code, report = run_preflight(capsys, "--stack", "prod", "--endpoint-url", moto, "--region", "us-west-2")
    assert code == 1 and {f["region"] for f in report["findings"]} == {"us-west-2"}


# ---------------------------------------------------------------------------------------
# One test per kind of finding.
# ---------------------------------------------------------------------------------------

def test_availability_zone_that_does_not_exist(moto):
    settings, plan = stack_variant("dev", "availabilityZones=[us-east-2a, us-east-2z]")
    available: set[str] = set()
    found = preflight.check_zones(settings, plan.regions["us-east-2"], aws.Aws(moto)("ec2", "us-east-2"), available)
    assert checks_of(found) == [("availability-zone", "us-east-2z")]
    assert "set availabilityZones" in found[0].message and "us-east-2a" in available
    # The zone-dependent checks leave the zone that does not exist to this finding.
    assert preflight.check_fleet_instance_type(settings, plan.regions["us-east-2"], aws.Aws(moto)("ec2", "us-east-2"),
                                               available) == []


def test_availability_zone_not_available(dev):
    """Stubber: every zone moto knows is available."""
    settings, plan = dev
    ec2, stub = _stubbed("ec2")
    stub.add_response("describe_availability_zones", {"AvailabilityZones": [
        {"ZoneName": "us-east-2a", "State": "available"}, {"ZoneName": "us-east-2b", "State": "impaired"},
        {"ZoneName": "us-east-2c", "State": "available"}]})
    available: set[str] = set()
    with stub:
        found = preflight.check_zones(settings, plan.regions["us-east-2"], ec2, available)
    assert checks_of(found) == [("availability-zone", "us-east-2b")]
    assert "is 'impaired'" in found[0].message and available == {"us-east-2a", "us-east-2c"}


def _stubbed(service: str, region: str = "us-east-2"):
    client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_engine_version_not_offered(dev):
    """Stubber: moto does not implement DescribeDBEngineVersions."""
    _, plan = dev
    rds, stub = _stubbed("rds")
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": []},
                      {"Engine": "aurora-postgresql", "EngineVersion": "16.6"})
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": "aurora-postgresql", "EngineVersion": v} for v in ("15.10", "16.8", "16.9", "17.4")]},
        {"Engine": "aurora-postgresql"})
    with stub:
        found = preflight.check_engine_version(plan, "us-east-2", rds)
    stub.assert_no_pending_responses()
    assert checks_of(found) == [("engine-version", "aurora-postgresql 16.6")]
    assert "set engineVersion" in found[0].message and "16.8, 16.9" in found[0].message and "15.10" not in found[0].message


@pytest.mark.parametrize("supports, expected", [(False, [("global-database-support", "aurora-postgresql 16.6")]),
                                                (True, [])])
def test_global_database_support(prod, supports, expected):
    """Stubber: moto does not implement DescribeDBEngineVersions."""
    _, plan = prod
    rds, stub = _stubbed("rds", "us-west-2")
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": "aurora-postgresql", "EngineVersion": "16.6", "SupportsGlobalDatabases": supports}]},
        {"Engine": "aurora-postgresql", "EngineVersion": "16.6"})
    with stub:
        assert checks_of(preflight.check_engine_version(plan, "us-west-2", rds)) == expected


def test_upgrade_target_of_the_stacks_existing_cluster(dev):
    """The stack's own cluster (found by name, carrying its tags) runs 16.8 after an automatic
    minor upgrade: 16.6 would be a downgrade. Stubber: moto does not implement
    DescribeDBEngineVersions, so the cluster lookup is stubbed on the same client."""
    _, plan = dev
    cluster_id = "aurora-platform-dev-us-east-2"
    region_plan = preflight.RegionPlan("us-east-2", names=[preflight_plan.PlannedName("db-cluster", cluster_id)])
    rds, stub = _stubbed("rds")
    stub.add_response("describe_db_clusters", {"DBClusters": [{
        "DBClusterIdentifier": cluster_id, "EngineVersion": "16.8",
        "TagList": [{"Key": k, "Value": v} for k, v in STACK_TAGS.items()]}]}, {"DBClusterIdentifier": cluster_id})
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": [{
        "Engine": "aurora-postgresql", "EngineVersion": "16.8",
        "ValidUpgradeTarget": [{"Engine": "aurora-postgresql", "EngineVersion": "16.9"},
                               {"Engine": "aurora-postgresql", "EngineVersion": "17.4"}]}]},
        {"Engine": "aurora-postgresql", "EngineVersion": "16.8"})
    with stub:
        found = preflight.check_names(plan, region_plan, lambda service: rds)
    stub.assert_no_pending_responses()
    assert checks_of(found) == [("upgrade-target", cluster_id)]
    assert "runs aurora-postgresql 16.8" in found[0].message and "16.9, 17.4" in found[0].message


def test_upgrade_target_valid_or_same_version(dev):
    """Stubber: moto does not implement DescribeDBEngineVersions."""
    _, plan = dev
    assert preflight.check_upgrade_target(plan, "us-east-2", {"EngineVersion": "16.6"}, rds=None) == []
    rds, stub = _stubbed("rds")
    stub.add_response("describe_db_engine_versions", {"DBEngineVersions": [{
        "Engine": "aurora-postgresql", "EngineVersion": "16.4",
        "ValidUpgradeTarget": [{"Engine": "aurora-postgresql", "EngineVersion": "16.6"}]}]},
        {"Engine": "aurora-postgresql", "EngineVersion": "16.4"})
    with stub:
        assert preflight.check_upgrade_target(plan, "us-east-2", {"EngineVersion": "16.4"}, rds) == []


def test_instance_class_not_orderable(moto):
    settings, plan = stack_variant("dev", "engineVersion='15.2'", "instanceClass=db.r7g.large")
    rds = aws.Aws(moto)("rds", "us-east-2")
    found = preflight.check_instance_classes(settings, plan, plan.regions["us-east-2"], rds, {"us-east-2a", "us-east-2b"})
    assert checks_of(found) == [("instance-class", "db.r7g.large")]
    assert "set instanceClass" in found[0].message


def test_instance_class_not_orderable_in_a_zone(moto, dev_in_us_east_1e):
    settings, plan = dev_in_us_east_1e
    rds = aws.Aws(moto)("rds", "us-east-1")
    found = preflight.check_instance_classes(settings, plan, plan.regions["us-east-1"], rds, {"us-east-1a", "us-east-1e"})
    assert checks_of(found) == [("instance-class", "aurora-platform-dev-us-east-1-2")]
    assert "not orderable in us-east-1e" in found[0].message and "set availabilityZones" in found[0].message


def test_fleet_instance_type_not_offered_in_a_zone(moto, dev_in_us_east_1e):
    settings, plan = dev_in_us_east_1e
    found = preflight.check_fleet_instance_type(settings, plan.regions["us-east-1"], aws.Aws(moto)("ec2", "us-east-1"),
                                                {"us-east-1a", "us-east-1e"})
    assert checks_of(found) == [("fleet-instance-type", "t4g.small")]
    assert "not offered in us-east-1e" in found[0].message and "fleetInstanceType" in found[0].message


def _quota_findings(moto, plan, region="us-east-2"):
    clients = aws.Aws(moto)
    ec2, quotas = clients("ec2", region), clients("service-quotas", region)
    return [f for check in (preflight.check_vpc_quota, preflight.check_eip_quota, preflight.check_nat_quota)
            for f in check(plan.regions[region], ec2, quotas, plan.stack_tags)]


def test_vpc_quota(moto, dev):
    """moto's VPCs per Region quota is AWS's default, 5; its default VPC is one of them."""
    _, plan = dev
    ec2 = aws.Aws(moto)("ec2", "us-east-2")
    for i in range(3):
        ec2.create_vpc(CidrBlock=f"10.{100 + i}.0.0/16")
    assert _quota_findings(moto, plan) == []  # 4 in use + 1 = 5: at the quota, not over it
    ec2.create_vpc(CidrBlock="10.110.0.0/16")
    found = _quota_findings(moto, plan)
    assert checks_of(found) == [("quota", "vpc/L-F678F1CE")]
    assert "5 in use + 1 the stack adds = 6 > quota 5" in found[0].message


def test_eip_quota_from_ec2_when_service_quotas_has_none(moto, dev):
    """moto's Service Quotas has no ec2 quotas (NoSuchResourceException), so the limit comes
    from EC2's vpc-max-elastic-ips attribute (5 in moto)."""
    _, plan = dev
    ec2 = aws.Aws(moto)("ec2", "us-east-2")
    for _ in range(5):
        ec2.allocate_address(Domain="vpc")
    found = _quota_findings(moto, plan)
    assert checks_of(found) == [("quota", "ec2/L-0263D0A3")]
    assert "5 in use + 1 the stack adds = 6 > quota 5" in found[0].message


def test_nat_gateway_quota_counts_per_zone(moto, dev):
    _, plan = dev  # single NAT gateway, in us-east-2a
    ec2 = aws.Aws(moto)("ec2", "us-east-2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = {zone: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for zone, cidr in (("us-east-2a", "10.50.0.0/24"), ("us-east-2b", "10.50.1.0/24"))}
    for _ in range(5):  # full in us-east-2b: not where the stack adds its gateway
        ec2.create_nat_gateway(SubnetId=subnets["us-east-2b"], ConnectivityType="private")
    assert [f for f in _quota_findings(moto, plan) if f.resource == "vpc/L-FE5A380F"] == []
    for _ in range(5):
        ec2.create_nat_gateway(SubnetId=subnets["us-east-2a"], ConnectivityType="private")
    found = [f for f in _quota_findings(moto, plan) if f.resource == "vpc/L-FE5A380F"]
    assert checks_of(found) == [("quota", "vpc/L-FE5A380F")]
    assert "in us-east-2a: 5 in use + 1" in found[0].message and "natStrategy" in found[0].message


PROD_TAGS = {"project": "aurora-platform", "stack": "prod", "managed-by": "pulumi"}


def _tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def _prod_network_in_use(ec2, zones=("us-east-1a", "us-east-1b", "us-east-1c"), tags=PROD_TAGS) -> str:
    """What prod's `pulumi up` leaves in us-east-1: its VPC, an Elastic IP and a NAT gateway per
    zone, all with the provider's default tags. Returns the VPC id."""
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=_tag_spec("vpc", tags))["Vpc"]["VpcId"]
    for i, zone in enumerate(zones):
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", tags))["AllocationId"]
        ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, TagSpecifications=_tag_spec("natgateway", tags))
    return vpc


def test_quota_does_not_count_the_stacks_own_resources_again(moto, prod):
    """After prod's first `up` its own VPC, 3 Elastic IPs and 3 NAT gateways are in use in
    us-east-1; preflight before the next `up` must not count them a second time as ones to add."""
    _, plan = prod
    ec2 = aws.Aws(moto)("ec2", "us-east-1")
    _prod_network_in_use(ec2)
    for i in range(3):  # with moto's default VPC and prod's: 5 VPCs, at the quota
        ec2.create_vpc(CidrBlock=f"10.{100 + i}.0.0/16")
    for _ in range(2):  # with prod's 3: 5 Elastic IPs, at the quota
        ec2.allocate_address(Domain="vpc")
    assert _quota_findings(moto, plan, "us-east-1") == []


def test_quota_counts_foreign_resources_and_what_the_stack_still_adds(moto, prod):
    """Resources of another stack (same project, other `stack` tag) or untagged ones count as in
    use; the stack adds what it lacks: here the Elastic IP and NAT gateway of us-east-1c."""
    _, plan = prod
    ec2 = aws.Aws(moto)("ec2", "us-east-1")
    vpc = _prod_network_in_use(ec2, zones=("us-east-1a", "us-east-1b"))
    _prod_network_in_use(ec2, zones=(), tags={**PROD_TAGS, "stack": "dev"})  # another stack's VPC
    for i in range(2):  # moto's default VPC, prod's, dev's and these two: 5 in use, prod adds none
        ec2.create_vpc(CidrBlock=f"10.{100 + i}.0.0/16")
    for _ in range(3):  # with prod's 2: 5 in use, and prod adds the one of us-east-1c
        ec2.allocate_address(Domain="vpc")
    subnet_c = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.9.0/24", AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    for _ in range(5):
        ec2.create_nat_gateway(SubnetId=subnet_c, ConnectivityType="private",
                               TagSpecifications=_tag_spec("natgateway", {**PROD_TAGS, "stack": "dev"}))
    found = {f.resource: f.message for f in _quota_findings(moto, plan, "us-east-1")}
    assert sorted(found) == ["ec2/L-0263D0A3", "vpc/L-FE5A380F"]
    assert "Elastic IPs: 5 in use (2 of them this stack's) + 1 the stack adds = 6 > quota 5" in found["ec2/L-0263D0A3"]
    assert "in us-east-1c: 5 in use + 1 the stack adds = 6 > quota 5" in found["vpc/L-FE5A380F"]


def test_quota_a_deleting_nat_gateway_of_the_stack_is_not_kept(dev):
    """Stubber: moto deletes a NAT gateway at once, never leaving it 'deleting'. The stack's
    gateway that is deleting still counts against the zone's quota, and the stack adds a new one."""
    _, plan = dev
    ec2, ec2_stub = _stubbed("ec2")
    quotas, quotas_stub = _stubbed("service-quotas")
    own = [{"Key": k, "Value": v} for k, v in plan.stack_tags.items()]
    ec2_stub.add_response("describe_nat_gateways", {"NatGateways": [
        {"NatGatewayId": "nat-0", "SubnetId": "subnet-a", "State": "deleting", "Tags": own},
        *({"NatGatewayId": f"nat-{i}", "SubnetId": "subnet-a", "State": "available"} for i in range(1, 5))]},
        {"Filters": [{"Name": "state", "Values": ["pending", "available", "deleting"]}]})
    ec2_stub.add_response("describe_subnets", {"Subnets": [{"SubnetId": "subnet-a", "AvailabilityZone": "us-east-2a"}]},
                          {"SubnetIds": ["subnet-a"]})
    quotas_stub.add_response("get_service_quota", {"Quota": {"Value": 5.0}},
                             {"ServiceCode": "vpc", "QuotaCode": "L-FE5A380F"})
    with ec2_stub, quotas_stub:
        found = preflight.check_nat_quota(plan.regions["us-east-2"], ec2, quotas, plan.stack_tags)
    ec2_stub.assert_no_pending_responses()
    assert checks_of(found) == [("quota", "vpc/L-FE5A380F")]
    assert "in us-east-2a: 5 in use + 1 the stack adds = 6 > quota 5" in found[0].message


def _name_findings(moto, plan, region="us-east-2"):
    clients = aws.Aws(moto)
    return preflight.check_names(plan, plan.regions[region], lambda service: clients(service, region))


def _holder(moto, kind: str, name: str, tags: dict[str, str]) -> None:
    """Create the resource of ``kind`` named ``name`` in us-east-2 of the emulator."""
    clients = aws.Aws(moto)
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    if kind == "kms-alias":
        kms = clients("kms", "us-east-2")
        key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=name, TargetKeyId=key)
    elif kind == "log-group":
        clients("logs", "us-east-2").create_log_group(logGroupName=name, tags=tags)
    elif kind == "db-cluster":
        clients("rds", "us-east-2").create_db_cluster(
            DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="someone",
            MasterUserPassword=aws.PASSWORD, Tags=tag_list)
    elif kind == "db-cluster-parameter-group":
        clients("rds", "us-east-2").create_db_cluster_parameter_group(
            DBClusterParameterGroupName=name, DBParameterGroupFamily="aurora-postgresql16", Description="x", Tags=tag_list)
    elif kind == "db-parameter-group":
        clients("rds", "us-east-2").create_db_parameter_group(
            DBParameterGroupName=name, DBParameterGroupFamily="aurora-postgresql16", Description="x", Tags=tag_list)
    else:
        raise ValueError(kind)


NAMES = {
    "kms-alias": "alias/aurora-platform-dev-us-east-2",
    "log-group": "/aws/rds/cluster/aurora-platform-dev-us-east-2/postgresql",
    "db-cluster": "aurora-platform-dev-us-east-2",
    # The program auto-names its parameter groups; these two are planned by hand to test the lookups.
    "db-cluster-parameter-group": "aurora-platform-dev-cluster",
    "db-parameter-group": "aurora-platform-dev-instance",
}


@pytest.mark.parametrize("kind", NAMES)
def test_name_taken_outside_the_stack(kind, moto, dev):
    _, plan = dev
    name = NAMES[kind]
    if kind.endswith("parameter-group"):
        plan.regions["us-east-2"].names.append(preflight_plan.PlannedName(kind, name))
    try:
        assert (kind, name) in {(n.kind, n.name) for n in plan.regions["us-east-2"].names}
        assert _name_findings(moto, plan) == []
        _holder(moto, kind, name, {"project": "someone-else"})
        found = _name_findings(moto, plan)
    finally:
        if kind.endswith("parameter-group"):
            plan.regions["us-east-2"].names.pop()
    assert checks_of(found) == [("name-taken", name)]
    assert found[0].message.startswith(f"{kind} {name} already exists in us-east-2 and does not carry this stack's tags "
                                       "(project=aurora-platform, stack=dev)")


@pytest.mark.parametrize("kind", ["kms-alias", "log-group"])
def test_name_held_by_the_stack_itself_is_not_a_finding(kind, moto, dev):
    _, plan = dev
    _holder(moto, kind, NAMES[kind], {**STACK_TAGS, "managed-by": "pulumi"})
    assert _name_findings(moto, plan) == []


def test_global_cluster_name_taken(moto, prod):
    """moto's global clusters take no tags, so one created here belongs to nobody."""
    _, plan = prod
    aws.Aws(moto)("rds", "us-east-1").create_global_cluster(GlobalClusterIdentifier="aurora-platform-prod",
                                                            Engine="aurora-postgresql")
    found = _name_findings(moto, plan, "us-east-1")
    assert checks_of(found) == [("name-taken", "aurora-platform-prod")]


def test_ami_parameter(moto, prod):
    _, plan = prod
    clients = aws.Aws(moto)
    for region in ("us-east-1", "us-west-2"):
        assert preflight.check_ami_parameter(plan.regions[region], clients("ssm", region)) == []
    missing = preflight.RegionPlan("us-west-2", ami_parameter="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-sparc")
    found = preflight.check_ami_parameter(missing, clients("ssm", "us-west-2"))
    assert checks_of(found) == [("ami-parameter", missing.ami_parameter)]
    assert "does not exist in us-west-2" in found[0].message


def test_backup_opt_in_for_aurora(dev):
    """Stubber: moto 5.2.5 does not implement AWS Backup's DescribeRegionSettings. A region opted out of
    Aurora (or that never answered for it) is a finding naming the command that opts in."""
    for preference, expected in (({"Aurora": False, "RDS": True}, [("backup-opt-in", "Aurora")]),
                                 ({"RDS": True}, [("backup-opt-in", "Aurora")]), ({"Aurora": True}, [])):
        backup, stub = _stubbed("backup")
        stub.add_response("describe_region_settings", {"ResourceTypeOptInPreference": preference})
        with stub:
            found = preflight.check_backup_opt_in("us-east-2", backup)
        assert checks_of(found) == expected
    assert "update-region-settings --region us-east-2 --resource-type-opt-in-preference Aurora=true" in \
        preflight.check_backup_opt_in("us-east-2", _fake_backup({}))[0].message


def _fake_backup(preference: dict):
    return type("Backup", (), {"describe_region_settings": lambda self: {"ResourceTypeOptInPreference": preference}})()


def test_refused_read_is_not_checked_and_the_rest_runs(dev):
    """Stubber: an AccessDenied answer, which moto never gives."""
    _, plan = dev
    ssm, stub = _stubbed("ssm")
    stub.add_client_error("get_parameter", "AccessDeniedException", "not authorized to perform: ssm:GetParameter")
    with stub:
        found = preflight._guarded("us-east-2", "GetParameter", preflight.check_ami_parameter, plan.regions["us-east-2"], ssm)
    assert checks_of(found) == [("not-checked", "GetParameter")]
    assert found[0].message == "AWS refused GetParameter: AccessDeniedException: not authorized to perform: ssm:GetParameter"


# ---------------------------------------------------------------------------------------
# Usage errors and no credentials exit 2, AWS out of reach exits 1 (as verify, upgrade and
# the runbooks do); each with a message, no traceback.
# ---------------------------------------------------------------------------------------

def test_unknown_stack_is_a_usage_error(capsys):
    assert cli.main(["preflight", "--stack", "staging"]) == 2
    err = capsys.readouterr().err
    assert "--stack staging: unknown stack 'staging'" in err and "Traceback" not in err


def test_unknown_region_option_is_a_usage_error(capsys):
    assert cli.main(["preflight", "--stack", "dev", "--region", "eu-west-1"]) == 2
    assert "--region eu-west-1: not a region of stack dev (regions: us-east-2)" in capsys.readouterr().err


def test_program_failing_offline_is_a_failure_without_traceback(monkeypatch, capsys):
    def failing_program(*args, **kwargs):
        raise TypeError("Args.__init__() got an unexpected keyword argument 'x'")

    monkeypatch.setattr("deploy.offline.capture.run_program", failing_program)
    assert cli.main(["preflight", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert "the program failed on the mock engine" in err and "unexpected keyword argument 'x'" in err
    assert "Traceback" not in err


def test_without_credentials_is_a_usage_error(moto_server, aws_env, monkeypatch, tmp_path, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["preflight", "--stack", "dev", "--endpoint-url", moto_server]) == 2
    captured = capsys.readouterr()
    assert "no AWS credentials" in captured.err and "Traceback" not in captured.err and captured.out == ""


def test_unreachable_endpoint_is_a_failure_not_a_usage_error(aws_env, capsys):
    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert cli.main(["preflight", "--stack", "dev", "--endpoint-url", url]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert f"could not reach --endpoint-url {url}" in err and "check the URL and the network" in err
    assert "Traceback" not in err and captured.out == ""

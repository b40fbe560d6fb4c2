"""The program on the committed dev and prod stacks: the inputs that would reach AWS."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from components.network import subnet_cidrs
from tests.conftest import captured
from tests.helpers import by_id, in_region, key_arns, region_of

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
KEY = "aws:kms/key:Key"


def primary_cluster(capture):
    region = capture.outputs["primaryRegion"]
    return capture.one(CLUSTER, f"aurora-{region}")


def region_key(capture, region):
    return capture.one(KEY, f"key-{region}")


def test_cluster_encrypted_with_the_stack_key(stack_capture):
    cluster = primary_cluster(stack_capture)
    key = region_key(stack_capture, stack_capture.outputs["primaryRegion"])
    assert cluster.inputs["storageEncrypted"] is True
    assert cluster.inputs["kmsKeyId"] == key.outputs["arn"]
    assert stack_capture.outputs["kmsKeyArn"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True


def test_cluster_key_is_wired_even_when_unknown_on_preview():
    capture = captured("prod", "preview")
    cluster = primary_cluster(capture)
    key = region_key(capture, "us-east-1")
    assert key.urn in cluster.property_dependencies["kmsKeyId"]


def test_managed_master_secret_uses_the_stack_key(dev):
    cluster = primary_cluster(dev)
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert cluster.inputs["masterUserSecretKmsKeyId"] == region_key(dev, "us-east-2").outputs["arn"]
    assert "masterPassword" not in cluster.inputs


@pytest.mark.parametrize("stack,parameter,value", [("dev", "rds.force_ssl", "1"), ("prod", "rds.force_ssl", "1")])
def test_tls_parameter_group_attached(stack, parameter, value):
    capture = captured(stack)
    cluster = primary_cluster(capture)
    groups = {g.outputs["name"]: g for g in capture.by_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")
              if "name" in g.outputs}
    group = groups[cluster.inputs["dbClusterParameterGroupName"]]
    assert {"name": parameter, "value": value, "applyMethod": "immediate"} in group.inputs["parameters"]
    assert group.inputs["family"] == "aurora-postgresql16"


def test_mysql_variant_requires_secure_transport():
    capture = captured("regional-mysql")
    group = capture.by_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")[0]
    assert {"name": "require_secure_transport", "value": "ON", "applyMethod": "immediate"} in group.inputs["parameters"]
    assert group.inputs["family"] == "aurora-mysql8.0"
    assert primary_cluster(capture).inputs["enabledCloudwatchLogsExports"] == ["audit", "error", "general", "slowquery"]


def test_prod_writer_and_two_readers_over_three_azs(prod):
    instances = sorted(prod.by_type(INSTANCE), key=lambda r: r.inputs["identifier"])
    primary = [i for i in instances if i.parent == prod.one("aurora-platform:database:AuroraCluster", "aurora-us-east-1").urn]
    assert [i.inputs["promotionTier"] for i in primary] == [0, 1, 2]
    assert {i.inputs["availabilityZone"] for i in primary} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert all(i.inputs["instanceClass"] == "db.r7g.xlarge" for i in primary)


def test_no_public_access_anywhere(stack_capture):
    for instance in stack_capture.by_type(INSTANCE):
        assert instance.inputs["publiclyAccessible"] is False
    for subnet in stack_capture.by_type("aws:ec2/subnet:Subnet"):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    for group in stack_capture.by_type("aws:ec2/securityGroup:SecurityGroup"):
        for rule in group.inputs.get("ingress", []):
            assert "0.0.0.0/0" not in rule.get("cidrBlocks", []) and "::/0" not in rule.get("ipv6CidrBlocks", [])
    for rule in stack_capture.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs


def test_db_security_group_admits_only_named_groups_on_engine_port(stack_capture):
    cluster = primary_cluster(stack_capture)
    (db_sg_id,) = cluster.inputs["vpcSecurityGroupIds"]
    db_sg = by_id(stack_capture)[db_sg_id]
    assert db_sg.inputs.get("ingress", []) == [] and db_sg.inputs["egress"] == []
    rules = [r for r in stack_capture.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r.inputs["securityGroupId"] == db_sg_id]
    assert rules, "the fleet is admitted"
    for rule in rules:
        assert rule.inputs["referencedSecurityGroupId"].startswith("sg-")
        assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (5432, 5432, "tcp")


def test_db_security_group_admits_extra_groups_from_settings():
    capture = captured("dev", "update", overrides={"aurora-platform:allowedSecurityGroupIds": '["sg-0123456789abcdef0"]'})
    rules = capture.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert any(r.inputs["referencedSecurityGroupId"] == "sg-0123456789abcdef0" and r.inputs["fromPort"] == 5432
               for r in rules)


def test_database_subnets_have_no_internet_route(stack_capture):
    ids = by_id(stack_capture)
    groups = stack_capture.by_type("aws:rds/subnetGroup:SubnetGroup")
    assert len(groups) == len(stack_capture.outputs["regions"]), "one subnet group per region"
    for group in groups:
        db_subnets = set(group.inputs["subnetIds"])
        assert db_subnets and {ids[s].inputs["tags"]["tier"] for s in db_subnets} == {"database"}
        tables = {a.inputs["routeTableId"] for a in stack_capture.by_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
                  if a.inputs["subnetId"] in db_subnets}
        assert len(tables) == 1, "every database subnet is explicitly associated with the database route table"
        routes = [r for r in stack_capture.by_type("aws:ec2/route:Route") if r.inputs["routeTableId"] in tables]
        assert routes == []
        for table in tables:
            assert ids[table].inputs.get("routes", []) == []


def test_private_tier_has_one_route_table_per_az_with_per_az_nat(prod):
    ids = by_id(prod)
    private = [s for s in in_region(prod, "aws:ec2/subnet:Subnet", "us-east-1") if s.inputs["tags"]["tier"] == "private"]
    tables = {}
    for assoc in prod.by_type("aws:ec2/routeTableAssociation:RouteTableAssociation"):
        if assoc.inputs["subnetId"] in {s.id for s in private}:
            tables[ids[assoc.inputs["subnetId"]].inputs["availabilityZone"]] = assoc.inputs["routeTableId"]
    assert len(set(tables.values())) == 3
    for zone, table in tables.items():
        (route,) = [r for r in prod.by_type("aws:ec2/route:Route") if r.inputs["routeTableId"] == table]
        nat = ids[route.inputs["natGatewayId"]]
        assert ids[nat.inputs["subnetId"]].inputs["availabilityZone"] == zone


def test_subnet_cidrs_are_disjoint_and_inside_the_vpc():
    for vpc in ("10.0.0.0/16", "10.20.0.0/20"):
        cidrs = subnet_cidrs(vpc, 6)
        networks = [ipaddress.ip_network(c) for tier in cidrs.values() for c in tier]
        assert all(n.subnet_of(ipaddress.ip_network(vpc)) for n in networks)
        assert all(not a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])
        assert min(n.prefixlen for n in networks) >= 20 and max(n.prefixlen for n in networks) <= 28


def test_flow_logs_encrypted_with_the_region_key(stack_capture):
    keys = key_arns(stack_capture)
    flow_logs = stack_capture.by_type("aws:ec2/flowLog:FlowLog")
    assert {region_of(stack_capture, f) for f in flow_logs} == set(keys), "flow logs in every region"
    groups = {g.outputs["arn"]: g for g in stack_capture.by_type("aws:cloudwatch/logGroup:LogGroup")}
    for flow_log in flow_logs:
        group = groups[flow_log.inputs["logDestination"]]
        assert group.inputs["kmsKeyId"] == keys[region_of(stack_capture, flow_log)]
        assert group.inputs["retentionInDays"] > 0 and flow_log.inputs["trafficType"] == "ALL"
        role_policy = next(p for p in stack_capture.by_type("aws:iam/rolePolicy:RolePolicy")
                           if p.parent == flow_log.parent and "flow-logs" in p.name)
        statement = json.loads(role_policy.inputs["policy"])["Statement"]
        assert statement[0]["Resource"] == [group.outputs["arn"], group.outputs["arn"] + ":*"]


def test_every_log_group_is_encrypted_with_its_region_key_and_retained(stack_capture):
    keys = key_arns(stack_capture)
    groups = stack_capture.by_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups
    for group in groups:
        assert group.inputs["kmsKeyId"] == keys[region_of(stack_capture, group)], group.name
        assert group.inputs["retentionInDays"] > 0


def test_database_log_groups_exist_before_any_instance_exports(dev):
    (group,) = [g for g in dev.by_type("aws:cloudwatch/logGroup:LogGroup") if g.name.endswith("-postgresql")]
    assert group.inputs["name"] == "/aws/rds/cluster/aurora-platform-dev-us-east-2/postgresql"
    instances = dev.by_type(INSTANCE)
    assert instances and all(group.urn in i.dependencies for i in instances)
    # The cluster itself does not wait: creating it in parallel keeps the group off the critical path.
    assert group.urn not in primary_cluster(dev).dependencies


def test_default_security_group_has_no_rules(stack_capture):
    default_sgs = stack_capture.by_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert len(default_sgs) == len(key_arns(stack_capture)), "one per region's VPC"
    for default_sg in default_sgs:
        assert default_sg.inputs.get("ingress", []) == [] and default_sg.inputs.get("egress", []) == []


def test_prod_protection(prod):
    cluster = primary_cluster(prod)
    assert cluster.protect and region_key(prod, "us-east-1").protect
    assert cluster.inputs["deletionProtection"] is True
    assert cluster.inputs["backupRetentionPeriod"] >= 14
    assert cluster.inputs["skipFinalSnapshot"] is False
    assert re.fullmatch(r"aurora-platform-prod-us-east-1-final-[0-9a-f]{8}", cluster.inputs["finalSnapshotIdentifier"])
    assert cluster.inputs["copyTagsToSnapshot"] is True and cluster.inputs["deleteAutomatedBackups"] is False


def test_dev_is_easy_to_tear_down(dev):
    cluster = primary_cluster(dev)
    assert not cluster.protect and not region_key(dev, "us-east-2").protect
    assert cluster.inputs["deletionProtection"] is False and cluster.inputs["skipFinalSnapshot"] is True


def test_performance_insights_and_enhanced_monitoring(prod):
    keys = key_arns(prod)
    roles = {r.outputs["arn"]: r for r in prod.by_type("aws:iam/role:Role")}
    for instance in prod.by_type(INSTANCE):
        assert instance.inputs["performanceInsightsEnabled"] is True
        assert instance.inputs["performanceInsightsKmsKeyId"] == keys[region_of(prod, instance)]
        assert instance.inputs["monitoringInterval"] == 30
        role = roles[instance.inputs["monitoringRoleArn"]]
        assert "monitoring.rds.amazonaws.com" in role.inputs["assumeRolePolicy"]


def test_reader_auto_scaling_tracks_reader_cpu(prod):
    (target,) = prod.by_type("aws:appautoscaling/target:Target")
    assert target.inputs["scalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (2, 6)
    (policy,) = prod.by_type("aws:appautoscaling/policy:Policy")
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["predefinedMetricSpecification"]["predefinedMetricType"] == "RDSReaderAverageCPUUtilization"


def test_key_policy_scopes_service_use(prod):
    key = region_key(prod, "us-east-1")
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    services = statements["ServicesOfThisAccountAndRegion"]["Condition"]["StringEquals"]
    assert services["kms:CallerAccount"] == "123456789012"
    assert "rds.us-east-1.amazonaws.com" in services["kms:ViaService"]
    logs = statements["CloudWatchLogsOfThisAccount"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert key.inputs["deletionWindowInDays"] == 30


def test_every_aws_resource_uses_an_explicit_regional_provider(stack_capture):
    for resource in stack_capture.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider and resource.provider.startswith("urn:pulumi:"), resource.name


def test_outputs_callers_need(stack_capture):
    for key in ("clusterIdentifier", "clusterArn", "writerEndpoint", "readerEndpoint", "port", "dbSecurityGroupId",
                "secretArn", "kmsKeyArn", "vpcId", "primaryRegion", "writerRegion"):
        assert stack_capture.outputs.get(key), key


def test_default_nacl_denies_everything_and_every_subnet_has_a_deliberate_nacl(stack_capture):
    for default_nacl in stack_capture.by_type("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl"):
        assert default_nacl.inputs.get("ingress", []) == [] and default_nacl.inputs.get("egress", []) == []
    assigned = [s for nacl in stack_capture.by_type("aws:ec2/networkAcl:NetworkAcl") for s in nacl.inputs["subnetIds"]]
    subnets = {s.id for s in stack_capture.by_type("aws:ec2/subnet:Subnet")}
    assert sorted(assigned) == sorted(subnets), "each subnet in exactly one NACL of ours"


def test_database_nacl_admits_only_the_engine_port_from_the_vpc(stack_capture):
    ids = by_id(stack_capture)
    vpcs = {v.id: v.inputs["cidrBlock"] for v in stack_capture.by_type("aws:ec2/vpc:Vpc")}
    database_nacls = [n for n in stack_capture.by_type("aws:ec2/networkAcl:NetworkAcl") if n.name.endswith("-database")]
    assert len(database_nacls) == len(vpcs)
    for nacl in database_nacls:
        vpc_cidr = vpcs[nacl.inputs["vpcId"]]
        assert {ids[s].inputs["tags"]["tier"] for s in nacl.inputs["subnetIds"]} == {"database"}
        assert nacl.inputs["ingress"] == [{"ruleNo": 100, "action": "allow", "protocol": "tcp", "fromPort": 5432,
                                           "toPort": 5432, "cidrBlock": vpc_cidr}]
        assert nacl.inputs["egress"] == [{"ruleNo": 100, "action": "allow", "protocol": "tcp", "fromPort": 1024,
                                          "toPort": 65535, "cidrBlock": vpc_cidr}]


def test_account_and_partition_are_invoked_once_per_provider(monkeypatch):
    import pulumi_aws as aws

    from deploy.offline.capture import run_program

    calls = {"identity": 0, "partition": 0}

    def counting(kind, invoke):
        def wrapper(*args, **kwargs):
            calls[kind] += 1
            return invoke(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(aws, "get_caller_identity_output", counting("identity", aws.get_caller_identity_output))
    monkeypatch.setattr(aws, "get_partition_output", counting("partition", aws.get_partition_output))
    capture = run_program("prod", "update")
    providers = len(capture.by_type("pulumi:providers:aws"))
    assert providers == 2
    assert calls == {"identity": providers, "partition": providers}


CLUSTER_ONLY_PROGRAM = '''
import pulumi
import pulumi_aws as aws

from components.aurora_cluster import AuroraCluster, AuroraClusterArgs, ClusterPlacement
from components.settings import DatabaseSettings

database = DatabaseSettings(
    engine="aurora-postgresql", engine_version="16.6", database_name="orders", master_username="owner",
    instance_class="db.r7g.large", reader_count=1, reader_instance_class="", serverless_min_capacity=0.5,
    serverless_max_capacity=16, storage_type="aurora", backup_retention_days=7, preferred_backup_window="03:00-04:00",
    preferred_maintenance_window="sun:05:00-sun:06:00", deletion_protection=True, skip_final_snapshot=False,
    iam_authentication=True, performance_insights=True, performance_insights_retention_days=7, monitoring_interval=60,
    backtrack_window_hours=0, reader_auto_scaling=False, reader_auto_scaling_max_readers=5,
    reader_auto_scaling_cpu_target=70, allowed_security_group_ids=("sg-0123456789abcdef0",), apply_immediately=False,
)
provider = aws.Provider("aws-eu-west-1", region="eu-west-1")
AuroraCluster("orders", AuroraClusterArgs(
    database, identifier="orders-db",
    placement=ClusterPlacement(region="eu-west-1", vpc_id="vpc-1", db_subnet_group_name="orders-db",
                               availability_zones=("eu-west-1a", "eu-west-1b"),
                               kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k")),
    opts=pulumi.ResourceOptions(provider=provider))
'''


def test_a_cluster_built_in_python_from_its_settings_group(tmp_path):
    """No stack file: the settings group written out in Python is the cluster's configuration."""
    import sys

    from deploy.offline.capture import run_program
    from deploy.offline.stack_config import PROJECT_DIR

    (tmp_path / "__main__.py").write_text(CLUSTER_ONLY_PROGRAM)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    capture = run_program("dev", "update", project_dir=tmp_path, config={"aws:region": "eu-west-1"},
                          project="aurora-platform")
    cluster = capture.one(CLUSTER, "orders")
    assert cluster.inputs["clusterIdentifier"] == "orders-db"
    assert cluster.inputs["databaseName"] == "orders" and cluster.inputs["masterUsername"] == "owner"
    assert cluster.inputs["backupRetentionPeriod"] == 7 and cluster.inputs["manageMasterUserPassword"] is True
    instances = sorted(capture.by_type(INSTANCE), key=lambda r: r.inputs["identifier"])
    assert [i.inputs["identifier"] for i in instances] == ["orders-db-1", "orders-db-2"]
    assert [i.inputs["availabilityZone"] for i in instances] == ["eu-west-1a", "eu-west-1b"]
    # The enhanced monitoring role's trust names the account the cluster's provider looked up itself.
    role = capture.one("aws:iam/role:Role", "orders-monitoring")
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    ingress = capture.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert [r.inputs["referencedSecurityGroupId"] for r in ingress] == ["sg-0123456789abcdef0"]

"""Deploy-time correctness: what the provider, AWS and the engine need from the plan beyond what the
policies check (values sent, secret formats, creation order, alarm dimensions, key and topic policies,
NACLs), each pinned on the committed stack files or on a `--set` variant of them through the
mock-engine capture."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploy.offline.capture import run_program
from deploy.offline.stack_config import PROJECT_DIR
from tests.conftest import captured

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


# --- Switching storageType back to aurora must reach the provider ---------------------------------

def test_storage_type_aurora_is_sent():
    """`storageType` is optional+computed in the provider: leaving it out for `aurora` keeps a cluster
    that is on aurora-iopt1 (prod) on I/O-Optimized. The value is always sent."""
    capture = run_program("prod", "update", overrides={"aurora-platform:storageType": "aurora"})
    clusters = capture.by_type(CLUSTER)
    assert len(clusters) == 2
    assert {c.name: c.inputs.get("storageType") for c in clusters} == {
        "aurora-us-east-1": "aurora", "aurora-us-west-2": "aurora"}


def test_storage_type_default_is_sent_on_dev(dev):
    (cluster,) = dev.by_type(CLUSTER)
    assert cluster.inputs["storageType"] == "aurora"


def test_storage_type_io_optimized_on_prod(prod):
    assert {c.inputs["storageType"] for c in prod.by_type(CLUSTER)} == {"aurora-iopt1"}


def test_check_json_shows_storage_type_aurora_on_every_cluster():
    result = subprocess.run([sys.executable, "-m", "deploy", "check", "--stack", "prod", "--set", "storageType=aurora",
                             "--json"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    clusters = [r for r in report["resources"] if r["type"] == CLUSTER]
    assert len(clusters) == 2
    assert all(c["inputs"]["storageType"] == "aurora" for c in clusters), clusters


# --- The global database's secret in RDS's secret format ------------------------------------------

SECRET_SIG = "4dabf18193072939515e22adb298388d"


def secret_value(capture) -> dict:
    (version,) = capture.by_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"][SECRET_SIG], "the value reaches the engine as a secret"
    return json.loads(version.inputs["secretString"]["value"])


def member_cluster(capture, region):
    return capture.one(CLUSTER, f"aurora-{region}")


def test_global_secret_is_in_rds_secret_format(prod):
    """Secrets Manager's JSON structure for RDS/Aurora credentials: engine postgres (not postgresql),
    host, port, username, password, dbname, dbClusterIdentifier."""
    value = secret_value(prod)
    writer = member_cluster(prod, "us-east-1")
    assert value["engine"] == "postgres"
    assert value["host"] == writer.outputs["endpoint"], "the writer endpoint of the member in the secret's region"
    assert value["dbClusterIdentifier"] == "aurora-platform-prod-us-east-1"
    assert value["port"] == 5432 and value["username"] == "dbadmin" and value["dbname"] == "app"
    assert value["password"]


def test_global_secret_lists_every_member_region(prod):
    """Replicas carry the same value: each region's connection details are extra keys beside `host`."""
    value = secret_value(prod)
    assert set(value["regions"]) == {"us-east-1", "us-west-2"}
    for region, entry in value["regions"].items():
        cluster = member_cluster(prod, region)
        assert entry == {"host": cluster.outputs["endpoint"], "readerHost": cluster.outputs["readerEndpoint"],
                         "dbClusterIdentifier": cluster.outputs["clusterIdentifier"], "writer": region == "us-east-1"}


def test_global_secret_host_follows_the_writer_region():
    gdb = {"writerRegion": "us-west-2", "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}]}
    capture = captured("prod", "update", overrides={"aurora-platform:globalDatabase": json.dumps(gdb)})
    value = secret_value(capture)
    assert value["host"] == member_cluster(capture, "us-west-2").outputs["endpoint"]
    assert value["dbClusterIdentifier"] == "aurora-platform-prod-us-west-2"


def test_global_secret_engine_is_mysql_for_aurora_mysql():
    capture = run_program("prod", "update", overrides={
        "aurora-platform:engine": "aurora-mysql", "aurora-platform:engineVersion": "8.0.mysql_aurora.3.08.2",
        "aurora-platform:masterUsername": "appadmin"})
    value = secret_value(capture)
    assert value["engine"] == "mysql" and value["port"] == 3306


# --- Network(database_port=None) leaves the database tier on the application NACL -----------------

NETWORK_ONLY_PROGRAM = '''
import pulumi_aws as aws
import pulumi
from components.network import Network, NetworkArgs
from components.settings import NetworkSettings

provider = aws.Provider("aws-us-east-2", region="us-east-2")
network = NetworkSettings(vpc_cidr="10.10.0.0/16", availability_zones=("us-east-2a", "us-east-2b"), nat_strategy="single",
                          flow_logs={flow_logs}, interface_endpoints=(), database_nacl_extra_cidrs=())
Network("network-us-east-2", NetworkArgs(network, region="us-east-2", kms_key_arn="arn:aws:kms:us-east-2:123456789012:key/k",
        database_port={port}), opts=pulumi.ResourceOptions(provider=provider))
'''


def network_capture(tmp_path, port, flow_logs=False):
    """A program that declares only a Network (the stack program always passes the engine port)."""
    (tmp_path / "__main__.py").write_text(NETWORK_ONLY_PROGRAM.format(port=port, flow_logs=flow_logs))
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    return run_program("dev", "update", project_dir=tmp_path, config={"aws:region": "us-east-2"},
                       project="aurora-platform")


def nacl_of_every_subnet(capture) -> dict[str, str]:
    tiers = {s.id: s.inputs["tags"]["tier"] for s in capture.by_type("aws:ec2/subnet:Subnet")}
    placed: dict[str, list[str]] = {}
    for nacl in capture.by_type("aws:ec2/networkAcl:NetworkAcl"):
        for subnet in nacl.inputs["subnetIds"]:
            placed.setdefault(subnet, []).append(nacl.name)
    assert set(placed) == set(tiers), "every subnet is in a NACL of ours, none left on the deny-all default"
    assert all(len(names) == 1 for names in placed.values())
    return {subnet: names[0] for subnet, names in placed.items()}


def test_network_without_database_port_keeps_database_subnets_on_the_application_nacl(tmp_path):
    capture = network_capture(tmp_path, port=None)
    tiers = {s.id: s.inputs["tags"]["tier"] for s in capture.by_type("aws:ec2/subnet:Subnet")}
    placed = nacl_of_every_subnet(capture)
    assert {placed[s] for s, tier in tiers.items() if tier == "database"} == {"network-us-east-2-application"}
    assert not [n for n in capture.by_type("aws:ec2/networkAcl:NetworkAcl") if n.name.endswith("-database")]


def test_network_with_database_port_gives_the_database_tier_its_own_nacl(tmp_path):
    capture = network_capture(tmp_path, port=5432)
    tiers = {s.id: s.inputs["tags"]["tier"] for s in capture.by_type("aws:ec2/subnet:Subnet")}
    placed = nacl_of_every_subnet(capture)
    assert {placed[s] for s, tier in tiers.items() if tier == "database"} == {"network-us-east-2-database"}


# --- The flow log waits for its role's policy; the policy is AWS's documented one -----------------

def flow_log_parts(capture):
    for flow_log in capture.by_type("aws:ec2/flowLog:FlowLog"):
        policy = next(p for p in capture.by_type("aws:iam/rolePolicy:RolePolicy")
                      if p.parent == flow_log.parent and p.name.endswith("-flow-logs"))
        yield flow_log, policy


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_flow_log_waits_for_its_role_policy(stack):
    for mode in ("preview", "update"):
        parts = list(flow_log_parts(captured(stack, mode)))
        assert parts, "flow logs in every region"
        for flow_log, policy in parts:
            assert policy.urn in flow_log.dependencies, f"{flow_log.name} could start before its role can write"


def test_flow_log_role_policy_grants_describe_log_groups(prod):
    for flow_log, policy in flow_log_parts(prod):
        statements = json.loads(policy.inputs["policy"])["Statement"]
        actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"} <= actions
        assert "logs:CreateLogGroup" not in actions, "the group is pre-created with our key and retention"
        writes = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
        group = flow_log.inputs["logDestination"]
        assert writes["Resource"] == [group, f"{group}:*"], "writes stay scoped to the flow log's own group"


# --- Instances with enhanced monitoring wait for the role's managed policy ------------------------

def test_instances_wait_for_the_enhanced_monitoring_policy_attachment():
    for mode in ("preview", "update"):
        capture = captured("prod", mode)
        attachments = {a.parent: a for a in capture.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                       if a.name.endswith("-monitoring")}
        instances = capture.by_type(INSTANCE)
        assert instances and {i.parent for i in instances} <= set(attachments)
        for instance in instances:
            assert instance.inputs["monitoringInterval"] == 30
            assert attachments[instance.parent].urn in instance.dependencies, instance.name


def test_instances_without_enhanced_monitoring_have_no_role_to_wait_for(dev):
    assert not [a for a in dev.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.name.endswith("-monitoring")]
    assert all(i.inputs["monitoringInterval"] == 0 for i in dev.by_type(INSTANCE))


# --- The global replication lag alarm uses the dimension set CloudWatch publishes -----------------

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def global_lag_alarms(capture):
    return [a for a in capture.by_type(ALARM) if a.inputs["metricName"] == "AuroraGlobalDBReplicationLag"]


def test_global_replication_lag_alarm_has_cluster_and_source_region_dimensions(prod):
    (alarm,) = global_lag_alarms(prod)
    assert alarm.inputs["dimensions"] == {"DBClusterIdentifier": "aurora-platform-prod-us-west-2",
                                          "SourceRegion": "us-east-1"}
    assert alarm.inputs["name"].startswith("aurora-platform-prod-us-west-2-")


def test_global_replication_lag_dashboard_uses_the_same_dimensions(prod):
    dashboard = prod.one("aws:cloudwatch/dashboard:Dashboard", "monitoring-us-west-2-dashboard")
    metrics = [m for w in json.loads(dashboard.inputs["dashboardBody"])["widgets"] for m in w["properties"]["metrics"]]
    assert ["AWS/RDS", "AuroraGlobalDBReplicationLag", "DBClusterIdentifier", "aurora-platform-prod-us-west-2",
            "SourceRegion", "us-east-1"] in metrics


def test_global_replication_lag_source_region_follows_a_switchover():
    gdb = {"writerRegion": "us-west-2", "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16", "instances": 2}]}
    capture = captured("prod", "update", overrides={"aurora-platform:globalDatabase": json.dumps(gdb)})
    (alarm,) = global_lag_alarms(capture)
    assert alarm.inputs["dimensions"] == {"DBClusterIdentifier": "aurora-platform-prod-us-east-1",
                                          "SourceRegion": "us-west-2"}


# --- Readers added by auto scaling are watched, can publish, and block a destroy ------------------

def monitoring_children(capture, region, type_):
    component = capture.one("aurora-platform:monitoring:DatabaseMonitoring", f"monitoring-{region}")
    return [r for r in capture.resources if r.parent == component.urn and r.type == type_]


def test_reader_role_alarms_cover_autoscaled_readers(prod):
    readers = {a.inputs["metricName"]: a for a in monitoring_children(prod, "us-east-1", ALARM)
               if a.inputs["dimensions"] == {"DBClusterIdentifier": "aurora-platform-prod-us-east-1", "Role": "READER"}}
    assert set(readers) == {"CPUUtilization", "FreeableMemory", "DatabaseConnections", "AuroraReplicaLag"}
    assert readers["CPUUtilization"].inputs["statistic"] == "Maximum", "the busiest reader, not the average"
    assert readers["FreeableMemory"].inputs["statistic"] == "Minimum"


def test_no_reader_role_alarms_without_reader_auto_scaling(dev):
    assert not [a for a in dev.by_type(ALARM) if "Role" in a.inputs["dimensions"]]


def test_instance_event_subscription_does_not_list_instances_when_readers_autoscale(prod):
    (instances,) = [s for s in monitoring_children(prod, "us-east-1", "aws:rds/eventSubscription:EventSubscription")
                    if s.inputs["sourceType"] == "db-instance"]
    assert "sourceIds" not in instances.inputs
    (secondary,) = [s for s in monitoring_children(prod, "us-west-2", "aws:rds/eventSubscription:EventSubscription")
                    if s.inputs["sourceType"] == "db-instance"]
    assert sorted(secondary.inputs["sourceIds"]) == ["aurora-platform-prod-us-west-2-1", "aurora-platform-prod-us-west-2-2"]


def test_topic_policy_admits_autoscaled_readers_by_arn_pattern_and_account(prod):
    import fnmatch

    (policy,) = monitoring_children(prod, "us-east-1", "aws:sns/topicPolicy:TopicPolicy")
    rds = next(s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] == "RdsEventsPublish")
    patterns = rds["Condition"]["ArnLike"]["aws:SourceArn"]
    assert rds["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    base = "arn:aws:rds:us-east-1:123456789012"
    for source in (f"{base}:db:application-autoscaling-1a2b3c4d", f"{base}:db:aurora-platform-prod-us-east-1-3",
                   f"{base}:cluster:aurora-platform-prod-us-east-1"):
        assert any(fnmatch.fnmatchcase(source, p) for p in patterns), source
    for stranger in (f"{base}:db:someone-else-1", "arn:aws:rds:us-east-1:999999999999:db:application-autoscaling-x",
                     f"{base}:cluster:aurora-platform-prod-us-east-1-clone"):
        assert not any(fnmatch.fnmatchcase(stranger, p) for p in patterns), stranger
    assert all(p.endswith("*") for p in patterns if ":db:" in p), "no instance listed by name"


# --- The key policy lets RDS event notifications use the key of an encrypted topic ----------------

def key_statements(capture, region):
    key = capture.one("aws:kms/key:Key", f"key-{region}")
    return json.loads(key.inputs["policy"])["Statement"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rds_events_may_use_the_topic_key_without_a_source_account_condition(stack):
    """AWS documents the key policy statement for a service publishing to an encrypted topic as the
    service principal with kms:GenerateDataKey* and kms:Decrypt and no condition; it does not document
    that RDS event delivery sends aws:SourceAccount, and a condition it does not send denies silently."""
    capture = captured(stack)
    for region in capture.outputs["regions"]:
        rds = [s for s in key_statements(capture, region)
               if "events.rds.amazonaws.com" in json.dumps(s.get("Principal", {}))]
        assert len(rds) == 1, "one statement names the RDS event service"
        (statement,) = rds
        assert statement["Principal"] == {"Service": "events.rds.amazonaws.com"}
        assert statement["Effect"] == "Allow" and set(statement["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
        assert "Condition" not in statement


def test_cloudwatch_alarms_keep_their_source_account_condition(prod):
    (cloudwatch,) = [s for s in key_statements(prod, "us-east-1")
                     if "cloudwatch.amazonaws.com" in json.dumps(s.get("Principal", {}))]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert set(cloudwatch["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


# --- Security groups of a peered VPC get through the database NACL --------------------------------
# Chosen: a setting (databaseNaclExtraCidrs) for the extra CIDRs the database NACL admits on the
# engine port. Refusing such security groups offline is not possible: a security group id does not
# say which VPC it belongs to.

PEERED = {"aurora-platform:allowedSecurityGroupIds": '["sg-0123456789abcdef0"]',
          "aurora-platform:databaseNaclExtraCidrs": '["10.50.0.0/16", "192.168.4.0/24"]'}


def database_nacls(capture):
    return {n.name: n for n in capture.by_type("aws:ec2/networkAcl:NetworkAcl") if n.name.endswith("-database")}


def test_database_nacl_admits_extra_cidrs_on_the_engine_port_only():
    capture = run_program("dev", "update", overrides=PEERED)
    nacl = database_nacls(capture)["network-us-east-2-database"]
    ingress = {r["cidrBlock"]: r for r in nacl.inputs["ingress"]}
    egress = {r["cidrBlock"]: r for r in nacl.inputs["egress"]}
    assert set(ingress) == set(egress) == {"10.10.0.0/16", "10.50.0.0/16", "192.168.4.0/24"}
    for cidr in ("10.50.0.0/16", "192.168.4.0/24"):
        assert (ingress[cidr]["protocol"], ingress[cidr]["fromPort"], ingress[cidr]["toPort"]) == ("tcp", 5432, 5432)
        assert ingress[cidr]["action"] == "allow"
        assert (egress[cidr]["protocol"], egress[cidr]["fromPort"], egress[cidr]["toPort"]) == ("tcp", 1024, 65535)
    numbers = [r["ruleNo"] for r in nacl.inputs["ingress"]]
    assert len(set(numbers)) == len(numbers) and min(numbers) == 100
    # the security group still decides who connects: no CIDR reaches the database security group
    assert not [r for r in capture.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                if "cidrIpv4" in r.inputs]


def test_extra_cidrs_apply_to_the_primary_region_like_allowed_security_groups():
    capture = run_program("prod", "update", overrides=PEERED)
    nacls = database_nacls(capture)
    primary = {r["cidrBlock"] for r in nacls["network-us-east-1-database"].inputs["ingress"]}
    secondary = {r["cidrBlock"] for r in nacls["network-us-west-2-database"].inputs["ingress"]}
    assert primary == {"10.0.0.0/16", "10.50.0.0/16", "192.168.4.0/24"}
    assert secondary == {"10.1.0.0/16"}


def test_committed_stacks_admit_only_their_vpc(stack_capture):
    for nacl in database_nacls(stack_capture).values():
        assert len(nacl.inputs["ingress"]) == len(nacl.inputs["egress"]) == 1


@pytest.mark.parametrize("value,allowed", [
    ('["0.0.0.0/0"]', "not the whole internet"),
    ('["10.50.0.1/16"]', "expected IPv4 networks in CIDR form"),
    ('["10.10.128.0/17"]', "overlaps the VPC 10.10.0.0/16"),
    ('["10.50.0.0/16", "10.50.0.0/16"]', "items must not repeat"),
    (json.dumps([f"10.{i}.0.0/16" for i in range(100, 111)]), "at most 10"),
])
def test_bad_extra_cidrs_are_one_clear_message(value, allowed):
    from components.settings import SettingsError

    with pytest.raises(SettingsError) as caught:
        run_program("dev", "preview", overrides={"aurora-platform:databaseNaclExtraCidrs": value})
    assert len(caught.value.problems) == 1, caught.value.problems
    assert "aurora-platform:databaseNaclExtraCidrs" in str(caught.value) and allowed in str(caught.value)

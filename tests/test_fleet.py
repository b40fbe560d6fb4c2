"""InstanceFleet on the committed dev and prod stacks: the inputs that would reach AWS."""

from __future__ import annotations

import base64
import dataclasses
import json
import shlex

import pytest

from components.aws_facts import fleet_architecture
from components.instance_fleet import InstanceFleetArgs, ami_parameter
from components.settings import AccessSettings, FleetSettings, SettingsError, parse_settings
from deploy.offline.capture import Capture, CapturedResource, run_program
from deploy.offline.stack_config import load_stack_config
from tests.conftest import captured
from tests.helpers import by_id, children_of

FLEET = "aurora-platform:compute:InstanceFleet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GROUP = "aws:autoscaling/group:Group"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
AL2023 = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-"


def settings_of(stack: str):
    return parse_settings(load_stack_config(stack), stack)


def writer_fleet(capture: Capture) -> CapturedResource:
    """The full-size fleet beside the writer (other member regions hold warm-standby fleets)."""
    return capture.one(FLEET, f"fleet-{capture.outputs['writerRegion']}")


def fleet_child(capture: Capture, type_: str) -> CapturedResource:
    fleet = writer_fleet(capture)
    (child,) = [r for r in children_of(capture, fleet) if r.type == type_]
    return child


def writer(capture: Capture) -> dict:
    """The writer region's entry of the `regions` export (cluster, key, secret of that region)."""
    return capture.outputs["regions"][capture.outputs["writerRegion"]]


def user_data(capture: Capture) -> str:
    return base64.b64decode(fleet_child(capture, LAUNCH_TEMPLATE).inputs["userData"]).decode()


def database_env(script: str) -> dict[str, str]:
    """The values the boot script writes to /etc/aurora-platform/database.env, unquoted as a shell would."""
    body = script.split("database.env <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    return dict(shlex.split(line)[0].split("=", 1) for line in body.splitlines())


# ---- launch template ---------------------------------------------------------------------------

def test_launch_template_requires_imdsv2(stack_capture):
    template = fleet_child(stack_capture, LAUNCH_TEMPLATE)
    metadata = template.inputs["metadataOptions"]
    assert metadata["httpTokens"] == "required"
    assert metadata["httpEndpoint"] == "enabled"
    assert metadata["httpPutResponseHopLimit"] == settings_of(stack_capture.stack).fleet.metadata_hop_limit == 1


def test_launch_template_encrypts_every_block_device_with_the_region_key(stack_capture):
    template = fleet_child(stack_capture, LAUNCH_TEMPLATE)
    mappings = template.inputs["blockDeviceMappings"]
    assert [m["deviceName"] for m in mappings] == ["/dev/xvda"]
    for mapping in mappings:
        ebs = mapping["ebs"]
        assert ebs["encrypted"] == "true"
        assert ebs["kmsKeyId"] == writer(stack_capture)["kmsKeyArn"]
        assert (ebs["volumeType"], ebs["deleteOnTermination"], ebs["volumeSize"]) == ("gp3", "true", 20)


def test_launch_template_associates_no_public_ip_and_carries_the_fleet_group(stack_capture):
    template = fleet_child(stack_capture, LAUNCH_TEMPLATE)
    group = fleet_child(stack_capture, SG)
    (interface,) = template.inputs["networkInterfaces"]
    assert interface["associatePublicIpAddress"] == "false"
    assert interface["securityGroups"] == [group.id] == [stack_capture.outputs["fleetSecurityGroupId"]]
    assert "vpcSecurityGroupIds" not in template.inputs and "securityGroupNames" not in template.inputs
    assert template.inputs["monitoring"] == {"enabled": True}
    assert template.inputs["updateDefaultVersion"] is True
    assert {t["resourceType"] for t in template.inputs["tagSpecifications"]} >= {"instance", "volume"}


def test_launch_template_guard_rails_are_literal_on_a_first_preview():
    """Policies see these on preview: nothing that decides encryption or exposure is unknown."""
    capture = captured("prod", "preview")
    template = fleet_child(capture, LAUNCH_TEMPLATE)
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
    key = capture.one("aws:kms/key:Key", "key-us-east-1")
    assert key.urn in template.property_dependencies["blockDeviceMappings"]


@pytest.mark.parametrize("stack,instance_type,architecture", [("dev", "t4g.small", "arm64"), ("prod", "m7g.large", "arm64")])
def test_ami_parameter_matches_the_instance_architecture(stack, instance_type, architecture):
    template = fleet_child(captured(stack), LAUNCH_TEMPLATE)
    assert template.inputs["instanceType"] == instance_type
    assert template.inputs["imageId"] == AL2023 + architecture


def test_x86_instance_type_gets_the_x86_64_ami():
    capture = run_program("dev", "update", overrides={"aurora-platform:fleetInstanceType": "m7i.large"})
    template = fleet_child(capture, LAUNCH_TEMPLATE)
    assert template.inputs["instanceType"] == "m7i.large"
    assert template.inputs["imageId"] == AL2023 + "x86_64"


@pytest.mark.parametrize("instance_type,architecture", [
    ("t4g.small", "arm64"), ("m7g.large", "arm64"), ("c7gn.xlarge", "arm64"), ("r8g.2xlarge", "arm64"),
    ("a1.medium", "arm64"), ("t3.micro", "x86_64"), ("m7i-flex.large", "x86_64"), ("c6a.large", "x86_64"),
    ("g4ad.xlarge", "x86_64"),
])
def test_architecture_of_instance_families(instance_type, architecture):
    assert fleet_architecture(instance_type) == architecture
    assert ami_parameter(instance_type).endswith(f"al2023-ami-kernel-default-{architecture}")


# ---- user data ---------------------------------------------------------------------------------

def test_user_data_names_the_endpoints_and_user_and_never_a_password_or_secret(stack_capture):
    script = user_data(stack_capture)
    region = writer(stack_capture)
    env = database_env(script)
    proxied = region["proxyEndpoint"] is not None  # prod: through RDS Proxy; dev: straight to the cluster
    assert proxied == (stack_capture.stack == "prod")
    assert env == {
        "DB_ENGINE": "aurora-postgresql",
        "DB_HOST": region["proxyEndpoint"] if proxied else region["writerEndpoint"],
        "DB_READ_HOST": region["proxyReadOnlyEndpoint"] if proxied else region["readerEndpoint"],
        "DB_PORT": "5432",
        "DB_NAME": "app",
        "DB_USER": "app",
        "DB_CA_BUNDLE": "/etc/aurora-platform/rds-ca-bundle.pem",
        "AWS_REGION": stack_capture.outputs["writerRegion"],
    }
    assert "dnf install -y postgresql16" in script
    assert "password" not in script.lower() and "secret" not in script.lower()
    for cluster in stack_capture.by_type("aws:rds/cluster:Cluster"):
        secret = cluster.inputs.get("masterPassword")
        if isinstance(secret, dict):
            secret = secret.get("value")
        assert not secret or secret not in script


def test_mysql_variant_installs_the_mariadb_client():
    script = user_data(captured("regional-mysql"))
    assert "dnf install -y mariadb105" in script and database_env(script)["DB_PORT"] == "3306"
    assert "postgresql" not in script


# ---- instance role -----------------------------------------------------------------------------

def connect_statements(capture: Capture, fleet: CapturedResource | None = None) -> list[dict]:
    fleet = fleet or writer_fleet(capture)
    (role,) = [r for r in children_of(capture, fleet) if r.type == "aws:iam/role:Role"]
    (policy,) = [p for p in capture.by_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.outputs["name"]]
    return json.loads(policy.inputs["policy"])["Statement"]


def test_role_may_only_log_in_as_the_application_users_through_the_proxy_in_prod(prod):
    region = writer(prod)
    proxy_id = region["proxyArn"].rsplit(":", 1)[1]
    assert proxy_id.startswith("prx-")
    assert connect_statements(prod) == [{
        "Sid": "ConnectAsApplicationUsers", "Effect": "Allow", "Action": "rds-db:connect",
        "Resource": [f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{proxy_id}/app"],
    }]


def test_role_logs_in_to_the_cluster_by_its_resource_id_without_a_proxy(dev):
    cluster = dev.one("aws:rds/cluster:Cluster", "aurora-us-east-2")
    assert connect_statements(dev) == [{
        "Sid": "ConnectAsApplicationUsers", "Effect": "Allow", "Action": "rds-db:connect",
        "Resource": [f"arn:aws:rds-db:us-east-2:123456789012:dbuser:{cluster.outputs['clusterResourceId']}/app"],
    }]


def test_no_fleet_role_policy_reads_a_secret_and_every_fleet_role_may_connect(stack_capture):
    for fleet in stack_capture.by_type(FLEET):
        statements = connect_statements(stack_capture, fleet)
        assert "secretsmanager" not in json.dumps(statements) and "kms:" not in json.dumps(statements)
        assert {s["Action"] for s in statements} == {"rds-db:connect"}


def test_every_application_user_may_connect_and_the_direct_path_can_be_kept():
    capture = run_program("prod", "update", overrides={
        "aurora-platform:applicationUsers": '["app", "reporting"]', "aurora-platform:fleetDirectDatabaseAccess": "true"})
    region = writer(capture)
    proxy_id = region["proxyArn"].rsplit(":", 1)[1]
    resource_id = capture.one("aws:rds/cluster:Cluster", "aurora-us-east-1").outputs["clusterResourceId"]
    (statement,) = connect_statements(capture)
    users = ("app", "reporting")
    assert statement["Resource"] == [f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{proxy_id}/{user}" for user in users] + [
        f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{resource_id}/{user}" for user in users]
    # The database admits the fleet again beside the proxy.
    sources = {r.inputs["referencedSecurityGroupId"] for r in db_ingress(capture, region["dbSecurityGroupId"])}
    assert fleet_child(capture, SG).id in sources


def test_role_has_only_the_ssm_core_managed_policy(stack_capture):
    role = fleet_child(stack_capture, "aws:iam/role:Role")
    attached = [a.inputs["policyArn"] for a in stack_capture.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.inputs["role"] == role.outputs["name"]]
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    profile = fleet_child(stack_capture, "aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["role"] == role.outputs["name"]
    template = fleet_child(stack_capture, LAUNCH_TEMPLATE)
    assert template.inputs["iamInstanceProfile"] == {"arn": profile.outputs["arn"]}


# ---- security groups ---------------------------------------------------------------------------

def db_ingress(capture: Capture, db_sg_id: str) -> list[CapturedResource]:
    return [r for r in capture.by_type(INGRESS) if r.inputs["securityGroupId"] == db_sg_id]


def test_database_admits_only_the_proxy_in_prod_and_only_the_fleet_without_one(stack_capture):
    region = writer(stack_capture)
    rules = db_ingress(stack_capture, region["dbSecurityGroupId"])
    if stack_capture.stack == "prod":
        proxy_sg = stack_capture.one(SG, f"proxy-{stack_capture.outputs['writerRegion']}-proxy")
        assert [r.inputs["referencedSecurityGroupId"] for r in rules] == [proxy_sg.id]
    else:
        assert [r.inputs["referencedSecurityGroupId"] for r in rules] == [fleet_child(stack_capture, SG).id]
    for rule in rules:
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 5432, 5432)
        assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs)
    db_sg = by_id(stack_capture)[region["dbSecurityGroupId"]]
    assert db_sg.inputs.get("ingress", []) == []


def test_database_admits_the_fleet_and_the_groups_named_in_settings():
    capture = captured("dev", "update", overrides={"aurora-platform:allowedSecurityGroupIds": '["sg-0123456789abcdef0"]'})
    rules = db_ingress(capture, writer(capture)["dbSecurityGroupId"])
    assert sorted(r.inputs["referencedSecurityGroupId"] for r in rules) == sorted(
        [fleet_child(capture, SG).id, "sg-0123456789abcdef0"])
    assert {(r.inputs["fromPort"], r.inputs["toPort"]) for r in rules} == {(5432, 5432)}


def test_fleet_group_has_no_ingress_and_egress_to_the_database_and_https_only(stack_capture):
    fleet_sg = fleet_child(stack_capture, SG)
    assert "ingress" not in fleet_sg.inputs and "egress" not in fleet_sg.inputs  # rules are separate resources
    assert [r for r in stack_capture.by_type(INGRESS) if r.inputs["securityGroupId"] == fleet_sg.id] == []
    egress = [r.inputs for r in stack_capture.by_type(EGRESS) if r.inputs["securityGroupId"] == fleet_sg.id]
    targets = sorted((r.get("referencedSecurityGroupId") or r.get("cidrIpv4"), r["ipProtocol"], r["fromPort"], r["toPort"])
                     for r in egress)
    database = (stack_capture.one(SG, f"proxy-{stack_capture.outputs['writerRegion']}-proxy").id
                if stack_capture.stack == "prod" else writer(stack_capture)["dbSecurityGroupId"])
    assert targets == sorted([(database, "tcp", 5432, 5432), ("0.0.0.0/0", "tcp", 443, 443)])


# ---- auto scaling group ------------------------------------------------------------------------

def test_group_spans_only_the_private_subnets_of_the_writer_region(stack_capture):
    group = fleet_child(stack_capture, GROUP)
    network = stack_capture.one("aurora-platform:network:Network", f"network-{stack_capture.outputs['writerRegion']}")
    subnets = [s for s in children_of(stack_capture, network) if s.type == "aws:ec2/subnet:Subnet"]
    private = [s.id for s in subnets if s.inputs["tags"]["tier"] == "private"]
    assert sorted(group.inputs["vpcZoneIdentifiers"]) == sorted(private)
    assert group.inputs["vpcZoneIdentifiers"] == stack_capture.outputs["privateSubnetIds"]
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets if s.id in private)


def test_group_sizes_health_checks_and_instance_refresh_follow_settings(stack_capture):
    fleet = settings_of(stack_capture.stack).fleet
    group = fleet_child(stack_capture, GROUP)
    inputs = group.inputs
    assert (inputs["minSize"], inputs["desiredCapacity"], inputs["maxSize"]) == (
        fleet.min_size, fleet.desired_capacity, fleet.max_size)
    assert inputs["healthCheckType"] == "EC2" and "targetGroupArns" not in inputs
    assert inputs["healthCheckGracePeriod"] == fleet.health_check_grace_period
    assert inputs["capacityRebalance"] is False
    refresh = inputs["instanceRefresh"]
    assert refresh["strategy"] == "Rolling"
    assert refresh["preferences"]["minHealthyPercentage"] == fleet.min_healthy_percentage == 90
    assert refresh["preferences"]["maxHealthyPercentage"] == 190  # launch before terminate, max - min <= 100
    assert "GroupInServiceInstances" in inputs["enabledMetrics"]
    assert all(t["propagateAtLaunch"] for t in inputs["tags"])
    assert group.ignore_changes == ["desiredCapacity"]  # the scaling policy owns it after creation
    assert stack_capture.outputs["fleetAsgName"] == group.outputs["name"]


def test_group_launches_the_template_latest_version():
    capture = captured("dev", "preview")
    group, template = fleet_child(capture, GROUP), fleet_child(capture, LAUNCH_TEMPLATE)
    assert template.urn in group.property_dependencies["launchTemplate"]
    assert fleet_child(captured("dev"), GROUP).inputs["launchTemplate"]["id"] == fleet_child(captured("dev"), LAUNCH_TEMPLATE).id


def test_target_tracking_on_average_cpu(stack_capture):
    policy = fleet_child(stack_capture, "aws:autoscaling/policy:Policy")
    config = policy.inputs["targetTrackingConfiguration"]
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    assert policy.inputs["autoscalingGroupName"] == fleet_child(stack_capture, GROUP).outputs["name"]
    assert config["predefinedMetricSpecification"]["predefinedMetricType"] == "ASGAverageCPUUtilization"
    assert config["targetValue"] == settings_of(stack_capture.stack).fleet.cpu_target == 50


def test_fleet_follows_the_writer_region():
    gdb = json.loads(load_stack_config("prod")["aurora-platform:globalDatabase"])
    capture = run_program("prod", "update", overrides={
        "aurora-platform:globalDatabase": json.dumps({**gdb, "writerRegion": "us-west-2"})})
    fleet = writer_fleet(capture)
    assert fleet.name == "fleet-us-west-2"
    region = capture.outputs["regions"]["us-west-2"]
    (statement,) = connect_statements(capture)
    assert statement["Resource"] == [f"arn:aws:rds-db:us-west-2:123456789012:dbuser:{region['proxyArn'].rsplit(':', 1)[1]}/app"]
    network = capture.one("aurora-platform:network:Network", "network-us-west-2")
    private = {s.id for s in children_of(capture, network)
               if s.type == "aws:ec2/subnet:Subnet" and s.inputs["tags"]["tier"] == "private"}
    assert set(fleet_child(capture, GROUP).inputs["vpcZoneIdentifiers"]) == private
    proxy_sg = capture.one(SG, "proxy-us-west-2-proxy")
    assert [r.inputs["referencedSecurityGroupId"] for r in capture.by_type(INGRESS)
            if r.inputs["securityGroupId"] == proxy_sg.id] == [fleet_child(capture, SG).id]
    assert all(r.provider.endswith("aws-us-west-2-provider-id") for r in capture.resources
               if r.custom and r.parent == fleet.urn)


def test_fleet_disabled():
    capture = run_program("dev", "update", overrides={"aurora-platform:fleetEnabled": "false"})
    assert capture.by_type(FLEET) == [] and capture.by_type(GROUP) == []
    assert capture.outputs["fleetAsgName"] is None
    assert not [a for a in capture.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if a.inputs["namespace"] == "AWS/AutoScaling"]


def test_every_fleet_resource_is_a_child_in_the_writer_region(stack_capture):
    fleet = writer_fleet(stack_capture)
    provider = f"aws-{stack_capture.outputs['writerRegion']}-provider-id"
    children = children_of(stack_capture, fleet)
    assert {c.type for c in children} >= {SG, LAUNCH_TEMPLATE, GROUP, "aws:iam/role:Role"}
    assert all(c.provider.endswith(provider) for c in children if c.custom)


# ---- settings ----------------------------------------------------------------------------------

BAD_FLEET_SETTINGS = [
    ({"fleetInstanceType": "t4g"}, "fleetInstanceType", "expected an EC2 instance type"),
    ({"fleetInstanceType": "db.r7g.large"}, "fleetInstanceType", "expected an EC2 instance type"),
    ({"fleetMinSize": "3"}, "fleetDesiredCapacity", "fleetMinSize <= fleetDesiredCapacity <= fleetMaxSize; got 3 <= 1 <= 2"),
    ({"fleetDesiredCapacity": "5"}, "fleetDesiredCapacity", "got 1 <= 5 <= 2"),
    ({"fleetMaxSize": "101"}, "fleetMaxSize", "allowed: 0 to 100"),
    ({"fleetMaxSize": "-1"}, "fleetMaxSize", "allowed: 0 to 100"),
    ({"fleetMaxSize": "many"}, "fleetMaxSize", "expected a whole number"),
    ({"fleetCpuTarget": "5"}, "fleetCpuTarget", "allowed: 10 to 90"),
    ({"fleetCpuTarget": "95"}, "fleetCpuTarget", "allowed: 10 to 90"),
    ({"fleetMetadataHopLimit": "0"}, "fleetMetadataHopLimit", "allowed: 1 to 64"),
    ({"fleetMetadataHopLimit": "65"}, "fleetMetadataHopLimit", "allowed: 1 to 64"),
    ({"fleetMinHealthyPercentage": "101"}, "fleetMinHealthyPercentage", "allowed: 0 to 100"),
    ({"fleetRootVolumeGiB": "4"}, "fleetRootVolumeGiB", "allowed: 8 to 16384"),
    ({"fleetEnabled": "yes"}, "fleetEnabled", "allowed: true, false"),
]


@pytest.mark.parametrize("overrides,key,allowed", BAD_FLEET_SETTINGS,
                         ids=[",".join(f"{k}={v}" for k, v in o.items()) for o, _, _ in BAD_FLEET_SETTINGS])
def test_bad_fleet_setting_is_one_clear_message(overrides, key, allowed):
    raw = load_stack_config("dev")
    raw.update({f"aurora-platform:{k}": v for k, v in overrides.items()})
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "dev")
    (problem,) = caught.value.problems
    assert problem.startswith(f"aurora-platform:{key} = ")
    assert allowed in problem


def test_bad_fleet_setting_stops_the_program_before_any_resource():
    with pytest.raises(SettingsError, match="fleetCpuTarget"):
        run_program("dev", "preview", overrides={"aurora-platform:fleetCpuTarget": "99"})


FLEET_SETTINGS = FleetSettings(enabled=True, instance_type="t4g.small", min_size=1, desired_capacity=1, max_size=2, cpu_target=50,
                               min_healthy_percentage=90, health_check_grace_period=300, metadata_hop_limit=1,
                               root_volume_gib=20, capacity_rebalance=False)


def test_fleet_args_validate_with_field_names():
    wiring = dict(region="us-east-2", vpc_id="vpc-1", private_subnet_ids=["subnet-1"], database=None,
                  kms_key_arn="arn:key", engine="aurora-postgresql")
    InstanceFleetArgs(FLEET_SETTINGS, **wiring)
    bad = dataclasses.replace(FLEET_SETTINGS, min_size=3, desired_capacity=2, cpu_target=95, metadata_hop_limit=0,
                              instance_type="large")
    with pytest.raises(ValueError) as caught:
        InstanceFleetArgs(bad, **{**wiring, "private_subnet_ids": []}, access=AccessSettings(application_users=()))
    message = str(caught.value)
    for text in ("min_size <= desired_capacity <= max_size", "cpu_target must be 10 to 90",
                 "metadata_hop_limit must be 1 to 64", "instance_type 'large'", "private_subnet_ids",
                 "application_users must name at least one database user"):
        assert text in message

"""The offline model's replacement table knows every type the program creates.

``deploy/aws_model.py``'s REPLACING_PROPERTIES says, per type, which inputs make the provider
replace a resource; the provider doubles and the offline diff of a change answer from it. A
type missing from it would be answered "updates in place" whatever changed, so a new type in
the program must come with its entry (read from terraform-provider-aws, as the table's
comments say). The committed stacks plus the what-if changes below turn on every optional
part of the program.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi_aws
import pytest

from deploy.offline import aws_model
from deploy.offline.capture import Capture
from tests.conftest import captured

P = "aurora-platform:"
ALL_INTERFACE_ENDPOINTS = json.dumps(["kms", "secretsmanager", "ssm", "ssmmessages", "ec2messages", "logs",
                                      "monitoring", "sns"])
OPERATOR = json.dumps(["arn:aws:iam::123456789012:role/Operator"])

# Optional parts the committed stacks leave off (dev: proxy, continuous backup, vault lock,
# restore testing, copies, flow logs, reader auto scaling, alarm e-mail, break-glass roles, an
# engine upgrade being prepared, a custom endpoint; prod: alarm e-mail, break-glass roles, every interface
# endpoint), the other engine with backtrack, and Serverless v2.
WHAT_IF: dict[str, tuple[str, dict[str, str]]] = {
    "dev-everything-on": ("dev", {
        P + "readerAutoScaling": "true", P + "interfaceEndpoints": ALL_INTERFACE_ENDPOINTS,
        P + "alarmEmail": "ops@example.com", P + "operatorRoleArns": OPERATOR, P + "backupCopyRegion": "us-west-2",
        P + "proxyEnabled": "true", P + "backupContinuous": "true", P + "backupVaultLock": "true",
        P + "backupRestoreTesting": "true", P + "flowLogs": "true", P + "natStrategy": "per-az",
        P + "engineUpgradeTarget": "17.4", P + "backupRetentionDays": "14",
        P + "customEndpoints": json.dumps([{"name": "analytics", "type": "READER", "instances": [2]}])}),
    "dev-mysql-backtrack": ("dev", {
        P + "engine": "aurora-mysql", P + "engineVersion": "8.0.mysql_aurora.3.08.0", P + "backtrackWindowHours": "24"}),
    "dev-serverless": ("dev", {P + "instanceClass": "db.serverless"}),
    "prod-alarms-operators": ("prod", {
        P + "alarmEmail": "ops@example.com", P + "operatorRoleArns": OPERATOR,
        P + "interfaceEndpoints": ALL_INTERFACE_ENDPOINTS}),
}

# Types the program creates that the table deliberately leaves out: none. A type whose inputs
# never force a replacement is in the table with an empty set (the internet gateway).
NO_REPLACEABLE_INPUTS: frozenset[str] = frozenset()


def what_if(label: str) -> Capture:
    stack, overrides = WHAT_IF[label]
    return captured(stack, "update", overrides=overrides)


def _cloud_types(capture: Capture) -> set[str]:
    # Custom resources only: components are the project's own, and a provider resource's
    # changes are the provider's DiffConfig, not a replacement table's.
    return {r.type for r in capture.resources if r.custom and not r.type.startswith("pulumi:providers:")}


def _all_cloud_types() -> dict[str, str]:
    """Every custom resource type of every run, with the first run that creates it."""
    runs = {f"{stack}-committed": captured(stack, "update") for stack in ("dev", "prod")}
    runs.update({label: what_if(label) for label in WHAT_IF})
    seen: dict[str, str] = {}
    for label, capture in runs.items():
        for type_ in _cloud_types(capture):
            seen.setdefault(type_, label)
    return seen


def test_every_type_the_program_creates_has_a_replacement_entry():
    seen = _all_cloud_types()
    missing = sorted(f"{t} (first in {run})" for t, run in seen.items()
                     if t not in aws_model.REPLACING_PROPERTIES and t not in NO_REPLACEABLE_INPUTS)
    assert not missing, ("types without an entry in deploy/aws_model.py REPLACING_PROPERTIES; read their ForceNew / "
                         f"RequiresReplace attributes in terraform-provider-aws and add them: {missing}")
    assert all(t.startswith(("aws:", "random:")) for t in seen), sorted(seen)


def test_the_what_if_runs_add_the_types_the_committed_stacks_leave_out():
    committed = _cloud_types(captured("dev", "update")) | _cloud_types(captured("prod", "update"))
    assert "aws:sns/topicSubscription:TopicSubscription" not in committed
    assert "aws:sns/topicSubscription:TopicSubscription" in _cloud_types(what_if("dev-everything-on"))


@pytest.mark.parametrize(("type_", "replacing", "in_place"), [
    # The engine cannot change in place; the version can (a major upgrade is a modify).
    ("aws:rds/cluster:Cluster", {"engine", "clusterIdentifier", "kmsKeyId", "storageEncrypted", "masterUsername",
                                 "databaseName", "dbSubnetGroupName"}, {"engineVersion", "backupRetentionPeriod"}),
    # A move to another zone, or a new identifier, is a new instance.
    ("aws:rds/clusterInstance:ClusterInstance", {"availabilityZone", "identifier", "clusterIdentifier"},
     {"instanceClass", "dbParameterGroupName", "engineVersion"}),
    # A proxy's name updates in place (ModifyDBProxy NewDBProxyName); its engine family and subnets do not.
    ("aws:rds/proxy:Proxy", {"engineFamily", "vpcSubnetIds"}, {"name", "vpcSecurityGroupIds", "auths", "roleArn"}),
    ("aws:rds/proxyEndpoint:ProxyEndpoint", {"dbProxyEndpointName", "dbProxyName", "targetRole", "vpcSubnetIds"},
     {"vpcSecurityGroupIds"}),
    ("aws:rds/proxyTarget:ProxyTarget", {"dbProxyName", "targetGroupName", "dbClusterIdentifier"}, set()),
    ("aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup", {"dbProxyName"}, {"connectionPoolConfig"}),
    ("aws:ec2/subnet:Subnet", {"cidrBlock", "availabilityZone", "vpcId"}, {"mapPublicIpOnLaunch", "tags"}),
    # The lock has no update at all.
    ("aws:backup/vaultLockConfiguration:VaultLockConfiguration",
     {"backupVaultName", "changeableForDays", "maxRetentionDays", "minRetentionDays"}, set()),
    ("aws:secretsmanager/secretRotation:SecretRotation", {"secretId"}, {"rotationRules", "rotateImmediately"}),
    ("aws:sns/topicSubscription:TopicSubscription", {"endpoint", "protocol", "topic"}, set()),
    ("aws:ec2/internetGateway:InternetGateway", set(), {"vpcId"}),
])
def test_entries_that_decide_day_2_changes(type_, replacing, in_place):
    entry = aws_model.REPLACING_PROPERTIES[type_]
    assert replacing <= entry, replacing - entry
    assert not (in_place & entry), in_place & entry


def test_an_attachment_is_replaced_delete_first_as_pulumi_aws_declares():
    attachment = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    news = {"role": "fleet-role-1a2b3c4", "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
    assert aws_model.delete_before_replace(attachment, "fleet-ssm", ["policyArn"], news)
    # Nothing replaced, nothing to order.
    assert not aws_model.delete_before_replace(attachment, "fleet-ssm", [], news)


def test_a_name_the_program_sets_is_replaced_delete_first_an_auto_name_is_not():
    proxy = "aws:rds/proxy:Proxy"
    assert aws_model.delete_before_replace(proxy, "proxy-us-east-1", ["vpcSubnetIds"], {"name": "aurora-prod"})
    group = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
    auto = aws_model.autoname(group, "aurora-cluster", {})
    assert auto and not aws_model.delete_before_replace(group, "aurora-cluster", ["family"], auto)


def test_fixed_identifiers_that_are_not_names_are_replaced_create_first():
    # The bridge orders by the auto-nameable `name` only: a cluster instance's identifier and a
    # proxy endpoint's name are fixed, yet the provider creates the replacement first.
    instance = "aws:rds/clusterInstance:ClusterInstance"
    assert not aws_model.delete_before_replace(instance, "aurora-1", ["availabilityZone"], {"identifier": "aurora-1"})
    endpoint = "aws:rds/proxyEndpoint:ProxyEndpoint"
    assert not aws_model.delete_before_replace(endpoint, "proxy-ro", ["vpcSubnetIds"],
                                               {"dbProxyEndpointName": "aurora-prod-ro"})
    # Nor do random's resources, which have no name.
    assert not aws_model.delete_before_replace("random:index/randomId:RandomId", "suffix", ["byteLength"], {})


def test_every_delete_first_type_is_a_type_of_the_provider():
    sdk = Path(pulumi_aws.__file__).parent
    tokens = "".join(p.read_text() for p in sdk.glob("*/__init__.py")) + (sdk / "__init__.py").read_text()
    unknown = sorted(t for t in aws_model.DELETE_BEFORE_REPLACE_TYPES if f'"{t}"' not in tokens)
    assert not unknown, unknown

"""First-preview values: unknowns never turn a mandatory policy into an advisory notice.

pulumi_policy wraps properties in a proxy that raises when an unknown value is read;
its servicer then replaces the policy's verdict with an *advisory* "can't run policy
... during preview" diagnostic. The first test pins that behaviour of the installed
pulumi_policy; the others show the pack decides from what is known instead, passing
where an unknown cannot hide a violation and failing closed, still mandatory, where
it could.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from google.protobuf import json_format, struct_pb2
from policy_fixtures import ROLE_ARN, UNKNOWN, Resource, StackPack, of, resource
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def test_pulumi_policy_downgrades_a_mandatory_policy_that_reads_an_unknown() -> None:
    def naive_customer_managed_key(args, report_violation):
        if not args.props.get("kmsKeyId"):
            report_violation("no key")

    servicer = _PolicyAnalyzerServicer(
        "naive",
        "0.0.1",
        [ResourceValidationPolicy(name="naive-cmk", description="d", validate=naive_customer_managed_key)],
        EnforcementLevel.MANDATORY,
    )
    properties = struct_pb2.Struct()
    json_format.ParseDict({"kmsKeyId": UNKNOWN}, properties)

    response = servicer.Analyze(
        analyzer_pb2.AnalyzeRequest(type=CLUSTER, urn="urn:x", name="c", properties=properties), None
    )

    (diagnostic,) = response.diagnostics
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert "can't run policy 'naive-cmk'" in diagnostic.message and "during preview" in diagnostic.message


@dataclass(frozen=True)
class PreviewCase:
    policy: str
    resource: Resource
    fails: bool  # True: the unknown could hide a violation, so the policy fails closed

    def __str__(self) -> str:
        return f"{self.policy}:{self.resource.name}"


def cluster(name: str, **inputs) -> Resource:
    return resource(CLUSTER, name, {"engine": "aurora-postgresql", **inputs})


PREVIEW_CASES = [
    PreviewCase("rds-cluster-storage-encrypted", cluster("key-unknown", storageEncrypted=True, kmsKeyId=UNKNOWN), False),
    PreviewCase("rds-cluster-storage-encrypted", cluster("flag-unknown", storageEncrypted=UNKNOWN), True),
    PreviewCase("rds-cluster-customer-managed-key", cluster("key-unknown", kmsKeyId=UNKNOWN), False),
    PreviewCase(
        "rds-global-cluster-storage-encrypted",
        resource("aws:rds/globalCluster:GlobalCluster", "source-unknown", {"sourceDbClusterIdentifier": UNKNOWN}),
        False,
    ),
    PreviewCase(
        "rds-global-cluster-storage-encrypted",
        resource("aws:rds/globalCluster:GlobalCluster", "flag-unknown", {"storageEncrypted": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "rds-instance-storage-encrypted",
        resource("aws:rds/instance:Instance", "key-unknown", {"storageEncrypted": True, "kmsKeyId": UNKNOWN}),
        False,
    ),
    PreviewCase(
        "rds-instance-not-public",
        resource(CLUSTER_INSTANCE, "ids-unknown", {
            "clusterIdentifier": UNKNOWN, "dbSubnetGroupName": UNKNOWN, "publiclyAccessible": False,
        }),
        False,
    ),
    PreviewCase(
        "rds-instance-not-public", resource(CLUSTER_INSTANCE, "flag-unknown", {"publiclyAccessible": UNKNOWN}), True
    ),
    PreviewCase(
        "ebs-encrypted",
        resource(LAUNCH_TEMPLATE, "key-unknown", {"blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": UNKNOWN}},
        ]}),
        False,
    ),
    PreviewCase(
        "ebs-encrypted",
        resource(LAUNCH_TEMPLATE, "flag-unknown", {"blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": UNKNOWN}},
        ]}),
        True,
    ),
    PreviewCase("ebs-encrypted", resource(LAUNCH_TEMPLATE, "mappings-unknown", {"blockDeviceMappings": UNKNOWN}), True),
    PreviewCase(
        "security-group-no-public-ingress",
        resource("aws:ec2/securityGroup:SecurityGroup", "cidr-unknown", {"vpcId": UNKNOWN, "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": [UNKNOWN], "securityGroups": [UNKNOWN]},
        ]}),
        False,
    ),
    PreviewCase(
        "security-group-no-public-ingress",
        resource("aws:ec2/securityGroup:SecurityGroup", "rules-unknown", {"ingress": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "security-group-no-public-ingress",
        resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "cidr-unknown", {
            "securityGroupId": UNKNOWN, "cidrIpv4": UNKNOWN, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443,
        }),
        False,
    ),
    PreviewCase(
        "security-group-no-public-ingress",
        resource("aws:ec2/securityGroupRule:SecurityGroupRule", "type-unknown", {
            "type": UNKNOWN, "cidrBlocks": ["0.0.0.0/0"], "securityGroupId": UNKNOWN,
            "protocol": "tcp", "fromPort": 22, "toPort": 22,
        }),
        True,
    ),
    PreviewCase(
        "ec2-no-public-ip",
        resource(LAUNCH_TEMPLATE, "subnet-unknown", {"networkInterfaces": [
            {"subnetId": UNKNOWN, "securityGroups": [UNKNOWN], "associatePublicIpAddress": "false"},
        ]}),
        False,
    ),
    PreviewCase(
        "ec2-no-public-ip",
        resource(LAUNCH_TEMPLATE, "flag-unknown", {"networkInterfaces": [{"associatePublicIpAddress": UNKNOWN}]}),
        True,
    ),
    PreviewCase(
        "subnet-no-public-ip-on-launch",
        resource("aws:ec2/subnet:Subnet", "vpc-unknown", {"vpcId": UNKNOWN, "cidrBlock": "10.0.1.0/24"}),
        False,
    ),
    PreviewCase(
        "subnet-no-public-ip-on-launch",
        resource("aws:ec2/subnet:Subnet", "flag-unknown", {"mapPublicIpOnLaunch": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "ec2-imdsv2-required",
        resource(LAUNCH_TEMPLATE, "image-unknown", {"imageId": UNKNOWN, "metadataOptions": {"httpTokens": "required"}}),
        False,
    ),
    PreviewCase(
        "ec2-imdsv2-required",
        resource(LAUNCH_TEMPLATE, "tokens-unknown", {"metadataOptions": {"httpTokens": UNKNOWN}}),
        True,
    ),
    PreviewCase(
        "ec2-user-data-no-secrets", resource(LAUNCH_TEMPLATE, "rendered-later", {"userData": UNKNOWN}), False
    ),
    PreviewCase(
        "kms-key-rotation-enabled",
        resource("aws:kms/key:Key", "policy-unknown", {"policy": UNKNOWN, "enableKeyRotation": True}),
        False,
    ),
    PreviewCase("kms-key-rotation-enabled", resource("aws:kms/key:Key", "flag-unknown", {"enableKeyRotation": UNKNOWN}), True),
    PreviewCase(
        "rds-performance-insights-encrypted",
        resource(CLUSTER_INSTANCE, "key-unknown", {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": UNKNOWN}),
        False,
    ),
    PreviewCase(
        "rds-performance-insights-enabled",
        resource(CLUSTER_INSTANCE, "cluster-unknown", {"clusterIdentifier": UNKNOWN, "performanceInsightsEnabled": True}),
        False,
    ),
    PreviewCase(
        "rds-performance-insights-enabled",
        resource(CLUSTER_INSTANCE, "flag-unknown", {"performanceInsightsEnabled": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "rds-enhanced-monitoring",
        resource(CLUSTER_INSTANCE, "role-unknown", {"monitoringInterval": 60, "monitoringRoleArn": UNKNOWN}),
        False,
    ),
    PreviewCase(
        "rds-enhanced-monitoring",
        resource(CLUSTER_INSTANCE, "interval-unknown", {"monitoringInterval": UNKNOWN, "monitoringRoleArn": ROLE_ARN}),
        True,
    ),
    PreviewCase("rds-cluster-deletion-protection", cluster("key-unknown", kmsKeyId=UNKNOWN, deletionProtection=True), False),
    PreviewCase("rds-cluster-deletion-protection", cluster("flag-unknown", deletionProtection=UNKNOWN), True),
    PreviewCase(
        "rds-cluster-backup-retention", cluster("subnets-unknown", dbSubnetGroupName=UNKNOWN, backupRetentionPeriod=14), False
    ),
    PreviewCase("rds-cluster-backup-retention", cluster("days-unknown", backupRetentionPeriod=UNKNOWN), True),
    PreviewCase(
        "rds-cluster-final-snapshot", cluster("name-unknown", skipFinalSnapshot=False, finalSnapshotIdentifier=UNKNOWN), False
    ),
    PreviewCase("rds-cluster-final-snapshot", cluster("flag-unknown", skipFinalSnapshot=UNKNOWN), True),
    PreviewCase(
        "rds-cluster-iam-auth", cluster("sg-unknown", vpcSecurityGroupIds=[UNKNOWN], iamDatabaseAuthenticationEnabled=True), False
    ),
    PreviewCase("rds-cluster-iam-auth", cluster("flag-unknown", iamDatabaseAuthenticationEnabled=UNKNOWN), True),
    PreviewCase(
        "rds-cluster-log-exports",
        cluster("group-unknown", dbClusterParameterGroupName=UNKNOWN, enabledCloudwatchLogsExports=["postgresql"]),
        False,
    ),
    PreviewCase("rds-cluster-log-exports", cluster("exports-unknown", enabledCloudwatchLogsExports=UNKNOWN), True),
    PreviewCase(
        "rds-cluster-copy-tags-to-snapshot", cluster("key-unknown", kmsKeyId=UNKNOWN, copyTagsToSnapshot=True), False
    ),
    PreviewCase("rds-cluster-copy-tags-to-snapshot", cluster("flag-unknown", copyTagsToSnapshot=UNKNOWN), True),
    PreviewCase("rds-cluster-non-default-username", cluster("generated-name", masterUsername=UNKNOWN), False),
    PreviewCase(
        "log-group-encrypted", resource("aws:cloudwatch/logGroup:LogGroup", "key-unknown", {"kmsKeyId": UNKNOWN}), False
    ),
    PreviewCase("sns-topic-encrypted", resource("aws:sns/topic:Topic", "key-unknown", {"kmsMasterKeyId": UNKNOWN}), False),
    PreviewCase(
        "secret-customer-managed-key",
        resource("aws:secretsmanager/secret:Secret", "key-unknown", {"kmsKeyId": UNKNOWN}),
        False,
    ),
    PreviewCase(
        "secret-customer-managed-key",
        resource(
            "aws:secretsmanager/secret:Secret",
            "replica-key-unknown",
            {"kmsKeyId": UNKNOWN, "replicas": [{"region": "us-west-2", "kmsKeyId": UNKNOWN}]},
        ),
        False,
    ),
    PreviewCase(
        "secret-customer-managed-key",
        resource("aws:secretsmanager/secret:Secret", "replicas-unknown", {"kmsKeyId": UNKNOWN, "replicas": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "secret-customer-managed-key",
        cluster("master-secret-key-unknown", manageMasterUserPassword=True, masterUserSecretKmsKeyId=UNKNOWN),
        False,
    ),
    PreviewCase(
        "secret-customer-managed-key",
        cluster("master-secret-both-unknown", manageMasterUserPassword=UNKNOWN, masterUserSecretKmsKeyId=UNKNOWN),
        False,
    ),
    PreviewCase("secret-customer-managed-key", cluster("manage-flag-unknown", manageMasterUserPassword=UNKNOWN), True),
    PreviewCase(
        "secret-customer-managed-key",
        resource("aws:rds/instance:Instance", "master-secret-key-unknown", {
            "manageMasterUserPassword": True, "masterUserSecretKmsKeyId": UNKNOWN,
        }),
        False,
    ),
    PreviewCase(
        "secret-customer-managed-key",
        resource("aws:rds/instance:Instance", "manage-flag-unknown", {"manageMasterUserPassword": UNKNOWN}),
        True,
    ),
    PreviewCase(
        "rds-instance-class-allowed", resource(CLUSTER_INSTANCE, "class-unknown", {"instanceClass": UNKNOWN}), True
    ),
    PreviewCase("rds-proxy-tls-required", resource("aws:rds/proxy:Proxy", "tls-unknown", {
        "engineFamily": "POSTGRESQL", "requireTls": UNKNOWN, "defaultAuthScheme": "IAM_AUTH"}), True),
    PreviewCase("rds-proxy-tls-required", resource("aws:rds/proxy:Proxy", "role-unknown", {
        "engineFamily": "POSTGRESQL", "requireTls": True, "defaultAuthScheme": "IAM_AUTH", "roleArn": UNKNOWN}), False),
    PreviewCase("rds-proxy-iam-auth", resource("aws:rds/proxy:Proxy", "scheme-unknown", {
        "engineFamily": "POSTGRESQL", "requireTls": True, "defaultAuthScheme": UNKNOWN}), True),
    PreviewCase("rds-proxy-iam-auth", resource("aws:rds/proxy:Proxy", "subnets-unknown", {
        "engineFamily": "POSTGRESQL", "requireTls": True, "defaultAuthScheme": "IAM_AUTH", "vpcSubnetIds": UNKNOWN}), False),
    PreviewCase(
        "backup-vault-customer-managed-key",
        resource("aws:backup/vault:Vault", "key-unknown", {"name": "orders", "kmsKeyArn": UNKNOWN}),
        False,
    ),
]


@pytest.mark.parametrize("case", PREVIEW_CASES, ids=str)
def test_unknown_values_are_decided_from_what_is_known(pack: StackPack, case: PreviewCase) -> None:
    violations = of(pack.analyze("prod", case.resource), case.policy)

    if not case.fails:
        assert violations == []
        return
    assert violations, f"{case.policy} let an unknown value that could hide a violation through"
    for violation in violations:
        assert violation.level == "mandatory"
        assert violation.urn == case.resource.urn
        assert "unknown during preview" in violation.message
        assert f"'{case.resource.name}'" in violation.message


def test_every_mandatory_resource_policy_has_a_preview_case(pack: StackPack) -> None:
    pack.use("prod")
    resource_policies = {p.name for p in pack.analyzer.get_analyzer_info().policies if p.policy_type == "resource"}

    assert resource_policies <= {case.policy for case in PREVIEW_CASES}
    assert all(pack.analyzer.policy_config[name].enforcement_level == "mandatory" for name in resource_policies)


# A resource of every type the pack looks at, with each of its inputs unknown at once.
ALL_UNKNOWN = [
    resource(type_, f"all-unknown-{index}", {prop: UNKNOWN for prop in props})
    for index, (type_, props) in enumerate(
        [
            (CLUSTER, ["engine", "storageEncrypted", "kmsKeyId", "deletionProtection", "backupRetentionPeriod",
                       "skipFinalSnapshot", "iamDatabaseAuthenticationEnabled", "enabledCloudwatchLogsExports",
                       "copyTagsToSnapshot", "masterUsername", "engineMode", "performanceInsightsEnabled",
                       "performanceInsightsKmsKeyId", "manageMasterUserPassword", "masterUserSecretKmsKeyId"]),
            (CLUSTER_INSTANCE, ["publiclyAccessible", "performanceInsightsEnabled", "performanceInsightsKmsKeyId",
                                "monitoringInterval", "monitoringRoleArn", "instanceClass"]),
            ("aws:rds/instance:Instance", ["storageEncrypted", "replicateSourceDb", "publiclyAccessible", "username",
                                           "manageMasterUserPassword"]),
            ("aws:rds/globalCluster:GlobalCluster", ["storageEncrypted", "sourceDbClusterIdentifier"]),
            (LAUNCH_TEMPLATE, ["blockDeviceMappings", "networkInterfaces", "metadataOptions", "userData"]),
            ("aws:ec2/instance:Instance", ["rootBlockDevice", "ebsBlockDevices", "associatePublicIpAddress",
                                           "metadataOptions", "userData", "userDataBase64", "launchTemplate"]),
            ("aws:ec2/launchConfiguration:LaunchConfiguration", ["rootBlockDevice", "ebsBlockDevices", "userData"]),
            ("aws:ebs/volume:Volume", ["encrypted"]),
            ("aws:ec2/securityGroup:SecurityGroup", ["ingress"]),
            ("aws:ec2/securityGroupRule:SecurityGroupRule", ["type", "cidrBlocks", "ipv6CidrBlocks"]),
            ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", ["cidrIpv4", "cidrIpv6"]),
            ("aws:ec2/subnet:Subnet", ["mapPublicIpOnLaunch"]),
            ("aws:kms/key:Key", ["enableKeyRotation", "customerMasterKeySpec", "customKeyStoreId"]),
            ("aws:cloudwatch/logGroup:LogGroup", ["kmsKeyId"]),
            ("aws:sns/topic:Topic", ["kmsMasterKeyId"]),
            ("aws:secretsmanager/secret:Secret", ["kmsKeyId"]),
            ("aws:backup/vault:Vault", ["kmsKeyArn"]),
            ("aws:rds/proxy:Proxy", ["requireTls", "defaultAuthScheme", "auths"]),
        ]
    )
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_resource_made_only_of_unknowns_gets_verdicts_at_the_configured_levels(pack: StackPack, stack: str) -> None:
    violations = pack.analyze(stack, *ALL_UNKNOWN)  # the fixture refuses any "can't run policy" notice
    pack.use(stack)

    assert violations
    for violation in violations:
        assert violation.level == pack.analyzer.policy_config[violation.policy].enforcement_level
        assert violation.urn in {r.urn for r in ALL_UNKNOWN}


def test_a_stack_made_only_of_unknowns_gets_verdicts_not_notices(pack: StackPack) -> None:
    violations = pack.analyze_stack("prod", *ALL_UNKNOWN)

    assert violations and {violation.level for violation in violations} == {"mandatory"}


def test_customer_managed_key_created_in_the_same_run_passes_every_key_policy(pack: StackPack) -> None:
    encrypted = [
        cluster(
            "orders", storageEncrypted=True, kmsKeyId=UNKNOWN, manageMasterUserPassword=True,
            masterUserSecretKmsKeyId=UNKNOWN,
        ),
        resource(CLUSTER_INSTANCE, "orders-1", {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": UNKNOWN}),
        resource("aws:secretsmanager/secret:Secret", "master", {"kmsKeyId": UNKNOWN}),
        resource("aws:cloudwatch/logGroup:LogGroup", "postgresql", {"kmsKeyId": UNKNOWN}),
        resource("aws:sns/topic:Topic", "alarms", {"kmsMasterKeyId": UNKNOWN}),
    ]
    key_policies = {
        "rds-cluster-storage-encrypted",
        "rds-cluster-customer-managed-key",
        "rds-performance-insights-encrypted",
        "secret-customer-managed-key",
        "log-group-encrypted",
        "sns-topic-encrypted",
    }

    assert [v for v in pack.analyze("prod", *encrypted) if v.policy in key_policies] == []

"""Every resource policy, through the real pack: a failing and a passing fixture, the message and the level."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from policy_fixtures import KEY_ARN, ROLE_ARN, WEST_KEY_ARN, Resource, StackPack, expected_level, of, resource

CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
DB_INSTANCE = "aws:rds/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"


@dataclass(frozen=True)
class Case:
    policy: str
    failing: Resource
    passing: Resource
    says: tuple[str, ...]  # the offending property (and anything else the message must name)

    def __str__(self) -> str:
        return f"{self.policy}:{self.failing.type.split(':')[-1]}"


def cluster(name: str, **inputs) -> Resource:
    return resource(CLUSTER, name, {"engine": "aurora-postgresql", **inputs})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES = [
    Case(
        "rds-cluster-storage-encrypted",
        cluster("orders", storageEncrypted=False),
        cluster("orders-ok", storageEncrypted=True),
        ("storageEncrypted", "storage_encrypted=True"),
    ),
    Case(
        "rds-cluster-customer-managed-key",
        cluster("orders", storageEncrypted=True),
        cluster("orders-ok", storageEncrypted=True, kmsKeyId=KEY_ARN),
        ("kmsKeyId", "aws/rds"),
    ),
    Case(
        "rds-cluster-customer-managed-key",
        cluster("orders-alias", storageEncrypted=True, kmsKeyId="alias/aws/rds"),
        cluster("orders-own-alias", storageEncrypted=True, kmsKeyId="alias/orders"),
        ("kmsKeyId", "AWS managed key"),
    ),
    Case(
        "rds-global-cluster-storage-encrypted",
        resource(GLOBAL_CLUSTER, "orders-global", {"engine": "aurora-postgresql"}),
        resource(GLOBAL_CLUSTER, "orders-global-ok", {"engine": "aurora-postgresql", "storageEncrypted": True}),
        ("storageEncrypted", "sourceDbClusterIdentifier"),
    ),
    Case(
        "rds-global-cluster-storage-encrypted",
        resource(GLOBAL_CLUSTER, "from-source-unencrypted", {"storageEncrypted": False}),
        resource(GLOBAL_CLUSTER, "from-source", {"sourceDbClusterIdentifier": "arn:aws:rds:us-east-1:1:cluster:c"}),
        ("storageEncrypted",),
    ),
    Case(
        "rds-instance-storage-encrypted",
        resource(DB_INSTANCE, "reporting", {"engine": "postgres", "storageEncrypted": False}),
        resource(DB_INSTANCE, "reporting-ok", {"engine": "postgres", "storageEncrypted": True}),
        ("storageEncrypted",),
    ),
    Case(
        "rds-instance-not-public",
        resource(CLUSTER_INSTANCE, "orders-1", {"publiclyAccessible": True}),
        resource(CLUSTER_INSTANCE, "orders-1-ok", {"publiclyAccessible": False}),
        ("publiclyAccessible", "publicly_accessible=False"),
    ),
    Case(
        "rds-instance-not-public",
        resource(DB_INSTANCE, "reporting", {"publiclyAccessible": True}),
        resource(DB_INSTANCE, "reporting-ok", {}),
        ("publiclyAccessible",),
    ),
    Case(
        "ebs-encrypted",
        resource(LAUNCH_TEMPLATE, "app", {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]}),
        resource(
            LAUNCH_TEMPLATE,
            "app-ok",
            {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}]},
        ),
        ("blockDeviceMappings[0].ebs.encrypted", 'encrypted="true"'),
    ),
    Case(
        "ebs-encrypted",
        resource(LAUNCH_TEMPLATE, "app-no-mappings", {"imageId": "ami-0abc"}),
        resource(LAUNCH_TEMPLATE, "app-instance-store", {"blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}},
            {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"},
        ]}),
        ("blockDeviceMappings", "AMI snapshot"),
    ),
    Case(
        "ebs-encrypted",
        resource(EC2_INSTANCE, "bastion", {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [
            {"deviceName": "/dev/sdf", "encrypted": False},
        ]}),
        resource(EC2_INSTANCE, "bastion-ok", {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [
            {"deviceName": "/dev/sdf", "encrypted": True},
        ]}),
        ("ebsBlockDevices[0].encrypted",),
    ),
    Case(
        "ebs-encrypted",
        resource(EC2_INSTANCE, "bastion-root", {"instanceType": "t4g.micro"}),
        resource(EC2_INSTANCE, "from-template", {"launchTemplate": {"id": "lt-0abc", "version": "$Latest"}}),
        ("rootBlockDevice.encrypted",),
    ),
    Case(
        "ebs-encrypted",
        resource("aws:ebs/volume:Volume", "data", {"availabilityZone": "us-east-1a", "size": 10}),
        resource("aws:ebs/volume:Volume", "data-ok", {"availabilityZone": "us-east-1a", "encrypted": True}),
        ("encrypted",),
    ),
    Case(
        "ebs-encrypted",
        resource("aws:ec2/launchConfiguration:LaunchConfiguration", "legacy", {"rootBlockDevice": {"encrypted": False}}),
        resource("aws:ec2/launchConfiguration:LaunchConfiguration", "legacy-ok", {"rootBlockDevice": {"encrypted": True}}),
        ("rootBlockDevice.encrypted",),
    ),
    Case(
        "security-group-no-public-ingress",
        resource("aws:ec2/securityGroup:SecurityGroup", "web", {"ingress": [
            {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]},
        ]}),
        resource("aws:ec2/securityGroup:SecurityGroup", "web-ok", {"ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/8"]},
        ]}),
        ("ingress[0].cidrBlocks", "0.0.0.0/0", "on ports 22-22/tcp"),
    ),
    Case(
        "security-group-no-public-ingress",
        resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default", {"ingress": [
            {"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]},
        ]}),
        resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default-ok", {"ingress": []}),
        ("ingress[0].ipv6CidrBlocks", "::/0", "on all ports"),
    ),
    Case(
        "security-group-no-public-ingress",
        resource("aws:ec2/securityGroupRule:SecurityGroupRule", "ssh", {
            "type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"],
            "securityGroupId": "sg-1",
        }),
        resource("aws:ec2/securityGroupRule:SecurityGroupRule", "egress-anywhere", {
            "type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"],
            "securityGroupId": "sg-1",
        }),
        ("cidrBlocks", "0.0.0.0/0"),
    ),
    Case(
        "security-group-no-public-ingress",
        resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "https-v6", {
            "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv6": "::/0", "securityGroupId": "sg-1",
        }),
        resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "from-app", {
            "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "referencedSecurityGroupId": "sg-2",
            "securityGroupId": "sg-1",
        }),
        ("cidrIpv6", "::/0", "referenced_security_group_id"),
    ),
    Case(
        "ec2-no-public-ip",
        resource(LAUNCH_TEMPLATE, "app", {"networkInterfaces": [{"associatePublicIpAddress": "true"}]}),
        resource(LAUNCH_TEMPLATE, "app-ok", {"networkInterfaces": [{"associatePublicIpAddress": "false"}]}),
        ("networkInterfaces[0].associatePublicIpAddress", 'associate_public_ip_address="false"'),
    ),
    Case(
        "ec2-no-public-ip",
        resource(EC2_INSTANCE, "bastion", {"associatePublicIpAddress": True}),
        resource(EC2_INSTANCE, "bastion-ok", {"associatePublicIpAddress": False}),
        ("associatePublicIpAddress",),
    ),
    Case(
        "subnet-no-public-ip-on-launch",
        resource("aws:ec2/subnet:Subnet", "public-a", {"cidrBlock": "10.0.0.0/24", "mapPublicIpOnLaunch": True}),
        resource("aws:ec2/subnet:Subnet", "public-a-ok", {"cidrBlock": "10.0.0.0/24", "mapPublicIpOnLaunch": False}),
        ("mapPublicIpOnLaunch", "map_public_ip_on_launch=False"),
    ),
    Case(
        "ec2-imdsv2-required",
        resource(LAUNCH_TEMPLATE, "app", {"metadataOptions": {"httpTokens": "optional"}}),
        resource(LAUNCH_TEMPLATE, "app-ok", {"metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"}}),
        ("metadataOptions.httpTokens", '"optional"', 'http_tokens'),
    ),
    Case(
        "ec2-imdsv2-required",
        resource(EC2_INSTANCE, "bastion", {"instanceType": "t4g.micro"}),
        resource(EC2_INSTANCE, "bastion-no-imds", {"metadataOptions": {"httpEndpoint": "disabled"}}),
        ("metadataOptions.httpTokens", "not set"),
    ),
    Case(
        "ec2-user-data-no-secrets",
        resource(LAUNCH_TEMPLATE, "app", {"userData": b64("#!/bin/bash\nexport AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n")}),
        resource(LAUNCH_TEMPLATE, "app-ok", {"userData": b64(
            "#!/bin/bash\nDB_PASSWORD=$(aws secretsmanager get-secret-value --secret-id app-db "
            "--query SecretString --output text)\n"
            "DB_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-platform-prod/master-AbCdEf\n"
        )}),
        ("userData line 2", "an AWS access key id", "Secrets Manager"),
    ),
    Case(
        "ec2-user-data-no-secrets",
        resource(EC2_INSTANCE, "bastion", {"userData": "#!/bin/bash\necho ok\nPGPASSWORD=hunter2hunter2 psql\n"}),
        resource(EC2_INSTANCE, "bastion-ok", {"userData": "#!/bin/bash\necho ok\n"}),
        ("userData line 3", "a credential assignment"),
    ),
    Case(
        "kms-key-rotation-enabled",
        resource("aws:kms/key:Key", "db-key", {"enableKeyRotation": False}),
        resource("aws:kms/key:Key", "db-key-ok", {"enableKeyRotation": True}),
        ("enableKeyRotation", "enable_key_rotation=True"),
    ),
    Case(
        "kms-key-rotation-enabled",
        resource("aws:kms/key:Key", "db-key-default", {"description": "no rotation set"}),
        resource("aws:kms/key:Key", "signing-key", {"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}),
        ("enableKeyRotation is not set",),
    ),
    Case(
        "rds-performance-insights-encrypted",
        resource(CLUSTER_INSTANCE, "orders-1", {"performanceInsightsEnabled": True}),
        resource(CLUSTER_INSTANCE, "orders-1-ok", {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KEY_ARN}),
        ("performanceInsightsKmsKeyId", "performance_insights_kms_key_id"),
    ),
    Case(
        "rds-performance-insights-enabled",
        resource(CLUSTER_INSTANCE, "orders-1", {"performanceInsightsEnabled": False}),
        resource(CLUSTER_INSTANCE, "orders-1-ok", {"performanceInsightsEnabled": True}),
        ("performanceInsightsEnabled", "performance_insights_enabled=True"),
    ),
    Case(
        "rds-enhanced-monitoring",
        resource(CLUSTER_INSTANCE, "orders-1", {"monitoringInterval": 0}),
        resource(CLUSTER_INSTANCE, "orders-1-ok", {"monitoringInterval": 30, "monitoringRoleArn": ROLE_ARN}),
        ("monitoringInterval is 0", "monitoring_role_arn"),
    ),
    Case(
        "rds-enhanced-monitoring",
        resource(DB_INSTANCE, "reporting", {"monitoringInterval": 60}),
        resource(DB_INSTANCE, "reporting-ok", {"monitoringInterval": 60, "monitoringRoleArn": ROLE_ARN}),
        ("monitoringRoleArn is not set",),
    ),
    Case(
        "rds-cluster-deletion-protection",
        cluster("orders", deletionProtection=False),
        cluster("orders-ok", deletionProtection=True),
        ("deletionProtection", "deletion_protection=True"),
    ),
    Case(
        "rds-cluster-backup-retention",
        cluster("orders", backupRetentionPeriod=0),
        cluster("orders-ok", backupRetentionPeriod=35),
        ("backupRetentionPeriod is 0", "backup_retention_period="),
    ),
    Case(
        "rds-cluster-final-snapshot",
        cluster("orders", skipFinalSnapshot=True),
        cluster("orders-ok", skipFinalSnapshot=False, finalSnapshotIdentifier="orders-final"),
        ("skipFinalSnapshot", "final_snapshot_identifier"),
    ),
    Case(
        "rds-cluster-iam-auth",
        cluster("orders"),
        cluster("orders-ok", iamDatabaseAuthenticationEnabled=True),
        ("iamDatabaseAuthenticationEnabled", "iam_database_authentication_enabled=True"),
    ),
    Case(
        "rds-cluster-log-exports",
        cluster("orders", enabledCloudwatchLogsExports=[]),
        cluster("orders-ok", enabledCloudwatchLogsExports=["postgresql"]),
        ("enabledCloudwatchLogsExports", "'postgresql'"),
    ),
    Case(
        "rds-cluster-log-exports",
        resource(CLUSTER, "orders-mysql", {"engine": "aurora-mysql", "enabledCloudwatchLogsExports": ["error"]}),
        resource(CLUSTER, "orders-mysql-ok", {
            "engine": "aurora-mysql", "enabledCloudwatchLogsExports": ["audit", "error", "slowquery", "general"],
        }),
        ("enabledCloudwatchLogsExports", "'audit'", "'slowquery'"),
    ),
    Case(
        "rds-cluster-copy-tags-to-snapshot",
        cluster("orders", copyTagsToSnapshot=False),
        cluster("orders-ok", copyTagsToSnapshot=True),
        ("copyTagsToSnapshot", "copy_tags_to_snapshot=True"),
    ),
    Case(
        "rds-cluster-non-default-username",
        cluster("orders", masterUsername="Postgres"),
        cluster("orders-ok", masterUsername="dbadmin"),
        ("masterUsername", '"Postgres"'),
    ),
    Case(
        "rds-cluster-non-default-username",
        resource(DB_INSTANCE, "reporting", {"username": "admin"}),
        resource(DB_INSTANCE, "reporting-ok", {"username": "reporter"}),
        ("username", '"admin"'),
    ),
    Case(
        "log-group-encrypted",
        resource("aws:cloudwatch/logGroup:LogGroup", "flow-logs", {"retentionInDays": 365}),
        resource("aws:cloudwatch/logGroup:LogGroup", "flow-logs-ok", {"retentionInDays": 365, "kmsKeyId": KEY_ARN}),
        ("kmsKeyId", "kms_key_id"),
    ),
    Case(
        "sns-topic-encrypted",
        resource("aws:sns/topic:Topic", "alarms", {"kmsMasterKeyId": "alias/aws/sns"}),
        resource("aws:sns/topic:Topic", "alarms-ok", {"kmsMasterKeyId": KEY_ARN}),
        ("kmsMasterKeyId", '"alias/aws/sns"', "kms_master_key_id"),
    ),
    Case(
        "secret-customer-managed-key",
        resource("aws:secretsmanager/secret:Secret", "db-master", {"name": "db-master"}),
        resource("aws:secretsmanager/secret:Secret", "db-master-ok", {"name": "db-master", "kmsKeyId": KEY_ARN}),
        ("kmsKeyId", "kms_key_id"),
    ),
    Case(
        "secret-customer-managed-key",
        resource(
            "aws:secretsmanager/secret:Secret",
            "db-master-replicated",
            {"kmsKeyId": KEY_ARN, "replicas": [{"region": "us-west-2"}]},
        ),
        resource(
            "aws:secretsmanager/secret:Secret",
            "db-master-replicated-ok",
            {"kmsKeyId": KEY_ARN, "replicas": [{"region": "us-west-2", "kmsKeyId": WEST_KEY_ARN}]},
        ),
        ("replicas[0].kmsKeyId", "us-west-2", "aws/secretsmanager"),
    ),
    Case(
        "secret-customer-managed-key",
        cluster("orders-managed", manageMasterUserPassword=True, masterUsername="dbadmin"),
        cluster("orders-managed-ok", manageMasterUserPassword=True, masterUserSecretKmsKeyId=KEY_ARN),
        ("manageMasterUserPassword", "masterUserSecretKmsKeyId is not set", "aws/secretsmanager",
         "master_user_secret_kms_key_id", "cluster's region"),
    ),
    Case(
        "secret-customer-managed-key",
        cluster("orders-managed-alias", manageMasterUserPassword=True, masterUserSecretKmsKeyId="alias/aws/secretsmanager"),
        # A password the program generates and stores in its own secretsmanager.Secret: RDS manages no secret.
        cluster("orders-generated-password", masterPassword="generated", masterUsername="dbadmin"),
        ("masterUserSecretKmsKeyId", '"alias/aws/secretsmanager"', "master_user_secret_kms_key_id"),
    ),
    Case(
        "secret-customer-managed-key",
        resource(DB_INSTANCE, "reporting-managed", {"engine": "postgres", "manageMasterUserPassword": True}),
        resource(DB_INSTANCE, "reporting-managed-ok", {
            "engine": "postgres", "manageMasterUserPassword": True, "masterUserSecretKmsKeyId": "alias/reporting",
        }),
        ("masterUserSecretKmsKeyId is not set", "instance's region"),
    ),
    Case(
        "backup-vault-customer-managed-key",
        resource("aws:backup/vault:Vault", "orders-vault", {"name": "orders-vault"}),
        resource("aws:backup/vault:Vault", "orders-vault-ok", {"name": "orders-vault-ok", "kmsKeyArn": KEY_ARN}),
        ("kmsKeyArn", "aws/backup", "kms_key_arn"),
    ),
]

# Classes allowed in prod; dev allows any class (see test_dev_allows_any_instance_class).
INSTANCE_CLASS_CASE = Case(
    "rds-instance-class-allowed",
    resource(CLUSTER_INSTANCE, "orders-1", {"instanceClass": "db.t4g.medium"}),
    resource(CLUSTER_INSTANCE, "orders-1-ok", {"instanceClass": "db.r7g.xlarge"}),
    ("instanceClass", '"db.t4g.medium"', "allowedClasses"),
)


@pytest.mark.parametrize("case", [*CASES, INSTANCE_CLASS_CASE], ids=str)
def test_prod_reports_the_failing_fixture_as_mandatory(pack: StackPack, case: Case) -> None:
    violations = of(pack.analyze("prod", case.failing), case.policy)

    assert violations, f"{case.policy} let {case.failing.name} through"
    for violation in violations:
        assert violation.level == "mandatory"
        assert violation.urn == case.failing.urn
        assert f"'{case.failing.name}'" in violation.message
        for fragment in case.says:
            assert fragment in violation.message


@pytest.mark.parametrize("case", CASES, ids=str)
def test_dev_reports_the_failing_fixture_at_the_dev_level(pack: StackPack, case: Case) -> None:
    violations = of(pack.analyze("dev", case.failing), case.policy)

    assert violations
    assert {violation.level for violation in violations} == {expected_level("dev", case.policy)}


@pytest.mark.parametrize("case", [*CASES, INSTANCE_CLASS_CASE], ids=str)
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_passing_fixture_is_not_reported(pack: StackPack, case: Case, stack: str) -> None:
    assert of(pack.analyze(stack, case.passing), case.policy) == []


def test_user_data_finding_never_repeats_the_secret(pack: StackPack) -> None:
    template = resource(LAUNCH_TEMPLATE, "app", {"userData": b64("export AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n")})

    (violation,) = of(pack.analyze("prod", template), "ec2-user-data-no-secrets")

    assert "AKIAQWERTYUIOPASDFGH" not in violation.message


def test_user_data_held_as_a_pulumi_secret_is_still_scanned(pack: StackPack) -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": b64(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n"
    )}
    template = resource(LAUNCH_TEMPLATE, "app", {"userData": secret})

    (violation,) = of(pack.analyze("prod", template), "ec2-user-data-no-secrets")

    assert "a private key" in violation.message and "line 1" in violation.message


def test_gzip_compressed_user_data_is_scanned(pack: StackPack) -> None:
    import gzip

    packed = base64.b64encode(gzip.compress(b"#!/bin/bash\nAPI_KEY=abcdef123456\n")).decode()
    template = resource(LAUNCH_TEMPLATE, "app", {"userData": packed})

    assert of(pack.analyze("prod", template), "ec2-user-data-no-secrets")


@pytest.mark.parametrize(
    ("stack", "days", "reported"),
    [("prod", 13, True), ("prod", 14, False), ("dev", 1, False), ("dev", 0, True)],
)
def test_backup_retention_minimum_comes_from_the_stack_config(
    pack: StackPack, stack: str, days: int, reported: bool
) -> None:
    violations = of(pack.analyze(stack, cluster("orders", backupRetentionPeriod=days)), "rds-cluster-backup-retention")

    assert bool(violations) is reported
    if reported:
        minimum = {"prod": 14, "dev": 1}[stack]
        assert f"required {minimum} days" in violations[0].message


def test_unset_backup_retention_counts_as_the_rds_default_of_one_day(pack: StackPack) -> None:
    (violation,) = of(pack.analyze("prod", cluster("orders")), "rds-cluster-backup-retention")

    assert "not set (RDS keeps 1 day)" in violation.message


def test_dev_allows_any_instance_class(pack: StackPack) -> None:
    assert of(pack.analyze("dev", INSTANCE_CLASS_CASE.failing), "rds-instance-class-allowed") == []
    assert pack.analyzer.policy_config["rds-instance-class-allowed"].enforcement_level == "advisory"


def test_each_device_of_a_launch_template_is_reported_separately(pack: StackPack) -> None:
    template = resource(LAUNCH_TEMPLATE, "app", {"blockDeviceMappings": [
        {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}},
        {"deviceName": "/dev/sdf", "ebs": {"volumeSize": 100}},
        {"deviceName": "/dev/sdg", "ebs": {"encrypted": "false"}},
    ]})

    messages = [v.message for v in of(pack.analyze("prod", template), "ebs-encrypted")]

    assert len(messages) == 2
    assert "blockDeviceMappings[1].ebs.encrypted is not set" in messages[0]
    assert 'blockDeviceMappings[2].ebs.encrypted is "false"' in messages[1]


def test_serverless_v1_clusters_are_always_encrypted(pack: StackPack) -> None:
    serverless = cluster("legacy", engineMode="serverless")

    assert of(pack.analyze("prod", serverless), "rds-cluster-storage-encrypted") == []

"""InstanceFleet: the application tier that talks to the database, as an auto scaling group."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.account import AccountContext, service_trust_policy
from components.aurora_cluster import AuroraCluster
from components.aws_facts import EC2_INSTANCE_TYPE_RE, fleet_architecture
from components.database_proxy import DatabaseProxy, db_user_arns
from components.naming import PROJECT
from components.publish import publish
from components.security_group_rules import port_egress
from components.settings import AccessSettings, FleetSettings

# Public parameter AWS keeps pointing at the current Amazon Linux 2023 AMI. The launch template
# names the parameter (``resolve:ssm:``) and EC2 resolves it at every launch: new instances always
# start from the current AMI without an invoke at deploy time or a new template version.
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{architecture}"
ROOT_DEVICE_NAME = "/dev/xvda"  # root device of the Amazon Linux 2023 AMIs
CLIENT_PACKAGES = {"aurora-postgresql": "postgresql16", "aurora-mysql": "mariadb105"}
DATABASE_ENV_FILE = "/etc/aurora-platform/database.env"
RDS_CA_BUNDLE_FILE = "/etc/aurora-platform/rds-ca-bundle.pem"
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
# Published once a minute once group metrics are on; DatabaseMonitoring alarms on the first.
GROUP_METRICS = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupMinSize", "GroupMaxSize",
                 "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]


def ami_parameter(instance_type: str) -> str:
    """The AL2023 public SSM parameter whose AMI matches the instance type's architecture."""
    return AL2023_AMI_PARAMETER.format(architecture=fleet_architecture(instance_type))


def user_data_script(engine: str, region: str, host: str, read_host: str, port: int, user: str,
                     database_name: str) -> str:
    """Boot script: install the engine's client and record where the database is and who to log in as.

    ``host``/``read_host`` are the proxy's endpoints (the cluster's without a proxy). No password and
    no secret reference: applications log in as ``user`` with an IAM token the instance role signs
    (``aws rds generate-db-auth-token``), valid 15 minutes, so there is nothing to rotate here.
    """
    env = {
        "DB_ENGINE": engine,
        "DB_HOST": host,
        "DB_READ_HOST": read_host,
        "DB_PORT": str(port),
        "DB_NAME": database_name,
        "DB_USER": user,
        "DB_CA_BUNDLE": RDS_CA_BUNDLE_FILE,
        "AWS_REGION": region,
    }
    env_lines = "\n".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    return f"""#!/bin/bash
set -euo pipefail
install -d -m 0755 /etc/aurora-platform
cat > {DATABASE_ENV_FILE} <<'EOF'
{env_lines}
EOF
chmod 0644 {DATABASE_ENV_FILE}
dnf install -y {CLIENT_PACKAGES[engine]} jq
# CA bundle of this region's RDS certificates, for sslmode=verify-full / --ssl-verify-server-cert.
curl -fsS --retry 5 -o {RDS_CA_BUNDLE_FILE} https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem
"""


@dataclass
class InstanceFleetArgs:
    settings: FleetSettings
    """The fleet settings: EC2 instance type (Graviton families such as t4g, m7g, c7g get the arm64 AMI,
    others x86_64), group sizes (0 <= min <= desired <= max <= 100; desired applies at creation), target
    average CPU (10-90), the share of desired capacity kept in service during an instance refresh, the
    health check grace period (0-7200 s), the IMDSv2 hop limit (1-64; 1 keeps tokens on the instance),
    the encrypted gp3 root volume (8-16384 GiB) and capacity rebalancing (Spot only)."""
    region: str
    """AWS region of the fleet (policy conditions, user data)."""
    vpc_id: pulumi.Input[str]
    """VPC of the fleet's security group; the database's VPC."""
    private_subnet_ids: list[pulumi.Input[str]]
    """Private (application) subnets the group launches into; never public ones."""
    database: AuroraCluster
    """The cluster the fleet talks to (directly, or through ``proxy``)."""
    kms_key_arn: pulumi.Input[str]
    """Region CMK: encrypts the root volumes."""
    engine: str
    """``aurora-postgresql`` or ``aurora-mysql``: picks the client package. Must match ``database``."""
    database_name: str = "app"
    """Database the user data names (``DB_NAME``)."""
    access: AccessSettings = field(default_factory=AccessSettings)
    """The application users the role may log in as with IAM tokens (the first is written to the user
    data) and, with a proxy, whether the direct path to the cluster stays open too
    (``fleet_direct_database_access``: the DB security group admits the fleet, ``rds-db:connect`` on the
    cluster). Without a proxy the fleet always connects directly."""
    proxy: DatabaseProxy | None = None
    """RDS Proxy in front of ``database``: the fleet connects through it (its group admits the fleet,
    the role may ``rds-db:connect`` to it). ``None``: the fleet connects to the cluster directly."""
    ignore_desired_capacity_changes: bool = True
    """Leave desired capacity to the scaling policy after creation, so ``pulumi up`` does not undo a
    scale-out. Set False to make the desired capacity authoritative on every update."""
    name_prefix: str = PROJECT
    """Prefix of Name tags and descriptions, e.g. ``aurora-platform-prod-us-east-1``."""
    account: AccountContext | None = None
    """Account and partition of the region's provider; ``None`` looks them up."""

    def __post_init__(self):
        s = self.settings
        problems = []
        if self.engine not in CLIENT_PACKAGES:
            problems.append(f"engine must be one of {', '.join(CLIENT_PACKAGES)}, not {self.engine!r}")
        if not EC2_INSTANCE_TYPE_RE.fullmatch(s.instance_type):
            problems.append(f"instance_type {s.instance_type!r} is not an EC2 instance type such as t4g.small")
        if not 0 <= s.min_size <= s.desired_capacity <= s.max_size <= 100:
            problems.append("sizes need 0 <= min_size <= desired_capacity <= max_size <= 100; got "
                            f"{s.min_size}, {s.desired_capacity}, {s.max_size}")
        for field_name, low, high in (
            ("cpu_target", 10, 90),
            ("min_healthy_percentage", 0, 100),
            ("health_check_grace_period", 0, 7200),
            ("metadata_hop_limit", 1, 64),
            ("root_volume_gib", 8, 16384),
        ):
            if not low <= getattr(s, field_name) <= high:
                problems.append(f"{field_name} must be {low} to {high}, not {getattr(s, field_name)}")
        if not self.private_subnet_ids:
            problems.append("private_subnet_ids must list at least one subnet")
        if not self.access.application_users:
            problems.append("application_users must name at least one database user")
        if problems:
            raise ValueError("invalid InstanceFleetArgs: " + "; ".join(problems))

    @property
    def direct(self) -> bool:
        """Whether the fleet reaches the cluster itself (no proxy, or the direct path kept beside it)."""
        return self.proxy is None or self.access.fleet_direct_database_access


def instance_policy(connect_resources: list[str]) -> str:
    """IAM database login as the application users, on the proxy and/or the cluster; no secret read
    (the master secret is for operators' break-glass role only)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ConnectAsApplicationUsers",
            "Effect": "Allow",
            "Action": "rds-db:connect",
            "Resource": connect_resources,
        }],
    })


class InstanceFleet(pulumi.ComponentResource):
    """Instances in private subnets, reachable only through SSM Session Manager, that may talk to
    the database on its engine port and to AWS APIs over HTTPS, and to nothing else."""

    security_group: aws.ec2.SecurityGroup
    role: aws.iam.Role
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    asg_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    instance_profile_arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    min_size: int

    def __init__(self, name: str, args: InstanceFleetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:compute:InstanceFleet", name, None, opts)
        if args.database.engine != args.engine:
            raise ValueError(f"InstanceFleetArgs.engine {args.engine!r} does not match the database engine "
                             f"{args.database.engine!r}")
        self._name = name
        self._args = args
        self._label = f"{args.name_prefix}-fleet"
        self._tags = {"Name": self._label, "role": "fleet"}

        self._security_group()
        profile = self._role()
        self.launch_template = self._launch_template(profile)
        self.group = self._group()

        self.min_size = args.settings.min_size
        publish(self, asg_name=self.group.name, security_group_id=self.security_group.id, role_arn=self.role.arn,
                role_name=self.role.name, instance_profile_arn=profile.arn, launch_template_id=self.launch_template.id)

    def _security_group(self) -> None:
        """No ingress at all: operators come in through SSM Session Manager, which the agent reaches
        over outbound HTTPS. Rules are separate resources (none inline), so each is its own diff."""
        name, args, label = self._name, self._args, self._label
        child = pulumi.ResourceOptions(parent=self)
        database, proxy, port = args.database, args.proxy, args.database.port
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-instances",
            vpc_id=args.vpc_id,
            description=f"{label}: no ingress; egress to the database port and HTTPS only",
            revoke_rules_on_delete=True,
            tags={"Name": label},
            opts=child,
        )
        if proxy is not None:
            port_egress(f"{name}-to-proxy", self.security_group.id, proxy.security_group_id, port,
                        "RDS Proxy, database engine port", child)
            proxy.allow_access_from(f"{name}-admitted-proxy", self.security_group.id, description=f"engine port from {label}")
        if args.direct:
            port_egress(f"{name}-to-database", self.security_group.id, database.security_group_id, port,
                        "database engine port", child)
            # The other half of the direct path: the database admits this group, on its engine port only.
            database.allow_access_from(f"{name}-admitted", self.security_group.id,
                                       description=f"engine port from {label}")
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-https",
            security_group_id=self.security_group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to AWS endpoints (SSM, Secrets Manager, KMS, package repositories)",
            opts=child,
        )

    def _role(self) -> aws.iam.InstanceProfile:
        """The instance role (SSM core, ``rds-db:connect`` as the application users) and its profile."""
        name, args, child = self._name, self._args, pulumi.ResourceOptions(parent=self)
        account = AccountContext.of(args.account, self)
        self.role = aws.iam.Role(
            f"{name}-instances",
            description=f"Instances of {self._label}: SSM Session Manager and IAM login to the database as the application users",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core",
            role=self.role.name,
            policy_arn=account.managed_policy_arn(SSM_CORE_POLICY),
            opts=child,
        )
        users = list(args.access.application_users)
        connect_resources = [args.proxy.connect_resource_arns] if args.proxy is not None else []
        if args.direct:
            connect_resources.append(account.apply(
                lambda account_id, partition, resource_id: db_user_arns(args.region, account_id, resource_id, users, partition),
                args.database.cluster_resource_id))
        aws.iam.RolePolicy(
            f"{name}-database-connect",
            role=self.role.name,
            policy=pulumi.Output.all(*connect_resources).apply(
                lambda groups: instance_policy([arn for group in groups for arn in group])),
            opts=child,
        )
        return aws.iam.InstanceProfile(f"{name}-instances", role=self.role.name, opts=child)

    def _user_data(self) -> pulumi.Output[str]:
        """The boot script, base64: the proxy's endpoints (the cluster's without a proxy) and the first user."""
        args, database, proxy = self._args, self._args.database, self._args.proxy
        if proxy is not None:
            hosts = [proxy.endpoint, proxy.read_only_endpoint or proxy.endpoint]
        else:
            hosts = [database.writer_endpoint, database.reader_endpoint]
        user = args.access.application_users[0]
        return pulumi.Output.all(*hosts).apply(
            lambda v: base64.b64encode(
                user_data_script(args.engine, args.region, v[0], v[1], database.port, user, args.database_name)
                .encode()).decode())

    def _launch_template(self, profile: aws.iam.InstanceProfile) -> aws.ec2.LaunchTemplate:
        settings = self._args.settings
        return aws.ec2.LaunchTemplate(
            f"{self._name}-instances",
            description=f"{self._label}: Amazon Linux 2023, IMDSv2, encrypted root volume, no public IP",
            image_id=f"resolve:ssm:{ami_parameter(settings.instance_type)}",
            instance_type=settings.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=settings.metadata_hop_limit,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE_NAME,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=settings.root_volume_gib,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=self._args.kms_key_arn,
                    delete_on_termination="true",
                ),
            )],
            # Security groups sit on the interface: with an interface defined, EC2 rejects
            # top-level security groups.
            network_interfaces=[aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                device_index=0,
                associate_public_ip_address="false",
                delete_on_termination="true",
                security_groups=[self.security_group.id],
            )],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=self._tags)
                                for kind in ("instance", "volume", "network-interface")],
            user_data=self._user_data(),
            update_default_version=True,
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _group(self) -> aws.autoscaling.Group:
        """The auto scaling group, with a rolling instance refresh, and its CPU target tracking policy."""
        args, settings = self._args, self._args.settings
        group = aws.autoscaling.Group(
            f"{self._name}-instances",
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=settings.min_size,
            max_size=settings.max_size,
            desired_capacity=settings.desired_capacity,
            # No load balancer in front: EC2 status checks decide health.
            health_check_type="EC2",
            health_check_grace_period=settings.health_check_grace_period,
            capacity_rebalance=settings.capacity_rebalance,
            # The template's version number, not "$Latest": a new template version is then a change
            # of the group, which starts the rolling instance refresh below.
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=settings.min_healthy_percentage,
                    # Launch replacements before terminating (up to AWS's limit of max - min <= 100),
                    # so a fleet of one or two never drops below its healthy floor during a refresh.
                    max_healthy_percentage=min(settings.min_healthy_percentage + 100, 200),
                    instance_warmup=str(settings.health_check_grace_period),
                ),
            ),
            enabled_metrics=GROUP_METRICS,
            metrics_granularity="1Minute",
            tags=[aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                  for key, value in self._tags.items()],
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["desiredCapacity"] if args.ignore_desired_capacity_changes else None,
            ),
        )
        average_cpu = aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
            predefined_metric_type="ASGAverageCPUUtilization")
        aws.autoscaling.Policy(
            f"{self._name}-cpu",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=settings.health_check_grace_period,
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=average_cpu,
                target_value=settings.cpu_target,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return group

"""InstanceFleet: the application tier that talks to the database, as an auto scaling group."""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aurora_cluster import AuroraCluster
from components.database_proxy import DatabaseProxy, db_user_arns
from components.security_group_rules import port_egress
from components.settings import FleetSettings, fleet_architecture

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
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal(-\d+xl)?)$")


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
    proxy: DatabaseProxy | None = None
    """RDS Proxy in front of ``database``: the fleet connects through it (its group admits the fleet,
    the role may ``rds-db:connect`` to it). ``None``: the fleet connects to the cluster directly."""
    direct_database_access: bool = False
    """With a proxy, also keep the direct path (the DB security group admits the fleet, ``rds-db:connect``
    on the cluster). Without a proxy the fleet always connects directly."""
    application_users: list[str] = field(default_factory=lambda: ["app"])
    """Database users the role may log in as with IAM tokens; the first is written to the user data."""
    database_name: str = "app"
    """Database the user data names (``DB_NAME``)."""
    instance_type: str = "t4g.small"
    """EC2 instance type; Graviton families (t4g, m7g, c7g...) get the arm64 AMI, others x86_64."""
    min_size: int = 1
    """Auto scaling group minimum size."""
    desired_capacity: int = 1
    """Desired capacity at creation (min_size <= desired_capacity <= max_size)."""
    max_size: int = 2
    """Auto scaling group maximum size (0-100)."""
    cpu_target: int = 50
    """Target tracking: average CPU percent of the group (10-90)."""
    min_healthy_percentage: int = 90
    """Instance refresh: share of desired capacity kept in service while instances are replaced."""
    health_check_grace_period: int = 300
    """Seconds after launch before EC2 health checks count (0-7200)."""
    metadata_hop_limit: int = 1
    """IMDSv2 response hop limit (1-64); 1 keeps tokens on the instance (no container can reach them)."""
    root_volume_gib: int = 20
    """Size of the encrypted gp3 root volume (8-16384 GiB)."""
    capacity_rebalance: bool = False
    """Capacity rebalancing; only useful with Spot capacity."""
    ignore_desired_capacity_changes: bool = True
    """Leave desired capacity to the scaling policy after creation, so ``pulumi up`` does not undo a
    scale-out. Set False to make ``desired_capacity`` authoritative on every update."""
    name_prefix: str = "aurora-platform"
    """Prefix of Name tags and descriptions, e.g. ``aurora-platform-prod-us-east-1``."""

    def __post_init__(self):
        problems = []
        if self.engine not in CLIENT_PACKAGES:
            problems.append(f"engine must be one of {', '.join(CLIENT_PACKAGES)}, not {self.engine!r}")
        if not INSTANCE_TYPE_RE.match(self.instance_type):
            problems.append(f"instance_type {self.instance_type!r} is not an EC2 instance type such as t4g.small")
        if not 0 <= self.min_size <= self.desired_capacity <= self.max_size <= 100:
            problems.append("sizes need 0 <= min_size <= desired_capacity <= max_size <= 100; got "
                            f"{self.min_size}, {self.desired_capacity}, {self.max_size}")
        for field_name, value, low, high in (
            ("cpu_target", self.cpu_target, 10, 90),
            ("min_healthy_percentage", self.min_healthy_percentage, 0, 100),
            ("health_check_grace_period", self.health_check_grace_period, 0, 7200),
            ("metadata_hop_limit", self.metadata_hop_limit, 1, 64),
            ("root_volume_gib", self.root_volume_gib, 8, 16384),
        ):
            if not low <= value <= high:
                problems.append(f"{field_name} must be {low} to {high}, not {value}")
        if not self.private_subnet_ids:
            problems.append("private_subnet_ids must list at least one subnet")
        if not self.application_users:
            problems.append("application_users must name at least one database user")
        if problems:
            raise ValueError("invalid InstanceFleetArgs: " + "; ".join(problems))

    @classmethod
    def from_settings(cls, fleet: FleetSettings, **wiring) -> InstanceFleetArgs:
        """Args from the validated ``fleet*`` stack settings plus the wiring (region, vpc_id,
        private_subnet_ids, database, proxy, kms_key_arn, engine, application_users, name_prefix...)."""
        return cls(
            instance_type=fleet.instance_type,
            min_size=fleet.min_size,
            desired_capacity=fleet.desired_capacity,
            max_size=fleet.max_size,
            cpu_target=fleet.cpu_target,
            min_healthy_percentage=fleet.min_healthy_percentage,
            health_check_grace_period=fleet.health_check_grace_period,
            metadata_hop_limit=fleet.metadata_hop_limit,
            root_volume_gib=fleet.root_volume_gib,
            capacity_rebalance=fleet.capacity_rebalance,
            **wiring,
        )


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
        database = args.database
        if database.engine != args.engine:
            raise ValueError(f"InstanceFleetArgs.engine {args.engine!r} does not match the database engine {database.engine!r}")
        child = pulumi.ResourceOptions(parent=self)
        port = database.port
        label = f"{args.name_prefix}-fleet"

        # No ingress at all: operators come in through SSM Session Manager, which the agent reaches
        # over outbound HTTPS. Rules are separate resources (none inline), so each is its own diff.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-instances",
            vpc_id=args.vpc_id,
            description=f"{label}: no ingress; egress to the database port and HTTPS only",
            revoke_rules_on_delete=True,
            tags={"Name": label},
            opts=child,
        )
        proxy = args.proxy
        direct = proxy is None or args.direct_database_access
        if proxy is not None:
            port_egress(f"{name}-to-proxy", self.security_group.id, proxy.security_group_id, port,
                        "RDS Proxy, database engine port", child)
            proxy.allow_access_from(f"{name}-admitted-proxy", self.security_group.id, description=f"engine port from {label}")
        if direct:
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

        self.role = aws.iam.Role(
            f"{name}-instances",
            description=f"Instances of {label}: SSM Session Manager and IAM login to the database as the application users",
            assume_role_policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                               "Action": "sts:AssumeRole"}],
            }),
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core",
            role=self.role.name,
            policy_arn=partition.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{SSM_CORE_POLICY}"),
            opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        users = list(args.application_users)
        connect_resources = [proxy.connect_resource_arns] if proxy is not None else []
        if direct:
            connect_resources.append(pulumi.Output.all(partition.partition, identity.account_id, database.cluster_resource_id)
                                     .apply(lambda v: db_user_arns(args.region, v[1], v[2], users, v[0])))
        aws.iam.RolePolicy(
            f"{name}-database-connect",
            role=self.role.name,
            policy=pulumi.Output.all(*connect_resources).apply(
                lambda groups: instance_policy([arn for group in groups for arn in group])),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-instances", role=self.role.name, opts=child)

        if proxy is not None:
            hosts = [proxy.endpoint, proxy.read_only_endpoint or proxy.endpoint]
        else:
            hosts = [database.writer_endpoint, database.reader_endpoint]
        user_data = pulumi.Output.all(*hosts).apply(
            lambda v: base64.b64encode(
                user_data_script(args.engine, args.region, v[0], v[1], port, users[0], args.database_name)
                .encode()).decode())
        tags = {"Name": label, "role": "fleet"}
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-instances",
            description=f"{label}: Amazon Linux 2023, IMDSv2, encrypted root volume, no public IP",
            image_id=f"resolve:ssm:{ami_parameter(args.instance_type)}",
            instance_type=args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=args.metadata_hop_limit,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE_NAME,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=args.root_volume_gib,
                    volume_type="gp3",
                    encrypted="true",
                    kms_key_id=args.kms_key_arn,
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
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            user_data=user_data,
            update_default_version=True,
            tags=tags,
            opts=child,
        )

        self.group = aws.autoscaling.Group(
            f"{name}-instances",
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            # No load balancer in front: EC2 status checks decide health.
            health_check_type="EC2",
            health_check_grace_period=args.health_check_grace_period,
            capacity_rebalance=args.capacity_rebalance,
            # The template's version number, not "$Latest": a new template version is then a change
            # of the group, which starts the rolling instance refresh below.
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(str),
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=args.min_healthy_percentage,
                    # Launch replacements before terminating (up to AWS's limit of max - min <= 100),
                    # so a fleet of one or two never drops below its healthy floor during a refresh.
                    max_healthy_percentage=min(args.min_healthy_percentage + 100, 200),
                    instance_warmup=str(args.health_check_grace_period),
                ),
            ),
            enabled_metrics=GROUP_METRICS,
            metrics_granularity="1Minute",
            tags=[aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                  for key, value in tags.items()],
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["desiredCapacity"] if args.ignore_desired_capacity_changes else None,
            ),
        )
        aws.autoscaling.Policy(
            f"{name}-cpu",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=args.health_check_grace_period,
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ASGAverageCPUUtilization"),
                target_value=args.cpu_target,
            ),
            opts=child,
        )

        self.asg_name = self.group.name
        self.security_group_id = self.security_group.id
        self.role_arn = self.role.arn
        self.role_name = self.role.name
        self.instance_profile_arn = profile.arn
        self.launch_template_id = self.launch_template.id
        self.min_size = args.min_size
        self.register_outputs({
            "asg_name": self.asg_name,
            "security_group_id": self.security_group_id,
            "role_arn": self.role_arn,
            "role_name": self.role_name,
            "instance_profile_arn": self.instance_profile_arn,
            "launch_template_id": self.launch_template_id,
        })

"""AuroraCluster: one encrypted Aurora cluster with its instances, parameter groups and guard rails."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.security_group_rules import port_ingress
from components.settings import ENGINE_LOG_EXPORTS, ENGINE_PORTS, parameter_group_family

# Encryption in transit is enforced by the cluster parameter group, so no client can connect
# in clear text whatever its driver settings.
TLS_PARAMETERS = {
    "aurora-postgresql": {"rds.force_ssl": "1"},
    "aurora-mysql": {"require_secure_transport": "ON"},
}
CLUSTER_PARAMETERS = {
    "aurora-postgresql": {"log_connections": "1", "log_disconnections": "1"},
    "aurora-mysql": {"server_audit_logging": "1", "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL",
                     "slow_query_log": "1", "long_query_time": "2"},
}
INSTANCE_PARAMETERS = {
    "aurora-postgresql": {"log_min_duration_statement": "2000"},
    "aurora-mysql": {"performance_schema": "1"},
}
# Parameters RDS applies only at a reboot; every other one here is dynamic and applied at once
# (TLS enforcement must not wait for a reboot).
STATIC_PARAMETERS = frozenset({"performance_schema"})


def apply_method(parameter: str) -> str:
    return "pending-reboot" if parameter in STATIC_PARAMETERS else "immediate"
# Members of a global database: these drift whenever AWS upgrades the global cluster or a
# switchover/failover moves the writer; a later `pulumi up` must not undo that.
GLOBAL_MEMBER_IGNORED = ["engineVersion", "globalClusterIdentifier", "replicationSourceIdentifier"]
CA_CERTIFICATE = "rds-ca-rsa2048-g1"
# engineVersion always pins a minor version (components/settings.py). With automatic minor
# upgrades on, RDS moves the cluster past it in a maintenance window and the next update asks
# RDS for the older pinned version, which RDS refuses ("Cannot upgrade aurora-postgresql from
# 16.x to 16.6"; hashicorp/terraform-provider-aws#48936, #45026). So they are off on the
# cluster and on every instance (Aurora upgrades only when all instances allow it:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_UpgradeDBInstance.Maintenance.html#Aurora.Maintenance.AMVU),
# and `deploy upgrade` moves the version and records it.
AUTO_MINOR_VERSION_UPGRADE = False


@dataclass
class AuroraClusterArgs:
    identifier: str
    """Cluster identifier; instances are named ``<identifier>-1`` .. ``-N``, log groups after it."""
    region: str
    """Region of the cluster (names and log group ARNs)."""
    engine: str
    """``aurora-postgresql`` or ``aurora-mysql``."""
    engine_version: str
    """Engine version, e.g. ``16.6`` or ``8.0.mysql_aurora.3.08.2``."""
    vpc_id: pulumi.Input[str]
    """VPC of the database security group."""
    db_subnet_group_name: pulumi.Input[str]
    """DB subnet group over the isolated database subnets."""
    availability_zones: list[str]
    """AZs to place instances in, round-robin, writer in the first."""
    kms_key_arn: pulumi.Input[str]
    """Region CMK: storage, Performance Insights, the managed master secret, log groups."""
    instance_class: str = "db.r7g.large"
    """Writer class, or ``db.serverless`` for Serverless v2."""
    instance_count: int = 3
    """Instances: the first is the writer (promotion tier 0), the rest readers (tiers 1..15). 0 = headless."""
    reader_instance_class: str | None = None
    """Reader class; ``None`` uses ``instance_class``."""
    serverless_min_capacity: float = 0.5
    """Serverless v2 minimum ACUs (only with ``db.serverless``)."""
    serverless_max_capacity: float = 16
    """Serverless v2 maximum ACUs (only with ``db.serverless``)."""
    database_name: str | None = "app"
    """Initial database; ``None`` for a global secondary."""
    master_username: str | None = "dbadmin"
    """Master user; ``None`` for a global secondary."""
    master_password: pulumi.Input[str] | None = None
    """Caller-provided password (global primary). ``None``: RDS manages the password in a secret."""
    master_secret_arn: pulumi.Input[str] | None = None
    """ARN of the caller's secret holding ``master_password``, reported as ``secret_arn``."""
    storage_type: str = "aurora"
    """``aurora`` (standard) or ``aurora-iopt1`` (I/O-Optimized)."""
    backup_retention_days: int = 14
    """Automated backups and point-in-time restore window (1-35 days)."""
    preferred_backup_window: str = "03:00-04:00"
    """Daily backup window (UTC)."""
    preferred_maintenance_window: str = "sun:05:00-sun:06:00"
    """Weekly maintenance window (UTC)."""
    deletion_protection: bool = True
    """RDS deletion protection."""
    skip_final_snapshot: bool = False
    """Skip the final snapshot on deletion (dev only)."""
    iam_authentication: bool = True
    """IAM database authentication."""
    performance_insights: bool = True
    """Performance Insights on every instance, encrypted with ``kms_key_arn``."""
    performance_insights_retention_days: int = 7
    """Performance Insights retention."""
    monitoring_interval: int = 60
    """Enhanced monitoring interval in seconds (0 off)."""
    backtrack_window_hours: int = 0
    """Aurora MySQL backtrack window (0 off)."""
    log_retention_days: int = 365
    """Retention of the pre-created database log groups."""
    allowed_security_group_ids: list[pulumi.Input[str]] = field(default_factory=list)
    """Security groups admitted on the engine port. CIDR ranges are never admitted."""
    reader_auto_scaling: bool = False
    """Application Auto Scaling of readers on average reader CPU."""
    reader_auto_scaling_max_readers: int = 5
    """Upper bound of readers when auto scaling."""
    reader_auto_scaling_cpu_target: int = 70
    """Target average reader CPU percent."""
    apply_immediately: bool = False
    """Apply modifications now rather than in the maintenance window."""
    upgrade_target_version: str | None = None
    """Version of a coming upgrade: parameter groups of its family are declared too, for
    ``deploy upgrade`` (Blue/Green, global) to switch to. ``None`` or the same family: nothing extra."""
    global_cluster_identifier: pulumi.Input[str] | None = None
    """Global cluster to join (primary or secondary member)."""
    global_secondary: bool = False
    """A secondary member: no credentials, no database name, replicates from the primary."""
    global_write_forwarding: bool = False
    """Forward writes from this member to the global writer (engine permitting; not for the writer)."""
    secret_rotation_days: int | None = 7
    """Days between rotations of the RDS-managed master secret (Secrets Manager rotates it; no Lambda:
    the secret is managed by RDS). ``None`` leaves RDS's default schedule. Ignored with ``master_password``."""
    data_api: bool = False
    """Enable the RDS Data API (HTTP endpoint), which ``deploy bootstrap-users`` uses; only where the
    engine version and the writer's instance class (not T) have it (``settings.data_api_supported``).
    Never on a global secondary."""
    protect: bool = True
    """Pulumi ``protect`` on the cluster."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the cluster must wait for (a global secondary waits for the primary's writer)."""

    def __post_init__(self):
        if self.engine not in ENGINE_PORTS:
            raise ValueError(f"engine must be one of {', '.join(ENGINE_PORTS)}, not {self.engine!r}")
        if not 0 <= self.instance_count <= 16:
            raise ValueError(f"instance_count must be 0 to 16, not {self.instance_count}")
        if self.instance_count and not self.availability_zones:
            raise ValueError("availability_zones must list at least one zone")
        if self.backtrack_window_hours and self.engine != "aurora-mysql":
            raise ValueError("backtrack_window_hours is an Aurora MySQL feature; use 0 for aurora-postgresql")
        if self.backtrack_window_hours and self.global_cluster_identifier is not None:
            raise ValueError("backtrack_window_hours must be 0 for a global database member")
        if self.global_secondary:
            if self.global_cluster_identifier is None:
                raise ValueError("global_secondary requires global_cluster_identifier")
            if self.master_username or self.master_password or self.database_name:
                raise ValueError("a global secondary carries no master_username, master_password or database_name")
        elif not self.master_username:
            raise ValueError("master_username is required for a primary cluster")
        if self.global_cluster_identifier is not None and not self.global_secondary and self.master_password is None:
            raise ValueError("a global primary needs master_password: RDS-managed secrets are not available "
                             "for global database members")


class AuroraCluster(pulumi.ComponentResource):
    """An encrypted Aurora cluster: TLS-only parameter groups, instances over AZs, monitoring,
    retained log groups, backups, deletion protection, and a security group that admits only
    the security groups it is told about."""

    cluster: aws.rds.Cluster
    instances: list[aws.rds.ClusterInstance]
    writer_instance: aws.rds.ClusterInstance | None
    security_group: aws.ec2.SecurityGroup
    cluster_identifier: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    cluster_resource_id: pulumi.Output[str]
    identifier: str
    writer_endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    port: int
    security_group_id: pulumi.Output[str]
    secret_arn: pulumi.Output[str] | None
    kms_key_arn: pulumi.Input[str]
    instance_identifiers: list[str]

    def __init__(self, name: str, args: AuroraClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:database:AuroraCluster", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        port = ENGINE_PORTS[args.engine]
        family = parameter_group_family(args.engine, args.engine_version)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            vpc_id=args.vpc_id,
            description=f"Aurora {args.identifier}: engine port from named security groups only",
            egress=[],
            revoke_rules_on_delete=True,
            tags={"Name": f"{args.identifier}-db"},
            opts=child,
        )
        for i, source in enumerate(args.allowed_security_group_ids):
            self.allow_access_from(f"{name}-allowed-{i}", source)

        # One pair of parameter groups per family, named after it: a major upgrade declares a new
        # pair, which the engine creates before the cluster switches to it, and deletes the old
        # pair only once nothing uses it (create before delete, no replacement of the cluster).
        self.parameter_groups = {family: self._parameter_groups(name, args, family, current=True)}
        if args.upgrade_target_version:
            target_family = parameter_group_family(args.engine, args.upgrade_target_version)
            if target_family != family:
                self.parameter_groups[target_family] = self._parameter_groups(name, args, target_family, current=False)
        cluster_parameters, instance_parameters = self.parameter_groups[family]

        # Pre-created so that retention and encryption are ours, not the defaults RDS would use
        # when it creates the groups itself on first export (instances wait for them).
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-{log_type}",
                name=f"/aws/rds/cluster/{args.identifier}/{log_type}",
                retention_in_days=args.log_retention_days,
                kms_key_id=args.kms_key_arn,
                opts=child,
            )
            for log_type in ENGINE_LOG_EXPORTS[args.engine]
        ]

        monitoring_role = None
        monitoring_attachment: list[pulumi.Resource] = []
        if args.monitoring_interval and args.instance_count:
            identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
            partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
            monitoring_role = aws.iam.Role(
                f"{name}-monitoring",
                description=f"Enhanced monitoring of {args.identifier}",
                # Only RDS acting for this account may assume it (confused-deputy condition).
                assume_role_policy=identity.account_id.apply(lambda account: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                                   "Action": "sts:AssumeRole",
                                   "Condition": {"StringEquals": {"aws:SourceAccount": account}}}],
                })),
                opts=child,
            )
            monitoring_attachment = [aws.iam.RolePolicyAttachment(
                f"{name}-monitoring",
                role=monitoring_role.name,
                policy_arn=partition.partition.apply(
                    lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"),
                opts=child,
            )]

        credentials: dict = {}
        if not args.global_secondary:
            credentials = {"database_name": args.database_name, "master_username": args.master_username}
            if args.master_password is None:
                credentials.update(manage_master_user_password=True, master_user_secret_kms_key_id=args.kms_key_arn)
            else:
                credentials["master_password"] = args.master_password
        serverless = None
        if args.instance_class == "db.serverless" or args.reader_instance_class == "db.serverless":
            serverless = aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=args.serverless_min_capacity, max_capacity=args.serverless_max_capacity)
        member = args.global_cluster_identifier is not None

        self.cluster = aws.rds.Cluster(
            name,
            cluster_identifier=args.identifier,
            engine=args.engine,
            engine_version=args.engine_version,
            # A change of engine_version to a new major is then an in-place ModifyDBCluster; RDS
            # needs the new family's instance group in the same call when instances use a custom
            # one ("The current DB instance parameter group ... is custom").
            allow_major_version_upgrade=True,
            db_instance_parameter_group_name=instance_parameters.name,
            auto_minor_version_upgrade=AUTO_MINOR_VERSION_UPGRADE,
            engine_mode="provisioned",
            port=port,
            db_subnet_group_name=args.db_subnet_group_name,
            vpc_security_group_ids=[self.security_group.id],
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            # Always sent: the provider treats storage_type as optional and computed, so leaving it
            # out for "aurora" would keep a cluster that is on aurora-iopt1 there (no diff shown).
            storage_type=args.storage_type,
            db_cluster_parameter_group_name=cluster_parameters.name,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.preferred_backup_window,
            preferred_maintenance_window=args.preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=args.skip_final_snapshot,
            final_snapshot_identifier=self._final_snapshot_identifier(name, args),
            delete_automated_backups=False,
            iam_database_authentication_enabled=args.iam_authentication,
            enabled_cloudwatch_logs_exports=list(ENGINE_LOG_EXPORTS[args.engine]),
            backtrack_window=args.backtrack_window_hours * 3600 or None,
            serverlessv2_scaling_configuration=serverless,
            global_cluster_identifier=args.global_cluster_identifier,
            enable_global_write_forwarding=True if member and args.global_write_forwarding else None,
            enable_http_endpoint=True if args.data_api and not args.global_secondary else None,
            apply_immediately=args.apply_immediately,
            tags={"Name": args.identifier},
            **credentials,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=args.depends_on,
                ignore_changes=GLOBAL_MEMBER_IGNORED if member else None,
            ),
        )

        self.instances = []
        self.instance_identifiers = []
        zones = args.availability_zones
        for i in range(args.instance_count):
            is_writer = i == 0
            identifier = f"{args.identifier}-{i + 1}"
            instance_class = args.instance_class if is_writer else (args.reader_instance_class or args.instance_class)
            self.instances.append(aws.rds.ClusterInstance(
                f"{name}-{i + 1}",
                identifier=identifier,
                cluster_identifier=self.cluster.id,
                engine=args.engine,
                instance_class=instance_class,
                availability_zone=zones[i % len(zones)],
                promotion_tier=0 if is_writer else min(i, 15),
                publicly_accessible=False,
                db_subnet_group_name=args.db_subnet_group_name,
                db_parameter_group_name=instance_parameters.name,
                ca_cert_identifier=CA_CERTIFICATE,
                performance_insights_enabled=args.performance_insights,
                performance_insights_kms_key_id=args.kms_key_arn if args.performance_insights else None,
                performance_insights_retention_period=(args.performance_insights_retention_days
                                                       if args.performance_insights else None),
                monitoring_interval=args.monitoring_interval,
                monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
                auto_minor_version_upgrade=AUTO_MINOR_VERSION_UPGRADE,
                copy_tags_to_snapshot=True,
                apply_immediately=args.apply_immediately,
                tags={"Name": identifier, "role": "writer" if is_writer else "reader"},
                # RDS creates a missing log group itself (unencrypted, kept forever) when an
                # instance first exports logs; ours must exist by then, not before the cluster.
                # An instance created before its monitoring role holds AmazonRDSEnhancedMonitoringRole
                # fails ("IAM role ARN value is invalid or does not include the required permissions
                # for: ENHANCED_MONITORING"): it waits for the attachment, not only for the role's ARN.
                opts=pulumi.ResourceOptions(parent=self, depends_on=log_groups + monitoring_attachment),
            ))
            self.instance_identifiers.append(identifier)
        self.writer_instance = self.instances[0] if self.instances else None

        if args.reader_auto_scaling and args.instance_count:
            target = aws.appautoscaling.Target(
                f"{name}-readers",
                service_namespace="rds",
                scalable_dimension="rds:cluster:ReadReplicaCount",
                resource_id=self.cluster.cluster_identifier.apply(lambda c: f"cluster:{c}"),
                min_capacity=max(args.instance_count - 1, 1),
                max_capacity=args.reader_auto_scaling_max_readers,
                opts=pulumi.ResourceOptions(parent=self, depends_on=self.instances),
            )
            aws.appautoscaling.Policy(
                f"{name}-readers-cpu",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="RDSReaderAverageCPUUtilization"),
                    target_value=args.reader_auto_scaling_cpu_target,
                    scale_in_cooldown=300,
                    scale_out_cooldown=300,
                ),
                opts=child,
            )

        if args.global_secondary:
            self.secret_arn = None
        elif args.master_password is not None:
            self.secret_arn = pulumi.Output.from_input(args.master_secret_arn) if args.master_secret_arn else None
        else:
            self.secret_arn = self.cluster.master_user_secrets.apply(lambda s: s[0].secret_arn if s else None)
            if args.secret_rotation_days is not None:
                # A secret RDS manages rotates without a Lambda function; Secrets Manager takes the schedule:
                # https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_managed.html
                aws.secretsmanager.SecretRotation(
                    f"{name}-master-secret-rotation",
                    secret_id=self.secret_arn,
                    rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                        automatically_after_days=args.secret_rotation_days),
                    opts=child,
                )
        self.cluster_identifier = self.cluster.cluster_identifier
        self.cluster_arn = self.cluster.arn
        self.cluster_resource_id = self.cluster.cluster_resource_id
        self.writer_endpoint = self.cluster.endpoint
        self.reader_endpoint = self.cluster.reader_endpoint
        self.identifier = args.identifier
        self.port = port
        self.security_group_id = self.security_group.id
        self.kms_key_arn = args.kms_key_arn
        self.engine = args.engine
        # Readers Application Auto Scaling adds are named application-autoscaling-<id>, not after
        # the cluster: monitoring that must cover them cannot list them.
        self.reader_auto_scaling = bool(args.reader_auto_scaling and args.instance_count)
        # What a proxy in front of the cluster needs to know: whether it has instances to route to,
        # and whether all of them are readers (a secondary of a global database, as created).
        self.instance_count = args.instance_count
        self.global_secondary = args.global_secondary
        self.register_outputs({
            "cluster_identifier": self.cluster_identifier,
            "cluster_arn": self.cluster_arn,
            "writer_endpoint": self.writer_endpoint,
            "reader_endpoint": self.reader_endpoint,
            "port": port,
            "security_group_id": self.security_group_id,
            "secret_arn": self.secret_arn,
            "kms_key_arn": self.kms_key_arn,
            "instance_identifiers": self.instance_identifiers,
            "parameter_groups": self.parameter_group_names,
        })

    @property
    def parameter_group_names(self) -> dict[str, dict[str, pulumi.Output[str]]]:
        """Family -> names of the cluster and instance parameter groups of that family."""
        return {family: {"cluster": c.name, "instance": i.name} for family, (c, i) in self.parameter_groups.items()}

    def _parameter_groups(self, name: str, args: AuroraClusterArgs, family: str, *, current: bool
                          ) -> tuple[aws.rds.ClusterParameterGroup, aws.rds.ParameterGroup]:
        """The TLS-enforcing cluster group and the instance group of ``family``. Stacks created
        before the family was part of the name keep their groups (alias of the current pair)."""
        def opts(legacy_name: str) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=legacy_name)] if current else None)

        cluster_group = aws.rds.ClusterParameterGroup(
            f"{name}-cluster-{family}",
            family=family,
            description=f"{args.identifier}: TLS required",
            parameters=[aws.rds.ClusterParameterGroupParameterArgs(name=k, value=v, apply_method=apply_method(k))
                        for k, v in {**TLS_PARAMETERS[args.engine], **CLUSTER_PARAMETERS[args.engine]}.items()],
            opts=opts(f"{name}-cluster"),
        )
        instance_group = aws.rds.ParameterGroup(
            f"{name}-instance-{family}",
            family=family,
            description=f"{args.identifier}: instance parameters",
            parameters=[aws.rds.ParameterGroupParameterArgs(name=k, value=v, apply_method=apply_method(k))
                        for k, v in INSTANCE_PARAMETERS[args.engine].items()],
            opts=opts(f"{name}-instance"),
        )
        return cluster_group, instance_group

    def _final_snapshot_identifier(self, name: str, args: AuroraClusterArgs) -> pulumi.Output[str] | None:
        """``<identifier>-final-<8 hex>``: a region removed and added again, or a cluster created
        again under its old identifier, must not collide with the snapshot its predecessor left."""
        if args.skip_final_snapshot:
            return None
        suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        return suffix.hex.apply(lambda hex_: f"{args.identifier}-final-{hex_}")

    def allow_access_from(self, name: str, source_security_group_id: pulumi.Input[str],
                          description: str = "engine port from an admitted security group") -> aws.vpc.SecurityGroupIngressRule:
        """Admit one security group on the engine port: the only way into the database."""
        return port_ingress(name, self.security_group.id, source_security_group_id, ENGINE_PORTS[self._args.engine],
                            description, pulumi.ResourceOptions(parent=self))

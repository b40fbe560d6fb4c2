"""AuroraCluster: one encrypted Aurora cluster with its instances, parameter groups and guard rails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.account import AccountContext, service_trust_policy
from components.aws_facts import (
    ENGINE_LOG_EXPORTS,
    ENGINE_PORTS,
    PGAUDIT_ROLE,
    READER_SCALING_METRICS,
    SERVERLESS_CLASS,
    data_api_supported,
    parameter_group_family,
)
from components.publish import publish
from components.security_group_rules import port_ingress
from components.settings import DatabaseSettings

# Encryption in transit is enforced by the cluster parameter group, so no client can connect
# in clear text whatever its driver settings.
TLS_PARAMETERS = {
    "aurora-postgresql": {"rds.force_ssl": "1"},
    "aurora-mysql": {"require_secure_transport": "ON"},
}
CLUSTER_PARAMETERS = {
    "aurora-postgresql": {"log_connections": "1", "log_disconnections": "1"},
    "aurora-mysql": {"slow_query_log": "1", "long_query_time": "2"},
}
# Database audit logging (``audit_logging``), exported with the engine's log type (postgresql / audit).
# Aurora PostgreSQL, "Using pgAudit to log database activity"
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Appendix.PostgreSQL.CommonDBATasks.pgaudit.html):
# - shared_preload_libraries loads the pgaudit library; static, so it applies at an instance's (re)start: at once on
#   a new cluster, at the next reboot on a running one (docs/audit-logging.md). It replaces the default group's
#   value, pg_stat_statements, which is kept (Performance Insights and query statistics read it)
#   (.../Appendix.PostgreSQL.CommonDBATasks.pgaudit.basic-setup.html);
# - pgaudit.log: the statement classes session audit logging records (``pgaudit_log``), dynamic
#   (.../Appendix.PostgreSQL.CommonDBATasks.pgaudit.reference.html);
# - pgaudit.role: the role of object audit logging; rds_pgaudit is the only value Aurora accepts, and
#   `deploy bootstrap-users` creates the role and the extension (.../Appendix.PostgreSQL.CommonDBATasks.pgaudit.auditing.html).
# log_connections / log_disconnections (above) stay on whatever this setting says.
# Aurora MySQL: Advanced Auditing (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Auditing.html),
# both parameters dynamic.
AUDIT_PARAMETERS = {
    "aurora-postgresql": {"shared_preload_libraries": "pg_stat_statements,pgaudit", "pgaudit.role": PGAUDIT_ROLE},
    "aurora-mysql": {"server_audit_logging": "1", "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL"},
}
INSTANCE_PARAMETERS = {
    "aurora-postgresql": {"log_min_duration_statement": "2000"},
    "aurora-mysql": {"performance_schema": "1"},
}
# Parameters RDS applies only at a reboot; every other one here is dynamic and applied at once
# (TLS enforcement must not wait for a reboot). AWS refuses apply_method "immediate" for a static parameter.
STATIC_PARAMETERS = frozenset({"performance_schema", "shared_preload_libraries"})


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


@dataclass(frozen=True)
class ClusterPlacement:
    """Where a cluster lives: its region's network and key, and the account its provider deploys into."""

    region: str
    """Region of the cluster (names and log group ARNs)."""
    vpc_id: pulumi.Input[str]
    """VPC of the database security group."""
    db_subnet_group_name: pulumi.Input[str]
    """DB subnet group over the isolated database subnets."""
    availability_zones: Sequence[str]
    """AZs to place instances in, round-robin, writer in the first."""
    kms_key_arn: pulumi.Input[str]
    """Region CMK: storage, Performance Insights, the managed master secret, log groups."""
    account: AccountContext | None = None
    """Account and partition of the region's provider (enhanced monitoring role); ``None`` looks them up."""


@dataclass
class AuroraClusterArgs:
    settings: DatabaseSettings
    """The database settings: engine and version, instance classes and reader count, Serverless v2
    capacity, credentials, storage type, backups and windows, deletion protection and final snapshot,
    IAM authentication, Performance Insights, enhanced monitoring, backtrack, reader auto scaling,
    the security groups admitted on the engine port (never CIDR ranges), ``apply_immediately`` and a
    coming upgrade's version (its family's parameter groups are declared too, for ``deploy upgrade``)."""
    identifier: str
    """Cluster identifier (``naming.cluster_identifier``); instances are ``<identifier>-1`` .. ``-N``."""
    placement: ClusterPlacement
    """Region, network and key of the cluster."""
    instance_count: int | None = None
    """Instances: the first is the writer (promotion tier 0), the rest readers (tiers 1..15). 0 = headless.
    ``None``: the writer and ``settings.reader_count`` readers."""
    log_retention_days: int = 365
    """Retention of the pre-created database log groups."""
    secret_rotation_days: int | None = 7
    """Days between rotations of the RDS-managed master secret (Secrets Manager rotates it; no Lambda:
    the secret is managed by RDS). ``None`` leaves RDS's default schedule. Ignored with ``master_password``."""
    protect: bool = True
    """Pulumi ``protect`` on the cluster."""
    master_password: pulumi.Input[str] | None = None
    """Caller-provided password (global primary). ``None``: RDS manages the password in a secret."""
    master_secret_arn: pulumi.Input[str] | None = None
    """ARN of the caller's secret holding ``master_password``, reported as ``secret_arn``."""
    global_cluster_identifier: pulumi.Input[str] | None = None
    """Global cluster to join (primary or secondary member)."""
    global_secondary: bool = False
    """A secondary member: no credentials, no database name, no Data API; replicates from the primary."""
    global_write_forwarding: bool = False
    """Forward writes from this member to the global writer (engine permitting; not for the writer)."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Resources the cluster must wait for (a global secondary waits for the primary's writer)."""

    @property
    def total_instances(self) -> int:
        return 1 + self.settings.reader_count if self.instance_count is None else self.instance_count

    @property
    def data_api(self) -> bool:
        """The RDS Data API (HTTP endpoint), which ``deploy bootstrap-users`` uses on the writer: where the engine
        version and the writer's instance class (not T) have it, on every writer-capable member (a global
        secondary with instances too: "With Aurora global databases, you can enable Data API on both the primary
        and secondary DB clusters", https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html;
        it answers there once a switchover or failover makes it the writer)."""
        s = self.settings
        writer_capable = not self.global_secondary or self.total_instances > 0
        return writer_capable and data_api_supported(s.engine, s.engine_version, s.instance_class)

    def __post_init__(self):
        s = self.settings
        if s.engine not in ENGINE_PORTS:
            raise ValueError(f"engine must be one of {', '.join(ENGINE_PORTS)}, not {s.engine!r}")
        if not 0 <= self.total_instances <= 16:
            raise ValueError(f"instance_count must be 0 to 16, not {self.total_instances}")
        if self.total_instances and not self.placement.availability_zones:
            raise ValueError("availability_zones must list at least one zone")
        if s.backtrack_window_hours and s.engine != "aurora-mysql":
            raise ValueError("backtrack_window_hours is an Aurora MySQL feature; use 0 for aurora-postgresql")
        if s.backtrack_window_hours and self.global_cluster_identifier is not None:
            raise ValueError("backtrack_window_hours must be 0 for a global database member")
        if self.global_secondary:
            if self.global_cluster_identifier is None:
                raise ValueError("global_secondary requires global_cluster_identifier")
            if self.master_password is not None:
                raise ValueError("a global secondary carries no master_password")
        elif not s.master_username:
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
        settings = args.settings
        self.engine = settings.engine
        self.port = settings.port
        self.identifier = args.identifier
        self.kms_key_arn = args.placement.kms_key_arn
        # What a proxy in front of the cluster needs to know: whether it has instances to route to,
        # and whether all of them are readers (a secondary of a global database, as created).
        self.instance_count = args.total_instances
        self.global_secondary = args.global_secondary
        # Readers Application Auto Scaling adds are named application-autoscaling-<id>, not after
        # the cluster: monitoring that must cover them cannot list them.
        self.reader_auto_scaling = bool(settings.reader_auto_scaling and args.total_instances)

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            vpc_id=args.placement.vpc_id,
            description=f"Aurora {args.identifier}: engine port from named security groups only",
            egress=[],
            revoke_rules_on_delete=True,
            tags={"Name": f"{args.identifier}-db"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        for i, source in enumerate(settings.allowed_security_group_ids):
            self.allow_access_from(f"{name}-allowed-{i}", source)

        self.parameter_groups = self._declare_parameter_groups()
        log_groups = self._log_groups()
        monitoring_role, monitoring_attachment = self._monitoring_role()
        self.cluster = self._cluster()
        self.instances = self._instances(monitoring_role, log_groups + monitoring_attachment)
        self.instance_identifiers = [f"{args.identifier}-{i + 1}" for i in range(args.total_instances)]
        self.writer_instance = self.instances[0] if self.instances else None
        if self.reader_auto_scaling:
            self._reader_auto_scaling()
        self.secret_arn = self._master_secret_arn()

        self.cluster_resource_id = self.cluster.cluster_resource_id
        publish(self, cluster_identifier=self.cluster.cluster_identifier, cluster_arn=self.cluster.arn,
                writer_endpoint=self.cluster.endpoint, reader_endpoint=self.cluster.reader_endpoint, port=self.port,
                security_group_id=self.security_group.id, secret_arn=self.secret_arn, kms_key_arn=self.kms_key_arn,
                instance_identifiers=self.instance_identifiers,
                # family -> names of the cluster and instance parameter groups of that family
                parameter_group_names={family: {"cluster": c.name, "instance": i.name}
                                       for family, (c, i) in self.parameter_groups.items()})

    def _declare_parameter_groups(self) -> dict[str, tuple[aws.rds.ClusterParameterGroup, aws.rds.ParameterGroup]]:
        """One pair of parameter groups per family, named after it: a major upgrade declares a new
        pair, which the engine creates before the cluster switches to it, and deletes the old
        pair only once nothing uses it (create before delete, no replacement of the cluster)."""
        settings = self._args.settings
        family = parameter_group_family(settings.engine, settings.engine_version)
        groups = {family: self._parameter_groups(family, current=True)}
        if settings.engine_upgrade_target:
            target_family = parameter_group_family(settings.engine, settings.engine_upgrade_target)
            if target_family != family:
                groups[target_family] = self._parameter_groups(target_family, current=False)
        self._current_family = family
        return groups

    def _log_groups(self) -> list[aws.cloudwatch.LogGroup]:
        """Pre-created so that retention and encryption are ours, not the defaults RDS would use
        when it creates the groups itself on first export (instances wait for them)."""
        args = self._args
        return [
            aws.cloudwatch.LogGroup(
                f"{self._name}-{log_type}",
                name=f"/aws/rds/cluster/{args.identifier}/{log_type}",
                retention_in_days=args.log_retention_days,
                kms_key_id=args.placement.kms_key_arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for log_type in ENGINE_LOG_EXPORTS[self.engine]
        ]

    def _monitoring_role(self) -> tuple[aws.iam.Role | None, list[pulumi.Resource]]:
        """The enhanced monitoring role and its policy attachment (none without monitoring or instances)."""
        args, name = self._args, self._name
        if not (args.settings.monitoring_interval and args.total_instances):
            return None, []
        account = AccountContext.of(args.placement.account, self)
        role = aws.iam.Role(
            f"{name}-monitoring",
            description=f"Enhanced monitoring of {args.identifier}",
            # Only RDS acting for this account may assume it (confused-deputy condition).
            assume_role_policy=pulumi.Output.from_input(account.account_id).apply(lambda account_id: service_trust_policy(
                "monitoring.rds.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account_id}})),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring",
            role=role.name,
            policy_arn=account.managed_policy_arn("service-role/AmazonRDSEnhancedMonitoringRole"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role, [attachment]

    def _credentials(self) -> dict:
        """Database name and master user of a primary; the password RDS-managed unless the caller set one."""
        args = self._args
        if args.global_secondary:
            return {}
        credentials: dict = {"database_name": args.settings.database_name, "master_username": args.settings.master_username}
        if args.master_password is None:
            credentials.update(manage_master_user_password=True, master_user_secret_kms_key_id=args.placement.kms_key_arn)
        else:
            credentials["master_password"] = args.master_password
        return credentials

    def _cluster(self) -> aws.rds.Cluster:
        args, settings, placement = self._args, self._args.settings, self._args.placement
        cluster_parameters, instance_parameters = self.parameter_groups[self._current_family]
        serverless = None
        if SERVERLESS_CLASS in (settings.instance_class, settings.reader_instance_class):
            serverless = aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=settings.serverless_min_capacity, max_capacity=settings.serverless_max_capacity)
        member = args.global_cluster_identifier is not None
        return aws.rds.Cluster(
            self._name,
            cluster_identifier=args.identifier,
            engine=settings.engine,
            engine_version=settings.engine_version,
            # A change of engine_version to a new major is then an in-place ModifyDBCluster; RDS
            # needs the new family's instance group in the same call when instances use a custom
            # one ("The current DB instance parameter group ... is custom").
            allow_major_version_upgrade=True,
            db_instance_parameter_group_name=instance_parameters.name,
            auto_minor_version_upgrade=AUTO_MINOR_VERSION_UPGRADE,
            engine_mode="provisioned",
            port=self.port,
            db_subnet_group_name=placement.db_subnet_group_name,
            vpc_security_group_ids=[self.security_group.id],
            storage_encrypted=True,
            kms_key_id=placement.kms_key_arn,
            # Always sent: the provider treats storage_type as optional and computed, so leaving it
            # out for "aurora" would keep a cluster that is on aurora-iopt1 there (no diff shown).
            storage_type=settings.storage_type,
            db_cluster_parameter_group_name=cluster_parameters.name,
            backup_retention_period=settings.backup_retention_days,
            preferred_backup_window=settings.preferred_backup_window,
            preferred_maintenance_window=settings.preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=settings.deletion_protection,
            skip_final_snapshot=settings.skip_final_snapshot,
            final_snapshot_identifier=self._final_snapshot_identifier(),
            delete_automated_backups=False,
            iam_database_authentication_enabled=settings.iam_authentication,
            enabled_cloudwatch_logs_exports=list(ENGINE_LOG_EXPORTS[settings.engine]),
            backtrack_window=settings.backtrack_window_hours * 3600 or None,
            serverlessv2_scaling_configuration=serverless,
            global_cluster_identifier=args.global_cluster_identifier,
            enable_global_write_forwarding=True if member and args.global_write_forwarding else None,
            enable_http_endpoint=True if args.data_api else None,
            apply_immediately=settings.apply_immediately,
            tags={"Name": args.identifier},
            **self._credentials(),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                depends_on=args.depends_on,
                ignore_changes=GLOBAL_MEMBER_IGNORED if member else None,
            ),
        )

    def _instances(self, monitoring_role: aws.iam.Role | None,
                   wait_for: list[pulumi.Resource]) -> list[aws.rds.ClusterInstance]:
        """Writer first, then readers, round-robin over the AZs when created (see ignore_changes). RDS
        creates a missing log group itself (unencrypted, kept forever) when an instance first exports
        logs; ours must exist by then, not before the cluster. An instance created before its monitoring role holds
        AmazonRDSEnhancedMonitoringRole fails ("IAM role ARN value is invalid or does not include the
        required permissions for: ENHANCED_MONITORING"): each waits for ``wait_for`` (log groups and the
        role's attachment), not only for the role's ARN."""
        args, settings = self._args, self._args.settings
        zones = list(args.placement.availability_zones)
        instance_parameters = self.parameter_groups[self._current_family][1]
        insights = settings.performance_insights
        reader_class = settings.reader_instance_class or settings.instance_class
        instances = []
        for i in range(args.total_instances):
            is_writer = i == 0
            identifier = f"{args.identifier}-{i + 1}"
            instances.append(aws.rds.ClusterInstance(
                f"{self._name}-{i + 1}",
                identifier=identifier,
                cluster_identifier=self.cluster.id,
                engine=settings.engine,
                instance_class=settings.instance_class if is_writer else reader_class,
                availability_zone=zones[i % len(zones)],
                promotion_tier=0 if is_writer else min(i, 15),
                publicly_accessible=False,
                db_subnet_group_name=args.placement.db_subnet_group_name,
                db_parameter_group_name=instance_parameters.name,
                ca_cert_identifier=CA_CERTIFICATE,
                performance_insights_enabled=insights,
                performance_insights_kms_key_id=args.placement.kms_key_arn if insights else None,
                performance_insights_retention_period=settings.performance_insights_retention_days if insights else None,
                monitoring_interval=settings.monitoring_interval,
                monitoring_role_arn=monitoring_role.arn if monitoring_role else None,
                auto_minor_version_upgrade=AUTO_MINOR_VERSION_UPGRADE,
                copy_tags_to_snapshot=True,
                apply_immediately=settings.apply_immediately,
                tags={"Name": identifier, "role": "writer" if is_writer else "reader"},
                # availability_zone forces a replacement (rds/cluster_instance.go ForceNew) under the
                # same identifier: an instance stays where it was created, and a change of the zones
                # places only the instances created after it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=wait_for, ignore_changes=["availabilityZone"]),
            ))
        return instances

    def _reader_auto_scaling(self) -> None:
        """Application Auto Scaling of the readers on their average CPU or database connections
        (``reader_auto_scaling_metric``); a change of metric replaces the policy, not the target."""
        name, settings = self._name, self._args.settings
        target = aws.appautoscaling.Target(
            f"{name}-readers",
            service_namespace="rds",
            scalable_dimension="rds:cluster:ReadReplicaCount",
            resource_id=self.cluster.cluster_identifier.apply(lambda c: f"cluster:{c}"),
            min_capacity=max(self.instance_count - 1, 1),
            max_capacity=settings.reader_auto_scaling_max_readers,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.instances),
        )
        metric = settings.reader_auto_scaling_metric
        predefined = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
            predefined_metric_type=READER_SCALING_METRICS[metric])
        target_value = (settings.reader_auto_scaling_connections_target if metric == "connections"
                        else settings.reader_auto_scaling_cpu_target)
        aws.appautoscaling.Policy(
            f"{name}-readers-{metric}",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                predefined_metric_specification=predefined,
                target_value=target_value,
                scale_in_cooldown=300,
                scale_out_cooldown=300,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _master_secret_arn(self) -> pulumi.Output[str] | None:
        """The master secret: none on a secondary, the caller's with a caller's password, else RDS's own
        (rotated on ``secret_rotation_days``)."""
        args = self._args
        if args.global_secondary:
            return None
        if args.master_password is not None:
            return pulumi.Output.from_input(args.master_secret_arn) if args.master_secret_arn else None
        secret_arn = self.cluster.master_user_secrets.apply(lambda s: s[0].secret_arn if s else None)
        if args.secret_rotation_days is not None:
            # A secret RDS manages rotates without a Lambda function; Secrets Manager takes the schedule:
            # https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_managed.html
            aws.secretsmanager.SecretRotation(
                f"{self._name}-master-secret-rotation",
                secret_id=secret_arn,
                rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                    automatically_after_days=args.secret_rotation_days),
                # The provider's default (true) rotates at once: the password RDS has just created on
                # the first `up`, and again on every later change of the schedule. The schedule alone
                # decides (RotateSecret RotateImmediately=false: "the next rotation window").
                rotate_immediately=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return secret_arn

    def _parameter_groups(self, family: str, *, current: bool) -> tuple[aws.rds.ClusterParameterGroup, aws.rds.ParameterGroup]:
        """The TLS-enforcing cluster group and the instance group of ``family``. Stacks created
        before the family was part of the name keep their groups (alias of the current pair)."""
        name, identifier, engine = self._name, self._args.identifier, self.engine

        def opts(legacy_name: str) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=legacy_name)] if current else None)

        cluster_group = aws.rds.ClusterParameterGroup(
            f"{name}-cluster-{family}",
            family=family,
            description=f"{identifier}: TLS required",
            parameters=[aws.rds.ClusterParameterGroupParameterArgs(name=k, value=v, apply_method=apply_method(k))
                        for k, v in self._cluster_parameters().items()],
            opts=opts(f"{name}-cluster"),
        )
        instance_group = aws.rds.ParameterGroup(
            f"{name}-instance-{family}",
            family=family,
            description=f"{identifier}: instance parameters",
            parameters=[aws.rds.ParameterGroupParameterArgs(name=k, value=v, apply_method=apply_method(k))
                        for k, v in INSTANCE_PARAMETERS[engine].items()],
            opts=opts(f"{name}-instance"),
        )
        return cluster_group, instance_group

    def _cluster_parameters(self) -> dict[str, str]:
        """TLS, the engine's logging and, with ``audit_logging``, its audit logging (``AUDIT_PARAMETERS``)."""
        settings, engine = self._args.settings, self.engine
        audit = dict(AUDIT_PARAMETERS[engine]) if settings.audit_logging else {}
        if audit and engine == "aurora-postgresql":
            audit["pgaudit.log"] = settings.pgaudit_log
        return {**TLS_PARAMETERS[engine], **audit, **CLUSTER_PARAMETERS[engine]}

    def _final_snapshot_identifier(self) -> pulumi.Output[str] | None:
        """``<identifier>-final-<8 hex>``: a region removed and added again, or a cluster created
        again under its old identifier, must not collide with the snapshot its predecessor left."""
        name, identifier = self._name, self._args.identifier
        if self._args.settings.skip_final_snapshot:
            return None
        suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        return suffix.hex.apply(lambda hex_: f"{identifier}-final-{hex_}")

    def allow_access_from(self, name: str, source_security_group_id: pulumi.Input[str],
                          description: str = "engine port from an admitted security group") -> aws.vpc.SecurityGroupIngressRule:
        """Admit one security group on the engine port: the only way into the database."""
        return port_ingress(name, self.security_group.id, source_security_group_id, self.port,
                            description, pulumi.ResourceOptions(parent=self))

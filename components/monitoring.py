"""DatabaseMonitoring: alarms, RDS event notifications and a dashboard for one Aurora cluster."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.account import AccountContext
from components.aurora_cluster import AuroraCluster
from components.settings import MonitoringSettings

RDS_NAMESPACE = "AWS/RDS"
ASG_NAMESPACE = "AWS/AutoScaling"
MIB = 1024 * 1024

# RDS accepts a different set of event categories per source type: "low storage" exists for DB
# instances only, "global-failover" for DB clusters only (Aurora User Guide, "Amazon RDS event
# categories and event messages"). Availability (restart, shutdown) is added for instances
# because an instance that reboots unasked is the first sign of trouble.
CLUSTER_EVENT_CATEGORIES = ["failover", "failure", "maintenance", "notification"]
# Readers added by Application Auto Scaling are named application-autoscaling-<id>, not after the
# cluster ("Amazon Aurora Auto Scaling with Aurora Replicas",
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Integrating.AutoScaling.html).
AUTOSCALED_READER_PREFIX = "application-autoscaling-"
# Aurora publishes instance metrics aggregated per role under DBClusterIdentifier + Role; AWS advises
# alarming on the WRITER/READER role metrics rather than on instances, whose roles and names change
# ("Creating CloudWatch alarms to monitor Amazon Aurora",
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/creating_alarms.html).
READER_ROLE = "READER"
GLOBAL_CLUSTER_EVENT_CATEGORIES = ["global-failover"]
INSTANCE_EVENT_CATEGORIES = ["availability", "failover", "failure", "low storage", "maintenance", "notification"]
# The alarm thresholds of MonitoringSettings: each at least 1.
THRESHOLDS = ("cpu_percent", "freeable_memory_mib", "max_connections", "replica_lag_ms", "global_replication_lag_ms",
              "deadlocks_per_second")


@dataclass
class DatabaseMonitoringArgs:
    settings: MonitoringSettings
    """The alarm settings: the e-mail address subscribed to the topic (AWS asks the recipient to confirm;
    empty for none) and the thresholds: an instance's average CPUUtilization above ``cpu_percent``,
    FreeableMemory below ``freeable_memory_mib`` MiB, DatabaseConnections above ``max_connections``,
    a reader's AuroraReplicaLag above ``replica_lag_ms``, a global secondary's
    AuroraGlobalDBReplicationLag above ``global_replication_lag_ms``, and (Aurora MySQL only)
    Deadlocks per second above ``deadlocks_per_second``."""
    region: str
    """AWS region of the cluster; the topic, alarms and subscriptions live there too (CloudWatch
    and RDS publish only to topics of their own region)."""
    database: AuroraCluster
    """The cluster to watch: its instances, engine and identifiers."""
    kms_key_arn: pulumi.Input[str]
    """Region CMK that encrypts the alarm topic."""
    name_prefix: str
    """Prefix of the topic, alarm, subscription and dashboard names; by convention the cluster
    identifier, so instance alarm ``<prefix>-<n>-cpu`` belongs to instance ``<prefix>-<n>``."""
    global_member: bool = False
    """The cluster belongs to a global database: also notify on global failover/switchover events."""
    global_secondary: bool = False
    """The cluster is a global secondary: alarm on its global replication lag (implies ``global_member``)."""
    source_region: str | None = None
    """Region of the global writer a secondary replicates from: the ``SourceRegion`` dimension of its
    ``AuroraGlobalDBReplicationLag`` (required with ``global_secondary``)."""
    fleet_asg_name: pulumi.Input[str] | None = None
    """Auto scaling group of the application fleet in this region (with group metrics enabled);
    ``None`` for no fleet alarm."""
    fleet_min_size: int = 0
    """The fleet's minimum size: alarm when fewer instances are in service. 0 means no fleet alarm."""
    period_seconds: int = 60
    """Period of the database alarms (RDS publishes these metrics every minute)."""
    evaluation_periods: int = 5
    """Consecutive breaching periods before a database alarm fires (5 x 60 s: sustained, not a spike)."""
    account: AccountContext | None = None
    """Account and partition of the region's provider (the topic policy); ``None`` looks them up."""

    def __post_init__(self):
        problems = []
        values = {name: getattr(self.settings, name) for name in THRESHOLDS}
        values.update(period_seconds=self.period_seconds, evaluation_periods=self.evaluation_periods)
        problems += [f"{name} must be at least 1, not {value}" for name, value in values.items() if value < 1]
        if self.settings.cpu_percent > 100:
            problems.append(f"cpu_percent must be 1 to 100, not {self.settings.cpu_percent}")
        if self.period_seconds % 60 and self.period_seconds not in (10, 20, 30):
            problems.append(f"period_seconds must be 10, 20, 30 or a multiple of 60, not {self.period_seconds}")
        if self.fleet_min_size < 0:
            problems.append(f"fleet_min_size must be 0 or more, not {self.fleet_min_size}")
        if self.global_secondary and not self.source_region:
            problems.append("source_region is required with global_secondary: AuroraGlobalDBReplicationLag "
                            "is published per DBClusterIdentifier and SourceRegion")
        elif self.global_secondary and self.source_region == self.region:
            problems.append(f"source_region must be the writer's region, not the secondary's own ({self.region})")
        if problems:
            raise ValueError("invalid DatabaseMonitoringArgs: " + "; ".join(problems))
        self.global_member = self.global_member or self.global_secondary


def topic_policy(topic_arn: str, account_id: str, partition: str, region: str, alarm_name_prefix: str,
                 rds_source_arns: list[str]) -> str:
    """Who may use the alarm topic: the account administers it; CloudWatch publishes for this
    stack's alarms and RDS for the sources matching ``rds_source_arns`` (ARN patterns: the cluster,
    its instances by name prefix, readers added by auto scaling) of this account only
    (confused-deputy conditions, as in the Aurora User Guide's "Granting permissions to publish
    notifications to an Amazon SNS topic",
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.GrantingPermissions.html)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission",
                           "sns:RemovePermission", "sns:DeleteTopic", "sns:Subscribe",
                           "sns:ListSubscriptionsByTopic", "sns:Publish"],
                "Resource": topic_arn,
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{alarm_name_prefix}-*"},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            {
                "Sid": "RdsEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.rds.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": rds_source_arns},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            {
                "Sid": "DenyPublishWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    })


def global_lag_dimensions(cluster_identifier: str, source_region: str) -> dict[str, str]:
    """The dimension set CloudWatch publishes AuroraGlobalDBReplicationLag under, in the secondary's
    region: DBClusterIdentifier (the secondary) and SourceRegion (the writer's region). CloudWatch
    matches only the exact set, so an alarm on DBClusterIdentifier alone never gets data. Sources:
    Aurora User Guide, "Amazon CloudWatch dimensions for Aurora" and "Monitoring an Amazon Aurora
    global database" (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html,
    .../aurora-global-database-monitoring.html); Neptune, which shares Aurora's storage, documents the
    same pair for global databases ("DBClusterIdentifier, SourceRegion",
    https://docs.aws.amazon.com/neptune/latest/userguide/cw-dimensions.html); AWS's Aurora global
    database workshop reads the metric from the SourceRegion group in the secondary region."""
    return {"DBClusterIdentifier": cluster_identifier, "SourceRegion": source_region}


def reader_role_dimensions(cluster_identifier: str) -> dict[str, str]:
    """Every reader of a cluster, named or added by auto scaling, aggregated by role."""
    return {"DBClusterIdentifier": cluster_identifier, "Role": READER_ROLE}


def rds_source_arns(partition: str, region: str, account_id: str, cluster_identifier: str,
                    reader_auto_scaling: bool) -> list[str]:
    """ARN patterns of the RDS sources whose events may reach the topic: the cluster, its instances
    (``<cluster>-<n>``) and, with reader auto scaling, the readers it adds."""
    base = f"arn:{partition}:rds:{region}:{account_id}"
    patterns = [f"{base}:cluster:{cluster_identifier}", f"{base}:db:{cluster_identifier}-*"]
    if reader_auto_scaling:
        patterns.append(f"{base}:db:{AUTOSCALED_READER_PREFIX}*")
    return patterns


def dashboard_body(region: str, cluster_identifier: str, instance_identifiers: list[str],
                   global_secondary: bool, source_region: str | None = None,
                   reader_auto_scaling: bool = False) -> str:
    """CPU, connections, latency and replication lag of one cluster, one graph each. With reader auto
    scaling, the READER role series show every reader, the ones auto scaling added too."""
    readers = instance_identifiers[1:]

    def per_instance(metric: str) -> list[list[str]]:
        series = [[RDS_NAMESPACE, metric, "DBInstanceIdentifier", i] for i in instance_identifiers]
        if reader_auto_scaling:
            series.append([RDS_NAMESPACE, metric, "DBClusterIdentifier", cluster_identifier, "Role", READER_ROLE])
        return series

    def widget(index: int, title: str, metrics: list[list], stat: str) -> dict:
        return {
            "type": "metric", "x": (index % 2) * 12, "y": (index // 2) * 6, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "view": "timeSeries", "stat": stat,
                           "period": 60, "metrics": metrics},
        }

    lag = [[RDS_NAMESPACE, "AuroraReplicaLagMaximum", "DBClusterIdentifier", cluster_identifier]]
    lag += [[RDS_NAMESPACE, "AuroraReplicaLag", "DBInstanceIdentifier", r] for r in readers]
    if global_secondary:
        dims = global_lag_dimensions(cluster_identifier, source_region)
        lag.append([RDS_NAMESPACE, "AuroraGlobalDBReplicationLag", *(x for kv in dims.items() for x in kv)])
    widgets = []
    if instance_identifiers:
        widgets += [
            ("CPU utilization (%)", per_instance("CPUUtilization"), "Average"),
            ("Database connections", per_instance("DatabaseConnections"), "Maximum"),
            ("Read and write latency (s)", per_instance("ReadLatency") + per_instance("WriteLatency"), "Average"),
        ]
    widgets.append(("Replication lag (ms)", lag, "Maximum"))
    return json.dumps({"widgets": [widget(i, *w) for i, w in enumerate(widgets)]})


class DatabaseMonitoring(pulumi.ComponentResource):
    """An encrypted SNS topic that receives every alarm and RDS event of one cluster, the alarms
    themselves, two RDS event subscriptions and a dashboard."""

    topic: aws.sns.Topic
    topic_arn: pulumi.Output[str]
    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_names: list[str]
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aurora-platform:monitoring:DatabaseMonitoring", name, None, opts)
        self._name = name
        self._args = args
        self._prefix = args.name_prefix
        # RDS may publish for the cluster and for its instances by ARN pattern, not by a list of
        # names: readers that auto scaling adds (application-autoscaling-*) are covered, and the
        # policy need not wait for anything to exist (SNS does not check that the sources do).
        self._reader_auto_scaling = getattr(args.database, "reader_auto_scaling", False)
        self._instance_ids = [i.identifier for i in args.database.instances]
        self.alarms = []
        self.alarm_names = []

        policy = self._topic()
        self._instance_alarms()
        if self._reader_auto_scaling:
            self._reader_role_alarms()
        self._global_and_fleet_alarms()
        self._event_subscriptions(policy)
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self._prefix,
            dashboard_body=pulumi.Output.all(args.database.cluster_identifier, *self._instance_ids).apply(
                lambda v: dashboard_body(args.region, v[0], list(v[1:]), args.global_secondary,
                                         args.source_region, self._reader_auto_scaling)),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.topic_arn = self.topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({
            "topic_arn": self.topic_arn,
            "alarm_names": self.alarm_names,
            "dashboard_name": self.dashboard_name,
        })

    def _topic(self) -> aws.sns.TopicPolicy:
        """The encrypted alarm topic, its e-mail subscription and the policy of who may publish."""
        name, args, prefix = self._name, self._args, self._prefix
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"{prefix}-alarms",
            display_name=f"Alarms of {prefix}",
            kms_master_key_id=args.kms_key_arn,
            opts=child,
        )
        if args.settings.alarm_email:
            aws.sns.TopicSubscription(f"{name}-email", topic=self.topic.arn, protocol="email",
                                      endpoint=args.settings.alarm_email, opts=child)
        account = AccountContext.of(args.account, self)
        identifier, reader_auto_scaling = args.database.identifier, self._reader_auto_scaling
        return aws.sns.TopicPolicy(
            f"{name}-alarms",
            arn=self.topic.arn,
            policy=account.apply(
                lambda account_id, partition, arn: topic_policy(
                    arn, account_id, partition, args.region, prefix,
                    rds_source_arns(partition, args.region, account_id, identifier, reader_auto_scaling)),
                self.topic.arn),
            opts=child,
        )

    def _instance_alarms(self) -> None:
        """CPU, memory, connections, replica lag (readers) and deadlocks (MySQL) of each named instance."""
        s, prefix = self._args.settings, self._prefix
        for n, instance_id in enumerate(self._instance_ids, start=1):
            label = f"{prefix}-{n}"
            per_instance = {"DBInstanceIdentifier": instance_id}
            # A gap in CPU or connections is not load; an instance that stops reporting is caught
            # by the memory alarm below and by the RDS event subscription.
            self._alarm(f"{n}-cpu", f"CPUUtilization of {label} above {s.cpu_percent}%",
                        RDS_NAMESPACE, "CPUUtilization", per_instance, "Average", "GreaterThanThreshold",
                        s.cpu_percent, treat_missing_data="notBreaching")
            # Breaching when silent: RDS reports FreeableMemory every minute for a running instance,
            # so silence means it is down, stuck or rebooting. This is the instance's heartbeat.
            self._alarm(f"{n}-freeable-memory",
                        f"FreeableMemory of {label} below {s.freeable_memory_mib} MiB, or no data",
                        RDS_NAMESPACE, "FreeableMemory", per_instance, "Average", "LessThanThreshold",
                        s.freeable_memory_mib * MIB, treat_missing_data="breaching")
            self._alarm(f"{n}-connections", f"DatabaseConnections of {label} above {s.max_connections}",
                        RDS_NAMESPACE, "DatabaseConnections", per_instance, "Maximum", "GreaterThanThreshold",
                        s.max_connections, treat_missing_data="notBreaching")
            if n > 1:
                # Only readers report AuroraReplicaLag. After a failover one of these may be the
                # writer and report nothing: "missing" keeps the state instead of paging or clearing.
                self._alarm(f"{n}-replica-lag", f"AuroraReplicaLag of {label} above {s.replica_lag_ms} ms",
                            RDS_NAMESPACE, "AuroraReplicaLag", per_instance, "Maximum", "GreaterThanThreshold",
                            s.replica_lag_ms, treat_missing_data="missing")
            if self._args.database.engine == "aurora-mysql":
                # Deadlocks is reported as 0 while there are none; a gap is no deadlock.
                self._alarm(f"{n}-deadlocks", f"Deadlocks of {label} above {s.deadlocks_per_second}/s",
                            RDS_NAMESPACE, "Deadlocks", per_instance, "Average", "GreaterThanThreshold",
                            s.deadlocks_per_second, treat_missing_data="notBreaching")

    def _reader_role_alarms(self) -> None:
        """Readers that auto scaling adds get no per-instance alarms (their names are not known
        here); the READER role series of the cluster covers every reader, added or named."""
        s, prefix = self._args.settings, self._prefix
        readers = reader_role_dimensions(self._args.database.cluster_identifier)
        self._alarm("readers-cpu", f"CPUUtilization of a reader of {prefix} above {s.cpu_percent}%",
                    RDS_NAMESPACE, "CPUUtilization", readers, "Maximum", "GreaterThanThreshold",
                    s.cpu_percent, treat_missing_data="notBreaching")
        self._alarm("readers-freeable-memory",
                    f"FreeableMemory of a reader of {prefix} below {s.freeable_memory_mib} MiB",
                    RDS_NAMESPACE, "FreeableMemory", readers, "Minimum", "LessThanThreshold",
                    s.freeable_memory_mib * MIB, treat_missing_data="missing")
        self._alarm("readers-connections",
                    f"DatabaseConnections of a reader of {prefix} above {s.max_connections}",
                    RDS_NAMESPACE, "DatabaseConnections", readers, "Maximum", "GreaterThanThreshold",
                    s.max_connections, treat_missing_data="notBreaching")
        self._alarm("readers-replica-lag",
                    f"AuroraReplicaLag of a reader of {prefix} above {s.replica_lag_ms} ms",
                    RDS_NAMESPACE, "AuroraReplicaLag", readers, "Maximum", "GreaterThanThreshold",
                    s.replica_lag_ms, treat_missing_data="missing")

    def _global_and_fleet_alarms(self) -> None:
        args, prefix = self._args, self._prefix
        if args.global_secondary:
            # Missing, not breaching: a headless secondary before its first replication, or a
            # secondary just promoted to writer by a switchover, reports no lag and is healthy.
            self._alarm("global-replication-lag",
                        f"AuroraGlobalDBReplicationLag of {prefix} (from {args.source_region}) above "
                        f"{args.settings.global_replication_lag_ms} ms",
                        RDS_NAMESPACE, "AuroraGlobalDBReplicationLag",
                        global_lag_dimensions(args.database.cluster_identifier, args.source_region),
                        "Maximum", "GreaterThanThreshold",
                        args.settings.global_replication_lag_ms, treat_missing_data="missing")
        if args.fleet_asg_name is not None and args.fleet_min_size > 0:
            # Breaching when silent: group metrics come every minute while collection is on, so
            # silence means collection was switched off or the group is gone. Ten minutes is longer
            # than a normal replacement (launch plus health check grace period).
            self._alarm("fleet-in-service", f"Fewer than {args.fleet_min_size} fleet instances in service",
                        ASG_NAMESPACE, "GroupInServiceInstances", {"AutoScalingGroupName": args.fleet_asg_name},
                        "Minimum", "LessThanThreshold", args.fleet_min_size, treat_missing_data="breaching",
                        period=60, evaluation_periods=10)

    def _event_subscriptions(self, policy: aws.sns.TopicPolicy) -> None:
        """RDS events of the cluster and of its instances. RDS checks that it may publish when the
        subscription is created: the policy comes first.

        RDS cannot subscribe to "the instances of a cluster". Without reader auto scaling every
        instance is named here and the subscription lists them. With it, readers come and go under
        names nobody knows in advance: the subscription names no source ids (every instance of the
        account in this region) and the topic policy admits only this cluster's instances and
        auto-scaled readers, so RDS cannot deliver anyone else's events. A headless cluster gets none."""
        name, args, prefix = self._name, self._args, self._prefix
        after_policy = pulumi.ResourceOptions(parent=self, depends_on=[policy])
        categories = CLUSTER_EVENT_CATEGORIES + (GLOBAL_CLUSTER_EVENT_CATEGORIES if args.global_member else [])
        self.cluster_events = aws.rds.EventSubscription(
            f"{name}-cluster-events",
            name=f"{prefix}-cluster-events",
            sns_topic=self.topic.arn,
            source_type="db-cluster",
            source_ids=[args.database.cluster_identifier],
            event_categories=categories,
            enabled=True,
            opts=after_policy,
        )
        self.instance_events = None
        if self._instance_ids:
            self.instance_events = aws.rds.EventSubscription(
                f"{name}-instance-events",
                name=f"{prefix}-instance-events",
                sns_topic=self.topic.arn,
                source_type="db-instance",
                source_ids=None if self._reader_auto_scaling else self._instance_ids,
                event_categories=INSTANCE_EVENT_CATEGORIES,
                enabled=True,
                opts=after_policy,
            )

    def _alarm(self, suffix: str, description: str, namespace: str, metric: str,
               dimensions: dict[str, pulumi.Input[str]], statistic: str, comparison: str, threshold: float, *,
               treat_missing_data: str, period: int | None = None,
               evaluation_periods: int | None = None) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        periods = evaluation_periods or args.evaluation_periods
        alarm_name = f"{args.name_prefix}-{suffix}"
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            name=alarm_name,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            statistic=statistic,
            comparison_operator=comparison,
            threshold=threshold,
            period=period or args.period_seconds,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=treat_missing_data,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarms.append(alarm)
        self.alarm_names.append(alarm_name)
        return alarm

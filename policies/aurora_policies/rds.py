"""Aurora cluster and instance settings: resilience, observability and access hygiene."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, Severity

from ._checks import must_be_true, must_not_be_true
from ._framework import resource_policy
from ._props import PREVIEW_NOTE, as_list, is_set, is_unknown, number, shown
from ._types import RDS_CLUSTER, RDS_CLUSTER_INSTANCE, RDS_INSTANCE
from ._views import ResourceView

RESILIENCE = ("resilience",)
OBSERVABILITY = ("observability",)
ACCESS = ("access",)

ENHANCED_MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)


def _backup_retention(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    minimum = int(number(config.get("minimumDays")) or 0)
    value = resource.get("backupRetentionPeriod")
    if is_unknown(value):
        yield (
            f"{resource.label}: backupRetentionPeriod is unknown during preview ({PREVIEW_NOTE}); set "
            f"backup_retention_period to at least {minimum} days as a literal."
        )
        return
    days = number(value)
    effective = 1 if days is None else days  # RDS keeps one day of backups when nothing is set.
    if effective < minimum:
        yield (
            f"{resource.label}: backupRetentionPeriod is {shown(value)}"
            f"{' (RDS keeps 1 day)' if days is None else ''}, below the required {minimum} days of "
            f"point-in-time recovery. Set backup_retention_period={minimum} or more (at most 35)."
        )


_final_snapshot = must_not_be_true(
    "skipFinalSnapshot",
    "skip_final_snapshot",
    "so deleting the cluster discards its data without a snapshot",
    fix="Set skip_final_snapshot=False and final_snapshot_identifier.",
)


def _enhanced_monitoring(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
    interval_value = resource.get("monitoringInterval")
    if is_unknown(interval_value):
        yield (
            f"{resource.label}: monitoringInterval is unknown during preview ({PREVIEW_NOTE}); set "
            "monitoring_interval (1, 5, 10, 15, 30 or 60 seconds) as a literal."
        )
        return
    interval = number(interval_value)
    if not interval or interval <= 0:
        yield (
            f"{resource.label}: monitoringInterval is {shown(interval_value)}, so Enhanced Monitoring is off and "
            "OS-level metrics (memory, swap, processes) are not collected. Set monitoring_interval to 1, 5, 10, "
            "15, 30 or 60 and monitoring_role_arn to a role trusted by monitoring.rds.amazonaws.com."
        )
        return
    if interval not in ENHANCED_MONITORING_INTERVALS:
        yield (
            f"{resource.label}: monitoringInterval is {shown(interval_value)}; RDS accepts only 1, 5, 10, 15, "
            "30 or 60 seconds."
        )
    if not is_set(resource.get("monitoringRoleArn")):
        yield (
            f"{resource.label}: monitoringInterval is {shown(interval_value)} but monitoringRoleArn is not set, "
            "so RDS cannot publish the metrics. Set monitoring_role_arn to a role with the "
            "AmazonRDSEnhancedMonitoringRole policy trusted by monitoring.rds.amazonaws.com."
        )


def engine_family(engine: Any) -> str | None:
    """"postgresql" or "mysql" for the RDS engines this platform runs; None for anything else."""
    if not isinstance(engine, str) or is_unknown(engine):
        return None
    if engine.startswith("aurora-postgresql") or engine == "postgres":
        return "postgresql"
    if engine in ("aurora", "aurora-mysql", "mysql"):
        return "mysql"
    return None


def _log_exports(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    family = engine_family(resource.get("engine"))
    if family is None:
        return
    required = [str(log_type) for log_type in as_list(config.get(f"{family}LogTypes"))]
    exports = resource.get("enabledCloudwatchLogsExports")
    if is_unknown(exports):
        yield (
            f"{resource.label}: enabledCloudwatchLogsExports is unknown during preview; set "
            f"enabled_cloudwatch_logs_exports={required} as a literal."
        )
        return
    exported = {value for value in as_list(exports) if isinstance(value, str)}
    missing = [log_type for log_type in required if log_type not in exported]
    if missing:
        yield (
            f"{resource.label}: enabledCloudwatchLogsExports is {sorted(exported) or 'empty'}, missing "
            f"{missing} for {resource.get('engine')}, so those logs stay on the instances and are lost with them. "
            f"Set enabled_cloudwatch_logs_exports to include {required}."
        )


def _non_default_username(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    prop = "masterUsername" if resource.type == RDS_CLUSTER else "username"
    username = resource.get(prop)
    # Unset on secondary members of a global database and on restores; an unknown name is
    # generated by another resource and cannot be a well-known literal.
    if not isinstance(username, str) or is_unknown(username):
        return
    disallowed = {str(name).lower() for name in as_list(config.get("disallowedUsernames"))}
    if username.lower() in disallowed:
        yield (
            f"{resource.label}: {prop} is {shown(username)}, a well-known default that credential-stuffing "
            f"attacks try first. Choose another master user name (not one of {sorted(disallowed)})."
        )


def _instance_class_allowed(resource: ResourceView, config: Mapping[str, Any]) -> Iterator[str]:
    allowed = [str(pattern) for pattern in as_list(config.get("allowedClasses"))]
    if not allowed:
        return
    instance_class = resource.get("instanceClass")
    if is_unknown(instance_class):
        yield (
            f"{resource.label}: instanceClass is unknown during preview ({PREVIEW_NOTE}); set instance_class "
            f"to one of {allowed} as a literal."
        )
        return
    if not any(isinstance(instance_class, str) and fnmatch.fnmatchcase(instance_class, p) for p in allowed):
        yield (
            f"{resource.label}: instanceClass is {shown(instance_class)}, not one of the classes allowed for "
            f"this stack {allowed}. Choose an allowed class or change allowedClasses in the stack's policy config."
        )


RDS_CLUSTER_DELETION_PROTECTION = resource_policy(
    name="rds-cluster-deletion-protection",
    summary="Aurora clusters must have deletion protection on (deletionProtection is true).",
    resource_types=[RDS_CLUSTER],
    external_ids=["Checkov CKV_AWS_139", "AWS Config rds-cluster-deletion-protection-enabled"],
    check=must_be_true(
        "deletionProtection", "deletion_protection", "so a single API call or `pulumi destroy` deletes the cluster"
    ),
    severity=Severity.MEDIUM,
    tags=RESILIENCE,
)

RDS_CLUSTER_BACKUP_RETENTION = resource_policy(
    name="rds-cluster-backup-retention",
    summary="Aurora clusters must keep automated backups for at least the configured number of days (minimumDays).",
    resource_types=[RDS_CLUSTER],
    external_ids=["Checkov CKV_AWS_133", "AWS Config db-instance-backup-enabled"],
    check=_backup_retention,
    config_schema=PolicyConfigSchema(
        properties={
            "minimumDays": {
                "type": "integer",
                "minimum": 1,
                "maximum": 35,
                "default": 7,
                "description": "Smallest backupRetentionPeriod accepted, in days.",
            }
        }
    ),
    severity=Severity.MEDIUM,
    tags=RESILIENCE,
)

RDS_CLUSTER_FINAL_SNAPSHOT = resource_policy(
    name="rds-cluster-final-snapshot",
    summary="Deleting an Aurora cluster must leave a final snapshot (skipFinalSnapshot is not true).",
    resource_types=[RDS_CLUSTER],
    check=_final_snapshot,
    severity=Severity.MEDIUM,
    tags=RESILIENCE,
)

RDS_PERFORMANCE_INSIGHTS_ENABLED = resource_policy(
    name="rds-performance-insights-enabled",
    summary="Database instances must have Performance Insights on (performanceInsightsEnabled is true).",
    resource_types=[RDS_CLUSTER_INSTANCE, RDS_INSTANCE],
    external_ids=["Checkov CKV_AWS_353"],
    check=must_be_true(
        "performanceInsightsEnabled",
        "performance_insights_enabled",
        "so there is no record of load and top SQL to diagnose an incident",
    ),
    severity=Severity.LOW,
    tags=OBSERVABILITY,
)

RDS_ENHANCED_MONITORING = resource_policy(
    name="rds-enhanced-monitoring",
    summary="Database instances must have Enhanced Monitoring on (monitoringInterval > 0 with a monitoringRoleArn).",
    resource_types=[RDS_CLUSTER_INSTANCE, RDS_INSTANCE],
    external_ids=["Checkov CKV_AWS_118", "AWS Config rds-enhanced-monitoring-enabled"],
    check=_enhanced_monitoring,
    severity=Severity.LOW,
    tags=OBSERVABILITY,
)

RDS_CLUSTER_IAM_AUTH = resource_policy(
    name="rds-cluster-iam-auth",
    summary="Aurora clusters must accept IAM database authentication (iamDatabaseAuthenticationEnabled is true).",
    resource_types=[RDS_CLUSTER],
    external_ids=["Checkov CKV_AWS_162", "AWS Config rds-cluster-iam-authentication-enabled"],
    check=must_be_true(
        "iamDatabaseAuthenticationEnabled",
        "iam_database_authentication_enabled",
        "so every client needs a long-lived database password",
    ),
    severity=Severity.MEDIUM,
    tags=ACCESS,
)

RDS_CLUSTER_LOG_EXPORTS = resource_policy(
    name="rds-cluster-log-exports",
    summary=(
        "Aurora clusters must export the engine's logs to CloudWatch Logs "
        "(postgresqlLogTypes for PostgreSQL, mysqlLogTypes for MySQL)."
    ),
    resource_types=[RDS_CLUSTER],
    external_ids=["Checkov CKV_AWS_324"],
    check=_log_exports,
    config_schema=PolicyConfigSchema(
        properties={
            "postgresqlLogTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["postgresql"],
                "description": "Log types an Aurora PostgreSQL cluster must export.",
            },
            "mysqlLogTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["audit", "error", "slowquery"],
                "description": "Log types an Aurora MySQL cluster must export.",
            },
        }
    ),
    severity=Severity.LOW,
    tags=OBSERVABILITY,
)

RDS_CLUSTER_COPY_TAGS_TO_SNAPSHOT = resource_policy(
    name="rds-cluster-copy-tags-to-snapshot",
    summary="Aurora clusters must copy their tags to snapshots (copyTagsToSnapshot is true).",
    resource_types=[RDS_CLUSTER],
    external_ids=["Checkov CKV_AWS_313", "AWS Config rds-cluster-copy-tags-to-snapshot-enabled"],
    check=must_be_true(
        "copyTagsToSnapshot",
        "copy_tags_to_snapshot",
        "so snapshots lose the owner and cost-allocation tags",
    ),
    severity=Severity.LOW,
    tags=RESILIENCE,
)

RDS_CLUSTER_NON_DEFAULT_USERNAME = resource_policy(
    name="rds-cluster-non-default-username",
    summary="The master user name must not be a well-known default (disallowedUsernames).",
    resource_types=[RDS_CLUSTER, RDS_INSTANCE],
    external_ids=["AWS Config rds-cluster-default-admin-check", "AWS Config rds-instance-default-admin-check"],
    check=_non_default_username,
    config_schema=PolicyConfigSchema(
        properties={
            "disallowedUsernames": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["admin", "postgres", "root"],
                "description": "Master user names that are refused (compared without case).",
            }
        }
    ),
    severity=Severity.MEDIUM,
    tags=ACCESS,
)

RDS_INSTANCE_CLASS_ALLOWED = resource_policy(
    name="rds-instance-class-allowed",
    summary="Database instances must use one of the stack's allowed instance classes (allowedClasses; empty allows any).",
    resource_types=[RDS_CLUSTER_INSTANCE, RDS_INSTANCE],
    check=_instance_class_allowed,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedClasses": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Allowed instance classes; shell-style patterns such as db.r7g.* are accepted.",
            }
        }
    ),
    severity=Severity.LOW,
    tags=("cost",),
)

POLICIES = [
    RDS_CLUSTER_DELETION_PROTECTION,
    RDS_CLUSTER_BACKUP_RETENTION,
    RDS_CLUSTER_FINAL_SNAPSHOT,
    RDS_PERFORMANCE_INSIGHTS_ENABLED,
    RDS_ENHANCED_MONITORING,
    RDS_CLUSTER_IAM_AUTH,
    RDS_CLUSTER_LOG_EXPORTS,
    RDS_CLUSTER_COPY_TAGS_TO_SNAPSHOT,
    RDS_CLUSTER_NON_DEFAULT_USERNAME,
    RDS_INSTANCE_CLASS_ALLOWED,
]

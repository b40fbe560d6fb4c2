"""Typed, validated stack settings: every setting is declared once, here.

A declaration (``Setting``) holds the key, the type, the default, what is allowed (bounds or
choices), the description, the group and attribute it fills, the value production requires, and
one realistic change of a deployed stack with what it does (the change matrix). From the declarations come:

- the typed groups (``NetworkSettings``, ``DatabaseSettings``, ...): their fields and defaults;
- the validation of every bound and choice (``components/setting_rules.py`` holds the rules that
  relate settings to each other);
- ``Pulumi.yaml``'s config block and the README's settings table (``scripts/generate-docs``).

``parse_settings`` turns the raw config map (every value a string, arrays and objects as JSON) into
frozen dataclasses, or raises one ``SettingsError`` listing every bad value with the key, the value and
what is allowed. No Pulumi import (``components/runtime_settings.py`` reads the engine's config).
Adding a setting: declare it (``group``, ``attr``), use the attribute in the component, run
``scripts/generate-docs``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components import database_rules, setting_warnings
from components import setting_rules as rules
from components.aws_facts import (
    BACKUP_MAX_RETENTION_DAYS,
    CONTINUOUS_MAX_RETENTION_DAYS,
    ENGINE_PORTS,
    ENGINES,
    INTERFACE_ENDPOINTS,
    KMS_DELETION_WINDOW_DAYS,
    LOG_RETENTION_DAYS,
    MAX_AURORA_REPLICAS,
    MAX_BACKTRACK_HOURS,
    MAX_BACKUP_RETENTION_DAYS,
    MAX_DATABASE_CONNECTIONS,
    MAX_EXTRA_NACL_CIDRS,
    MAX_SERVERLESS_ACUS,
    MONITORING_INTERVALS,
    NAT_STRATEGIES,
    PI_RETENTION_DAYS,
    READER_SCALING_METRICS,
    SERVERLESS_CLASS,
    STORAGE_TYPES,
    VAULT_LOCK_MIN_CHANGEABLE_DAYS,
    WRITE_FORWARDING_CONNECTIONS_PCT,
)
from components.setting_values import read


class SettingsError(Exception):
    """Invalid stack settings: ``problems`` names each bad value, its key and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack settings ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}")


# --- The declarations.

_PYTHON_TYPES = {"string": "str", "integer": "int", "boolean": "bool", "array": "tuple[str, ...]", "object": "dict | None",
                 "list": "tuple"}


@dataclass(frozen=True)
class Setting:
    """One setting. ``group`` is its section (README table, typed group); ``attr`` the attribute of the
    group's dataclass it fills (None: only rules read it). ``low``/``high`` bound a number, ``step``
    makes a string a decimal number (``unit`` names it); ``choices`` lists the allowed values (of each
    item, for an array). ``production`` is the value a production stack must keep (None: any).
    ``example`` is one realistic change of a deployed stack (with ``example_with``; ``{region}`` in a list: the
    stack's), or ``no_example`` says why none. ``change`` is what it does (in-place, replaces-stateless, "refused:
    <words of the message>"), ``change_on`` where it differs by stack; deploy/offline/change_matrix.py checks."""

    key: str
    type: str  # string | integer | boolean | array (of strings) | object, list (of objects): undeclarable in Pulumi.yaml
    default: Any
    group: str
    attr: str | None
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    step: float | None = None
    unit: str = ""
    production: Any = None
    example: Any = None
    no_example: str = ""
    change: str = "in-place"
    change_on: dict[str, str] | None = None
    example_with: dict[str, Any] | None = None
    secret: bool = False

    @property
    def value_default(self) -> Any:
        """The default as the typed group holds it."""
        if self.type in ("array", "list"):
            return tuple(self.default)
        if self.step is not None:
            return float(self.default)
        return self.default

    @property
    def python_type(self) -> str:
        return "float" if self.step is not None else _PYTHON_TYPES[self.type]

    @property
    def allowed(self) -> str:
        """What the declaration allows, in words ("" when its rules say it)."""
        if self.choices is not None:
            return ", ".join(map(str, self.choices))
        if self.low is None:
            return ""
        text = f"{_number(self.low)} to {_number(self.high)}"
        if self.unit:
            text += f" {self.unit}"
        return f"{text} in steps of {self.step:g}" if self.step is not None else text


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_S = Setting
_DAYS = BACKUP_MAX_RETENTION_DAYS
_FLEET_SIZES = "refused: needs fleetMinSize <= fleetDesiredCapacity <= fleetMaxSize"
_NEW_STACK = "refused: fixed at creation: this needs a new stack and a data migration"
SETTINGS: tuple[Setting, ...] = (
    # general (attributes of Settings itself)
    _S("production", "boolean", True, "general", "production",
       "Production guard rails: deletion protection, final snapshot and `protect` cannot be turned off.",
       no_example="a stack is production or not from its creation; flipping it changes which rules hold, not a resource"),
    _S("protectResources", "boolean", True, "general", "protect_resources",
       "Set Pulumi `protect` on stateful resources (clusters, global cluster, keys, secrets).", production=True, example=False),
    _S("kmsDeletionWindowDays", "integer", 30, "general", "kms_deletion_window_days",
       "Waiting period in days before a scheduled KMS key deletion takes effect.", low=KMS_DELETION_WINDOW_DAYS[0],
       high=KMS_DELETION_WINDOW_DAYS[1], example=14),
    _S("logRetentionDays", "integer", 365, "general", "log_retention_days",
       "Retention of every CloudWatch log group (flow logs, database logs); one of CloudWatch's allowed values.",
       choices=LOG_RETENTION_DAYS, example=731),
    # network
    _S("vpcCidr", "string", "10.0.0.0/16", "network", "vpc_cidr",
       "IPv4 CIDR of the VPC in the primary region, /16 to /20.",
       example="10.20.0.0/16", change="refused: RDS refuses to move a DB subnet group in use to another VPC"),
    _S("azCount", "integer", 3, "network", None,
       "Availability zones to spread subnets and database instances over.", low=2, high=6, example=2,
       change="refused: an instance keeps its zone", change_on={"dev": "in-place"}),
    _S("availabilityZones", "array", [], "network", "availability_zones",
       "Explicit AZ names; empty picks the first `azCount` zones of the region.",
       example=["{region}b", "{region}a", "{region}c"]),
    _S("natStrategy", "string", "per-az", "network", "nat_strategy",
       "NAT for the private tier: none, single (one gateway), per-az (one per AZ, survives an AZ outage).",
       choices=NAT_STRATEGIES, example="single", change="replaces-stateless"),
    _S("flowLogs", "boolean", True, "network", "flow_logs",
       "VPC flow logs to a KMS-encrypted CloudWatch log group.", example=False, change="refused: its log events go with it"),
    _S("interfaceEndpoints", "array", [], "network", "interface_endpoints",
       "Interface VPC endpoints to create. An S3 gateway endpoint is always created.", choices=INTERFACE_ENDPOINTS,
       example=["kms", "secretsmanager", "ssm", "ssmmessages", "ec2messages", "logs", "monitoring"]),
    _S("databaseNaclExtraCidrs", "array", [], "network", "database_nacl_extra_cidrs",
       "Extra IPv4 CIDRs (peered VPCs, on-premises networks) the NACL of the primary region's database subnets "
       "admits on the engine port, besides the VPC; needed when allowedSecurityGroupIds names a security group "
       f"outside the VPC. Up to {MAX_EXTRA_NACL_CIDRS}, never 0.0.0.0/0; security groups still decide who connects.",
       example=["172.16.0.0/16"]),
    # database
    _S("engine", "string", "aurora-postgresql", "database", "engine",
       "Aurora engine.", choices=ENGINES, example="aurora-mysql", change=_NEW_STACK,
       example_with={"engineVersion": "8.0.mysql_aurora.3.08.2"}),
    _S("engineVersion", "string", "16.6", "database", "engine_version",
       "Engine version the clusters run, minor included (PostgreSQL MAJOR.MINOR; MySQL 8.0.mysql_aurora.3.MM.P). "
       "Automatic minor upgrades are off, so the version changes only by an upgrade: `deploy upgrade` on any stack "
       "(the only way for a global database, whose members ignore this setting; it then records the new version "
       "here), or on a regional stack a change of this setting and `pulumi up` (docs/engine-upgrades.md).", example="16.8"),
    _S("engineUpgradeTarget", "string", "", "database", "engine_upgrade_target",
       "Version an upgrade is being prepared for: the program also declares parameter groups of its family, which "
       "`deploy upgrade` switches the clusters to. Newer than engineVersion; empty when no upgrade is prepared.", example="17.4"),
    _S("preUpgradeSnapshot", "string", "", "database", "pre_upgrade_snapshot",
       "Manual cluster snapshot taken before the upgrade to engineUpgradeTarget (`deploy upgrade --snapshot` takes "
       "one and prints it); a production stack preparing a major upgrade without one gets a warning.",
       example="pre-upgrade-17-4"),
    _S("databaseName", "string", "app", "database", "database_name", "Name of the initial database.",
       example="shop", change=_NEW_STACK),
    _S("masterUsername", "string", "dbadmin", "database", "master_username",
       "Master user name; not a well-known default such as admin, postgres or root.",
       example="appadmin", change=_NEW_STACK),
    _S("instanceClass", "string", "db.r7g.large", "database", "instance_class",
       "Writer instance class (db.*), or db.serverless for Aurora Serverless v2.", example="db.r7g.xlarge"),
    _S("readerCount", "integer", 2, "database", "reader_count",
       "Reader instances, placed round-robin over the AZs.", low=0, high=MAX_AURORA_REPLICAS, example=3),
    _S("readerInstanceClass", "string", "", "database", "reader_instance_class",
       "Reader instance class; empty uses the writer's class.", example="db.r7g.xlarge"),
    _S("customEndpoints", "list", [], "database", "custom_endpoints",
       "Custom endpoints of the writer region's cluster: a list of {name, type: READER or ANY, instances: [N, ...]} "
       "(static members) or {name, type, excludeInstances: [N, ...]} (every other eligible instance, auto-scaled "
       "readers too); N is the instance number, 1 the writer as created. At most 5; a name of letters, digits and "
       "hyphens (docs/custom-endpoints.md).", example=[{"name": "analytics", "type": "READER", "instances": [2]}]),
    _S("serverlessMinCapacity", "string", "0.5", "database", "serverless_min_capacity",
       "Serverless v2 minimum ACUs; used with db.serverless.", low=0, high=MAX_SERVERLESS_ACUS, step=0.5, unit="ACUs", example="1"),
    _S("serverlessMaxCapacity", "string", "16", "database", "serverless_max_capacity",
       "Serverless v2 maximum ACUs (>= minimum).", low=1, high=MAX_SERVERLESS_ACUS, step=0.5, unit="ACUs", example="32"),
    _S("storageType", "string", "aurora", "database", "storage_type",
       "Cluster storage: aurora (standard) or aurora-iopt1 (I/O-Optimized).", choices=STORAGE_TYPES, example="aurora-iopt1"),
    _S("backupRetentionDays", "integer", 14, "database", "backup_retention_days",
       "Automated backup retention in days; also the point-in-time-restore window. With backupPlan and "
       "backupContinuous, AWS Backup manages it: equal to backupContinuousRetentionDays.", low=1,
       high=MAX_BACKUP_RETENTION_DAYS, example=21,
       change_on={"prod": "refused: set both to the same number of days"}),
    _S("preferredBackupWindow", "string", "03:00-04:00", "database", "preferred_backup_window",
       "Daily backup window, hh24:mi-hh24:mi UTC, at least 30 minutes.", example="02:00-03:00"),
    _S("preferredMaintenanceWindow", "string", "sun:05:00-sun:06:00", "database", "preferred_maintenance_window",
       "Weekly maintenance window, ddd:hh24:mi-ddd:hh24:mi UTC, at least 30 minutes, not overlapping the backup window.",
       example="sat:05:00-sat:06:00"),
    _S("deletionProtection", "boolean", True, "database", "deletion_protection",
       "RDS deletion protection on the cluster (and global cluster).", production=True, example=False),
    _S("skipFinalSnapshot", "boolean", False, "database", "skip_final_snapshot",
       "Skip the final snapshot when the cluster is deleted (never in production).", production=False, example=True),
    _S("iamAuthentication", "boolean", True, "database", "iam_authentication", "IAM database authentication.", example=False),
    _S("auditLogging", "boolean", True, "database", "audit_logging",
       "Database audit logging, exported to CloudWatch Logs (required in production). Aurora PostgreSQL: pgaudit in "
       "the cluster parameter group (shared_preload_libraries, pgaudit.log, pgaudit.role), and `deploy bootstrap-users` "
       "creates the rds_pgaudit role and the extension; shared_preload_libraries is static, so a running cluster "
       "loads pgaudit at its instances' next reboot (docs/audit-logging.md). Aurora MySQL: server_audit_logging and "
       "server_audit_events.", production=True, example=False),
    _S("pgauditLog", "string", "ddl,role", "database", "pgaudit_log",
       "Aurora PostgreSQL: pgaudit.log, the statement classes audited (comma-separated; a class may be subtracted "
       "with '-').", example="ddl,role,write"),
    _S("performanceInsights", "boolean", True, "database", "performance_insights",
       "Performance Insights on every instance, encrypted with the region key.", example=False),
    _S("performanceInsightsRetentionDays", "integer", 7, "database", "performance_insights_retention_days",
       "Performance Insights retention in days: 7, a multiple of 31 up to 713, or 731.", choices=PI_RETENTION_DAYS, example=31),
    _S("monitoringInterval", "integer", 60, "database", "monitoring_interval",
       "Enhanced monitoring interval in seconds (0 off).", choices=MONITORING_INTERVALS, example=30),
    _S("backtrackWindowHours", "integer", 0, "database", "backtrack_window_hours",
       "Aurora MySQL backtrack window in hours (0 off). Not for PostgreSQL or global databases.", low=0, high=MAX_BACKTRACK_HOURS,
       no_example="backtrack is an Aurora MySQL feature; the committed stacks run PostgreSQL"),
    _S("readerAutoScaling", "boolean", False, "database", "reader_auto_scaling",
       "Application Auto Scaling of readers on readerAutoScalingMetric.", example=True, change_on={"prod": "replaces-stateless"}),
    _S("readerAutoScalingMaxReaders", "integer", 5, "database", "reader_auto_scaling_max_readers",
       "Upper bound of readers when auto scaling (at least readerCount).", low=1, high=MAX_AURORA_REPLICAS, example=8),
    _S("readerAutoScalingCpuTarget", "integer", 70, "database", "reader_auto_scaling_cpu_target",
       "Target average reader CPU percent for auto scaling.", low=10, high=90, example=60),
    _S("readerAutoScalingMetric", "string", "cpu", "database", "reader_auto_scaling_metric",
       "What reader auto scaling tracks: cpu (RDSReaderAverageCPUUtilization, to readerAutoScalingCpuTarget) or "
       "connections (RDSReaderAverageDatabaseConnections, to readerAutoScalingConnectionsTarget).",
       choices=tuple(READER_SCALING_METRICS), example="connections",
       change_on={"prod": "replaces-stateless"}),
    _S("readerAutoScalingConnectionsTarget", "integer", 500, "database", "reader_auto_scaling_connections_target",
       "Target average database connections per reader, with readerAutoScalingMetric connections.",
       low=10, high=MAX_DATABASE_CONNECTIONS, example=300),
    _S("allowedSecurityGroupIds", "array", [], "database", "allowed_security_group_ids",
       "Extra security groups (sg-...) admitted to the database port, besides the fleet.", example=["sg-0123456789abcdef0"]),
    _S("applyImmediately", "boolean", False, "database", "apply_immediately",
       "Apply modifications immediately instead of in the maintenance window.", example=True),
    # fleet
    _S("fleetEnabled", "boolean", True, "fleet", "enabled",
       "Deploy the application fleet: full size in the writer region, a warm standby in every other member region.",
       example=False, change="replaces-stateless"),
    _S("fleetInstanceType", "string", "t4g.small", "fleet", "instance_type",
       "EC2 instance type of the fleet; Graviton families (…g) use the arm64 AMI.", example="m7g.large"),
    _S("fleetMinSize", "integer", 1, "fleet", "min_size",
       "Auto scaling group minimum size; also the threshold of the fleet in-service alarm (none at 0).",
       low=0, high=100, example=2, change_on={"dev": _FLEET_SIZES}),
    _S("fleetDesiredCapacity", "integer", 1, "fleet", "desired_capacity",
       "Auto scaling group desired capacity at creation (min <= desired <= max); afterwards the CPU target "
       "tracking owns it.", low=0, high=100, example=2, change_on={"prod": _FLEET_SIZES}),
    _S("fleetMaxSize", "integer", 2, "fleet", "max_size", "Auto scaling group maximum size.", low=0, high=100, example=4),
    _S("fleetCpuTarget", "integer", 50, "fleet", "cpu_target", "Target tracking: average CPU percent.",
       low=10, high=90, example=60),
    _S("fleetMinHealthyPercentage", "integer", 90, "fleet", "min_healthy_percentage",
       "Instance refresh: minimum healthy percentage.", low=0, high=100, example=50),
    _S("fleetHealthCheckGracePeriod", "integer", 300, "fleet", "health_check_grace_period",
       "Seconds before a new instance's health checks count.", low=0, high=7200, example=600),
    _S("fleetMetadataHopLimit", "integer", 1, "fleet", "metadata_hop_limit",
       "IMDSv2 response hop limit; 1 keeps tokens on the instance.", low=1, high=64, example=2),
    _S("fleetRootVolumeGiB", "integer", 20, "fleet", "root_volume_gib",
       "Encrypted gp3 root volume size in GiB.", low=8, high=16384, example=40),
    _S("fleetCapacityRebalance", "boolean", False, "fleet", "capacity_rebalance",
       "Capacity rebalancing (useful for Spot only).", example=True),
    # application access
    _S("proxyEnabled", "boolean", True, "access", "proxy_enabled",
       "RDS Proxy in every member region whose cluster has instances: TLS required, end-to-end IAM "
       "authentication; the fleet connects through it.", example=False, change="replaces-stateless"),
    _S("proxyIdleClientTimeout", "integer", 1800, "access", "proxy_idle_client_timeout",
       "Seconds a client connection to the proxy may stay idle before the proxy closes it.", low=1, high=28800, example=900),
    _S("proxyMaxConnectionsPercent", "integer", 90, "access", "proxy_max_connections_percent",
       "Pool limit: share of the database's max_connections the proxy may open; at most "
       f"{100 - WRITE_FORWARDING_CONNECTIONS_PCT} with "
       "globalDatabase.writeForwarding, leaving room for aurora_fwd_writer_max_connections_pct.", low=1, high=100, example=80),
    _S("proxyMaxIdleConnectionsPercent", "integer", 45, "access", "proxy_max_idle_connections_percent",
       "Share of max_connections the proxy keeps open while idle (at most proxyMaxConnectionsPercent).",
       low=0, high=100, example=30),
    _S("proxyConnectionBorrowTimeout", "integer", 120, "access", "proxy_connection_borrow_timeout",
       "Seconds a client waits for a pooled connection while the pool is at its limit.", low=0, high=300, example=60),
    _S("fleetDirectDatabaseAccess", "boolean", False, "access", "fleet_direct_database_access",
       "With the proxy on, also keep the fleet's direct path to the cluster (the DB security group admits the "
       "fleet, rds-db:connect on the cluster). Without the proxy the fleet always connects directly.", example=True),
    _S("applicationUsers", "array", ["app"], "access", "application_users",
       "Database users applications log in as with IAM tokens: 1-32 letters, digits or underscores, starting with "
       "a letter, not the master user or a reserved name; `deploy bootstrap-users` creates them.", example=["app", "reporting"]),
    _S("masterPasswordRotationDays", "integer", 7, "access", "master_password_rotation_days",
       "Regional clusters: days between rotations of the RDS-managed master secret; Secrets Manager rotates it on "
       "that schedule.", low=1, high=1000, example=30),
    _S("masterPassword", "string", "", "access", "master_password",
       "Global database only: the master password `deploy rotate-password` set last, as an encrypted (secret) "
       "config value; empty keeps the generated one. Never set it in clear.", secret=True,
       no_example="a secret `deploy rotate-password` writes; never a value in a plan"),
    _S("operatorRoleArns", "array", [], "access", "operator_role_arns",
       "Break-glass: IAM roles (arn:aws:iam::ACCOUNT:role/NAME) given read of the master secret and decrypt "
       "through Secrets Manager. Never the fleet.", example=["arn:aws:iam::123456789012:role/dba-break-glass"]),
    # monitoring
    _S("alarmEmail", "string", "", "monitoring", "alarm_email",
       "E-mail address subscribed to the alarm topic (AWS asks it to confirm); empty for none.", example="oncall@example.com"),
    _S("alarmCpuPercent", "integer", 80, "monitoring", "cpu_percent",
       "Alarm when an instance's CPUUtilization stays above this percent.", low=1, high=100, example=90),
    _S("alarmFreeableMemoryMiB", "integer", 512, "monitoring", "freeable_memory_mib",
       "Alarm when an instance's FreeableMemory falls below this many MiB, or when it reports nothing (down or "
       "rebooting).", low=1, high=1_000_000, example=1024),
    _S("alarmMaxConnections", "integer", 1000, "monitoring", "max_connections",
       "Alarm when an instance's DatabaseConnections exceed this.", low=1, high=1_000_000, example=2000),
    _S("alarmReplicaLagMs", "integer", 2000, "monitoring", "replica_lag_ms",
       "Alarm when a reader's AuroraReplicaLag exceeds this many milliseconds (readers only).",
       low=1, high=3_600_000, example=5000),
    _S("alarmGlobalReplicationLagMs", "integer", 5000, "monitoring", "global_replication_lag_ms",
       "Alarm when AuroraGlobalDBReplicationLag of a member outside the writer region exceeds this many "
       "milliseconds.", low=1, high=3_600_000, example=10000),
    _S("alarmDeadlocksPerSecond", "integer", 1, "monitoring", "deadlocks_per_second",
       "Aurora MySQL: alarm when Deadlocks per second exceed this.", low=1, high=1_000_000, example=5),
    # backup (AWS Backup)
    _S("backupPlan", "boolean", True, "backup", "enabled",
       "AWS Backup of the writer-capable clusters: a vault per region involved encrypted with that region's key, "
       "a plan and a selection naming the clusters (required in production).", production=True, example=False,
       change="refused: its recovery points go with it"),
    _S("backupDailyRetentionDays", "integer", 35, "backup", "daily_retention_days",
       "Retention in days of the daily AWS Backup snapshots in the cluster's own region.", low=1, high=_DAYS, example=30),
    _S("backupContinuous", "boolean", True, "backup", "continuous",
       "Continuous AWS Backup of the clusters: point-in-time restore from the vault for up to "
       "backupContinuousRetentionDays.", example=False,
       change_on={"dev": "refused: set both to the same number of days"}),
    _S("backupContinuousRetentionDays", "integer", 14, "backup", "continuous_retention_days",
       "Retention in days of the continuous backup, the vault's point-in-time-restore window.",
       low=1, high=CONTINUOUS_MAX_RETENTION_DAYS, example=21,
       change_on={"prod": "refused: set both to the same number of days"}),
    _S("backupCopyRegion", "string", "", "backup", "copy_region",
       "Region the daily snapshots are copied to; empty: the first secondary region of a global stack, no copy for "
       "a single-region stack. Not the primary region.", example="eu-west-1"),
    _S("backupCopyRetentionDays", "integer", 35, "backup", "copy_retention_days",
       "Retention in days of the copies in the other region's vault.", low=1, high=_DAYS, example=30),
    _S("backupVaultLock", "boolean", True, "backup", "vault_lock",
       "AWS Backup Vault Lock on every vault: recovery points cannot be deleted before their retention ends "
       "(required in production).", production=True, example=False,
       change="refused: the vault's lock (its retention guarantee) goes with it", change_on={"dev": "in-place"}),
    _S("backupVaultLockMinRetentionDays", "integer", 7, "backup", "vault_lock_min_retention_days",
       "Vault lock minimum retention in days; every backup and copy rule must keep its recovery points at least "
       "this long.", low=1, high=_DAYS, example=14),
    _S("backupVaultLockMaxRetentionDays", "integer", 365, "backup", "vault_lock_max_retention_days",
       "Vault lock maximum retention in days (at least the minimum); no rule may keep its recovery points longer.",
       low=1, high=_DAYS, example=730),
    _S("backupVaultLockChangeableDays", "integer", 3, "backup", "vault_lock_changeable_days",
       f"Days ({VAULT_LOCK_MIN_CHANGEABLE_DAYS} or more) before the vault lock becomes immutable (compliance mode); "
       "0 keeps it in governance mode, removable by privileged users.", low=0, high=_DAYS, example=7),
    _S("backupRestoreTesting", "boolean", True, "backup", "restore_testing",
       "AWS Backup restore testing: a weekly restore of the newest recovery point of each cluster, validated and "
       "deleted by AWS Backup.", example=False, change="replaces-stateless", change_on={"dev": "in-place"}),
    # global database
    _S("globalDatabase", "object", None, "global", None,
       "Aurora Global Database: {writerRegion, writeForwarding, secondaryRegions: [{region, vpcCidr, instances, "
       "instanceClass, azCount, standbyFleetDesiredCapacity}]}. Unset: a regional cluster only.",
       no_example="a structured object: its changes (a region added, a switchover) are runbooks with their own tests"),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


# --- Typed settings: each group's fields and defaults come from its declarations.

def _declared_fields(group: str):
    """Class decorator: a frozen dataclass with, after the class's own fields, one field per
    declaration of ``group`` (declaration order, the declared default; a secret is never printed)."""
    def build(cls):
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for setting in SETTINGS:
            if setting.group == group and setting.attr:
                annotations[setting.attr] = setting.python_type
                setattr(cls, setting.attr, field(default=setting.value_default, repr=not setting.secret))
        cls.__annotations__ = annotations
        return dataclass(frozen=True)(cls)
    return build


@_declared_fields("network")
class NetworkSettings:
    pass


@_declared_fields("database")
class DatabaseSettings:
    @property
    def port(self) -> int:
        return ENGINE_PORTS[self.engine]

    @property
    def serverless(self) -> bool:
        return self.instance_class == SERVERLESS_CLASS


@_declared_fields("fleet")
class FleetSettings:
    def as_standby(self, desired_capacity: int) -> FleetSettings:
        """The same fleet kept warm outside the writer region: no minimum, ``desired_capacity``
        instances, room to grow to the writer's maximum when it takes over."""
        return dataclasses.replace(self, min_size=0, desired_capacity=desired_capacity,
                                   max_size=max(self.max_size, desired_capacity))


@_declared_fields("access")
class AccessSettings:
    """How applications reach the database: RDS Proxy, IAM-authenticated users, break-glass roles."""


@_declared_fields("monitoring")
class MonitoringSettings:
    pass


@_declared_fields("backup")
class BackupSettings:
    """``copy_region`` is "" when the recovery points are not copied to another region;
    ``vault_lock_changeable_days`` 0 is governance mode (no lock date)."""


@dataclass(frozen=True)
class SecondaryRegionSettings:
    region: str
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    instance_count: int  # 0 = headless secondary
    instance_class: str
    standby_fleet_desired_capacity: int


@dataclass(frozen=True)
class GlobalDatabaseSettings:
    writer_region: str
    write_forwarding: bool
    secondary_regions: tuple[SecondaryRegionSettings, ...]


@_declared_fields("general")
class Settings:
    stack: str
    primary_region: str
    network: NetworkSettings
    database: DatabaseSettings
    fleet: FleetSettings
    monitoring: MonitoringSettings
    global_database: GlobalDatabaseSettings | None = None
    backup: BackupSettings | None = None
    access: AccessSettings = field(default_factory=AccessSettings)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def writer_region(self) -> str:
        return self.global_database.writer_region if self.global_database else self.primary_region

    @property
    def regions(self) -> tuple[str, ...]:
        """Primary region first, then every secondary region."""
        secondaries = self.global_database.secondary_regions if self.global_database else ()
        return (self.primary_region,) + tuple(s.region for s in secondaries)

    @property
    def writer_capable_regions(self) -> tuple[str, ...]:
        """Regions whose cluster can hold the writer: the primary and every secondary with instances."""
        secondaries = self.global_database.secondary_regions if self.global_database else ()
        return (self.primary_region,) + tuple(s.region for s in secondaries if s.instance_count > 0)

    @property
    def backup_only_regions(self) -> tuple[str, ...]:
        """A copy region outside the stack's member regions: it gets a provider, a key and a vault only."""
        if self.backup and self.backup.enabled and self.backup.copy_region and self.backup.copy_region not in self.regions:
            return (self.backup.copy_region,)
        return ()


_GROUP_CLASSES = {"network": NetworkSettings, "database": DatabaseSettings, "fleet": FleetSettings,
                  "access": AccessSettings, "monitoring": MonitoringSettings, "backup": BackupSettings}


def _group_values(values: Mapping[str, Any], group: str) -> dict[str, Any]:
    return {s.attr: values[s.key] for s in SETTINGS if s.group == group and s.attr}


def _global_database(found: rules.Found) -> GlobalDatabaseSettings | None:
    if found.global_database is None:
        return None
    secondaries = tuple(SecondaryRegionSettings(**entry) for entry in found.secondary_regions)
    return GlobalDatabaseSettings(secondary_regions=secondaries, **found.global_database)


def parse_settings(raw: Mapping[str, Any], stack: str) -> Settings:
    """Validate the raw config map (keys ``aurora-platform:<key>`` and ``aws:region``): every declared
    bound and choice, then each rule of ``setting_rules.RULES`` and ``database_rules.RULES`` in turn."""
    found = rules.Found(raw, stack, SETTINGS_BY_KEY)
    found.values = {s.key: read(found, s) for s in SETTINGS}
    for rule in rules.RULES + database_rules.RULES:
        rule(found)
    if found.problems:
        raise SettingsError(found.problems)
    groups = {group: cls(**_group_values(found.values, group)) for group, cls in _GROUP_CLASSES.items()}
    return Settings(
        stack=stack,
        primary_region=found.primary_region,
        global_database=_global_database(found),
        warnings=tuple(warning for make in setting_warnings.WARNINGS + database_rules.WARNINGS for warning in make(found)),
        **groups,
        **_group_values(found.values, "general"),
    )

"""Typed, validated stack settings.

Every setting the program reads is declared once in ``SETTINGS`` below (key, type,
default, description). ``Pulumi.yaml`` declares the same keys for the Pulumi CLI and a
test keeps the two equal. ``parse_settings`` turns the raw config map (as the Pulumi
engine hands it to the program: every value a string, arrays and objects as JSON)
into frozen dataclasses, or raises one ``SettingsError`` that lists every bad value
with the key, the value and what is allowed. Nothing is declared before this
succeeds.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pulumi

from components.project import MASTER_PASSWORD_SPECIALS, PROJECT

REGION_KEY = "aws:region"


class SettingsError(pulumi.RunError):
    """Invalid stack settings. ``RunError`` makes Pulumi print the message without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack settings ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}")


# --------------------------------------------------------------------------------------
# Static AWS facts used to validate settings offline (no AWS call before any resource).
# --------------------------------------------------------------------------------------

ENGINES = ("aurora-postgresql", "aurora-mysql")
ENGINE_PORTS = {"aurora-postgresql": 5432, "aurora-mysql": 3306}
ENGINE_LOG_EXPORTS = {
    "aurora-postgresql": ("postgresql",),
    "aurora-mysql": ("audit", "error", "general", "slowquery"),
}
# Aurora PostgreSQL majors still offered (13-17); Aurora MySQL 3 (MySQL 8.0 compatible).
POSTGRES_VERSION_RE = re.compile(r"^(1[3-7])\.(\d+)$")
MYSQL_VERSION_RE = re.compile(r"^8\.0\.mysql_aurora\.3\.(\d{2})\.(\d+)$")
ENGINE_VERSION_HELP = {
    "aurora-postgresql": "MAJOR.MINOR with major 13-17, e.g. 16.6",
    "aurora-mysql": "8.0.mysql_aurora.3.MM.P, e.g. 8.0.mysql_aurora.3.08.2",
}


def engine_version_pattern(engine: str) -> re.Pattern:
    return POSTGRES_VERSION_RE if engine == "aurora-postgresql" else MYSQL_VERSION_RE


def engine_version_key(engine: str, version: str) -> tuple[int, ...]:
    """Numeric order of two well-formed versions of one engine (16.10 is newer than 16.9)."""
    return tuple(int(part) for part in engine_version_pattern(engine).match(version).groups())


def parameter_group_family(engine: str, engine_version: str) -> str:
    """Parameter group family of a version: ``aurora-postgresql16`` for 16.x; every Aurora MySQL 3
    version (MySQL 8.0 compatible) is ``aurora-mysql8.0``. A family change is a major upgrade."""
    if engine == "aurora-mysql":
        return "aurora-mysql8.0"
    return f"aurora-postgresql{engine_version.split('.')[0]}"

# Instance classes Aurora offers per engine: family -> sizes. Extend when AWS adds classes.
_R_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_AURORA_COMMON_CLASSES: dict[str, tuple[str, ...]] = {
    "db.r8g": _R_SIZES + ("24xlarge", "48xlarge"),
    "db.r7g": _R_SIZES,
    "db.r7i": _R_SIZES + ("24xlarge", "48xlarge"),
    "db.r6g": _R_SIZES,
    "db.r6i": _R_SIZES + ("24xlarge", "32xlarge"),
    "db.r5": _R_SIZES + ("24xlarge",),
    "db.x2g": _R_SIZES,
    "db.t4g": ("medium", "large"),
}
INSTANCE_CLASSES: dict[str, dict[str, tuple[str, ...]]] = {
    "aurora-postgresql": {**_AURORA_COMMON_CLASSES, "db.t3": ("medium", "large")},
    "aurora-mysql": {**_AURORA_COMMON_CLASSES, "db.t3": ("small", "medium", "large")},
}
SERVERLESS_CLASS = "db.serverless"
_FAMILY_LARGE_GIB = {"db.x2g": 32, "db.t4g": 8, "db.t3": 8}
_SIZE_FACTOR = {"small": 0.25, "medium": 0.5, "large": 1, "xlarge": 2}


def instance_memory_gib(instance_class: str) -> float | None:
    """Memory of a provisioned class (None for Serverless v2), used to compare writer and readers."""
    if instance_class == SERVERLESS_CLASS:
        return None
    family, _, size = instance_class.rpartition(".")
    factor = _SIZE_FACTOR.get(size) or float(size.removesuffix("xlarge")) * 2
    return _FAMILY_LARGE_GIB.get(family, 16) * factor


# Availability zone names per region. Accounts map names to physical zones differently,
# but the set of names is the same. us-east-1e (use1-az3) lacks current instance families,
# so it comes last. Regions missing here must list `availabilityZones` explicitly.
REGION_AZS: dict[str, tuple[str, ...]] = {
    "us-east-1": ("a", "b", "c", "d", "f", "e"),
    "us-east-2": ("a", "b", "c"),
    "us-west-2": ("a", "b", "c", "d"),
    "ca-central-1": ("a", "b", "d"),
    "eu-west-1": ("a", "b", "c"),
    "eu-west-2": ("a", "b", "c"),
    "eu-west-3": ("a", "b", "c"),
    "eu-central-1": ("a", "b", "c"),
    "eu-north-1": ("a", "b", "c"),
    "ap-south-1": ("a", "b", "c"),
    "ap-southeast-1": ("a", "b", "c"),
    "ap-southeast-2": ("a", "b", "c"),
    "ap-northeast-1": ("a", "c", "d"),
    "ap-northeast-2": ("a", "b", "c", "d"),
    "sa-east-1": ("a", "b", "c"),
}
REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")

NAT_STRATEGIES = ("none", "single", "per-az")
STORAGE_TYPES = ("aurora", "aurora-iopt1")
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)
PI_RETENTION_DAYS = (7,) + tuple(31 * m for m in range(1, 24)) + (731,)
INTERFACE_ENDPOINTS = ("kms", "secretsmanager", "ssm", "ssmmessages", "ec2messages", "logs",
                       "monitoring", "sns")
RESERVED_USERNAMES = ("admin", "administrator", "postgres", "root", "rdsadmin", "rdsrepladmin",
                      "mysql", "sa", "master", "user")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SECONDARY_REGIONS = 5

# Write forwarding for global secondaries: Aurora MySQL 3.04+, Aurora PostgreSQL 14.13+/15.8+/16.4+/17.
_PG_WRITE_FORWARDING_MIN_MINOR = {13: None, 14: 13, 15: 8, 16: 4, 17: 0}


# --------------------------------------------------------------------------------------
# The setting declarations: the single source of truth for keys, types and defaults.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    key: str
    type: str  # string | integer | boolean | array (of strings) | object (undeclarable in Pulumi.yaml)
    default: Any
    description: str
    section: str


SETTINGS: tuple[Setting, ...] = (
    # general
    Setting("production", "boolean", True, "Production guard rails: deletion protection, final snapshot and `protect` cannot be turned off.", "general"),
    Setting("protectResources", "boolean", True, "Set Pulumi `protect` on stateful resources (clusters, global cluster, keys, secrets).", "general"),
    Setting("kmsDeletionWindowDays", "integer", 30, "Waiting period (7-30 days) before a scheduled KMS key deletion takes effect.", "general"),
    Setting("logRetentionDays", "integer", 365, "Retention of every CloudWatch log group (flow logs, database logs); one of CloudWatch's allowed values.", "general"),
    # network
    Setting("vpcCidr", "string", "10.0.0.0/16", "IPv4 CIDR of the VPC in the primary region, /16 to /20.", "network"),
    Setting("azCount", "integer", 3, "Availability zones to spread subnets and database instances over (2-6).", "network"),
    Setting("availabilityZones", "array", [], "Explicit AZ names; empty picks the first `azCount` zones of the region.", "network"),
    Setting("natStrategy", "string", "per-az", "NAT for the private tier: none, single (one gateway), per-az (one per AZ, survives an AZ outage).", "network"),
    Setting("flowLogs", "boolean", True, "VPC flow logs to a KMS-encrypted CloudWatch log group.", "network"),
    Setting("interfaceEndpoints", "array", [], "Interface VPC endpoints to create (kms, secretsmanager, ssm, ssmmessages, ec2messages, logs, monitoring, sns). An S3 gateway endpoint is always created.", "network"),
    Setting("databaseNaclExtraCidrs", "array", [], "Extra IPv4 CIDRs (peered VPCs, on-premises networks) the NACL of the primary region's database subnets admits on the engine port, besides the VPC; needed when allowedSecurityGroupIds names a security group outside the VPC. Up to 10, never 0.0.0.0/0; security groups still decide who connects.", "network"),
    # database
    Setting("engine", "string", "aurora-postgresql", "Aurora engine: aurora-postgresql or aurora-mysql.", "database"),
    Setting("engineVersion", "string", "16.6", "Engine version the clusters run, minor included (PostgreSQL MAJOR.MINOR; MySQL 8.0.mysql_aurora.3.MM.P). Automatic minor upgrades are off, so the version changes only by an upgrade: `deploy upgrade` on any stack (the only way for a global database, whose members ignore this setting; it then records the new version here), or on a regional stack a change of this setting and `pulumi up` (README: Upgrading the engine).", "database"),
    Setting("engineUpgradeTarget", "string", "", "Version an upgrade is being prepared for: the program also declares parameter groups of its family, which `deploy upgrade` switches the clusters to. Newer than engineVersion; empty when no upgrade is prepared.", "database"),
    Setting("preUpgradeSnapshot", "string", "", "Manual cluster snapshot taken before the upgrade to engineUpgradeTarget (`deploy upgrade --snapshot` takes one and prints it); a production stack preparing a major upgrade without one gets a warning.", "database"),
    Setting("databaseName", "string", "app", "Name of the initial database.", "database"),
    Setting("masterUsername", "string", "dbadmin", "Master user name; not a well-known default such as admin, postgres or root.", "database"),
    Setting("instanceClass", "string", "db.r7g.large", "Writer instance class (db.*), or db.serverless for Aurora Serverless v2.", "database"),
    Setting("readerCount", "integer", 2, "Reader instances (0-15), placed round-robin over the AZs.", "database"),
    Setting("readerInstanceClass", "string", "", "Reader instance class; empty uses the writer's class.", "database"),
    Setting("serverlessMinCapacity", "string", "0.5", "Serverless v2 minimum ACUs (0-256 in 0.5 steps); used with db.serverless.", "database"),
    Setting("serverlessMaxCapacity", "string", "16", "Serverless v2 maximum ACUs (1-256 in 0.5 steps, >= minimum).", "database"),
    Setting("storageType", "string", "aurora", "Cluster storage: aurora (standard) or aurora-iopt1 (I/O-Optimized).", "database"),
    Setting("backupRetentionDays", "integer", 14, "Automated backup retention (1-35 days); also the point-in-time-restore window.", "database"),
    Setting("preferredBackupWindow", "string", "03:00-04:00", "Daily backup window, hh24:mi-hh24:mi UTC, at least 30 minutes.", "database"),
    Setting("preferredMaintenanceWindow", "string", "sun:05:00-sun:06:00", "Weekly maintenance window, ddd:hh24:mi-ddd:hh24:mi UTC, at least 30 minutes, not overlapping the backup window.", "database"),
    Setting("deletionProtection", "boolean", True, "RDS deletion protection on the cluster (and global cluster).", "database"),
    Setting("skipFinalSnapshot", "boolean", False, "Skip the final snapshot when the cluster is deleted (never in production).", "database"),
    Setting("iamAuthentication", "boolean", True, "IAM database authentication.", "database"),
    Setting("performanceInsights", "boolean", True, "Performance Insights on every instance, encrypted with the region key.", "database"),
    Setting("performanceInsightsRetentionDays", "integer", 7, "Performance Insights retention: 7, a multiple of 31 up to 713, or 731.", "database"),
    Setting("monitoringInterval", "integer", 60, "Enhanced monitoring interval in seconds (0 off, 1, 5, 10, 15, 30, 60).", "database"),
    Setting("backtrackWindowHours", "integer", 0, "Aurora MySQL backtrack window in hours (0-72, 0 off). Not for PostgreSQL or global databases.", "database"),
    Setting("readerAutoScaling", "boolean", False, "Application Auto Scaling of readers on average reader CPU.", "database"),
    Setting("readerAutoScalingMaxReaders", "integer", 5, "Upper bound of readers when auto scaling (readerCount-15).", "database"),
    Setting("readerAutoScalingCpuTarget", "integer", 70, "Target average reader CPU percent for auto scaling (10-90).", "database"),
    Setting("allowedSecurityGroupIds", "array", [], "Extra security groups (sg-...) admitted to the database port, besides the fleet.", "database"),
    Setting("applyImmediately", "boolean", False, "Apply modifications immediately instead of in the maintenance window.", "database"),
    # fleet
    Setting("fleetEnabled", "boolean", True, "Deploy the application fleet: full size in the writer region, a warm standby in every other member region.", "fleet"),
    Setting("fleetInstanceType", "string", "t4g.small", "EC2 instance type of the fleet; Graviton families (…g) use the arm64 AMI.", "fleet"),
    Setting("fleetMinSize", "integer", 1, "Auto scaling group minimum size; also the threshold of the fleet in-service alarm (none at 0).", "fleet"),
    Setting("fleetDesiredCapacity", "integer", 1, "Auto scaling group desired capacity at creation (min <= desired <= max); afterwards the CPU target tracking owns it.", "fleet"),
    Setting("fleetMaxSize", "integer", 2, "Auto scaling group maximum size (0-100).", "fleet"),
    Setting("fleetCpuTarget", "integer", 50, "Target tracking: average CPU percent (10-90).", "fleet"),
    Setting("fleetMinHealthyPercentage", "integer", 90, "Instance refresh: minimum healthy percentage (0-100).", "fleet"),
    Setting("fleetHealthCheckGracePeriod", "integer", 300, "Seconds before a new instance's health checks count (0-7200).", "fleet"),
    Setting("fleetMetadataHopLimit", "integer", 1, "IMDSv2 response hop limit (1-64); 1 keeps tokens on the instance.", "fleet"),
    Setting("fleetRootVolumeGiB", "integer", 20, "Encrypted gp3 root volume size in GiB (8-16384).", "fleet"),
    Setting("fleetCapacityRebalance", "boolean", False, "Capacity rebalancing (useful for Spot only).", "fleet"),
    # application access
    Setting("proxyEnabled", "boolean", True, "RDS Proxy in every member region whose cluster has instances: TLS required, end-to-end IAM authentication; the fleet connects through it.", "access"),
    Setting("proxyIdleClientTimeout", "integer", 1800, "Seconds a client connection to the proxy may stay idle before the proxy closes it (1-28800).", "access"),
    Setting("proxyMaxConnectionsPercent", "integer", 90, "Pool limit: share of the database's max_connections the proxy may open (1-100); at most 90 with globalDatabase.writeForwarding, leaving room for aurora_fwd_writer_max_connections_pct.", "access"),
    Setting("proxyMaxIdleConnectionsPercent", "integer", 45, "Share of max_connections the proxy keeps open while idle (0 to proxyMaxConnectionsPercent).", "access"),
    Setting("proxyConnectionBorrowTimeout", "integer", 120, "Seconds a client waits for a pooled connection while the pool is at its limit (0-300).", "access"),
    Setting("fleetDirectDatabaseAccess", "boolean", False, "With the proxy on, also keep the fleet's direct path to the cluster (the DB security group admits the fleet, rds-db:connect on the cluster). Without the proxy the fleet always connects directly.", "access"),
    Setting("applicationUsers", "array", ["app"], "Database users applications log in as with IAM tokens: 1-32 letters, digits or underscores, starting with a letter, not the master user or a reserved name; `deploy bootstrap-users` creates them.", "access"),
    Setting("masterPasswordRotationDays", "integer", 7, "Regional clusters: days between rotations of the RDS-managed master secret (1-1000); Secrets Manager rotates it on that schedule.", "access"),
    Setting("masterPassword", "string", "", "Global database only: the master password `deploy rotate-password` set last, as an encrypted (secret) config value; empty keeps the generated one. Never set it in clear.", "access"),
    Setting("operatorRoleArns", "array", [], "Break-glass: IAM roles (arn:aws:iam::ACCOUNT:role/NAME) given read of the master secret and decrypt through Secrets Manager. Never the fleet.", "access"),
    # monitoring
    Setting("alarmEmail", "string", "", "E-mail address subscribed to the alarm topic (AWS asks it to confirm); empty for none.", "monitoring"),
    Setting("alarmCpuPercent", "integer", 80, "Alarm when an instance's CPUUtilization stays above this percent.", "monitoring"),
    Setting("alarmFreeableMemoryMiB", "integer", 512, "Alarm when an instance's FreeableMemory falls below this many MiB, or when it reports nothing (down or rebooting).", "monitoring"),
    Setting("alarmMaxConnections", "integer", 1000, "Alarm when an instance's DatabaseConnections exceed this.", "monitoring"),
    Setting("alarmReplicaLagMs", "integer", 2000, "Alarm when a reader's AuroraReplicaLag exceeds this many milliseconds (readers only).", "monitoring"),
    Setting("alarmGlobalReplicationLagMs", "integer", 5000, "Alarm when AuroraGlobalDBReplicationLag of a member outside the writer region exceeds this many milliseconds.", "monitoring"),
    Setting("alarmDeadlocksPerSecond", "integer", 1, "Aurora MySQL: alarm when Deadlocks per second exceed this.", "monitoring"),
    # backup (AWS Backup)
    Setting("backupPlan", "boolean", True, "AWS Backup of the writer-capable clusters: a vault per region involved encrypted with that region's key, a plan and a selection naming the clusters (required in production).", "backup"),
    Setting("backupDailyRetentionDays", "integer", 35, "Retention of the daily AWS Backup snapshots in the cluster's own region (1-36500 days).", "backup"),
    Setting("backupContinuous", "boolean", True, "Continuous AWS Backup of the clusters: point-in-time restore from the vault for up to backupContinuousRetentionDays.", "backup"),
    Setting("backupContinuousRetentionDays", "integer", 14, "Retention of the continuous backup, the vault's point-in-time-restore window (1-35 days).", "backup"),
    Setting("backupCopyRegion", "string", "", "Region the daily snapshots are copied to; empty: the first secondary region of a global stack, no copy for a single-region stack. Not the primary region.", "backup"),
    Setting("backupCopyRetentionDays", "integer", 35, "Retention of the copies in the other region's vault (1-36500 days).", "backup"),
    Setting("backupVaultLock", "boolean", True, "AWS Backup Vault Lock on every vault: recovery points cannot be deleted before their retention ends (required in production).", "backup"),
    Setting("backupVaultLockMinRetentionDays", "integer", 7, "Vault lock minimum retention (1-36500 days); every backup and copy rule must keep its recovery points at least this long.", "backup"),
    Setting("backupVaultLockMaxRetentionDays", "integer", 365, "Vault lock maximum retention (minimum to 36500 days); no rule may keep its recovery points longer.", "backup"),
    Setting("backupVaultLockChangeableDays", "integer", 3, "Days (3-36500) before the vault lock becomes immutable (compliance mode); 0 keeps it in governance mode, removable by privileged users.", "backup"),
    Setting("backupRestoreTesting", "boolean", True, "AWS Backup restore testing: a weekly restore of the newest recovery point of each cluster, validated and deleted by AWS Backup.", "backup"),
    # global database
    Setting("globalDatabase", "object", None, "Aurora Global Database: {writerRegion, writeForwarding, secondaryRegions: [{region, vpcCidr, instances, instanceClass, azCount, standbyFleetDesiredCapacity}]}. Unset: a regional cluster only.", "global"),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


# --------------------------------------------------------------------------------------
# Typed settings.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    nat_strategy: str
    flow_logs: bool
    interface_endpoints: tuple[str, ...]
    database_nacl_extra_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatabaseSettings:
    engine: str
    engine_version: str
    database_name: str
    master_username: str
    instance_class: str
    reader_count: int
    reader_instance_class: str
    serverless_min_capacity: float
    serverless_max_capacity: float
    storage_type: str
    backup_retention_days: int
    preferred_backup_window: str
    preferred_maintenance_window: str
    deletion_protection: bool
    skip_final_snapshot: bool
    iam_authentication: bool
    performance_insights: bool
    performance_insights_retention_days: int
    monitoring_interval: int
    backtrack_window_hours: int
    reader_auto_scaling: bool
    reader_auto_scaling_max_readers: int
    reader_auto_scaling_cpu_target: int
    allowed_security_group_ids: tuple[str, ...]
    apply_immediately: bool
    engine_upgrade_target: str = ""
    pre_upgrade_snapshot: str = ""

    @property
    def port(self) -> int:
        return ENGINE_PORTS[self.engine]

    @property
    def serverless(self) -> bool:
        return self.instance_class == SERVERLESS_CLASS


@dataclass(frozen=True)
class FleetSettings:
    enabled: bool
    instance_type: str
    min_size: int
    desired_capacity: int
    max_size: int
    cpu_target: int
    min_healthy_percentage: int
    health_check_grace_period: int
    metadata_hop_limit: int
    root_volume_gib: int
    capacity_rebalance: bool

    @property
    def architecture(self) -> str:
        return fleet_architecture(self.instance_type)

    def as_standby(self, desired_capacity: int) -> FleetSettings:
        """The same fleet kept warm outside the writer region: no minimum, ``desired_capacity``
        instances, room to grow to the writer's maximum when it takes over."""
        return dataclasses.replace(self, min_size=0, desired_capacity=desired_capacity,
                                   max_size=max(self.max_size, desired_capacity))


@dataclass(frozen=True)
class AccessSettings:
    """How applications reach the database: RDS Proxy, IAM-authenticated users, break-glass roles."""
    proxy_enabled: bool = True
    proxy_idle_client_timeout: int = 1800
    proxy_max_connections_percent: int = 90
    proxy_max_idle_connections_percent: int = 45
    proxy_connection_borrow_timeout: int = 120
    fleet_direct_database_access: bool = False
    application_users: tuple[str, ...] = ("app",)
    operator_role_arns: tuple[str, ...] = ()
    master_password_rotation_days: int = 7
    master_password: str = field(default="", repr=False)  # a secret: never printed


@dataclass(frozen=True)
class MonitoringSettings:
    alarm_email: str
    cpu_percent: int
    freeable_memory_mib: int
    max_connections: int
    replica_lag_ms: int
    global_replication_lag_ms: int
    deadlocks_per_second: int


@dataclass(frozen=True)
class BackupSettings:
    enabled: bool
    daily_retention_days: int
    continuous: bool
    continuous_retention_days: int
    copy_region: str  # "" when the recovery points are not copied to another region
    copy_retention_days: int
    vault_lock: bool
    vault_lock_min_retention_days: int
    vault_lock_max_retention_days: int
    vault_lock_changeable_days: int  # 0: governance mode (no lock date)
    restore_testing: bool


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


@dataclass(frozen=True)
class Settings:
    stack: str
    primary_region: str
    production: bool
    protect_resources: bool
    kms_deletion_window_days: int
    log_retention_days: int
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


def fleet_architecture(instance_type: str) -> str:
    family = instance_type.split(".")[0]
    return "arm64" if family == "a1" or re.match(r"^[a-z]+\d+g", family) else "x86_64"


# --------------------------------------------------------------------------------------
# Parsing.
# --------------------------------------------------------------------------------------

def _q(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


class _Reader:
    """Reads raw config values (strings, as the engine passes them) and collects problems."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.problems: list[str] = []

    def fail(self, key: str, value: Any, allowed: str) -> None:
        shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        self.problems.append(f"{_q(key)} = {shown}: {allowed}")

    def _raw(self, key: str) -> Any:
        value = self.raw.get(_q(key))
        return SETTINGS_BY_KEY[key].default if value is None else value

    def string(self, key: str, choices: tuple[str, ...] | None = None) -> str:
        value = self._raw(key)
        if not isinstance(value, str):
            self.fail(key, value, "expected a string")
            return str(SETTINGS_BY_KEY[key].default)
        if choices is not None and value not in choices:
            self.fail(key, value, f"allowed: {', '.join(choices)}")
        return value

    def integer(self, key: str, low: int | None = None, high: int | None = None,
                choices: tuple[int, ...] | None = None) -> int:
        value = self._raw(key)
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
        except ValueError:
            self.fail(key, value, f"expected a whole number{_range_text(low, high, choices)}")
            return int(SETTINGS_BY_KEY[key].default)
        if choices is not None and number not in choices:
            self.fail(key, number, f"allowed: {', '.join(map(str, choices))}")
        elif (low is not None and number < low) or (high is not None and number > high):
            self.fail(key, number, f"allowed: {low} to {high}")
        else:
            return number
        return int(SETTINGS_BY_KEY[key].default)  # keeps later checks from repeating this problem

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        self.fail(key, value, "allowed: true, false")
        return bool(SETTINGS_BY_KEY[key].default)

    def string_list(self, key: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._raw(key)
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except json.JSONDecodeError:
                self.fail(key, value, "expected a list of strings")
                return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, value, "expected a list of strings")
            return ()
        if choices is not None:
            for item in value:
                if item not in choices:
                    self.fail(key, item, f"allowed items: {', '.join(choices)}")
        if len(set(value)) != len(value):
            self.fail(key, value, "items must not repeat")
            return ()
        return tuple(value)

    def capacity(self, key: str, low: float) -> float:
        value = self._raw(key)
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or number < Decimal(str(low)) or number > 256 or number % Decimal("0.5") != 0:
            self.fail(key, value, f"allowed: {low:g} to 256 ACUs in steps of 0.5")
            return float(SETTINGS_BY_KEY[key].default)
        return float(number)

    def object(self, key: str) -> dict | None:
        value = self._raw(key)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                self.fail(key, value, "expected an object")
                return None
        if not isinstance(value, dict):
            self.fail(key, value, "expected an object")
            return None
        return value


def _range_text(low, high, choices) -> str:
    if choices is not None:
        return f"; allowed: {', '.join(map(str, choices))}"
    if low is not None and high is not None:
        return f"; allowed: {low} to {high}"
    return ""


def _check_unknown_keys(r: _Reader) -> None:
    prefix = f"{PROJECT}:"
    for full_key in r.raw:
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        if key not in SETTINGS_BY_KEY:
            close = difflib.get_close_matches(key, SETTINGS_BY_KEY, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            r.problems.append(f"{full_key}: unknown setting; {hint}see the settings table in README.md")


def _check_cidr(r: _Reader, key: str, value: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        r.fail(key, value, "expected an IPv4 network in CIDR form such as 10.0.0.0/16 (host bits zero), prefix /16 to /20")
        return None
    if not 16 <= network.prefixlen <= 20:
        r.fail(key, value, f"prefix /{network.prefixlen} not allowed: /16 to /20")
        return None
    return network


MAX_EXTRA_NACL_CIDRS = 10  # a NACL holds 20 rules per direction by default; the VPC takes one


def _extra_nacl_cidrs(r: _Reader, vpc: ipaddress.IPv4Network | None) -> tuple[str, ...]:
    """``databaseNaclExtraCidrs``: networks outside the VPC whose security groups the database admits."""
    key = "databaseNaclExtraCidrs"
    cidrs = r.string_list(key)
    if len(cidrs) > MAX_EXTRA_NACL_CIDRS:
        r.fail(key, list(cidrs), f"{len(cidrs)} CIDRs; allowed: at most {MAX_EXTRA_NACL_CIDRS}")
        return ()
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            r.fail(key, cidr, "expected IPv4 networks in CIDR form such as 10.50.0.0/16 (host bits zero)")
            return ()
        if network.prefixlen < 8:
            r.fail(key, cidr, f"prefix /{network.prefixlen} too wide: allowed /8 to /32, not the whole internet")
            return ()
        if vpc is not None and network.overlaps(vpc):
            r.fail(key, cidr, f"overlaps the VPC {vpc}, which is always admitted; list networks outside it")
            return ()
    return cidrs


def _zones(r: _Reader, key: str, region: str, az_count: int, explicit: tuple[str, ...]) -> tuple[str, ...]:
    if explicit:
        bad = [z for z in explicit if not re.fullmatch(re.escape(region) + r"[a-z]", z)]
        if bad:
            r.fail(key, list(explicit), f"zone names must be {region} followed by a letter, e.g. {region}a")
        elif len(set(explicit)) != len(explicit):
            r.fail(key, list(explicit), "each zone at most once")
        elif not 2 <= len(explicit) <= 6:
            r.fail(key, list(explicit), f"{len(explicit)} zones; allowed: 2 to 6")
        else:
            return explicit
        return ()
    offered = REGION_AZS.get(region)
    if offered is None:
        r.fail(key, [], f"region {region} is not in the built-in zone table; list its zones in availabilityZones "
                        f"(known regions: {', '.join(sorted(REGION_AZS))})")
        return ()
    if az_count > len(offered):
        r.fail("azCount", az_count, f"region {region} offers {len(offered)} availability zones: 2 to {len(offered)}")
        return tuple(region + s for s in offered)
    return tuple(region + s for s in offered[:az_count])


_TIME = r"([01]\d|2[0-3]):([0-5]\d)"


def _backup_window_minutes(r: _Reader, key: str, value: str) -> tuple[int, int] | None:
    m = re.fullmatch(f"{_TIME}-{_TIME}", value)
    if not m:
        r.fail(key, value, "expected hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00")
        return None
    start = int(m[1]) * 60 + int(m[2])
    end = int(m[3]) * 60 + int(m[4])
    if (end - start) % 1440 < 30:
        r.fail(key, value, "the window must last at least 30 minutes")
        return None
    return start, end


def _maintenance_window_minutes(r: _Reader, key: str, value: str) -> tuple[int, int] | None:
    days = "|".join(DAYS)
    m = re.fullmatch(f"({days}):{_TIME}-({days}):{_TIME}", value)
    if not m:
        r.fail(key, value, "expected ddd:hh24:mi-ddd:hh24:mi in UTC with ddd one of mon..sun, e.g. sun:05:00-sun:06:00")
        return None
    start = DAYS.index(m[1]) * 1440 + int(m[2]) * 60 + int(m[3])
    end = DAYS.index(m[4]) * 1440 + int(m[5]) * 60 + int(m[6])
    if (end - start) % (7 * 1440) < 30:
        r.fail(key, value, "the window must last at least 30 minutes")
        return None
    return start, end


def _windows_overlap(backup: tuple[int, int], maintenance: tuple[int, int]) -> bool:
    week = 7 * 1440

    def minutes(start: int, end: int, period: int) -> set[int]:
        length = (end - start) % period
        return {(start + i) % period for i in range(length)}

    maint = minutes(*maintenance, week)
    daily = minutes(*backup, 1440)
    return any((m % 1440) in daily for m in maint)


def _check_instance_class(r: _Reader, key: str, engine: str, value: str) -> None:
    if value == SERVERLESS_CLASS:
        return
    family, _, size = value.rpartition(".")
    offered = INSTANCE_CLASSES.get(engine, {})
    if not value.startswith("db.") or family not in offered or size not in offered[family]:
        families = ", ".join(f"{f}.{{{','.join(s)}}}" for f, s in offered.items())
        r.fail(key, value, f"not an Aurora class for {engine}; allowed: {SERVERLESS_CLASS} or {families}")


def _write_forwarding_supported(engine: str, version: str) -> bool:
    if engine == "aurora-mysql":
        m = MYSQL_VERSION_RE.match(version)
        return m is not None and int(m[1]) >= 4
    m = POSTGRES_VERSION_RE.match(version)
    if not m:
        return False
    min_minor = _PG_WRITE_FORWARDING_MIN_MINOR.get(int(m[1]))
    return min_minor is not None and int(m[2]) >= min_minor


# RDS Data API on Aurora provisioned and Serverless v2 clusters: Aurora PostgreSQL 13.11+, 14.8+,
# 15.3+, 16.1+, 17.4+ (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.Aurora_Fea_Regions_DB-eng.Feature.Data_API.html;
# a few regions lack it); Aurora MySQL 3.07+ (not confirmed there, see README).
_PG_DATA_API_MIN_MINOR = {13: 11, 14: 8, 15: 3, 16: 1, 17: 4}
_MYSQL_DATA_API_MIN_MINOR = 7


def data_api_supported(engine: str, version: str, instance_class: str | None = None) -> bool:
    """Whether ``deploy bootstrap-users`` can reach a cluster of this engine version, and with this
    writer ``instance_class``, through the Data API. "Data API isn't supported on T DB instance classes"
    (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html)."""
    if instance_class is not None and _burstable(instance_class):
        return False
    if engine == "aurora-mysql":
        m = MYSQL_VERSION_RE.match(version)
        return m is not None and int(m[1]) >= _MYSQL_DATA_API_MIN_MINOR
    m = POSTGRES_VERSION_RE.match(version)
    return m is not None and int(m[2]) >= _PG_DATA_API_MIN_MINOR.get(int(m[1]), 10**6)


def parse_settings(raw: Mapping[str, Any], stack: str) -> Settings:
    """Validate the raw config map (keys ``aurora-platform:<key>`` and ``aws:region``)."""
    r = _Reader(raw)
    _check_unknown_keys(r)

    primary_region = raw.get(REGION_KEY)
    if not isinstance(primary_region, str) or not REGION_RE.match(primary_region):
        r.fail(REGION_KEY, primary_region, "set the primary AWS region, e.g. us-east-1")
        primary_region = "us-east-1"

    production = r.boolean("production")
    protect = r.boolean("protectResources")
    kms_window = r.integer("kmsDeletionWindowDays", 7, 30)
    log_retention = r.integer("logRetentionDays", choices=LOG_RETENTION_DAYS)

    # network
    vpc_cidr = r.string("vpcCidr")
    primary_net = _check_cidr(r, "vpcCidr", vpc_cidr)
    az_count = r.integer("azCount", 2, 6)
    explicit_azs = r.string_list("availabilityZones")
    zones = _zones(r, "availabilityZones", primary_region, az_count, explicit_azs)
    network = NetworkSettings(
        vpc_cidr=vpc_cidr,
        availability_zones=zones,
        nat_strategy=r.string("natStrategy", NAT_STRATEGIES),
        flow_logs=r.boolean("flowLogs"),
        interface_endpoints=r.string_list("interfaceEndpoints", INTERFACE_ENDPOINTS),
        database_nacl_extra_cidrs=_extra_nacl_cidrs(r, primary_net),
    )

    # database
    engine = r.string("engine", ENGINES)
    version = r.string("engineVersion")
    upgrade_target = r.string("engineUpgradeTarget")
    if engine in ENGINES:
        pattern = engine_version_pattern(engine)
        if not pattern.match(version):
            r.fail("engineVersion", version, f"not a {engine} version; expected {ENGINE_VERSION_HELP[engine]}")
        elif upgrade_target and not pattern.match(upgrade_target):
            r.fail("engineUpgradeTarget", upgrade_target,
                   f"not a {engine} version; expected {ENGINE_VERSION_HELP[engine]}, or empty")
        elif upgrade_target and engine_version_key(engine, upgrade_target) <= engine_version_key(engine, version):
            r.fail("engineUpgradeTarget", upgrade_target,
                   f"must be newer than engineVersion ({version}); clear it once engineVersion records the upgrade")
    snapshot = r.string("preUpgradeSnapshot")
    if snapshot and not re.fullmatch(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)", snapshot):
        r.fail("preUpgradeSnapshot", snapshot, "a DB cluster snapshot identifier: 1-255 letters, digits or hyphens, "
                                               "starting with a letter, no two hyphens in a row, not ending in one")
    db_name = r.string("databaseName")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", db_name):
        r.fail("databaseName", db_name, "1-63 letters, digits or underscores, starting with a letter")
    username = r.string("masterUsername")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", username):
        r.fail("masterUsername", username, "1-16 letters, digits or underscores, starting with a letter")
    elif username.lower() in RESERVED_USERNAMES:
        r.fail("masterUsername", username, f"a well-known default name; choose another (not {', '.join(RESERVED_USERNAMES)})")
    instance_class = r.string("instanceClass")
    if engine in ENGINES:
        _check_instance_class(r, "instanceClass", engine, instance_class)
    reader_count = r.integer("readerCount", 0, 15)
    reader_class = r.string("readerInstanceClass") or instance_class
    if raw.get(_q("readerInstanceClass")) and engine in ENGINES:
        _check_instance_class(r, "readerInstanceClass", engine, reader_class)
    sv_min = r.capacity("serverlessMinCapacity", 0)
    sv_max = r.capacity("serverlessMaxCapacity", 1)
    if sv_min > sv_max:
        r.fail("serverlessMinCapacity", raw.get(_q("serverlessMinCapacity")), f"must not exceed serverlessMaxCapacity ({sv_max:g})")
    backup_window = r.string("preferredBackupWindow")
    maintenance_window = r.string("preferredMaintenanceWindow")
    backup_minutes = _backup_window_minutes(r, "preferredBackupWindow", backup_window)
    maintenance_minutes = _maintenance_window_minutes(r, "preferredMaintenanceWindow", maintenance_window)
    if backup_minutes and maintenance_minutes and _windows_overlap(backup_minutes, maintenance_minutes):
        r.fail("preferredMaintenanceWindow", maintenance_window,
               f"overlaps the backup window {backup_window}; choose times that do not overlap")
    backtrack = r.integer("backtrackWindowHours", 0, 72)
    if backtrack and engine == "aurora-postgresql":
        r.fail("backtrackWindowHours", backtrack, "backtrack is an Aurora MySQL feature; allowed for aurora-postgresql: 0")
    auto_scaling = r.boolean("readerAutoScaling")
    auto_max = r.integer("readerAutoScalingMaxReaders", 1, 15)
    if auto_scaling and reader_count == 0:
        r.fail("readerAutoScaling", True, "needs readerCount of at least 1 (auto scaling keeps that many readers as its minimum)")
    elif auto_scaling and auto_max < reader_count:
        r.fail("readerAutoScalingMaxReaders", auto_max, f"allowed: readerCount ({reader_count}) to 15")
    sg_ids = r.string_list("allowedSecurityGroupIds")
    for sg in sg_ids:
        if not re.fullmatch(r"sg-[0-9a-f]{8}([0-9a-f]{9})?", sg):
            r.fail("allowedSecurityGroupIds", sg, "expected security group ids such as sg-0123456789abcdef0 (CIDR ranges are never admitted)")
    database = DatabaseSettings(
        engine=engine,
        engine_version=version,
        database_name=db_name,
        master_username=username,
        instance_class=instance_class,
        reader_count=reader_count,
        reader_instance_class=reader_class,
        serverless_min_capacity=sv_min,
        serverless_max_capacity=sv_max,
        storage_type=r.string("storageType", STORAGE_TYPES),
        backup_retention_days=r.integer("backupRetentionDays", 1, 35),
        preferred_backup_window=backup_window,
        preferred_maintenance_window=maintenance_window,
        deletion_protection=r.boolean("deletionProtection"),
        skip_final_snapshot=r.boolean("skipFinalSnapshot"),
        iam_authentication=r.boolean("iamAuthentication"),
        performance_insights=r.boolean("performanceInsights"),
        performance_insights_retention_days=r.integer("performanceInsightsRetentionDays", choices=PI_RETENTION_DAYS),
        monitoring_interval=r.integer("monitoringInterval", choices=MONITORING_INTERVALS),
        backtrack_window_hours=backtrack,
        reader_auto_scaling=auto_scaling,
        reader_auto_scaling_max_readers=auto_max,
        reader_auto_scaling_cpu_target=r.integer("readerAutoScalingCpuTarget", 10, 90),
        allowed_security_group_ids=sg_ids,
        apply_immediately=r.boolean("applyImmediately"),
        engine_upgrade_target=upgrade_target,
        pre_upgrade_snapshot=snapshot,
    )

    if production:
        for key, value, required in (
            ("deletionProtection", database.deletion_protection, True),
            ("skipFinalSnapshot", database.skip_final_snapshot, False),
            ("protectResources", protect, True),
        ):
            if value != required:
                r.fail(key, value, f"allowed in a production stack (production: true): {str(required).lower()}")

    # fleet
    fleet_type = r.string("fleetInstanceType")
    if not re.fullmatch(r"[a-z][a-z0-9]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal(-\d+xl)?)", fleet_type):
        r.fail("fleetInstanceType", fleet_type, "expected an EC2 instance type such as t4g.small, m7g.large or m7i.xlarge")
    fleet_min = r.integer("fleetMinSize", 0, 100)
    fleet_desired = r.integer("fleetDesiredCapacity", 0, 100)
    fleet_max = r.integer("fleetMaxSize", 0, 100)
    if not fleet_min <= fleet_desired <= fleet_max:
        r.fail("fleetDesiredCapacity", fleet_desired,
               f"needs fleetMinSize <= fleetDesiredCapacity <= fleetMaxSize; got {fleet_min} <= {fleet_desired} <= {fleet_max}")
    fleet = FleetSettings(
        enabled=r.boolean("fleetEnabled"),
        instance_type=fleet_type,
        min_size=fleet_min,
        desired_capacity=fleet_desired,
        max_size=fleet_max,
        cpu_target=r.integer("fleetCpuTarget", 10, 90),
        min_healthy_percentage=r.integer("fleetMinHealthyPercentage", 0, 100),
        health_check_grace_period=r.integer("fleetHealthCheckGracePeriod", 0, 7200),
        metadata_hop_limit=r.integer("fleetMetadataHopLimit", 1, 64),
        root_volume_gib=r.integer("fleetRootVolumeGiB", 8, 16384),
        capacity_rebalance=r.boolean("fleetCapacityRebalance"),
    )

    # monitoring
    email = r.string("alarmEmail")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        r.fail("alarmEmail", email, "expected an e-mail address, or empty for no subscription")
    monitoring = MonitoringSettings(
        alarm_email=email,
        cpu_percent=r.integer("alarmCpuPercent", 1, 100),
        freeable_memory_mib=r.integer("alarmFreeableMemoryMiB", 1, 1_000_000),
        max_connections=r.integer("alarmMaxConnections", 1, 1_000_000),
        replica_lag_ms=r.integer("alarmReplicaLagMs", 1, 3_600_000),
        global_replication_lag_ms=r.integer("alarmGlobalReplicationLagMs", 1, 3_600_000),
        deadlocks_per_second=r.integer("alarmDeadlocksPerSecond", 1, 1_000_000),
    )

    global_db = _parse_global(r, primary_region, primary_net, database, az_count)
    backup = _parse_backup(r, primary_region, global_db, production)
    access = _parse_access(r, database, global_db)

    if r.problems:
        raise SettingsError(r.problems)

    warnings = []
    writer_gib, reader_gib = instance_memory_gib(instance_class), instance_memory_gib(reader_class)
    if reader_count and writer_gib and reader_gib and reader_gib < writer_gib:
        warnings.append(f"{_q('readerInstanceClass')} = {reader_class!r} is smaller than the writer class "
                        f"{instance_class!r}: a failover to a reader lowers capacity")
    if (production and database.engine_upgrade_target and not database.pre_upgrade_snapshot
            and parameter_group_family(engine, database.engine_upgrade_target) != parameter_group_family(engine, version)):
        warnings.append(f"{_q('engineUpgradeTarget')} = {database.engine_upgrade_target!r} prepares a major upgrade of a "
                        f"production stack, and {_q('preUpgradeSnapshot')} records no fresh snapshot: take one with "
                        f"`python -m deploy upgrade --stack {stack} --engine-version {database.engine_upgrade_target} "
                        f"--snapshot` (it refuses a production major upgrade without one)")
    if not production and database.deletion_protection is False:
        warnings.append(f"{_q('deletionProtection')} is false: the cluster can be deleted by a single `pulumi destroy`")

    return Settings(
        stack=stack,
        primary_region=primary_region,
        production=production,
        protect_resources=protect,
        kms_deletion_window_days=kms_window,
        log_retention_days=log_retention,
        network=network,
        database=database,
        fleet=fleet,
        monitoring=monitoring,
        global_database=global_db,
        backup=backup,
        access=access,
        warnings=tuple(warnings),
    )


# An Aurora global database needs memory-optimised classes (or Serverless v2), never burstable ones.
GLOBAL_CLASS_HELP = "a global database needs memory-optimised classes (db.r*, db.x2g) or db.serverless, not burstable db.t*"


def _burstable(instance_class: str) -> bool:
    return instance_class.startswith("db.t")


_SECONDARY_FIELDS = ("region", "vpcCidr", "instances", "instanceClass", "azCount", "availabilityZones",
                     "standbyFleetDesiredCapacity")
_GLOBAL_FIELDS = ("writerRegion", "writeForwarding", "secondaryRegions")


def _parse_global(r: _Reader, primary_region: str, primary_net, database: DatabaseSettings,
                  default_az_count: int) -> GlobalDatabaseSettings | None:
    value = r.object("globalDatabase")
    if value is None:
        return None
    key = "globalDatabase"
    for unknown in sorted(set(value) - set(_GLOBAL_FIELDS)):
        r.fail(f"{key}.{unknown}", value[unknown], f"unknown field; allowed: {', '.join(_GLOBAL_FIELDS)}")
    if database.backtrack_window_hours:
        r.fail("backtrackWindowHours", database.backtrack_window_hours,
               "backtrack is not supported with Aurora Global Database; allowed with globalDatabase: 0")
    for class_key, instance_class in (("instanceClass", database.instance_class),
                                      ("readerInstanceClass", database.reader_instance_class)):
        if _burstable(instance_class):
            r.fail(class_key, instance_class, GLOBAL_CLASS_HELP)
    write_forwarding = value.get("writeForwarding", False)
    if not isinstance(write_forwarding, bool):
        r.fail(f"{key}.writeForwarding", write_forwarding, "allowed: true, false")
        write_forwarding = False
    elif write_forwarding and not _write_forwarding_supported(database.engine, database.engine_version):
        r.fail(f"{key}.writeForwarding", True,
               f"{database.engine} {database.engine_version} has no global write forwarding; "
               "needs aurora-mysql 3.04+ or aurora-postgresql 14.13+, 15.8+, 16.4+ or 17")

    entries = value.get("secondaryRegions", [])
    if not isinstance(entries, list):
        r.fail(f"{key}.secondaryRegions", entries, "expected a list of {region, vpcCidr, instances}")
        entries = []
    if len(entries) > MAX_SECONDARY_REGIONS:
        r.fail(f"{key}.secondaryRegions", [e.get("region") if isinstance(e, dict) else e for e in entries],
               f"{len(entries)} secondary regions; allowed: 0 to {MAX_SECONDARY_REGIONS} (a global database has at most 6 regions)")

    networks = [(primary_region, primary_net)] if primary_net else []
    seen: set[str] = set()
    secondaries = []
    for i, entry in enumerate(entries):
        at = f"{key}.secondaryRegions[{i}]"
        if not isinstance(entry, dict):
            r.fail(at, entry, "expected an object {region, vpcCidr, instances}")
            continue
        for unknown in sorted(set(entry) - set(_SECONDARY_FIELDS)):
            r.fail(f"{at}.{unknown}", entry[unknown], f"unknown field; allowed: {', '.join(_SECONDARY_FIELDS)}")
        region = entry.get("region")
        if not isinstance(region, str) or not REGION_RE.match(region):
            r.fail(f"{at}.region", region, "expected an AWS region name such as us-west-2")
            continue
        if region == primary_region:
            r.fail(f"{at}.region", region, "equals the primary region (aws:region); a secondary must be another region")
            continue
        if region in seen:
            r.fail(f"{at}.region", region, "listed twice; each secondary region appears once")
            continue
        seen.add(region)
        cidr = entry.get("vpcCidr")
        net = _check_cidr(r, f"{at}.vpcCidr", cidr) if isinstance(cidr, str) else None
        if not isinstance(cidr, str):
            r.fail(f"{at}.vpcCidr", cidr, "required: the VPC CIDR of this region, /16 to /20, not overlapping the others")
        if net:
            for other_region, other in networks:
                if net.overlaps(other):
                    r.fail(f"{at}.vpcCidr", cidr, f"overlaps {other} of {other_region}; VPC CIDRs of a global database must not overlap")
            networks.append((region, net))
        count = entry.get("instances", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 16:
            r.fail(f"{at}.instances", count, "allowed: 0 (headless) to 16")
            count = 0
        instance_class = entry.get("instanceClass", database.instance_class)
        if not isinstance(instance_class, str):
            r.fail(f"{at}.instanceClass", instance_class, "expected an Aurora instance class such as db.r7g.large")
        elif database.engine in ENGINES:
            _check_instance_class(r, f"{at}.instanceClass", database.engine, instance_class)
            if _burstable(instance_class) and "instanceClass" in entry:
                r.fail(f"{at}.instanceClass", instance_class, GLOBAL_CLASS_HELP)
        az_count = entry.get("azCount", default_az_count)
        if not isinstance(az_count, int) or isinstance(az_count, bool) or not 2 <= az_count <= 6:
            r.fail(f"{at}.azCount", az_count, "allowed: 2 to 6")
            az_count = 2
        explicit = entry.get("availabilityZones", [])
        if not isinstance(explicit, list) or not all(isinstance(z, str) for z in explicit):
            r.fail(f"{at}.availabilityZones", explicit, "expected a list of zone names")
            explicit = []
        zones = _zones(r, f"{at}.availabilityZones", region, az_count, tuple(explicit))
        standby = entry.get("standbyFleetDesiredCapacity", 0)
        if not isinstance(standby, int) or isinstance(standby, bool) or not 0 <= standby <= 100:
            r.fail(f"{at}.standbyFleetDesiredCapacity", standby, "allowed: 0 to 100")
            standby = 0
        secondaries.append(SecondaryRegionSettings(
            region=region, vpc_cidr=cidr if isinstance(cidr, str) else "", availability_zones=zones,
            instance_count=count, instance_class=instance_class if isinstance(instance_class, str) else "",
            standby_fleet_desired_capacity=standby,
        ))

    writer_region = value.get("writerRegion", primary_region)
    members = [primary_region] + [s.region for s in secondaries]
    if writer_region not in members:
        r.fail(f"{key}.writerRegion", writer_region, f"must be a member region: {', '.join(members)}")
    else:
        writer_secondary = next((s for s in secondaries if s.region == writer_region), None)
        if writer_secondary is not None and writer_secondary.instance_count == 0:
            r.fail(f"{key}.writerRegion", writer_region, "is a headless secondary (instances: 0); a writer region needs instances")
    return GlobalDatabaseSettings(writer_region=writer_region, write_forwarding=write_forwarding,
                                  secondary_regions=tuple(secondaries))


# RDS Proxy with write forwarding: AWS asks to lower the proxy's MaxConnectionsPercent by the
# quota write forwarding holds on the writer (aurora_fwd_writer_max_connections_pct), see
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-gdb.html. The program
# leaves that parameter at its default, which this bound assumes to be 10 percent.
WRITE_FORWARDING_CONNECTIONS_PCT = 10
# Database user names for IAM authentication: a portable PostgreSQL and MySQL identifier that
# needs no quoting (MySQL 8.0 user names are at most 32 characters).
APPLICATION_USER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
RESERVED_DATABASE_USERS = RESERVED_USERNAMES + ("rds_iam", "rds_superuser", "rdsproxyadmin", "public")
ROLE_ARN_RE = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def _parse_access(r: _Reader, database: DatabaseSettings, global_db: GlobalDatabaseSettings | None) -> AccessSettings:
    proxy = r.boolean("proxyEnabled")
    max_connections = r.integer("proxyMaxConnectionsPercent", 1, 100)
    if proxy and global_db and global_db.write_forwarding and max_connections > 100 - WRITE_FORWARDING_CONNECTIONS_PCT:
        r.fail("proxyMaxConnectionsPercent", max_connections,
               f"with globalDatabase.writeForwarding the proxy must leave the writer's write forwarding quota "
               f"(aurora_fwd_writer_max_connections_pct, {WRITE_FORWARDING_CONNECTIONS_PCT}%) free; allowed: 1 to "
               f"{100 - WRITE_FORWARDING_CONNECTIONS_PCT}")
    max_idle = r.integer("proxyMaxIdleConnectionsPercent", 0, 100)
    if max_idle > max_connections:
        r.fail("proxyMaxIdleConnectionsPercent", max_idle, f"allowed: 0 to proxyMaxConnectionsPercent ({max_connections})")
    users = r.string_list("applicationUsers")
    if not users:
        r.fail("applicationUsers", list(users), "list at least one database user for the applications, e.g. [\"app\"]")
    for user in users:
        if not APPLICATION_USER_RE.fullmatch(user):
            r.fail("applicationUsers", user, "1-32 letters, digits or underscores, starting with a letter")
        elif user.lower() == database.master_username.lower():
            r.fail("applicationUsers", user, "is the master user; applications get users of their own")
        elif user.lower() in RESERVED_DATABASE_USERS:
            r.fail("applicationUsers", user, f"a reserved or well-known name; not one of {', '.join(RESERVED_DATABASE_USERS)}")
    password = r.raw.get(_q("masterPassword")) or ""
    if not isinstance(password, str):
        r.problems.append(f"{_q('masterPassword')}: expected a string (set it with `python -m deploy rotate-password`)")
        password = ""
    elif password and global_db is None:
        r.problems.append(f"{_q('masterPassword')}: set, but the stack has no globalDatabase; a regional cluster's "
                          "password is the RDS-managed secret's (masterPasswordRotationDays). Remove it")
    elif password and not (8 <= len(password) <= 99 and all(c.isalnum() or c in MASTER_PASSWORD_SPECIALS for c in password)):
        # The value is a secret: the message never shows it.
        r.problems.append(f"{_q('masterPassword')}: (secret, not shown) must be 8-99 characters of letters, digits "
                          "and !#$%^&*()-_=+[]{}<>:? (RDS refuses '/', '@', '\"' and spaces)")
    roles = r.string_list("operatorRoleArns")
    for role in roles:
        if not ROLE_ARN_RE.fullmatch(role):
            r.fail("operatorRoleArns", role, "expected an IAM role ARN such as arn:aws:iam::123456789012:role/dba-break-glass")
    return AccessSettings(
        proxy_enabled=proxy,
        proxy_idle_client_timeout=r.integer("proxyIdleClientTimeout", 1, 28800),
        proxy_max_connections_percent=max_connections,
        proxy_max_idle_connections_percent=max_idle,
        proxy_connection_borrow_timeout=r.integer("proxyConnectionBorrowTimeout", 0, 300),
        fleet_direct_database_access=r.boolean("fleetDirectDatabaseAccess"),
        application_users=users,
        operator_role_arns=roles,
        master_password_rotation_days=r.integer("masterPasswordRotationDays", 1, 1000),
        master_password=password,
    )


# AWS Backup limits. Snapshot retention: up to 100 years (36500 days), the longest vault lock
# maximum ("The longest maximum retention period you can specify is 36500 days"; "The shortest
# minimum retention period you can specify is 1 day": PutBackupVaultLockConfiguration in the
# botocore service model backup/2018-11-15). Continuous backups: 1 to 35 days
# (https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery-retention-period.html).
# A vault lock's ChangeableForDays must be 3 or more: AWS enforces a 72-hour cooling-off period
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-backup-backupvault-lockconfigurationtype.html).
BACKUP_MAX_RETENTION_DAYS = 36500
CONTINUOUS_MAX_RETENTION_DAYS = 35
VAULT_LOCK_MIN_CHANGEABLE_DAYS = 3


def _parse_backup(r: _Reader, primary_region: str, global_db: GlobalDatabaseSettings | None,
                  production: bool) -> BackupSettings:
    enabled = r.boolean("backupPlan")
    daily = r.integer("backupDailyRetentionDays", 1, BACKUP_MAX_RETENTION_DAYS)
    continuous = r.boolean("backupContinuous")
    continuous_days = r.integer("backupContinuousRetentionDays", 1, CONTINUOUS_MAX_RETENTION_DAYS)
    copy_days = r.integer("backupCopyRetentionDays", 1, BACKUP_MAX_RETENTION_DAYS)
    lock = r.boolean("backupVaultLock")
    lock_min = r.integer("backupVaultLockMinRetentionDays", 1, BACKUP_MAX_RETENTION_DAYS)
    lock_max = r.integer("backupVaultLockMaxRetentionDays", 1, BACKUP_MAX_RETENTION_DAYS)
    changeable = r.integer("backupVaultLockChangeableDays", 0, BACKUP_MAX_RETENTION_DAYS)
    restore_testing = r.boolean("backupRestoreTesting")
    if 0 < changeable < VAULT_LOCK_MIN_CHANGEABLE_DAYS:
        r.fail("backupVaultLockChangeableDays", changeable,
               f"allowed: 0 (governance mode) or {VAULT_LOCK_MIN_CHANGEABLE_DAYS} to {BACKUP_MAX_RETENTION_DAYS} "
               "(AWS enforces a 72-hour cooling-off period before a vault lock becomes immutable)")

    copy_region = r.string("backupCopyRegion")
    if copy_region and not REGION_RE.match(copy_region):
        r.fail("backupCopyRegion", copy_region, "expected an AWS region name such as us-west-2, or empty")
        copy_region = ""
    elif copy_region == primary_region:
        r.fail("backupCopyRegion", copy_region,
               "equals the primary region (aws:region); copies must go to another region to survive its loss")
        copy_region = ""
    elif not copy_region and global_db and global_db.secondary_regions:
        copy_region = global_db.secondary_regions[0].region

    if enabled and lock:
        if lock_min > lock_max:
            r.fail("backupVaultLockMinRetentionDays", lock_min,
                   f"must not exceed backupVaultLockMaxRetentionDays ({lock_max})")
        else:
            # A locked vault fails every backup or copy job whose retention lies outside [min, max].
            rules = [("backupDailyRetentionDays", daily)]
            if continuous:
                rules.append(("backupContinuousRetentionDays", continuous_days))
            if copy_region:
                rules.append(("backupCopyRetentionDays", copy_days))
            for key, days in rules:
                if not lock_min <= days <= lock_max:
                    r.fail(key, days, f"the vault lock admits retentions of {lock_min} to {lock_max} days "
                                      "(backupVaultLockMinRetentionDays to backupVaultLockMaxRetentionDays); "
                                      "AWS Backup fails jobs outside them")

    if production:
        for key, value in (("backupPlan", enabled), ("backupVaultLock", lock)):
            if not value:
                r.fail(key, value, "allowed in a production stack (production: true): true")
        if enabled and not copy_region:
            r.fail("backupCopyRegion", "", "a production stack copies its backups to another region: "
                                           "set a region other than aws:region")
    return BackupSettings(
        enabled=enabled, daily_retention_days=daily, continuous=continuous,
        continuous_retention_days=continuous_days, copy_region=copy_region, copy_retention_days=copy_days,
        vault_lock=lock, vault_lock_min_retention_days=lock_min, vault_lock_max_retention_days=lock_max,
        vault_lock_changeable_days=changeable, restore_testing=restore_testing,
    )


def raw_config_from_runtime() -> dict[str, Any]:
    """The config map the engine gave this program run (stack file plus Pulumi.yaml defaults)."""
    from pulumi.runtime import config as runtime_config

    raw = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    return raw


def load_settings() -> Settings:
    """Settings of the running Pulumi program; raises SettingsError before any resource exists."""
    return parse_settings(raw_config_from_runtime(), pulumi.get_stack())


"""Static AWS facts the settings are validated against offline (no AWS call before any resource),
and that the components and the deploy driver share. Importable without Pulumi.

Extend a table here when AWS adds an engine version, an instance class or a region.
"""

from __future__ import annotations

import re

# --- engines -------------------------------------------------------------------------------------

ENGINES = ("aurora-postgresql", "aurora-mysql")
ENGINE_PORTS = {"aurora-postgresql": 5432, "aurora-mysql": 3306}
ENGINE_LOG_EXPORTS = {
    "aurora-postgresql": ("postgresql",),
    "aurora-mysql": ("audit", "error", "general", "slowquery"),
}
# Aurora PostgreSQL majors still offered (13-17); Aurora MySQL 3 (MySQL 8.0 compatible).
# ASCII digits only, anchored at both ends: a trailing newline or another script's digits never pass.
POSTGRES_VERSION_RE = re.compile(r"\A(1[3-7])\.([0-9]+)\Z", re.ASCII)
MYSQL_VERSION_RE = re.compile(r"\A8\.0\.mysql_aurora\.3\.([0-9]{2})\.([0-9]+)\Z", re.ASCII)
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


# Write forwarding for global secondaries: Aurora MySQL 3.04+, Aurora PostgreSQL 14.13+/15.8+/16.4+/17.
_PG_WRITE_FORWARDING_MIN_MINOR = {13: None, 14: 13, 15: 8, 16: 4, 17: 0}
_MYSQL_WRITE_FORWARDING_MIN_MINOR = 4


def write_forwarding_supported(engine: str, version: str) -> bool:
    if engine == "aurora-mysql":
        m = MYSQL_VERSION_RE.match(version)
        return m is not None and int(m[1]) >= _MYSQL_WRITE_FORWARDING_MIN_MINOR
    m = POSTGRES_VERSION_RE.match(version)
    if not m:
        return False
    min_minor = _PG_WRITE_FORWARDING_MIN_MINOR.get(int(m[1]))
    return min_minor is not None and int(m[2]) >= min_minor


# RDS Data API on Aurora provisioned and Serverless v2 clusters: Aurora PostgreSQL 13.11+, 14.8+,
# 15.3+, 16.1+, 17.4+ (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.Aurora_Fea_Regions_DB-eng.Feature.Data_API.html;
# a few regions lack it); Aurora MySQL 3.07+ (not confirmed there, see docs/connecting.md).
_PG_DATA_API_MIN_MINOR = {13: 11, 14: 8, 15: 3, 16: 1, 17: 4}
_MYSQL_DATA_API_MIN_MINOR = 7


def data_api_supported(engine: str, version: str, instance_class: str | None = None) -> bool:
    """Whether ``deploy bootstrap-users`` can reach a cluster of this engine version, and with this
    writer ``instance_class``, through the Data API. "Data API isn't supported on T DB instance classes"
    (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html)."""
    if instance_class is not None and burstable(instance_class):
        return False
    if engine == "aurora-mysql":
        m = MYSQL_VERSION_RE.match(version)
        return m is not None and int(m[1]) >= _MYSQL_DATA_API_MIN_MINOR
    m = POSTGRES_VERSION_RE.match(version)
    return m is not None and int(m[2]) >= _PG_DATA_API_MIN_MINOR.get(int(m[1]), 10**6)


# --- instance classes ----------------------------------------------------------------------------

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
# An Aurora global database needs memory-optimised classes (or Serverless v2), never burstable ones.
GLOBAL_CLASS_HELP = "a global database needs memory-optimised classes (db.r*, db.x2g) or db.serverless, not burstable db.t*"


def burstable(instance_class: str) -> bool:
    return instance_class.startswith("db.t")


def instance_memory_gib(instance_class: str) -> float | None:
    """Memory of a provisioned class (None for Serverless v2), used to compare writer and readers."""
    if instance_class == SERVERLESS_CLASS:
        return None
    family, _, size = instance_class.rpartition(".")
    factor = _SIZE_FACTOR.get(size) or float(size.removesuffix("xlarge")) * 2
    return _FAMILY_LARGE_GIB.get(family, 16) * factor


def fleet_architecture(instance_type: str) -> str:
    """EC2 architecture of an instance type: Graviton families (``…g``) and ``a1`` are arm64."""
    family = instance_type.split(".")[0]
    return "arm64" if family == "a1" or re.match(r"^[a-z]+\d+g", family) else "x86_64"


EC2_INSTANCE_TYPE_RE = re.compile(r"[a-z][a-z0-9]*\d[a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal(-\d+xl)?)")

# --- regions and network -------------------------------------------------------------------------

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
# The shape of a region name (us-east-1, us-gov-west-1, ap-southeast-4); ASCII only, matched whole
# (`fullmatch`), so a trailing newline or a Unicode digit never passes.
REGION_RE = re.compile(r"[a-z]{2}(?:-gov)?-[a-z]{1,16}-[0-9]{1,2}")
# A global database spans a primary and up to 5 secondary regions
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database.html).
MAX_SECONDARY_REGIONS = 5

NAT_STRATEGIES = ("none", "single", "per-az")
INTERFACE_ENDPOINTS = ("kms", "secretsmanager", "ssm", "ssmmessages", "ec2messages", "logs",
                       "monitoring", "sns")
MAX_EXTRA_NACL_CIDRS = 10  # a NACL holds 20 rules per direction by default; the VPC takes one
SECURITY_GROUP_ID_RE = re.compile(r"sg-[0-9a-f]{8}([0-9a-f]{9})?")

# --- the database --------------------------------------------------------------------------------

STORAGE_TYPES = ("aurora", "aurora-iopt1")
# An Aurora cluster holds up to 15 Aurora Replicas
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Replication.html).
MAX_AURORA_REPLICAS = 15
# Automated backups are kept 1 to 35 days
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Backups.html).
MAX_BACKUP_RETENTION_DAYS = 35
# Backtrack window: up to 72 hours, Aurora MySQL only
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Managing.Backtrack.html).
MAX_BACKTRACK_HOURS = 72
# Serverless v2 capacity: 0 to 256 ACUs in steps of 0.5, maximum at least 1
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html).
MAX_SERVERLESS_ACUS = 256
# MonitoringInterval and PerformanceInsightsRetentionPeriod (7, 31 * 1..23, or 731 days):
# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
PI_RETENTION_DAYS = (7,) + tuple(31 * m for m in range(1, 24)) + (731,)
# CloudWatch Logs retention values (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)
# A KMS key's deletion waiting period: 7 to 30 days
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html).
KMS_DELETION_WINDOW_DAYS = (7, 30)
RESERVED_USERNAMES = ("admin", "administrator", "postgres", "root", "rdsadmin", "rdsrepladmin",
                      "mysql", "sa", "master", "user")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SNAPSHOT_ID_RE = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)")
DATABASE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
MASTER_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")
# Database user names for IAM authentication: a portable PostgreSQL and MySQL identifier that
# needs no quoting (MySQL 8.0 user names are at most 32 characters).
APPLICATION_USER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
RESERVED_DATABASE_USERS = RESERVED_USERNAMES + ("rds_iam", "rds_superuser", "rdsproxyadmin", "rds_pgaudit", "public")
ROLE_ARN_RE = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")

# Custom endpoints (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Endpoints.Custom.html):
# up to five per cluster, of type READER (readers only) or ANY; the identifier is at most 63 letters,
# digits or hyphens, starts with a letter, has no two hyphens in a row and does not end in one (the
# DB identifier rules, stored lowercase), and no two clusters of a region may use one name.
CUSTOM_ENDPOINT_TYPES = ("READER", "ANY")
MAX_CUSTOM_ENDPOINTS = 5
CUSTOM_ENDPOINT_NAME_RE = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)")
# Reader auto scaling's predefined metrics (Application Auto Scaling, namespace rds):
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Integrating.AutoScaling.html
READER_SCALING_METRICS = {"cpu": "RDSReaderAverageCPUUtilization", "connections": "RDSReaderAverageDatabaseConnections"}
# The highest max_connections of an Aurora instance (Aurora MySQL; Aurora PostgreSQL stops at 5000):
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Managing.Performance.html
MAX_DATABASE_CONNECTIONS = 16000

# pgaudit.log's statement classes, each one optionally subtracted with "-" (https://github.com/pgaudit/pgaudit;
# AWS: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Appendix.PostgreSQL.CommonDBATasks.pgaudit.reference.html).
PGAUDIT_LOG_CLASSES = ("read", "write", "function", "role", "ddl", "misc", "misc_set", "all", "none")
# The only role pgaudit.role accepts on Aurora PostgreSQL (object audit logging).
PGAUDIT_ROLE = "rds_pgaudit"

# Length of a generated master password, and the specials it may hold: RDS refuses '/', '@', '"' and spaces.
MASTER_PASSWORD_LENGTH = 40
MASTER_PASSWORD_SPECIALS = "!#$%^&*()-_=+[]{}<>:?"
MASTER_PASSWORD_MIN_LENGTH, MASTER_PASSWORD_MAX_LENGTH = 8, 99

# RDS Proxy with write forwarding: AWS asks to lower the proxy's MaxConnectionsPercent by the
# quota write forwarding holds on the writer (aurora_fwd_writer_max_connections_pct), see
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy-gdb.html. The program
# leaves that parameter at its default, which this bound assumes to be 10 percent.
WRITE_FORWARDING_CONNECTIONS_PCT = 10

# --- AWS Backup ----------------------------------------------------------------------------------

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

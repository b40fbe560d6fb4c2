"""The rules that relate stack settings to each other, each a small named function.
``components/settings.py`` reads every declaration (type, bounds, choices), then runs ``RULES`` in order: a rule
reads ``found.values`` (by key), may replace a value it derives (the zones of ``azCount``) and reports each problem
with ``found.fail``. A failed read leaves the default, so no later rule repeats it. Then, if none failed, the
warnings of ``components/setting_warnings.py``.
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.aws_facts import (
    APPLICATION_USER_RE,
    DATABASE_NAME_RE,
    DAYS,
    EC2_INSTANCE_TYPE_RE,
    ENGINE_VERSION_HELP,
    ENGINES,
    GLOBAL_CLASS_HELP,
    INSTANCE_CLASSES,
    MASTER_PASSWORD_MAX_LENGTH,
    MASTER_PASSWORD_MIN_LENGTH,
    MASTER_PASSWORD_SPECIALS,
    MASTER_USERNAME_RE,
    MAX_AURORA_REPLICAS,
    MAX_EXTRA_NACL_CIDRS,
    MAX_SECONDARY_REGIONS,
    REGION_AZS,
    REGION_RE,
    RESERVED_DATABASE_USERS,
    RESERVED_USERNAMES,
    ROLE_ARN_RE,
    SECURITY_GROUP_ID_RE,
    SERVERLESS_CLASS,
    SNAPSHOT_ID_RE,
    VAULT_LOCK_MIN_CHANGEABLE_DAYS,
    WRITE_FORWARDING_CONNECTIONS_PCT,
    burstable,
    engine_version_key,
    engine_version_pattern,
    write_forwarding_supported,
)
from components.naming import PROJECT

REGION_KEY = "aws:region"
ALLOWED_ACCOUNTS_KEY = "aws:allowedAccountIds"


def qualified(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


class Found:
    """What the settings hold so far: the values read, what rules derived, and the problems."""

    def __init__(self, raw: Mapping[str, Any], stack: str, declarations: Mapping[str, Any]):
        self.raw, self.stack, self.declarations = raw, stack, declarations
        self.values: dict[str, Any] = {}
        self.problems: list[str] = []
        self.primary_region = "us-east-1"
        self.primary_net: ipaddress.IPv4Network | None = None
        self.global_database: dict[str, Any] | None = None  # writer_region, write_forwarding
        self.secondary_regions: list[dict[str, Any]] = []

    @property
    def writer_region(self) -> str:
        """The region of the writer (as ``Settings.writer_region`` says once the settings are whole)."""
        return self.global_database["writer_region"] if self.global_database else self.primary_region

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def given(self, key: str) -> Any:
        """The raw value of ``key`` as the stack sets it (None when unset)."""
        return self.raw.get(qualified(key))

    def fail(self, key: str, value: Any, allowed: str) -> None:
        self.problems.append(f"{qualified(key)} = {shown(value)}: {allowed}")


# --- Shared checks.

def check_cidr(found: Found, key: str, value: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except (ipaddress.AddressValueError, ipaddress.NetmaskValueError, ValueError):
        found.fail(key, value, "expected an IPv4 network in CIDR form such as 10.0.0.0/16 (host bits zero), "
                               "prefix /16 to /20")
        return None
    if not 16 <= network.prefixlen <= 20:
        found.fail(key, value, f"prefix /{network.prefixlen} not allowed: /16 to /20")
        return None
    return network


def zones(found: Found, key: str, region: str, az_count: int, explicit: tuple[str, ...]) -> tuple[str, ...]:
    """The zones of ``region``: ``explicit`` when given (checked), else the first ``az_count`` of the table."""
    if explicit:
        if [z for z in explicit if not re.fullmatch(re.escape(region) + r"[a-z]", z)]:
            found.fail(key, list(explicit), f"zone names must be {region} followed by a letter, e.g. {region}a")
        elif len(set(explicit)) != len(explicit):
            found.fail(key, list(explicit), "each zone at most once")
        elif not 2 <= len(explicit) <= 6:
            found.fail(key, list(explicit), f"{len(explicit)} zones; allowed: 2 to 6")
        else:
            return explicit
        return ()
    offered = REGION_AZS.get(region)
    if offered is None:
        found.fail(key, [], f"region {region} is not in the built-in zone table; list its zones in availabilityZones "
                            f"(known regions: {', '.join(sorted(REGION_AZS))})")
        return ()
    if az_count > len(offered):
        found.fail("azCount", az_count, f"region {region} offers {len(offered)} availability zones: 2 to {len(offered)}")
        return tuple(region + s for s in offered)
    return tuple(region + s for s in offered[:az_count])


def check_instance_class(found: Found, key: str, engine: str, value: str) -> None:
    if value == SERVERLESS_CLASS:
        return
    family, _, size = value.rpartition(".")
    offered = INSTANCE_CLASSES.get(engine, {})
    if not value.startswith("db.") or family not in offered or size not in offered[family]:
        families = ", ".join(f"{f}.{{{','.join(s)}}}" for f, s in offered.items())
        found.fail(key, value, f"not an Aurora class for {engine}; allowed: {SERVERLESS_CLASS} or {families}")


# --- The rules, in the order they run.

def unknown_keys(found: Found) -> None:
    prefix = f"{PROJECT}:"
    for full_key in found.raw:
        key = full_key[len(prefix):]
        if full_key.startswith(prefix) and key not in found.declarations:
            close = difflib.get_close_matches(key, found.declarations, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            found.problems.append(f"{full_key}: unknown setting; {hint}see the settings table in README.md")


def primary_region(found: Found) -> None:
    region = found.raw.get(REGION_KEY)
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        found.fail(REGION_KEY, region, "set the primary AWS region, e.g. us-east-1")
        return
    found.primary_region = region


def primary_network(found: Found) -> None:
    """The VPC CIDR, the zones of the primary region, and the NACL's extra networks."""
    found.primary_net = check_cidr(found, "vpcCidr", found["vpcCidr"])
    found.values["availabilityZones"] = zones(found, "availabilityZones", found.primary_region, found["azCount"],
                                              found["availabilityZones"])
    found.values["databaseNaclExtraCidrs"] = _extra_nacl_cidrs(found, found["databaseNaclExtraCidrs"])


def _extra_nacl_cidrs(found: Found, cidrs: tuple[str, ...]) -> tuple[str, ...]:
    """``databaseNaclExtraCidrs``: networks outside the VPC whose security groups the database admits."""
    key, vpc = "databaseNaclExtraCidrs", found.primary_net
    if len(cidrs) > MAX_EXTRA_NACL_CIDRS:
        found.fail(key, list(cidrs), f"{len(cidrs)} CIDRs; allowed: at most {MAX_EXTRA_NACL_CIDRS}")
        return ()
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            found.fail(key, cidr, "expected IPv4 networks in CIDR form such as 10.50.0.0/16 (host bits zero)")
            return ()
        if network.prefixlen < 8:
            found.fail(key, cidr, f"prefix /{network.prefixlen} too wide: allowed /8 to /32, not the whole internet")
            return ()
        if vpc is not None and network.overlaps(vpc):
            found.fail(key, cidr, f"overlaps the VPC {vpc}, which is always admitted; list networks outside it")
            return ()
    return cidrs


def engine_versions(found: Found) -> None:
    engine, version, target = found["engine"], found["engineVersion"], found["engineUpgradeTarget"]
    if engine not in ENGINES:
        return
    pattern = engine_version_pattern(engine)
    if not pattern.match(version):
        found.fail("engineVersion", version, f"not a {engine} version; expected {ENGINE_VERSION_HELP[engine]}")
    elif target and not pattern.match(target):
        found.fail("engineUpgradeTarget", target, f"not a {engine} version; expected {ENGINE_VERSION_HELP[engine]}, or empty")
    elif target and engine_version_key(engine, target) <= engine_version_key(engine, version):
        found.fail("engineUpgradeTarget", target,
                   f"must be newer than engineVersion ({version}); clear it once engineVersion records the upgrade")


def identifiers(found: Found) -> None:
    """The snapshot identifier, the database name and the master user name."""
    snapshot, db_name, username = found["preUpgradeSnapshot"], found["databaseName"], found["masterUsername"]
    if snapshot and not SNAPSHOT_ID_RE.fullmatch(snapshot):
        found.fail("preUpgradeSnapshot", snapshot, "a DB cluster snapshot identifier: 1-255 letters, digits or hyphens, "
                                                   "starting with a letter, no two hyphens in a row, not ending in one")
    if not DATABASE_NAME_RE.fullmatch(db_name):
        found.fail("databaseName", db_name, "1-63 letters, digits or underscores, starting with a letter")
    if not MASTER_USERNAME_RE.fullmatch(username):
        found.fail("masterUsername", username, "1-16 letters, digits or underscores, starting with a letter")
    elif username.lower() in RESERVED_USERNAMES:
        found.fail("masterUsername", username, f"a well-known default name; choose another (not {', '.join(RESERVED_USERNAMES)})")


def instance_classes(found: Found) -> None:
    """The writer's class, and the readers' (the writer's when unset)."""
    engine, writer = found["engine"], found["instanceClass"]
    if engine in ENGINES:
        check_instance_class(found, "instanceClass", engine, writer)
    found.values["readerInstanceClass"] = found["readerInstanceClass"] or writer
    if found.given("readerInstanceClass") and engine in ENGINES:
        check_instance_class(found, "readerInstanceClass", engine, found["readerInstanceClass"])


def serverless_capacity_order(found: Found) -> None:
    if found["serverlessMinCapacity"] > found["serverlessMaxCapacity"]:
        found.fail("serverlessMinCapacity", found.given("serverlessMinCapacity"),
                   f"must not exceed serverlessMaxCapacity ({found['serverlessMaxCapacity']:g})")


_TIME = r"([01]\d|2[0-3]):([0-5]\d)"


def _window(found: Found, key: str, days: tuple[str, ...], period: int, form: str) -> tuple[int, int] | None:
    """Start and end minute of a window: daily (``days`` empty) or weekly (``days`` the weekday names)."""
    value = found[key]
    day = f"({'|'.join(days)}):" if days else "()"
    m = re.fullmatch(f"{day}{_TIME}-{day}{_TIME}", value)
    if not m:
        found.fail(key, value, form)
        return None
    start, end = ((days.index(m[i]) * 1440 if days else 0) + int(m[i + 1]) * 60 + int(m[i + 2]) for i in (1, 4))
    if (end - start) % period < 30:
        found.fail(key, value, "the window must last at least 30 minutes")
        return None
    return start, end


def maintenance_windows(found: Found) -> None:
    backup = _window(found, "preferredBackupWindow", (), 1440, "expected hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00")
    maintenance = _window(found, "preferredMaintenanceWindow", DAYS, 7 * 1440,
                          "expected ddd:hh24:mi-ddd:hh24:mi in UTC with ddd one of mon..sun, e.g. sun:05:00-sun:06:00")
    if backup and maintenance:
        daily = {(backup[0] + i) % 1440 for i in range((backup[1] - backup[0]) % 1440)}
        weekly = ((maintenance[0] + i) % (7 * 1440) for i in range((maintenance[1] - maintenance[0]) % (7 * 1440)))
        if any(minute % 1440 in daily for minute in weekly):
            found.fail("preferredMaintenanceWindow", found["preferredMaintenanceWindow"],
                       f"overlaps the backup window {found['preferredBackupWindow']}; choose times that do not overlap")


def backtrack_engine(found: Found) -> None:
    if found["backtrackWindowHours"] and found["engine"] == "aurora-postgresql":
        found.fail("backtrackWindowHours", found["backtrackWindowHours"],
                   "backtrack is an Aurora MySQL feature; allowed for aurora-postgresql: 0")


def reader_auto_scaling(found: Found) -> None:
    readers, maximum = found["readerCount"], found["readerAutoScalingMaxReaders"]
    high = found.declarations["readerAutoScalingMaxReaders"].high
    if found["readerAutoScaling"] and readers == 0:
        found.fail("readerAutoScaling", True,
                   "needs readerCount of at least 1 (auto scaling keeps that many readers as its minimum)")
    elif found["readerAutoScaling"] and maximum < readers:
        found.fail("readerAutoScalingMaxReaders", maximum, f"allowed: readerCount ({readers}) to {high}")


def security_group_ids(found: Found) -> None:
    for sg in found["allowedSecurityGroupIds"]:
        if not SECURITY_GROUP_ID_RE.fullmatch(sg):
            found.fail("allowedSecurityGroupIds", sg,
                       "expected security group ids such as sg-0123456789abcdef0 (CIDR ranges are never admitted)")


def production_values(found: Found) -> None:
    """Every declared production rule: the value a production stack must keep."""
    if not found["production"]:
        return
    for setting in found.declarations.values():
        if setting.production is not None and found[setting.key] != setting.production:
            found.fail(setting.key, found[setting.key],
                       f"allowed in a production stack (production: true): {json.dumps(setting.production)}")


def fleet_sizes(found: Found) -> None:
    """The fleet's instance type, and min <= desired <= max."""
    fleet_type = found["fleetInstanceType"]
    if not EC2_INSTANCE_TYPE_RE.fullmatch(fleet_type):
        found.fail("fleetInstanceType", fleet_type, "expected an EC2 instance type such as t4g.small, m7g.large or m7i.xlarge")
    low, desired, high = found["fleetMinSize"], found["fleetDesiredCapacity"], found["fleetMaxSize"]
    if not low <= desired <= high:
        found.fail("fleetDesiredCapacity", desired,
                   f"needs fleetMinSize <= fleetDesiredCapacity <= fleetMaxSize; got {low} <= {desired} <= {high}")


def alarm_email(found: Found) -> None:
    email = found["alarmEmail"]
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        found.fail("alarmEmail", email, "expected an e-mail address, or empty for no subscription")


def vault_lock_changeable_days(found: Found) -> None:
    changeable = found["backupVaultLockChangeableDays"]
    high = found.declarations["backupVaultLockChangeableDays"].high
    if 0 < changeable < VAULT_LOCK_MIN_CHANGEABLE_DAYS:
        found.fail("backupVaultLockChangeableDays", changeable,
                   f"allowed: 0 (governance mode) or {VAULT_LOCK_MIN_CHANGEABLE_DAYS} to {high} "
                   "(AWS enforces a 72-hour cooling-off period before a vault lock becomes immutable)")


def backup_copy_region(found: Found) -> None:
    """The copy region: another region than the primary; unset, the first secondary of a global stack."""
    region = found["backupCopyRegion"]
    if region and not REGION_RE.fullmatch(region):
        found.fail("backupCopyRegion", region, "expected an AWS region name such as us-west-2, or empty")
        region = ""
    elif region == found.primary_region:
        found.fail("backupCopyRegion", region,
                   "equals the primary region (aws:region); copies must go to another region to survive its loss")
        region = ""
    elif not region and found.secondary_regions:
        region = found.secondary_regions[0]["region"]
    found.values["backupCopyRegion"] = region
    if found["production"] and found["backupPlan"] and not region:
        found.fail("backupCopyRegion", "", "a production stack copies its backups to another region: "
                                           "set a region other than aws:region")


def vault_lock_retentions(found: Found) -> None:
    """A locked vault fails every backup or copy job whose retention lies outside [min, max]."""
    if not (found["backupPlan"] and found["backupVaultLock"]):
        return
    low, high = found["backupVaultLockMinRetentionDays"], found["backupVaultLockMaxRetentionDays"]
    if low > high:
        found.fail("backupVaultLockMinRetentionDays", low, f"must not exceed backupVaultLockMaxRetentionDays ({high})")
        return
    keys = ["backupDailyRetentionDays"]
    keys += ["backupContinuousRetentionDays"] if found["backupContinuous"] else []
    keys += ["backupCopyRetentionDays"] if found["backupCopyRegion"] else []
    for key in keys:
        if not low <= found[key] <= high:
            found.fail(key, found[key], f"the vault lock admits retentions of {low} to {high} days "
                                        "(backupVaultLockMinRetentionDays to backupVaultLockMaxRetentionDays); "
                                        "AWS Backup fails jobs outside them")


def continuous_backup_retention(found: Found) -> None:
    """Once AWS Backup's continuous rule covers a cluster, AWS Backup manages the cluster's backup retention and
    sets it to the rule's: a different backupRetentionDays would fight it on every `up` and `refresh`."""
    days, retention = found["backupContinuousRetentionDays"], found["backupRetentionDays"]
    if found["backupPlan"] and found["backupContinuous"] and retention != days:
        found.fail("backupRetentionDays", retention, f"with backupContinuous, AWS Backup manages the clusters' backup "
                                                     f"retention and sets it to backupContinuousRetentionDays ({days}): "
                                                     "set both to the same number of days")


def proxy_pool(found: Found) -> None:
    max_connections, max_idle = found["proxyMaxConnectionsPercent"], found["proxyMaxIdleConnectionsPercent"]
    forwarding = found.global_database is not None and found.global_database["write_forwarding"]
    if found["proxyEnabled"] and forwarding and max_connections > 100 - WRITE_FORWARDING_CONNECTIONS_PCT:
        found.fail("proxyMaxConnectionsPercent", max_connections,
                   f"with globalDatabase.writeForwarding the proxy must leave the writer's write forwarding quota "
                   f"(aurora_fwd_writer_max_connections_pct, {WRITE_FORWARDING_CONNECTIONS_PCT}%) free; allowed: 1 to "
                   f"{100 - WRITE_FORWARDING_CONNECTIONS_PCT}")
    if max_idle > max_connections:
        found.fail("proxyMaxIdleConnectionsPercent", max_idle, f"allowed: 0 to proxyMaxConnectionsPercent ({max_connections})")


def application_users(found: Found) -> None:
    users, master = found["applicationUsers"], found["masterUsername"]
    if not users:
        found.fail("applicationUsers", list(users), "list at least one database user for the applications, e.g. [\"app\"]")
    for user in users:
        if not APPLICATION_USER_RE.fullmatch(user):
            found.fail("applicationUsers", user, "1-32 letters, digits or underscores, starting with a letter")
        elif user.lower() == master.lower():
            found.fail("applicationUsers", user, "is the master user; applications get users of their own")
        elif user.lower() in RESERVED_DATABASE_USERS:
            found.fail("applicationUsers", user,
                       f"a reserved or well-known name; not one of {', '.join(RESERVED_DATABASE_USERS)}")


def master_password(found: Found) -> None:
    """A global database's rotated password (a secret: no message shows it)."""
    password, key = found["masterPassword"], qualified("masterPassword")
    if password and found.global_database is None:
        found.problems.append(f"{key}: set, but the stack has no globalDatabase; a regional cluster's "
                              "password is the RDS-managed secret's (masterPasswordRotationDays). Remove it")
    elif password and not (MASTER_PASSWORD_MIN_LENGTH <= len(password) <= MASTER_PASSWORD_MAX_LENGTH
                           and all(c.isalnum() or c in MASTER_PASSWORD_SPECIALS for c in password)):
        found.problems.append(f"{key}: (secret, not shown) must be {MASTER_PASSWORD_MIN_LENGTH}-{MASTER_PASSWORD_MAX_LENGTH} "
                              f"characters of letters, digits and {MASTER_PASSWORD_SPECIALS} "
                              "(RDS refuses '/', '@', '\"' and spaces)")


def allowed_accounts(raw: Mapping[str, Any]) -> list[str]:
    """The accounts the stack config allows the AWS provider (``aws:allowedAccountIds``; none when unset)."""
    value = raw.get(ALLOWED_ACCOUNTS_KEY) or []
    try:
        value = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        value = [value]
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def operator_roles(found: Found) -> None:
    """IAM attaches the break-glass policy by role name in the deploying account: where the config names the account
    (aws:allowedAccountIds), roles of other accounts are refused here; the program checks again when it deploys."""
    accounts = allowed_accounts(found.raw)
    for role in found["operatorRoleArns"]:
        if not ROLE_ARN_RE.fullmatch(role):
            found.fail("operatorRoleArns", role,
                       "expected an IAM role ARN such as arn:aws:iam::123456789012:role/dba-break-glass")
        elif accounts and role.split(":")[4] not in accounts:
            found.fail("operatorRoleArns", role, f"a role of account {role.split(':')[4]}, but the stack deploys into "
                                                 f"{' or '.join(accounts)} ({ALLOWED_ACCOUNTS_KEY}); IAM attaches the policy "
                                                 "by role name in that account only: name roles of that account")

# --- The global database.

@dataclass(frozen=True)
class ObjectField:
    """A field of ``globalDatabase`` or of its ``secondaryRegions``, declared once (the rules read it, the README lists
    it). ``like``: the setting whose value is the default and whose bounds hold; no default and no ``like``: required."""

    name: str
    type: str
    description: str
    default: Any = None
    like: str = ""
    low: int | None = None
    high: int | None = None


GLOBAL_FIELDS = (
    ObjectField("writerRegion", "string", "region of the current writer; change it after a switchover or failover "
                "(see Global database)", like=REGION_KEY),
    ObjectField("writeForwarding", "boolean", "forward writes from secondaries to the writer (aurora-mysql 3.04+; "
                "aurora-postgresql 14.13+, 15.8+, 16.4+, 17)", default=False),
    ObjectField("secondaryRegions", "array", f"the secondary regions, at most {MAX_SECONDARY_REGIONS}: objects with the "
                "fields below", default=[]),
)
SECONDARY_FIELDS = (
    ObjectField("region", "string", "a region other than `aws:region`, each at most once"),
    ObjectField("vpcCidr", "string", "VPC CIDR of that region, /16 to /20, overlapping no other region's"),
    ObjectField("instances", "integer", "instances of the secondary cluster (0: headless)", default=1, low=0,
                high=MAX_AURORA_REPLICAS + 1),
    ObjectField("instanceClass", "string", "instance class in that region", like="instanceClass"),
    ObjectField("azCount", "integer", "AZs of that region's network", like="azCount"),
    ObjectField("availabilityZones", "array", "explicit AZ names; empty: the first azCount zones", default=[]),
    ObjectField("standbyFleetDesiredCapacity", "integer", "warm-standby fleet size in that region", default=0, low=0, high=100),
)
_GLOBAL_FIELDS = tuple(f.name for f in GLOBAL_FIELDS)
_GLOBAL_DEFAULTS = {f.name: f.default for f in GLOBAL_FIELDS}
_SECONDARY = {f.name: f for f in SECONDARY_FIELDS}
_GLOBAL = "globalDatabase"


def global_database(found: Found) -> None:
    """The global database's own fields, and what it asks of the database settings."""
    value = found[_GLOBAL]
    if value is None:
        return
    for unknown in sorted(set(value) - set(_GLOBAL_FIELDS)):
        found.fail(f"{_GLOBAL}.{unknown}", value[unknown], f"unknown field; allowed: {', '.join(_GLOBAL_FIELDS)}")
    if found["backtrackWindowHours"]:
        found.fail("backtrackWindowHours", found["backtrackWindowHours"],
                   "backtrack is not supported with Aurora Global Database; allowed with globalDatabase: 0")
    for class_key in ("instanceClass", "readerInstanceClass"):
        if burstable(found[class_key]):
            found.fail(class_key, found[class_key], GLOBAL_CLASS_HELP)
    forwarding = value.get("writeForwarding", _GLOBAL_DEFAULTS["writeForwarding"])
    engine, version = found["engine"], found["engineVersion"]
    if not isinstance(forwarding, bool):
        found.fail(f"{_GLOBAL}.writeForwarding", forwarding, "allowed: true, false")
        forwarding = False
    elif forwarding and not write_forwarding_supported(engine, version):
        found.fail(f"{_GLOBAL}.writeForwarding", True, f"{engine} {version} has no global write forwarding; "
                   "needs aurora-mysql 3.04+ or aurora-postgresql 14.13+, 15.8+, 16.4+ or 17")
    found.global_database = {"writer_region": found.primary_region, "write_forwarding": forwarding}


def secondary_regions(found: Found) -> None:
    if found.global_database is None:
        return
    entries, key = found[_GLOBAL].get("secondaryRegions", _GLOBAL_DEFAULTS["secondaryRegions"]), f"{_GLOBAL}.secondaryRegions"
    if not isinstance(entries, list):
        found.fail(key, entries, "expected a list of {region, vpcCidr, instances}")
        entries = []
    if len(entries) > MAX_SECONDARY_REGIONS:
        found.fail(key, [e.get("region") if isinstance(e, dict) else e for e in entries],
                   f"{len(entries)} secondary regions; allowed: 0 to {MAX_SECONDARY_REGIONS} "
                   "(a global database has at most 6 regions)")
    networks = [(found.primary_region, found.primary_net)] if found.primary_net else []
    for i, entry in enumerate(entries):
        at = f"{key}[{i}]"
        if not isinstance(entry, dict):
            found.fail(at, entry, "expected an object {region, vpcCidr, instances}")
            continue
        for unknown in sorted(set(entry) - set(_SECONDARY)):
            found.fail(f"{at}.{unknown}", entry[unknown], f"unknown field; allowed: {', '.join(_SECONDARY)}")
        region = _secondary_region_name(found, at, entry.get("region"))
        if region is not None:
            cidr = _secondary_cidr(found, at, entry.get("vpcCidr"), region, networks)
            found.secondary_regions.append(_secondary(found, at, entry, region, cidr))


def _secondary_region_name(found: Found, at: str, region: Any) -> str | None:
    if not isinstance(region, str) or not REGION_RE.fullmatch(region):
        found.fail(f"{at}.region", region, "expected an AWS region name such as us-west-2")
    elif region == found.primary_region:
        found.fail(f"{at}.region", region, "equals the primary region (aws:region); a secondary must be another region")
    elif region in (s["region"] for s in found.secondary_regions):
        found.fail(f"{at}.region", region, "listed twice; each secondary region appears once")
    else:
        return region
    return None


def _secondary_cidr(found: Found, at: str, cidr: Any, region: str, networks: list) -> str:
    """The secondary's VPC CIDR, which overlaps no other member's (``networks``, extended here)."""
    if not isinstance(cidr, str):
        found.fail(f"{at}.vpcCidr", cidr, "required: the VPC CIDR of this region, /16 to /20, not overlapping the others")
        return ""
    net = check_cidr(found, f"{at}.vpcCidr", cidr)
    if net:
        for other_region, other in networks:
            if net.overlaps(other):
                found.fail(f"{at}.vpcCidr", cidr,
                           f"overlaps {other} of {other_region}; VPC CIDRs of a global database must not overlap")
        networks.append((region, net))
    return cidr


def _entry_value(found: Found, entry: dict, name: str) -> Any:
    field = _SECONDARY[name]
    return entry.get(name, found[field.like] if field.like else field.default)


def _entry_count(found: Found, at: str, entry: dict, name: str) -> int:
    """A whole number field of a secondary region within its bounds (those of its ``like`` setting)."""
    field, value = _SECONDARY[name], _entry_value(found, entry, name)
    bounds = found.declarations[field.like] if field.like else field
    low, high = bounds.low, bounds.high
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        found.fail(f"{at}.{name}", value, f"allowed: {low} to {high}")
        return low
    return value


def _secondary(found: Found, at: str, entry: dict, region: str, cidr: str) -> dict[str, Any]:
    count = _entry_count(found, at, entry, "instances")
    instance_class = _entry_value(found, entry, "instanceClass")
    if not isinstance(instance_class, str):
        found.fail(f"{at}.instanceClass", instance_class, "expected an Aurora instance class such as db.r7g.large")
        instance_class = ""
    elif found["engine"] in ENGINES:
        check_instance_class(found, f"{at}.instanceClass", found["engine"], instance_class)
        if burstable(instance_class) and "instanceClass" in entry:
            found.fail(f"{at}.instanceClass", instance_class, GLOBAL_CLASS_HELP)
    az_count = _entry_count(found, at, entry, "azCount")
    explicit = _entry_value(found, entry, "availabilityZones")
    if not isinstance(explicit, list) or not all(isinstance(z, str) for z in explicit):
        found.fail(f"{at}.availabilityZones", explicit, "expected a list of zone names")
        explicit = []
    region_zones = zones(found, f"{at}.availabilityZones", region, az_count, tuple(explicit))
    standby = _entry_count(found, at, entry, "standbyFleetDesiredCapacity")
    return {"region": region, "vpc_cidr": cidr, "availability_zones": region_zones, "instance_count": count,
            "instance_class": instance_class, "standby_fleet_desired_capacity": standby}


def writer_region(found: Found) -> None:
    if found.global_database is None:
        return
    writer = found[_GLOBAL].get("writerRegion", found.primary_region)
    members = [found.primary_region] + [s["region"] for s in found.secondary_regions]
    if writer not in members:
        found.fail(f"{_GLOBAL}.writerRegion", writer, f"must be a member region: {', '.join(members)}")
    elif any(s["region"] == writer and s["instance_count"] == 0 for s in found.secondary_regions):
        found.fail(f"{_GLOBAL}.writerRegion", writer, "is a headless secondary (instances: 0); a writer region needs instances")
    found.global_database["writer_region"] = writer


RULES = (
    unknown_keys, primary_region, primary_network, engine_versions, identifiers, instance_classes,
    serverless_capacity_order, maintenance_windows, backtrack_engine, reader_auto_scaling, security_group_ids,
    production_values, fleet_sizes, alarm_email, global_database, secondary_regions, writer_region,
    vault_lock_changeable_days, backup_copy_region, vault_lock_retentions, continuous_backup_retention, proxy_pool,
    application_users, master_password, operator_roles,
)

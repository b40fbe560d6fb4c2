"""`deploy restore-drill`: everything the drill decides before its first change. The drill's names and
tags, what is there (the stack's cluster, the vault's newest snapshot recovery point), and the plan:
the region, source, network, key, groups and the point restored to, checked before any restore call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from components.naming import PROJECT, cluster_identifier, short_stack_name, stack_prefix, vault_name
from deploy.args import check_time_in_window
from deploy.errors import EXIT_FAILED, CommandRefused
from deploy.runbooks.base import check_instance_class, is_stack_resource, paginate, tag_map
from deploy.runbooks.rds import cluster_tags, find_cluster, find_instance, serverless_scaling

DRILL_PREFIX = "drill-"
DRILL_TAG = "restore-drill"
SOURCE_TAG = "restore-drill-source"
AURORA = "Aurora"  # AWS Backup's resource type of Aurora clusters


def drill_identifier(stack: str, region: str, now: datetime) -> str:
    """``drill-<stack>-<region>-<yyyymmddhhmmss>``: a letter first, at most 63 characters, lower case."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    head = f"{DRILL_PREFIX}{short_stack_name(stack)}-{region}".lower()[: 63 - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}".replace("--", "-")


def is_drill(identifier: str, tags: list[dict]) -> bool:
    """Created by a drill: the name has the drill prefix and the drill tag carries that very name."""
    return identifier.startswith(DRILL_PREFIX) and tag_map(tags).get(DRILL_TAG) == identifier


# ---------------------------------------------------------------------------------------
# Reading what is there (no change).
# ---------------------------------------------------------------------------------------

def stack_cluster(rds, identifier: str, region: str, short: str) -> dict:
    """The stack's cluster in ``region``, or a refusal: missing, or not tagged as this stack's."""
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        raise CommandRefused(f"cluster {identifier} does not exist in {region}; is stack {short} deployed there?")
    if not is_stack_resource(tag_map(cluster_tags(rds, cluster)), short):
        raise CommandRefused(f"cluster {identifier} in {region} is not tagged project={PROJECT}, stack={short}: "
                             "not this stack's cluster, the drill does not restore it")
    return cluster


def is_snapshot_point(point: dict) -> bool:
    """A snapshot recovery point, not the continuous (point-in-time) one.

    AWS Backup keeps an Aurora cluster's snapshot backups (and their copies) as RDS cluster snapshots,
    so their recovery point ARN is the snapshot's, ``arn:aws:rds:<region>:<account>:cluster-snapshot:
    awsbackup:...``; the continuous backup is one recovery point that AWS Backup updates while the chain
    lasts, with an AWS Backup ARN (``arn:aws:backup:...:recovery-point:continuous:...``), and a
    ``CreationDate`` of when the chain began (https://docs.aws.amazon.com/aws-backup/latest/devguide/
    point-in-time-recovery.html: "The continuous backup plan creates one continuous recovery point and
    updates that recovery point whenever the job runs"). Restoring it needs a restore time, and its
    CreationDate says nothing about its RPO, so the vault drill restores snapshots only.
    ListRecoveryPointsByBackupVault has no field naming the kind (botocore's backup model,
    RecoveryPointByBackupVault), hence the ARN.
    """
    fields = (point.get("RecoveryPointArn") or "").split(":")
    return len(fields) > 6 and fields[0] == "arn" and fields[2] == "rds" and fields[5] == "cluster-snapshot"


def newest_recovery_point(backup, vault: str, region: str, short: str) -> dict:
    """The newest completed Aurora snapshot recovery point of one of the stack's clusters in ``vault``."""
    try:
        backup.describe_backup_vault(BackupVaultName=vault)
    except backup.exceptions.ResourceNotFoundException:
        raise CommandRefused(f"backup vault {vault} does not exist in {region}; the stack's vaults are in the regions "
                             "of its writer-capable clusters and its backupCopyRegion (with backupPlan: true)") from None
    cluster_arn_part = f":cluster:{stack_prefix(short)}-"
    points = [
        point
        for point in paginate(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints",
                              BackupVaultName=vault, ByResourceType=AURORA)
        if point.get("Status") == "COMPLETED" and cluster_arn_part in (point.get("ResourceArn") or "")
        and is_snapshot_point(point)
    ]
    if not points:
        raise CommandRefused(f"backup vault {vault} in {region} holds no completed recovery point of stack {short}'s "
                             "clusters (snapshots; the continuous recovery point is not drilled here): check the plan's "
                             f"jobs (aws backup list-backup-jobs --region {region}; list-copy-jobs for copies)", EXIT_FAILED)
    return max(points, key=lambda point: point["CreationDate"])


@dataclass(frozen=True)
class Plan:
    """Everything the drill needs, decided before its first change."""

    mode: str
    region: str
    source_cluster: str | None
    identifier: str
    instance_identifier: str
    instance_class: str
    engine: str
    subnet_group: str
    security_groups: tuple[str, ...]
    kms_key: str | None
    parameter_group: str | None
    serverless_scaling: dict | None
    restored_to: datetime
    to_time: datetime | None = None
    recovery_point: dict | None = None
    tags: tuple[tuple[str, str], ...] = ()



# ---------------------------------------------------------------------------------------
# Planning (every check before the first change).
# ---------------------------------------------------------------------------------------

def _region_instance_class(settings, region: str) -> str:
    secondary = next((s for s in (settings.global_database.secondary_regions if settings.global_database else ())
                      if s.region == region), None)
    return secondary.instance_class if secondary else settings.database.instance_class


def drill_region(args, settings) -> str:
    """The region the drill restores in, after the checks that need no AWS call."""
    short = short_stack_name(args.stack)
    if args.from_vault and args.to_time:
        raise CommandRefused("--to-time is for the point-in-time drill; --from-vault restores the vault's newest "
                             "recovery point. Give one of them")
    if not args.from_vault and (args.db_subnet_group_name or args.vpc_security_group_ids):
        raise CommandRefused("--db-subnet-group-name and --vpc-security-group-ids are for a --from-vault drill into a "
                             "region without the stack's cluster; a point-in-time drill restores into the source "
                             "cluster's own subnet group and security groups")
    region = args.from_vault or settings.writer_region
    if args.from_vault:
        if not settings.backup or not settings.backup.enabled:
            raise CommandRefused(f"--from-vault {region}: stack {short} has backupPlan: false, so it has no backup vaults")
        vault_regions = set(settings.writer_capable_regions) | ({settings.backup.copy_region} - {""})
        if region not in vault_regions:
            raise CommandRefused(f"--from-vault {region}: not a region of stack {short}'s backup vaults; allowed: "
                                 f"{', '.join(sorted(vault_regions))}")
    if args.instance_class:
        check_instance_class(args.instance_class, settings.database.engine)
    return region


def plan_drill(args, settings, rds, backup, now: datetime) -> Plan:
    short = short_stack_name(args.stack)
    region = drill_region(args, settings)
    identifier = drill_identifier(args.stack, region, now)
    instance_identifier = f"{identifier[:61]}-1"
    existing = ((identifier, find_cluster(rds, identifier)), (instance_identifier, find_instance(rds, instance_identifier)))
    for name, found in existing:
        if found is not None:
            raise CommandRefused(f"{name} already exists in {region} and the drill does not touch what it did not "
                                 "create; run it again in a second")
    tags = ((DRILL_TAG, identifier), ("project", PROJECT), ("stack", short))
    home = cluster_identifier(short, region) if region in settings.regions else None
    if args.from_vault:
        return _plan_from_vault(args, settings, rds, backup, now, region, home, identifier, instance_identifier, tags)

    source = stack_cluster(rds, home, region, short)
    latest, earliest = source.get("LatestRestorableTime"), source.get("EarliestRestorableTime")
    to_time = args.to_time
    if to_time:
        check_time_in_window("--to-time", to_time, earliest, latest, f"the restorable window of {home}")
    restored_to = to_time or latest or now
    return Plan(
        mode="point-in-time", region=region, source_cluster=home, identifier=identifier,
        instance_identifier=instance_identifier,
        instance_class=args.instance_class or _region_instance_class(settings, region), engine=source["Engine"],
        subnet_group=source["DBSubnetGroup"],
        security_groups=tuple(g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])),
        kms_key=source.get("KmsKeyId"), parameter_group=source.get("DBClusterParameterGroup"),
        serverless_scaling=serverless_scaling(source), restored_to=restored_to, to_time=to_time,
        tags=(*tags, (SOURCE_TAG, home)),
    )


def _plan_from_vault(args, settings, rds, backup, now, region, home, identifier, instance_identifier, tags) -> Plan:
    short = short_stack_name(args.stack)
    vault = vault_name(short, region)
    point = newest_recovery_point(backup, vault, region, short)
    if not point.get("IamRoleArn"):
        raise CommandRefused(f"recovery point {point['RecoveryPointArn']} names no IAM role to restore it with")
    if home:
        network = stack_cluster(rds, home, region, short)
        subnet_group = args.db_subnet_group_name or network["DBSubnetGroup"]
        groups = tuple(args.vpc_security_group_ids or [g["VpcSecurityGroupId"] for g in network.get("VpcSecurityGroups", [])])
        parameter_group, scaling = network.get("DBClusterParameterGroup"), serverless_scaling(network)
    else:
        if not (args.db_subnet_group_name and args.vpc_security_group_ids):
            raise CommandRefused(f"--from-vault {region}: stack {short} has no network in {region} (a copy region "
                                 "only); give --db-subnet-group-name and --vpc-security-group-ids of the network "
                                 "to restore into")
        subnet_group, groups = args.db_subnet_group_name, tuple(args.vpc_security_group_ids)
        parameter_group, scaling = None, None
    key = backup.describe_backup_vault(BackupVaultName=vault).get("EncryptionKeyArn")
    return Plan(
        mode="vault", region=region, source_cluster=(point.get("ResourceArn") or "").rsplit(":", 1)[-1] or None,
        identifier=identifier, instance_identifier=instance_identifier,
        instance_class=args.instance_class or _region_instance_class(settings, region),
        engine=settings.database.engine, subnet_group=subnet_group, security_groups=groups, kms_key=key,
        parameter_group=parameter_group, serverless_scaling=scaling, restored_to=point["CreationDate"],
        recovery_point=point, tags=(*tags, (SOURCE_TAG, point["RecoveryPointArn"].rsplit(":", 1)[-1])),
    )

"""`python -m deploy restore-drill --stack S`: prove the backups restore, and measure how long it takes.

Two drills:

- point-in-time (default): ``RestoreDBClusterToPointInTime`` of the writer cluster (the
  cluster of ``writerRegion``) into a temporary cluster beside it: the same DB subnet group,
  security groups, KMS key and cluster parameter group, to the latest restorable time or
  ``--to-time``. This drills a bad write or a dropped table.
- ``--from-vault REGION``: the newest completed snapshot recovery point (never the continuous one) of the stack's AWS Backup vault
  in REGION (``<project>-<stack>-<region>``, see components/database_backup.py), restored with
  ``StartRestoreJob`` into REGION's network (the subnet group, security groups of the stack's
  cluster there, and the vault's key). This drills the loss of the writer region without the
  Global Database, or the loss of the cluster and its automated backups. A copy region that holds
  no cluster of the stack needs ``--db-subnet-group-name`` and ``--vpc-security-group-ids``.

Then one instance (the region's configured class, or ``--instance-class``) is added and the
command waits, with boto3's ``db_cluster_available`` / ``db_instance_available`` waiters, until
it is available. It prints the restored cluster, the RTO (from the first restore call until the
instance is available) and the RPO (the age of the restored point when the drill started), and
deletes the instance and the cluster (final snapshot skipped) unless ``--keep``.

Safe by construction: the temporary cluster is named ``drill-<stack>-<region>-<UTC time>`` and
tagged ``restore-drill=<its name>`` (and ``restore-drill-source``, ``project``, ``stack``). Every
check is made before the first restore call: the settings, the region, ``--to-time`` inside the
restorable window, the source cluster exists and carries the stack's ``project``/``stack`` tags,
the drill's names are free, the vault and a completed recovery point exist. Nothing is deleted
that does not carry the drill tag with its own name: a cluster the drill did not create is
refused (exit 2), also through ``--delete`` (finishing a drill kept with ``--keep``). On a failure,
a timeout or Ctrl-C the command deletes what it created, and when that fails too, prints the
``aws rds`` commands that finish the clean-up by hand. A vault drill first asks AWS Backup about its
restore job, which creates the cluster without tags: completed, its cluster (the job's
``CreatedResourceArn``) is tagged as the drill's and deleted; still running, the drill reports the
cluster not deleted and prints ``aws backup describe-restore-job`` and the commands to tag and delete
it, or ``--delete <cluster> --restore-job-id <job>``, which accepts a cluster that job created.
Ctrl-C before the first change exits 1 with one line; ``--delete`` takes none of a drill's flags.

Exit codes: 0 restored (and deleted), 1 AWS refused a call, a wait timed out, the vault holds
no completed recovery point or the run was interrupted, 2 refused input.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from components.project import PROJECT
from deploy.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from deploy.runbooks.base import (
    Clock,
    CommandRefused,
    arn_region,
    is_stack_resource,
    paginate,
    poll_until,
    rds_client,
    refused_by_aws,
    resolve_settings,
    run_refusable,
    short_stack_name,
    tag_map,
)

HELP = ("restore the writer cluster to a point in time (or the newest recovery point of a backup vault) into "
        "a temporary cluster, measure RTO and RPO, then delete it")
DRILL_PREFIX = "drill-"
DRILL_TAG = "restore-drill"
SOURCE_TAG = "restore-drill-source"
AURORA = "Aurora"  # AWS Backup's resource type of Aurora clusters


class DrillFailed(Exception):
    """The drill stopped after it changed something (exit 1); clean-up follows."""


@dataclass
class Created:
    """What the drill made, in creation order; clean-up deletes it in reverse."""

    region: str
    cluster: str | None = None
    instance: str | None = None
    # --from-vault: the AWS Backup restore job creating ``cluster`` until the drill has seen it
    # finish (COMPLETED and tagged, or ABORTED/FAILED), and the ARN of the cluster it creates.
    restore_job: str | None = None
    cluster_arn: str | None = None
    recovery_point: str | None = None


@dataclass
class Report:
    stack: str
    mode: str  # point-in-time | vault
    region: str
    source_cluster: str | None
    recovery_point: str | None
    restored_to: str
    rpo_seconds: float
    rto_seconds: float | None = None
    restored_cluster: str | None = None
    restored_instance: str | None = None
    endpoint: str | None = None
    deleted: bool = False
    kept: bool = False
    status: str = "ok"
    errors: list[str] = field(default_factory=list)
    manual_cleanup: list[str] = field(default_factory=list)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (``2026-12-01T20:15:00Z``, ``...+01:00``)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandRefused(f"--to-time {text!r}: expected an ISO 8601 time with a zone, e.g. 2026-12-01T20:15:00Z") from None
    if moment.tzinfo is None:
        raise CommandRefused(f"--to-time {text!r}: give the zone (Z for UTC), e.g. 2026-12-01T20:15:00Z")
    return moment


def drill_identifier(stack: str, region: str, now: datetime) -> str:
    """``drill-<stack>-<region>-<yyyymmddhhmmss>``: a letter first, at most 63 characters, lower case."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    head = f"{DRILL_PREFIX}{short_stack_name(stack)}-{region}".lower()[: 63 - len(stamp) - 1].rstrip("-")
    return f"{head}-{stamp}".replace("--", "-")


def is_drill(identifier: str, tags: list[dict]) -> bool:
    """Created by a drill: the name has the drill prefix and the drill tag carries that very name."""
    return identifier.startswith(DRILL_PREFIX) and tag_map(tags).get(DRILL_TAG) == identifier


UNKNOWN_JOB = "?"  # interrupted during StartRestoreJob: a job may have started, its id is unknown


def manual_commands(created: Created) -> list[str]:
    """The ``aws rds`` commands that finish a clean-up the drill could not complete."""
    commands = []
    if created.restore_job == UNKNOWN_JOB:
        # A running job has no CreatedResourceArn yet: find it by its recovery point (newest first).
        commands.append(f"aws backup list-restore-jobs --region {created.region} --by-resource-type {AURORA} "
                        f"--query 'RestoreJobs[?RecoveryPointArn==`{created.recovery_point}`]."
                        "[RestoreJobId,Status,CreationDate,CreatedResourceArn]'"
                        "  # a restore job may have started: wait until it is COMPLETED (or FAILED/ABORTED: nothing "
                        "to delete); if its CreatedResourceArn is the drill's cluster, run:")
    elif created.restore_job:
        commands.append(f"aws backup describe-restore-job --region {created.region} --restore-job-id "
                        f"{created.restore_job}  # wait until Status is COMPLETED (or FAILED/ABORTED: nothing to delete)")
    if created.restore_job and created.cluster:
        # The job creates the cluster without the drill's tags; tag it so that `--delete` accepts it too.
        arn = created.cluster_arn or f"$(aws rds describe-db-clusters --region {created.region} --db-cluster-identifier " \
            f"{created.cluster} --query 'DBClusters[0].DBClusterArn' --output text)"
        commands.append(f"aws rds add-tags-to-resource --region {created.region} --resource-name {arn} "
                        f"--tags Key={DRILL_TAG},Value={created.cluster}")
    if created.instance:
        commands += [f"aws rds delete-db-instance --region {created.region} --db-instance-identifier "
                     f"{created.instance} --skip-final-snapshot",
                     f"aws rds wait db-instance-deleted --region {created.region} --db-instance-identifier "
                     f"{created.instance}"]
    if created.cluster:
        commands.append(f"aws rds delete-db-cluster --region {created.region} --db-cluster-identifier "
                        f"{created.cluster} --skip-final-snapshot")
    return commands


# ---------------------------------------------------------------------------------------
# Reading what is there (no change).
# ---------------------------------------------------------------------------------------

def find_cluster(rds, identifier: str) -> dict | None:
    try:
        return rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    except rds.exceptions.DBClusterNotFoundFault:
        return None


def find_instance(rds, identifier: str) -> dict | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def cluster_tags(rds, cluster: dict) -> list[dict]:
    return cluster.get("TagList") or rds.list_tags_for_resource(ResourceName=cluster["DBClusterArn"]).get("TagList", [])


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
    stack_prefix = f":cluster:{PROJECT}-{short}-"
    points = [
        point
        for point in paginate(backup, "list_recovery_points_by_backup_vault", "RecoveryPoints",
                              BackupVaultName=vault, ByResourceType=AURORA)
        if point.get("Status") == "COMPLETED" and stack_prefix in (point.get("ResourceArn") or "")
        and is_snapshot_point(point)
    ]
    if not points:
        raise CommandRefused(f"backup vault {vault} in {region} holds no completed recovery point of stack {short}'s "
                             f"clusters (snapshots; the continuous recovery point is not drilled here): check the plan's jobs (aws backup list-backup-jobs --region {region}; "
                             f"list-copy-jobs for copies)", EXIT_FAILED)
    return max(points, key=lambda point: point["CreationDate"])


# ---------------------------------------------------------------------------------------
# The drill.
# ---------------------------------------------------------------------------------------

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


class Drill:
    def __init__(self, plan: Plan, rds, backup, *, timeout: float, poll_interval: float,
                 clock: Callable[[], float], sleep: Callable[[float], None], out: TextIO):
        self.plan, self.rds, self.backup = plan, rds, backup
        self.timeout, self.poll_interval, self.clock, self.sleep, self.out = timeout, poll_interval, clock, sleep, out
        self.created = Created(region=plan.region)

    @property
    def tags(self) -> list[dict]:
        return [{"Key": key, "Value": value} for key, value in self.plan.tags]

    def waiter_config(self) -> dict:
        delay = max(int(self.poll_interval), 1) if self.poll_interval >= 1 else 1
        return {"Delay": delay, "MaxAttempts": max(int(self.timeout // delay), 1)}

    def wait(self, name: str, what: str, **params) -> None:
        from botocore.exceptions import WaiterError

        try:
            self.rds.get_waiter(name).wait(WaiterConfig=self.waiter_config(), **params)
        except WaiterError as error:
            reason = str(error.kwargs.get("reason", ""))
            if "Max attempts exceeded" in reason:
                raise DrillFailed(f"{what} not available within {self.timeout:g} s (--timeout)") from None
            failure = (error.last_response or {}).get("Error", {})
            detail = f"{failure.get('Code')}: {failure.get('Message')}" if failure else reason
            raise DrillFailed(f"waiting for {what}: {detail}") from None

    def restore(self) -> None:
        plan = self.plan
        if plan.mode == "point-in-time":
            params = dict(
                DBClusterIdentifier=plan.identifier, SourceDBClusterIdentifier=plan.source_cluster,
                DBSubnetGroupName=plan.subnet_group, VpcSecurityGroupIds=list(plan.security_groups),
                DeletionProtection=False, CopyTagsToSnapshot=False, Tags=self.tags)
            if plan.kms_key:
                params["KmsKeyId"] = plan.kms_key
            if plan.parameter_group:
                params["DBClusterParameterGroupName"] = plan.parameter_group
            if plan.serverless_scaling:
                params["ServerlessV2ScalingConfiguration"] = plan.serverless_scaling
            if plan.to_time:
                params["RestoreToTime"] = plan.to_time
            else:
                params["UseLatestRestorableTime"] = True
            self.created.cluster = plan.identifier  # from here on clean-up looks for it
            self.rds.restore_db_cluster_to_point_in_time(**params)
        else:
            self._restore_from_vault()
        self.wait("db_cluster_available", f"restored cluster {plan.identifier}", DBClusterIdentifier=plan.identifier)

    def _restore_from_vault(self) -> None:
        plan, point = self.plan, self.plan.recovery_point
        metadata = self.backup.get_recovery_point_restore_metadata(
            BackupVaultName=point["BackupVaultName"], RecoveryPointArn=point["RecoveryPointArn"]).get("RestoreMetadata", {})
        # The recovery point's own metadata, with the drill's name, network and key in place of the source's.
        overrides = {"DBClusterIdentifier": plan.identifier, "DBSubnetGroupName": plan.subnet_group,
                     "VpcSecurityGroupIds": json.dumps(list(plan.security_groups)), "DeletionProtection": "false",
                     "CopyTagsToSnapshot": "false"}
        if plan.kms_key:
            overrides["KmsKeyId"] = plan.kms_key
        if plan.parameter_group:
            overrides["DBClusterParameterGroupName"] = plan.parameter_group
        lowered = {key.lower(): key for key in metadata}
        for key, value in overrides.items():
            metadata.pop(lowered.get(key.lower(), key), None)
            metadata[key] = value
        self.created.cluster, self.created.recovery_point = plan.identifier, point["RecoveryPointArn"]
        # The cluster the job creates: the recovery point's partition and account, the drill's region and name.
        fields = point["RecoveryPointArn"].split(":")  # arn:partition:service:region:account:...
        partition, account = (fields[1], fields[4]) if len(fields) > 5 else ("", "")
        if partition and account:
            self.created.cluster_arn = f"arn:{partition}:rds:{plan.region}:{account}:cluster:{plan.identifier}"
        try:
            job = self.backup.start_restore_job(RecoveryPointArn=point["RecoveryPointArn"], IamRoleArn=point["IamRoleArn"],
                                                ResourceType=AURORA, Metadata=metadata)["RestoreJobId"]
        except KeyboardInterrupt:
            self.created.restore_job = UNKNOWN_JOB  # the request may have reached AWS Backup
            raise
        # From here until the job is seen to finish, clean-up asks AWS Backup about it: a job still
        # running creates the cluster later, untagged, however often clean-up finds no cluster now.
        self.created.restore_job = job
        # AWS Backup has no waiter for restore jobs: poll DescribeRestoreJob until it stops (COMPLETED,
        # ABORTED or FAILED); a timeout is a failure (CommandRefused, exit 1) and clean-up asks about the job.
        described = poll_until(
            lambda: self.backup.describe_restore_job(RestoreJobId=job),
            lambda state: state.get("Status") in ("COMPLETED", "ABORTED", "FAILED"),
            lambda _elapsed, _state: [], timeout=self.timeout, poll_interval=self.poll_interval,
            clock=Clock(sleep=self.sleep, now=self.clock), out=self.out,
            timed_out=lambda state: f"restore job {job} still {state.get('Status')} (--timeout); aws backup "
                                    f"describe-restore-job --region {plan.region} --restore-job-id {job}")
        if described.get("Status") != "COMPLETED":
            raise DrillFailed(f"restore job {job} {described.get('Status')}: {described.get('StatusMessage', '')}")
        created = described.get("CreatedResourceArn") or ""
        if not created.endswith(f":cluster:{plan.identifier}"):
            raise DrillFailed(f"restore job {job} created {created or 'nothing'}, not cluster {plan.identifier}")
        # AWS Backup's restore takes no tags: the drill tags the cluster its job created.
        self.rds.add_tags_to_resource(ResourceName=created, Tags=self.tags)
        self.created.restore_job, self.created.cluster_arn = None, created
        if plan.serverless_scaling:
            self.wait("db_cluster_available", f"restored cluster {plan.identifier}", DBClusterIdentifier=plan.identifier)
            self.rds.modify_db_cluster(DBClusterIdentifier=plan.identifier, ApplyImmediately=True,
                                       ServerlessV2ScalingConfiguration=plan.serverless_scaling)

    def add_instance(self) -> dict:
        plan = self.plan
        self.created.instance = plan.instance_identifier
        self.rds.create_db_instance(
            DBInstanceIdentifier=plan.instance_identifier, DBClusterIdentifier=plan.identifier,
            DBInstanceClass=plan.instance_class, Engine=plan.engine, PubliclyAccessible=False, Tags=self.tags)
        self.wait("db_instance_available", f"instance {plan.instance_identifier}",
                  DBInstanceIdentifier=plan.instance_identifier)
        return find_cluster(self.rds, plan.identifier) or {}

    def settle_restore_job(self) -> str | None:
        """Before a vault drill's clean-up: what its restore job did. None when clean-up may go on (the job
        failed, or completed and its cluster now carries the drill's tags); else why it may not."""
        job, identifier = self.created.restore_job, self.created.cluster
        if job == UNKNOWN_JOB:
            return (f"interrupted while starting the restore job: AWS Backup may still create cluster {identifier} "
                    "(without the drill's tags)")
        try:
            described = self.backup.describe_restore_job(RestoreJobId=job)
        except Exception as error:
            return f"reading restore job {job}: {error}"
        # DescribeRestoreJob's Status: PENDING | RUNNING | COMPLETED | ABORTED | FAILED (botocore's backup model).
        status = described.get("Status")
        if status in ("ABORTED", "FAILED"):
            self.created.restore_job = None
            return None
        if status != "COMPLETED":
            return (f"restore job {job} is still {status}: it will create cluster {identifier} without the drill's "
                    "tags after the drill gave up; wait for it, then delete the cluster")
        created = described.get("CreatedResourceArn") or ""
        if not created.endswith(f":cluster:{identifier}"):
            return f"restore job {job} created {created or 'nothing'}, not cluster {identifier}: not deleting it"
        try:
            cluster = find_cluster(self.rds, identifier)
            # Our job created it (its ARN is the job's CreatedResourceArn), so it is the drill's: tag it as such.
            if cluster is not None and not is_drill(identifier, cluster_tags(self.rds, cluster)):
                self.rds.add_tags_to_resource(ResourceName=created, Tags=self.tags)
        except Exception as error:
            return f"tagging cluster {identifier}, created by restore job {job}: {error}"
        self.created.restore_job, self.created.cluster_arn = None, created
        return None

    def clean_up(self) -> list[str]:
        """Delete what the drill created, newest first; the errors, empty when everything is gone."""
        errors = []
        if self.created.restore_job and self.created.cluster:
            problem = self.settle_restore_job()
            if problem:
                return [problem]
        if self.created.instance:
            try:
                delete_drill_instance(self.rds, self.created.instance)
                self.wait("db_instance_deleted", f"deletion of instance {self.created.instance}",
                          DBInstanceIdentifier=self.created.instance)
                self.created.instance = None
            except Exception as error:  # reported, and printed as commands to finish by hand
                errors.append(f"deleting instance {self.created.instance}: {error}")
                return errors
        if self.created.cluster:
            try:
                delete_drill_cluster(self.rds, self.created.cluster)
                self.wait("db_cluster_deleted", f"deletion of cluster {self.created.cluster}",
                          DBClusterIdentifier=self.created.cluster)
                self.created.cluster = None
            except Exception as error:
                errors.append(f"deleting cluster {self.created.cluster}: {error}")
        return errors


def delete_drill_instance(rds, identifier: str) -> None:
    instance = find_instance(rds, identifier)
    if instance is None:
        return
    tags = instance.get("TagList") or rds.list_tags_for_resource(ResourceName=instance["DBInstanceArn"]).get("TagList", [])
    cluster = instance.get("DBClusterIdentifier") or ""
    # The drill's instance carries its cluster's drill tag and both names have the drill prefix.
    if not (identifier.startswith(DRILL_PREFIX) and is_drill(cluster, tags)):
        raise CommandRefused(f"instance {identifier} was not created by a restore drill (no {DRILL_TAG}={cluster} "
                             "tag): not deleting it")
    rds.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)


def delete_drill_cluster(rds, identifier: str) -> None:
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        return
    if not is_drill(identifier, cluster_tags(rds, cluster)):
        raise CommandRefused(f"cluster {identifier} was not created by a restore drill (no {DRILL_TAG}={identifier} "
                             "tag): not deleting it")
    rds.delete_db_cluster(DBClusterIdentifier=identifier, SkipFinalSnapshot=True)


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
    region = args.from_vault or settings.writer_region
    if args.from_vault:
        if not settings.backup or not settings.backup.enabled:
            raise CommandRefused(f"--from-vault {region}: stack {short} has backupPlan: false, so it has no backup vaults")
        vault_regions = set(settings.writer_capable_regions) | ({settings.backup.copy_region} - {""})
        if region not in vault_regions:
            raise CommandRefused(f"--from-vault {region}: not a region of stack {short}'s backup vaults; allowed: "
                                 f"{', '.join(sorted(vault_regions))}")
    if args.to_time:
        parse_time(args.to_time)
    return region


def plan_drill(args, settings, rds, backup, now: datetime) -> Plan:
    short = short_stack_name(args.stack)
    prefix = f"{PROJECT}-{short}"
    region = drill_region(args, settings)
    identifier = drill_identifier(args.stack, region, now)
    instance_identifier = f"{identifier[:61]}-1"
    for name, found in ((identifier, find_cluster(rds, identifier)), (instance_identifier, find_instance(rds, instance_identifier))):
        if found is not None:
            raise CommandRefused(f"{name} already exists in {region} and the drill does not touch what it did not "
                                 "create; run it again in a second")
    tags = ((DRILL_TAG, identifier), ("project", PROJECT), ("stack", short))
    home = f"{prefix}-{region}" if region in settings.regions else None
    if args.from_vault:
        return _plan_from_vault(args, settings, rds, backup, now, region, home, identifier, instance_identifier, tags)

    source = stack_cluster(rds, home, region, short)
    latest, earliest = source.get("LatestRestorableTime"), source.get("EarliestRestorableTime")
    to_time = parse_time(args.to_time) if args.to_time else None
    if to_time and latest and earliest and not earliest <= to_time <= latest:
        raise CommandRefused(f"--to-time {iso(to_time)}: outside the restorable window of {home}, "
                             f"{iso(earliest)} to {iso(latest)}")
    restored_to = to_time or latest or now
    return Plan(
        mode="point-in-time", region=region, source_cluster=home, identifier=identifier,
        instance_identifier=instance_identifier,
        instance_class=args.instance_class or _region_instance_class(settings, region), engine=source["Engine"],
        subnet_group=source["DBSubnetGroup"], security_groups=tuple(g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])),
        kms_key=source.get("KmsKeyId"), parameter_group=source.get("DBClusterParameterGroup"),
        serverless_scaling=_scaling(source), restored_to=restored_to, to_time=to_time,
        tags=(*tags, (SOURCE_TAG, home)),
    )


def _scaling(cluster: dict) -> dict | None:
    scaling = cluster.get("ServerlessV2ScalingConfiguration")
    return {"MinCapacity": scaling["MinCapacity"], "MaxCapacity": scaling["MaxCapacity"]} if scaling else None


def _plan_from_vault(args, settings, rds, backup, now, region, home, identifier, instance_identifier, tags) -> Plan:
    from components.naming import vault_name

    short = short_stack_name(args.stack)
    vault = vault_name(short, region)
    point = newest_recovery_point(backup, vault, region, short)
    if not point.get("IamRoleArn"):
        raise CommandRefused(f"recovery point {point['RecoveryPointArn']} names no IAM role to restore it with")
    if home:
        network = stack_cluster(rds, home, region, short)
        subnet_group = args.db_subnet_group_name or network["DBSubnetGroup"]
        groups = tuple(args.vpc_security_group_ids or [g["VpcSecurityGroupId"] for g in network.get("VpcSecurityGroups", [])])
        parameter_group, scaling = network.get("DBClusterParameterGroup"), _scaling(network)
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


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("restore-drill", help=HELP, description=HELP)
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--to-time", metavar="ISO8601",
                        help="restore to this time (with zone, e.g. 2026-12-01T20:15:00Z); default: latest restorable")
    parser.add_argument("--from-vault", metavar="REGION",
                        help="restore the newest completed recovery point of the stack's backup vault in REGION")
    parser.add_argument("--instance-class", help="class of the drill's instance; default: the region's configured class")
    parser.add_argument("--db-subnet-group-name", help="--from-vault into a region without the stack's cluster: subnet group")
    parser.add_argument("--vpc-security-group-ids", nargs="+", metavar="SG",
                        help="--from-vault into a region without the stack's cluster: security groups")
    parser.add_argument("--keep", action="store_true", help="keep the restored cluster (delete it later with --delete)")
    parser.add_argument("--delete", metavar="DRILL_CLUSTER",
                        help="only delete a cluster an earlier drill kept (refused for anything else)")
    parser.add_argument("--region", help="with --delete: the cluster's region (default: the writer region)")
    parser.add_argument("--restore-job-id", metavar="JOB",
                        help="with --delete: the AWS Backup restore job of a --from-vault drill that stopped before "
                             "tagging its cluster; the cluster is accepted if that job created it")
    parser.add_argument("--timeout", type=float, default=7200, metavar="SECONDS",
                        help="give up a wait after SECONDS (default 7200)")
    parser.add_argument("--poll-interval", type=float, default=30, metavar="SECONDS",
                        help="seconds between polls (default 30)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for CI, to record RTO over time)")
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local emulator")
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_refusable(lambda: run_drill(args))


def boto_client(service: str, region: str, endpoint_url: str | None):
    """RDS through the commands' shared client; AWS Backup's the same way (boto3, region, endpoint)."""
    if service == "rds":
        return rds_client(region, endpoint_url)
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


# Flags that make sense only with --delete, and flags of a drill that --delete does not run.
DELETE_ONLY = (("region", "--region"), ("restore_job_id", "--restore-job-id"))
DRILL_ONLY = (("keep", "--keep"), ("from_vault", "--from-vault"), ("to_time", "--to-time"),
              ("instance_class", "--instance-class"), ("db_subnet_group_name", "--db-subnet-group-name"),
              ("vpc_security_group_ids", "--vpc-security-group-ids"), ("json", "--json"))


def refuse_flag_combinations(args) -> None:
    """--delete only deletes; it takes none of a drill's flags, and a drill takes none of its own (exit 2)."""
    if args.delete:
        given = [flag for name, flag in DRILL_ONLY if getattr(args, name, None)]
        if given:
            raise CommandRefused(f"--delete {args.delete} only deletes a kept drill cluster: {', '.join(given)} "
                                 "do not apply to it; give them to a drill, or leave them out")
    else:
        given = [flag for name, flag in DELETE_ONLY if getattr(args, name, None)]
        if given:
            raise CommandRefused(f"{', '.join(given)}: only with --delete (a drill restores in the writer region or "
                                 "the --from-vault region)")


def run_drill(args, *, client: Callable[[str, str], Any] | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC),
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
              out: TextIO | None = None) -> int:
    """The command; ``client(service, region)`` returns a boto3 client (boto3 with --endpoint-url by default)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    out = out or sys.stdout
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise CommandRefused(f"--timeout {args.timeout:g} / --poll-interval {args.poll_interval:g}: expected positive seconds")
    refuse_flag_combinations(args)
    clients = functools.cache(client or (lambda service, region: boto_client(service, region, args.endpoint_url)))
    try:
        settings = resolve_settings(args.stack)
        if args.delete:
            return _delete_kept(args, settings, clients, out)
        region = drill_region(args, settings)
        rds = clients("rds", region)
        backup = clients("backup", region) if args.from_vault else None
        plan = plan_drill(args, settings, rds, backup, now())
        # RPO: the age of the restored point when the restore starts. A restorable time a clock
        # puts after that moment counts as no loss, never as a negative age.
        started_at = now()
    except NoCredentialsError:
        raise CommandRefused("no AWS credentials: configure them and run the command again") from None
    except ClientError as error:
        raise refused_by_aws(error) from None
    except BotoCoreError as error:
        raise CommandRefused(f"could not reach AWS: {error}", EXIT_FAILED) from None
    except KeyboardInterrupt:
        # As after a change (exit 1, "interrupted"), with nothing to clean up: nothing was created or deleted yet.
        raise CommandRefused("interrupted (Ctrl-C) before any change: nothing was created or deleted", EXIT_FAILED) from None

    report = Report(stack=short_stack_name(args.stack), mode=plan.mode, region=plan.region,
                    source_cluster=plan.source_cluster,
                    recovery_point=plan.recovery_point["RecoveryPointArn"] if plan.recovery_point else None,
                    restored_to=iso(plan.restored_to),
                    rpo_seconds=max(round((started_at - plan.restored_to).total_seconds(), 1), 0.0),
                    restored_cluster=plan.identifier, restored_instance=plan.instance_identifier)
    drill = Drill(plan, rds, backup, timeout=args.timeout, poll_interval=args.poll_interval, clock=clock, sleep=sleep, out=out)
    if not args.json:
        source = plan.source_cluster if plan.mode == "point-in-time" else plan.recovery_point["RecoveryPointArn"]
        print(f"restore drill {plan.identifier}: {plan.mode} restore of {source} in {plan.region}", file=out)
    start = clock()
    failure: str | None = None
    try:
        drill.restore()
        cluster = drill.add_instance()
        report.rto_seconds = round(clock() - start, 1)
        report.endpoint = cluster.get("Endpoint")
    except DrillFailed as error:
        failure = str(error)
    except ClientError as error:
        failure = str(refused_by_aws(error))
    except (BotoCoreError, CommandRefused) as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted (Ctrl-C)"

    if failure or not args.keep:
        try:
            errors = drill.clean_up()
        except KeyboardInterrupt:
            errors = ["clean-up interrupted (Ctrl-C)"]
        report.deleted = not errors and not (drill.created.cluster or drill.created.instance)
        report.errors = ([failure] if failure else []) + errors
        if errors:
            report.manual_cleanup = manual_commands(drill.created)
            if drill.created.restore_job not in (None, UNKNOWN_JOB) and drill.created.cluster:
                report.manual_cleanup.append(
                    f"python -m deploy restore-drill --stack {report.stack} --delete {drill.created.cluster} --region "
                    f"{plan.region} --restore-job-id {drill.created.restore_job}  # or this, once the job has completed")
    else:
        report.kept = True
    if report.errors:
        report.status = "failed"
    _print(report, args.json, out)
    return EXIT_FAILED if report.errors else EXIT_OK


def _delete_kept(args, settings, clients, out: TextIO) -> int:
    region = args.region or settings.writer_region
    rds = clients("rds", region)
    identifier = args.delete
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        raise CommandRefused(f"--delete {identifier}: no such cluster in {region}")
    if not is_drill(identifier, cluster_tags(rds, cluster)) and args.restore_job_id:
        _tag_if_created_by(clients("backup", region), rds, cluster, args.restore_job_id)
        cluster = find_cluster(rds, identifier) or cluster
    if not is_drill(identifier, cluster_tags(rds, cluster)):
        raise CommandRefused(f"--delete {identifier}: not created by a restore drill (no {DRILL_TAG}={identifier} tag "
                             f"and {DRILL_PREFIX} prefix); the drill deletes only its own clusters")
    plan = Plan(mode="delete", region=region, source_cluster=None, identifier=identifier, instance_identifier="",
                instance_class="", engine="", subnet_group="", security_groups=(), kms_key=None, parameter_group=None,
                serverless_scaling=None, restored_to=datetime.now(UTC))
    drill = Drill(plan, rds, None, timeout=args.timeout, poll_interval=args.poll_interval, clock=time.monotonic,
                  sleep=time.sleep, out=out)
    members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
    errors: list[str] = []
    left = list(members)
    try:
        for member in members:  # the drill adds one instance; any other must be the drill's too
            drill.created.instance, drill.created.cluster = member, None
            member_errors = drill.clean_up()
            errors += member_errors
            if not member_errors:
                left.remove(member)
        drill.created.instance, drill.created.cluster = None, identifier
        if not errors:
            errors += drill.clean_up()
    except KeyboardInterrupt:
        errors.append("interrupted (Ctrl-C) while deleting")
    if errors:
        print("error: " + "; ".join(errors), file=sys.stderr)
        print("finish by hand:\n  " + "\n  ".join(manual_commands(Created(region, identifier, left[0] if left else None))),
              file=sys.stderr)
        return EXIT_FAILED
    print(f"deleted drill cluster {identifier} in {region}" + (f" and its instances {', '.join(members)}" if members else ""),
          file=out)
    return EXIT_OK


def _tag_if_created_by(backup, rds, cluster: dict, job: str) -> None:
    """A drill-named cluster that restore job ``job`` created (its CreatedResourceArn) gets the drill tag;
    anything else is refused."""
    identifier = cluster["DBClusterIdentifier"]
    try:
        described = backup.describe_restore_job(RestoreJobId=job)
    except backup.exceptions.ResourceNotFoundException:
        raise CommandRefused(f"--restore-job-id {job}: no such restore job in {arn_region(cluster['DBClusterArn'])}") from None
    if not (identifier.startswith(DRILL_PREFIX) and described.get("Status") == "COMPLETED"
            and described.get("CreatedResourceArn") == cluster["DBClusterArn"]):
        raise CommandRefused(f"--delete {identifier}: restore job {job} is {described.get('Status')} and created "
                             f"{described.get('CreatedResourceArn') or 'nothing'}, not this drill cluster; not deleting it")
    rds.add_tags_to_resource(ResourceName=cluster["DBClusterArn"], Tags=[{"Key": DRILL_TAG, "Value": identifier}])


def _print(report: Report, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2), file=out)
        return
    lines = [
        f"  restored to        {report.restored_to}" + (" (recovery point)" if report.mode == "vault" else ""),
        f"  RPO                {report.rpo_seconds:g} s (age of the restored point when the drill started)",
        f"  RTO                {report.rto_seconds:g} s (first restore call to the instance available)"
        if report.rto_seconds is not None else "  RTO                not measured (the drill did not finish)",
        f"  restored cluster   {report.restored_cluster}" + (f" ({report.endpoint})" if report.endpoint else ""),
    ]
    if report.kept:
        lines.append(f"  kept               delete it with: python -m deploy restore-drill --stack {report.stack} "
                     f"--delete {report.restored_cluster} --region {report.region}")
    else:
        lines.append(f"  deleted            {'yes (final snapshot skipped)' if report.deleted else 'NO'}")
    for error in report.errors:
        lines.append(f"  error              {error}")
    if report.manual_cleanup:
        lines.append("  finish the clean-up by hand:")
        lines += [f"    {command}" for command in report.manual_cleanup]
    print("\n".join(lines), file=out)


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "register", "run_drill"]

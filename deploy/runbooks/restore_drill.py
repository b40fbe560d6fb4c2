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

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from components.naming import short_stack_name
from deploy.args import (
    add_endpoint_url,
    add_stack,
    add_waiting,
    aws_region,
    check_region_of_stack,
    instance_class,
    iso_time,
    non_empty,
    security_group_id,
)
from deploy.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandRefused, refused_by_aws
from deploy.runbooks.base import (
    Clients,
    Clock,
    Wait,
    arn_region,
    iso,
    resolve_settings,
)
from deploy.runbooks.rds import cluster_tags, delete_owned_cluster, delete_owned_instance, find_cluster
from deploy.runbooks.restore_drill_plan import (
    AURORA,
    DRILL_PREFIX,
    DRILL_TAG,
    Plan,
    drill_region,
    is_drill,
    plan_drill,
)

HELP = ("restore the writer cluster to a point in time (or the newest recovery point of a backup vault) into "
        "a temporary cluster, measure RTO and RPO, then delete it")


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
# The drill.
# ---------------------------------------------------------------------------------------

class Drill:
    def __init__(self, plan: Plan, rds, backup, waiting: Wait):
        self.plan, self.rds, self.backup, self.waiting = plan, rds, backup, waiting
        self.timeout = waiting.timeout
        self.created = Created(region=plan.region)

    @property
    def tags(self) -> list[dict]:
        return [{"Key": key, "Value": value} for key, value in self.plan.tags]

    def wait(self, name: str, what: str, **params) -> None:
        from botocore.exceptions import WaiterError

        try:
            self.waiting.aws_waiter(self.rds, name, **params)
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
        described = self.waiting.until(
            lambda: self.backup.describe_restore_job(RestoreJobId=job),
            lambda state: state.get("Status") in ("COMPLETED", "ABORTED", "FAILED"),
            lambda state: f"restore job {job} still {state.get('Status')} (--timeout); aws backup "
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
        for kind, delete, waiter, key in (("instance", delete_drill_instance, "db_instance_deleted", "DBInstanceIdentifier"),
                                          ("cluster", delete_drill_cluster, "db_cluster_deleted", "DBClusterIdentifier")):
            identifier = getattr(self.created, kind)
            if not identifier:
                continue
            try:
                delete(self.rds, identifier)
                self.wait(waiter, f"deletion of {kind} {identifier}", **{key: identifier})
                setattr(self.created, kind, None)
            except Exception as error:  # reported, and printed as commands to finish by hand
                errors.append(f"deleting {kind} {identifier}: {error}")
                return errors
        return errors


def delete_drill_instance(rds, identifier: str) -> None:
    def owned(instance: dict) -> bool:  # the drill's instance carries its cluster's drill tag; both names have the prefix
        tags = instance.get("TagList") or rds.list_tags_for_resource(ResourceName=instance["DBInstanceArn"]).get("TagList", [])
        return identifier.startswith(DRILL_PREFIX) and is_drill(instance.get("DBClusterIdentifier") or "", tags)

    delete_owned_instance(rds, identifier, owned, f"instance {identifier} was not created by a restore drill (no "
                                                  f"{DRILL_TAG} tag naming its cluster): not deleting it")


def delete_drill_cluster(rds, identifier: str) -> None:
    delete_owned_cluster(rds, identifier, lambda tags: is_drill(identifier, tags),
                         f"cluster {identifier} was not created by a restore drill (no {DRILL_TAG}={identifier} tag): "
                         "not deleting it")


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("restore-drill", help=HELP, description=HELP)
    add_stack(parser)
    parser.add_argument("--to-time", metavar="ISO8601", type=iso_time,
                        help="restore to this time (with zone, e.g. 2026-12-01T20:15:00Z); default: latest restorable")
    parser.add_argument("--from-vault", metavar="REGION", type=aws_region,
                        help="restore the newest completed recovery point of the stack's backup vault in REGION")
    parser.add_argument("--instance-class", type=instance_class, metavar="CLASS",
                        help="class of the drill's instance, one the stack's engine offers; default: the region's "
                             "configured class")
    parser.add_argument("--db-subnet-group-name", type=non_empty,
                        help="--from-vault into a region without the stack's cluster: subnet group")
    parser.add_argument("--vpc-security-group-ids", nargs="+", metavar="SG", type=security_group_id,
                        help="--from-vault into a region without the stack's cluster: security groups")
    parser.add_argument("--keep", action="store_true", help="keep the restored cluster (delete it later with --delete)")
    parser.add_argument("--delete", metavar="DRILL_CLUSTER", type=non_empty,
                        help="only delete a cluster an earlier drill kept (refused for anything else)")
    parser.add_argument("--region", type=aws_region, metavar="REGION",
                        help="with --delete: the cluster's region, one of the stack's (default: the writer region)")
    parser.add_argument("--restore-job-id", metavar="JOB", type=non_empty,
                        help="with --delete: the AWS Backup restore job of a --from-vault drill that stopped before "
                             "tagging its cluster; the cluster is accepted if that job created it")
    add_waiting(parser, timeout=7200, poll_interval=30, what="a wait")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for CI, to record RTO over time)")
    add_endpoint_url(parser, help="AWS endpoint, e.g. a local emulator")
    parser.set_defaults(func=run_drill)


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


def run_drill(args, *, clients: Callable[[str, str], Any] | None = None,
              now: Callable[[], datetime] = lambda: datetime.now(UTC), clock: Clock | None = None,
              out: TextIO | None = None) -> int:
    """The command; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    from botocore.exceptions import BotoCoreError, ClientError

    out = out or sys.stdout
    refuse_flag_combinations(args)
    waiting = Wait(args.timeout, args.poll_interval, clock or Clock(), out)
    clients = clients or Clients(args.endpoint_url)
    try:
        settings = resolve_settings(args.stack)
        if args.delete:
            return _delete_kept(args, settings, clients, waiting)
        region = drill_region(args, settings)
        rds = clients("rds", region)
        backup = clients("backup", region) if args.from_vault else None
        plan = plan_drill(args, settings, rds, backup, now())
        # RPO: the age of the restored point when the restore starts. A restorable time a clock
        # puts after that moment counts as no loss, never as a negative age.
        started_at = now()
    except KeyboardInterrupt:
        # As after a change (exit 1, "interrupted"), with nothing to clean up: nothing was created or deleted yet.
        raise CommandRefused("interrupted (Ctrl-C) before any change: nothing was created or deleted", EXIT_FAILED) from None

    report = Report(stack=short_stack_name(args.stack), mode=plan.mode, region=plan.region,
                    source_cluster=plan.source_cluster,
                    recovery_point=plan.recovery_point["RecoveryPointArn"] if plan.recovery_point else None,
                    restored_to=iso(plan.restored_to),
                    rpo_seconds=max(round((started_at - plan.restored_to).total_seconds(), 1), 0.0),
                    restored_cluster=plan.identifier, restored_instance=plan.instance_identifier)
    drill = Drill(plan, rds, backup, waiting)
    if not args.json:
        source = plan.source_cluster if plan.mode == "point-in-time" else plan.recovery_point["RecoveryPointArn"]
        print(f"restore drill {plan.identifier}: {plan.mode} restore of {source} in {plan.region}", file=out)
    start = waiting.clock.now()
    failure: str | None = None
    try:
        drill.restore()
        cluster = drill.add_instance()
        report.rto_seconds = round(waiting.clock.now() - start, 1)
        report.endpoint = cluster.get("Endpoint")
    except DrillFailed as error:
        failure = str(error)
    except ClientError as error:
        failure = str(refused_by_aws(error))
    except (BotoCoreError, CommandRefused) as error:
        failure = str(error)
    except KeyboardInterrupt:
        failure = "interrupted (Ctrl-C)"
    except Exception as error:  # anything else after the first change (an endpoint that is not AWS, a bug): clean up
        failure = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"

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


def _delete_kept(args, settings, clients, waiting: Wait) -> int:
    region = settings.writer_region
    if args.region:  # one of the stack's regions, or the copy region a vault drill may have restored in
        copy_region = settings.backup.copy_region if settings.backup and settings.backup.enabled else ""
        region = check_region_of_stack("--region", args.region, [*settings.regions, *filter(None, [copy_region])])
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
    drill = Drill(plan, rds, None, waiting)
    out = waiting.out
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

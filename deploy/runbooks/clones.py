"""Copy-on-write clones of a stack's writer-region cluster: what ``deploy clone`` and ``deploy upgrade
--rehearse`` share. The clone's name and tags, the checks on its source before any change, the calls
that create it (``RestoreDBClusterToPointInTime`` with ``RestoreType=copy-on-write``, then one
instance), the waits, and the clean-up that deletes it (instance first, final snapshot skipped) or
prints the ``aws rds`` commands that finish it by hand.

What AWS documents about cloning ("Cloning a volume for an Amazon Aurora DB cluster",
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html,
"Limitations of Aurora cloning"), and what the checks here make of it:

- "You can't create a clone in a different AWS Region from the source Aurora DB cluster": a clone is
  made in the source's own region (the client of the writer region), never elsewhere.
- "You can't create a clone from an Aurora DB cluster that has no DB instances": refused before the call.
- "Clusters with Aurora Serverless v2 instances follow the same rules as provisioned clusters": nothing
  is refused for Serverless v2; the clone takes the source's capacity range, so that its instance can be
  ``db.serverless``. Aurora Serverless v1 (``EngineMode`` serverless) has its own rules there; the
  program never creates it, and the checks refuse a source that is not ``provisioned``.
- A clone is a copy of the source's volume and runs the source's engine version ("When you create a
  clone using a different deployment configuration than the source, the clone is created using the
  latest minor version of the source's Aurora DB engine"; the deployment here is always the source's):
  a clone on another version is refused; ``deploy upgrade --rehearse`` upgrades a clone afterwards.
- The page's list (at the version read) allows "up to 15 clones at the same time that were created by the
  copy-on-write protocol. After you have 15 clones, the next clone that you create is a full copy": the
  number of live clones is bounded (``--max-clones``, at most 15).
- A global database's secondary is refused as a source: the clone is taken of the writer-region member
  only, the member that takes writes (``DescribeGlobalClusters``, ``IsWriter``). A secondary is a
  read-only replica whose volume lags the writer's, the page names no support for cloning it, and a
  clone of it would be a regional cluster with the writer's data at an unknown lag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from components.aws_facts import SERVERLESS_CLASS
from components.naming import PROJECT, short_stack_name, stack_tags
from deploy.errors import EXIT_FAILED, CommandRefused
from deploy.runbooks.base import Wait, arn_region, is_stack_resource, iso, paginate, tag_map
from deploy.runbooks.rds import (
    cluster_tags,
    delete_owned_cluster,
    delete_owned_instance,
    describe_global_cluster,
    find_cluster,
    find_instance,
    serverless_scaling,
)

CLONE_PAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html"
CLONE_PREFIX = "clone-"
CLONE_TAG = "clone"  # the clone's own name: the marker that `deploy clone` (or a rehearsal) created it
SOURCE_TAG = "clone-source"
PURPOSE_TAG = "clone-purpose"
EXPIRES_TAG = "clone-expires"
DAY = 86400.0  # seconds; a clone's default lifetime
MANAGED_BY = "python -m deploy clone"
MAX_COPY_ON_WRITE_CLONES = 15

# The default class of a clone's instance (`--instance-class` chooses another):
# - the source's Serverless v2 (db.serverless) when its cluster has a capacity range;
# - when a feature needs a class that is not burstable (the Data API of a rehearsal's smoke check: "Data API
#   isn't supported on T DB instance classes", components.aws_facts.data_api_supported), db.r6g.large: the
#   memory-optimised class of the lowest price that every Aurora PostgreSQL 13-17 and Aurora MySQL 3
#   version offers (Graviton2, 16 GiB);
# - otherwise db.t4g.medium: the smallest class both engines offer on every supported version (a test
#   copy needs no more; Aurora MySQL 3 no longer offers db.t3.small).
BURSTABLE_CLASS = "db.t4g.medium"
MEMORY_OPTIMISED_CLASS = "db.r6g.large"

# States in which a cluster being created never becomes available.
CLUSTER_FAILED = ("failed", "inaccessible-encryption-credentials", "incompatible-network", "incompatible-parameters",
                  "incompatible-restore", "deleting")
INSTANCE_FAILED = ("failed", "incompatible-network", "incompatible-parameters", "incompatible-restore",
                   "inaccessible-encryption-credentials", "storage-full", "deleting")


def clone_identifier(stack: str, region: str, now: datetime) -> str:
    """``clone-<stack>-<region>-<yyyymmddhhmmss>``: a letter first, lower case, no '--', at most 63 characters."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    head = f"{CLONE_PREFIX}{short_stack_name(stack)}-{region}".lower()[: 63 - len(stamp) - 1].rstrip("-")
    identifier = f"{head}-{stamp}"
    while "--" in identifier:
        identifier = identifier.replace("--", "-")
    return identifier


def is_clone(identifier: str, tags: list[dict] | dict[str, str]) -> bool:
    """Created by this driver: the name has the clone prefix and the clone tag carries that very name."""
    found = tags if isinstance(tags, dict) else tag_map(tags)
    return identifier.startswith(CLONE_PREFIX) and found.get(CLONE_TAG) == identifier


def default_instance_class(source: dict, needs_data_api: bool) -> str:
    if source.get("ServerlessV2ScalingConfiguration"):
        return SERVERLESS_CLASS
    return MEMORY_OPTIMISED_CLASS if needs_data_api else BURSTABLE_CLASS


# ---------------------------------------------------------------------------------------
# The source, checked before any change.
# ---------------------------------------------------------------------------------------

def source_cluster(rds, identifier: str, region: str, stack: str, *, global_cluster_id: str | None = None) -> dict:
    """The stack's cluster ``identifier`` in ``region`` as a clone's source; a refusal (exit 2) naming why not."""
    short = short_stack_name(stack)
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        raise CommandRefused(f"stack {short} has no deployed cluster in {region}: {identifier} does not exist; "
                             f"deploy it first (`python -m deploy up --stack {stack}`)")
    tags = tag_map(cluster_tags(rds, cluster))
    if not is_stack_resource(tags, short):
        raise CommandRefused(f"cluster {identifier} in {region} is not tagged project={PROJECT}, stack={short}: not this "
                             "stack's cluster; clones are made of the stack's own writer cluster only")
    if cluster.get("Status") != "available":
        raise CommandRefused(f"cluster {identifier} is {cluster.get('Status')!r}, not 'available'; wait (`aws rds wait "
                             f"db-cluster-available --db-cluster-identifier {identifier} --region {region}`) and run again")
    if (cluster.get("EngineMode") or "provisioned") != "provisioned":
        raise CommandRefused(f"cluster {identifier} runs engine mode {cluster.get('EngineMode')!r}: clones here are of "
                             f"provisioned and Serverless v2 clusters, whose cloning rules AWS documents as one ({CLONE_PAGE})")
    if not cluster.get("DBClusterMembers"):
        raise CommandRefused(f"cluster {identifier} has no DB instance, and AWS cannot clone such a cluster (\"You can only "
                             f"clone Aurora DB clusters that have at least one DB instance\", {CLONE_PAGE})")
    gid = global_cluster_id or cluster.get("GlobalClusterIdentifier")
    if gid:
        check_global_writer(rds, gid, cluster, stack)
    return cluster


def check_global_writer(rds, gid: str, cluster: dict, stack: str) -> None:
    """A global database member is a clone's source only while it is the writer."""
    members = describe_global_cluster(rds, gid).get("GlobalClusterMembers", [])
    member = next((m for m in members if m.get("DBClusterArn") == cluster["DBClusterArn"]), None)
    if member is None or not member.get("IsWriter"):
        writer = next((m.get("DBClusterArn", "") for m in members if m.get("IsWriter")), "")
        where = f"the writer is {writer.rsplit(':', 1)[-1]} in {arn_region(writer)}" if writer else "no member is the writer"
        raise CommandRefused(
            f"cluster {cluster['DBClusterIdentifier']} is a secondary of global database {gid} ({where}): a clone is made "
            "of the writer-region member only, which takes the writes; AWS clones within the source's region "
            f"({CLONE_PAGE}). Record the writer region (globalDatabase.writerRegion, docs/disaster-recovery.md) if "
            f"the writer moved, then run again (stack {short_stack_name(stack)})")


def check_same_version(source: dict, version: str | None) -> None:
    if version and version != source.get("EngineVersion"):
        raise CommandRefused(
            f"--engine-version {version}: a clone runs its source's engine version ({source.get('Engine')} "
            f"{source.get('EngineVersion')}), it is a copy of the same volume ({CLONE_PAGE}); to try {version} on a clone, "
            f"run `python -m deploy upgrade --stack S --engine-version {version} --rehearse`")


def check_instance_class_fits(source: dict, instance_class: str) -> None:
    if instance_class == SERVERLESS_CLASS and not source.get("ServerlessV2ScalingConfiguration"):
        raise CommandRefused(f"--instance-class {SERVERLESS_CLASS}: cluster {source['DBClusterIdentifier']} has no Serverless "
                             "v2 capacity range for the clone to take; choose a provisioned class")


# ---------------------------------------------------------------------------------------
# The stack's clones.
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clone:
    identifier: str
    status: str
    source: str
    purpose: str
    created: datetime | None
    expires: datetime | None
    endpoint: str | None
    instances: tuple[str, ...]

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


def _moment(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def stack_clones(rds, stack: str) -> list[Clone]:
    """The clones of ``stack`` in the client's region: clusters carrying the clone marker and the stack's tags."""
    found = []
    for cluster in paginate(rds, "describe_db_clusters", "DBClusters"):
        identifier = cluster.get("DBClusterIdentifier", "")
        if not identifier.startswith(CLONE_PREFIX):
            continue
        tags = tag_map(cluster_tags(rds, cluster))
        if not (is_clone(identifier, tags) and is_stack_resource(tags, stack)):
            continue
        created = cluster.get("ClusterCreateTime")
        found.append(Clone(identifier=identifier, status=cluster.get("Status", ""), source=tags.get(SOURCE_TAG, ""),
                           purpose=tags.get(PURPOSE_TAG, ""), created=created if isinstance(created, datetime) else None,
                           expires=_moment(tags.get(EXPIRES_TAG)), endpoint=cluster.get("Endpoint"),
                           instances=tuple(m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", []))))
    return sorted(found, key=lambda clone: clone.identifier)


def live(clones: list[Clone]) -> list[Clone]:
    return [c for c in clones if c.status not in ("deleting", "deleted")]


# ---------------------------------------------------------------------------------------
# Creating and deleting.
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CloneSpec:
    """One clone, decided before its first call."""

    region: str
    source: str
    identifier: str
    instance_class: str
    engine: str
    engine_version: str
    subnet_group: str
    security_groups: tuple[str, ...]
    kms_key: str | None
    parameter_group: str | None
    serverless_scaling: dict | None
    iam_auth: bool
    tags: tuple[tuple[str, str], ...]

    @property
    def instance_identifier(self) -> str:
        return f"{self.identifier[:61]}-1"

    def restore_params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(
            DBClusterIdentifier=self.identifier, SourceDBClusterIdentifier=self.source, RestoreType="copy-on-write",
            UseLatestRestorableTime=True, DBSubnetGroupName=self.subnet_group, VpcSecurityGroupIds=list(self.security_groups),
            EnableIAMDatabaseAuthentication=self.iam_auth, DeletionProtection=False, CopyTagsToSnapshot=False,
            Tags=[{"Key": k, "Value": v} for k, v in self.tags])
        optional = {"KmsKeyId": self.kms_key, "DBClusterParameterGroupName": self.parameter_group,
                    "ServerlessV2ScalingConfiguration": self.serverless_scaling}
        params.update({key: value for key, value in optional.items() if value})
        return params

    def instance_params(self) -> dict[str, Any]:
        return dict(DBInstanceIdentifier=self.instance_identifier, DBClusterIdentifier=self.identifier,
                    DBInstanceClass=self.instance_class, Engine=self.engine, PubliclyAccessible=False,
                    Tags=[{"Key": k, "Value": v} for k, v in self.tags])


def clone_spec(source: dict, stack: str, region: str, now: datetime, *, instance_class: str, purpose: str,
               ttl_seconds: float) -> CloneSpec:
    """The clone of ``source`` beside it: the source's subnet group, security groups, KMS key and cluster
    parameter group, IAM authentication as the source has it, and the tags that mark it as a clone."""
    identifier = clone_identifier(stack, region, now)
    tags = (*{**stack_tags(stack), "managed-by": MANAGED_BY}.items(), (CLONE_TAG, identifier),
            (SOURCE_TAG, source["DBClusterIdentifier"]), (PURPOSE_TAG, purpose),
            (EXPIRES_TAG, iso(now + timedelta(seconds=ttl_seconds))))
    return CloneSpec(
        region=region, source=source["DBClusterIdentifier"], identifier=identifier, instance_class=instance_class,
        engine=source["Engine"], engine_version=source.get("EngineVersion", ""), subnet_group=source["DBSubnetGroup"],
        security_groups=tuple(g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])),
        kms_key=source.get("KmsKeyId"), parameter_group=source.get("DBClusterParameterGroup"),
        serverless_scaling=serverless_scaling(source), iam_auth=bool(source.get("IAMDatabaseAuthenticationEnabled")), tags=tags)


def check_names_free(rds, spec: CloneSpec) -> None:
    for name, found in ((spec.identifier, find_cluster(rds, spec.identifier)),
                        (spec.instance_identifier, find_instance(rds, spec.instance_identifier))):
        if found is not None:
            raise CommandRefused(f"{name} already exists in {spec.region}; clone names carry the second they are made: "
                                 "run again in a second")


def manual_commands(region: str, cluster: str | None, instance: str | None) -> list[str]:
    """The ``aws rds`` commands that finish deleting a clone."""
    commands = [f"# if AWS refuses a delete while the clone is still being created, wait first: aws rds wait "
                f"db-{'instance' if instance else 'cluster'}-available --region {region} "
                f"--db-{'instance' if instance else 'cluster'}-identifier {instance or cluster}"] if cluster or instance else []
    if instance:
        commands += [f"aws rds delete-db-instance --region {region} --db-instance-identifier {instance} --skip-final-snapshot",
                     f"aws rds wait db-instance-deleted --region {region} --db-instance-identifier {instance}"]
    if cluster:
        commands.append(f"aws rds delete-db-cluster --region {region} --db-cluster-identifier {cluster} --skip-final-snapshot")
    return commands


def _waited(wait: Wait, read: Callable[[], dict | None], what: str, failed: tuple[str, ...], status_key: str) -> dict:
    def done(state: dict | None) -> bool:
        status = (state or {}).get(status_key)
        if status in failed:
            raise CommandRefused(f"{what} is {status!r}: it will not become available", EXIT_FAILED)
        return status == "available"

    def progress(elapsed: float, state: dict | None) -> list[str]:
        return [f"[{elapsed:6.0f}s] {what} {(state or {}).get(status_key) or 'not visible yet'}"]

    return wait.until(read, done, lambda state: f"{what} is {(state or {}).get(status_key)!r}, not 'available' "
                                                "(--timeout)", progress)


def wait_cluster(rds, identifier: str, wait: Wait) -> dict:
    return _waited(wait, lambda: find_cluster(rds, identifier), f"cluster {identifier}", CLUSTER_FAILED, "Status")


def wait_instance(rds, identifier: str, wait: Wait) -> dict:
    return _waited(wait, lambda: find_instance(rds, identifier), f"instance {identifier}", INSTANCE_FAILED,
                   "DBInstanceStatus")


def wait_gone(read: Callable[[], dict | None], what: str, wait: Wait) -> None:
    wait.until(read, lambda state: state is None, lambda state: f"{what} is still there (--timeout)")


@dataclass
class CloneRun:
    """Creates one clone and deletes what it created; ``cluster`` / ``instance`` name what exists so far."""

    spec: CloneSpec
    rds: Any
    wait: Wait
    cluster: str | None = None
    instance: str | None = None
    errors: list[str] = field(default_factory=list)

    def create(self) -> dict:
        """The clone's cluster, then its instance, each waited for; the clone's cluster as RDS reports it."""
        spec = self.spec
        from botocore.exceptions import ClientError  # boto3 loads only for the commands that call AWS

        self.cluster = spec.identifier  # from here on clean-up looks for it (the call may fail after AWS took it)
        try:
            self.rds.restore_db_cluster_to_point_in_time(**spec.restore_params())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "DBClusterAlreadyExistsFault":
                self.cluster = None  # the name is another run's clone (made in the same second): never clean it up
            raise
        wait_cluster(self.rds, spec.identifier, self.wait)
        self.instance = spec.instance_identifier
        self.rds.create_db_instance(**spec.instance_params())
        wait_instance(self.rds, spec.instance_identifier, self.wait)
        return find_cluster(self.rds, spec.identifier) or {}

    def clean_up(self) -> list[str]:
        """Delete the instance, then the cluster (final snapshot skipped); the errors, empty when all is gone."""
        try:
            if self.instance:
                delete_clone_instance(self.rds, self.instance, self.spec.identifier)
                wait_gone(lambda: find_instance(self.rds, self.instance), f"instance {self.instance}", self.wait)
                self.instance = None
            if self.cluster:
                delete_clone_cluster(self.rds, self.cluster)
                self.cluster = None
        except KeyboardInterrupt:
            return ["clean-up interrupted (Ctrl-C)"]
        except Exception as error:  # reported, with the commands that finish the clean-up by hand
            from deploy.errors import error_line

            what = f"instance {self.instance}" if self.instance else f"cluster {self.cluster}"
            return [f"deleting {what}: {error if isinstance(error, CommandRefused) else error_line(error)}"]
        return []

    def manual_cleanup(self) -> list[str]:
        return manual_commands(self.spec.region, self.cluster, self.instance)


def delete_clone_instance(rds, identifier: str, cluster: str) -> None:
    delete_owned_instance(rds, identifier, lambda instance: cluster.startswith(CLONE_PREFIX)
                          and instance.get("DBClusterIdentifier") == cluster,
                          f"instance {identifier} is not an instance of clone {cluster}: not deleting it")


def delete_clone_cluster(rds, identifier: str) -> None:
    delete_owned_cluster(rds, identifier, lambda tags: is_clone(identifier, tags),
                         f"cluster {identifier} was not created by `deploy clone` (no {CLONE_TAG}={identifier} tag): "
                         "not deleting it")


def delete_clone(rds, identifier: str, region: str, wait: Wait) -> CloneRun:
    """Delete an existing clone: every instance, then the cluster. The run's ``errors`` say what failed."""
    cluster = find_cluster(rds, identifier) or {}
    members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
    spec = CloneSpec(region=region, source="", identifier=identifier, instance_class="", engine="", engine_version="",
                     subnet_group="", security_groups=(), kms_key=None, parameter_group=None, serverless_scaling=None,
                     iam_auth=False, tags=())
    run = CloneRun(spec, rds, wait)
    for member in members:
        run.instance = member
        run.errors = run.clean_up()
        if run.errors:
            return run
    run.cluster = identifier
    run.errors = run.clean_up()
    return run


"""`python -m deploy upgrade --stack S --engine-version V`: upgrade the stack's clusters to
engine version V in the order AWS needs, then record V in the settings.

Everything is checked before the first mutating call, and the command refuses (exit 2),
naming what to change, when: V is malformed for the engine, not offered, or not a valid
upgrade target of the running version (``DescribeDBEngineVersions``, ``ValidUpgradeTarget``);
for a global stack V lacks ``SupportsGlobalDatabases`` in a member region; an instance class
in use is not orderable for V (``DescribeOrderableDBInstanceOptions``); the global cluster, a
member cluster or an instance is not ``available``; a major upgrade's parameter groups of the
new family are not declared by the program yet (it prints the ``engineUpgradeTarget`` change
that declares them); a production major upgrade has no fresh snapshot (``--snapshot`` takes
one), or its ``preUpgradeSnapshot`` is not an ``available`` snapshot of the writer cluster
(``DescribeDBClusterSnapshots``).

- **Global stack**: ``ModifyGlobalCluster`` (``EngineVersion``, ``AllowMajorVersionUpgrade``)
  upgrades every member; the command waits until each member runs V and is available,
  printing each member's state at every poll. After a major upgrade RDS leaves the members
  on the default parameter groups of the new family (ModifyGlobalCluster, AWS API reference),
  so the command attaches the program's groups of that family (TLS enforced) right away.
  ``--blue-green`` is refused: this command upgrades a global database through its global
  cluster only.
- **Regional stack, in place**: ``ModifyDBCluster`` with V (and, for a major upgrade, the
  new family's cluster and instance parameter groups), applied now (default) or in the next
  maintenance window (``--in-maintenance-window``; run the command again afterwards to record
  the version).
- **Regional stack, ``--blue-green``**: ``CreateBlueGreenDeployment`` (target version and
  parameter groups), wait until ``AVAILABLE``, print the green endpoints. The switchover runs
  only with ``--switchover`` (a run without it, first or later, stops at the green endpoints);
  then the deployment is deleted and the old blue cluster (renamed by RDS, found again by its
  resource id) kept, or deleted with ``--delete-blue``. This path cannot run on the clusters
  this program creates: their master password is RDS-managed, which AWS does not support for
  Blue/Green (``MANAGED_SECRET_LIMITATIONS``), so the command refuses it there.

A regional stack can also be upgraded without this command: change ``engineVersion`` and run
``pulumi up`` (an in-place modify with the new family's groups; README: Upgrading the engine).
A global database cannot: its members ignore ``engineVersion``.

After the upgrade the command prints the settings change (``engineVersion`` V, clearing
``engineUpgradeTarget`` and ``preUpgradeSnapshot``) so the next ``pulumi up`` agrees with the
clusters; ``--apply`` sets it through the Automation API. ``--dry-run`` makes the read-only
checks and prints the calls and waits it would make, and makes none of them.

Exit codes: 0 upgraded (or staged, or nothing to do), 1 AWS refused a call or a wait timed
out (the message says how to finish by hand), 2 refused input.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from components.project import PROJECT
from deploy.cli import EXIT_FAILED, EXIT_OK
from deploy.runbooks.base import (
    Clock,
    CommandRefused,
    arn_region,
    error_tail,
    open_stack,
    paginate,
    poll_until,
    rds_client,
    refused_by_aws,
    require_pulumi_cli,
    resolve_settings,
    run_refusable,
    short_stack_name,
    stack_outputs,
)

HELP = "upgrade the engine version of the stack's clusters (global cluster, in place, or Blue/Green)"
AVAILABLE = "available"
# Blue/Green deployment states (DescribeBlueGreenDeployments, AWS API reference).
BG_PROVISIONING, BG_AVAILABLE, BG_SWITCHING, BG_SWITCHED = (
    "PROVISIONING", "AVAILABLE", "SWITCHOVER_IN_PROGRESS", "SWITCHOVER_COMPLETED")
BG_FAILED = ("INVALID_CONFIGURATION", "SWITCHOVER_FAILED", "PROVISIONING_FAILED", "DELETING")
BG_LIMITATIONS = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/blue-green-deployments-considerations.html"
# "Managing master user passwords with Secrets Manager isn't supported for ... Amazon RDS Blue/Green
# Deployments" (Limitations for Secrets Manager integration with Amazon Aurora). Every regional
# cluster this program creates has an RDS-managed master password, so --blue-green cannot run on them.
MANAGED_SECRET_LIMITATIONS = ("https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/"
                              "rds-secrets-manager.html#rds-secrets-manager-limitations")


@dataclass(frozen=True)
class Instance:
    identifier: str
    instance_class: str
    status: str
    parameter_group: str = ""


@dataclass(frozen=True)
class Cluster:
    region: str
    identifier: str
    arn: str
    resource_id: str
    status: str
    engine_version: str
    managed_master_secret: bool
    deletion_protection: bool
    instances: tuple[Instance, ...]
    parameter_group: str = ""
    endpoint: str = ""
    reader_endpoint: str = ""

    def not_available(self) -> list[str]:
        found = [] if self.status == AVAILABLE else [f"cluster {self.identifier} ({self.region}) is {self.status!r}"]
        return found + [f"instance {i.identifier} ({self.region}) is {i.status!r}"
                        for i in self.instances if i.status != AVAILABLE]


@dataclass
class Plan:
    """The validated upgrade: what runs, and the groups a major upgrade switches to."""

    stack: str
    engine: str
    current: str
    target: str
    major: bool
    target_family: str
    clusters: list[Cluster]  # writer first
    global_cluster_id: str | None = None
    parameter_groups: dict[str, dict[str, str]] = field(default_factory=dict)  # region -> {cluster, instance}
    steps: list[str] = field(default_factory=list)

    @property
    def writer(self) -> Cluster:
        return self.clusters[0]


# ---------------------------------------------------------------------------------------
# Reading and validating (read-only calls).
# ---------------------------------------------------------------------------------------

def check_version_argument(engine: str, value: str) -> str:
    from components.settings import ENGINE_VERSION_HELP, engine_version_pattern

    if not engine_version_pattern(engine).match(value or ""):
        raise CommandRefused(f"--engine-version {value!r}: not a version of {engine}; expected "
                             f"{ENGINE_VERSION_HELP[engine]}")
    return value


def read_cluster(rds, region: str, identifier: str) -> Cluster:
    """The cluster and its instances as RDS reports them; a refusal when the cluster is missing."""
    from botocore.exceptions import ClientError

    try:
        found = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "DBClusterNotFoundFault":
            raise
        found = []
    if not found:
        raise CommandRefused(f"cluster {identifier} does not exist in {region}: the stack's outputs name it; "
                             "deploy the stack first (`python -m deploy up`)")
    cluster = found[0]
    instances = paginate(rds, "describe_db_instances", "DBInstances",
                         Filters=[{"Name": "db-cluster-id", "Values": [cluster["DBClusterIdentifier"]]}])
    return Cluster(
        region=region, identifier=cluster["DBClusterIdentifier"], arn=cluster["DBClusterArn"],
        resource_id=cluster.get("DbClusterResourceId", ""), status=cluster.get("Status", ""),
        engine_version=cluster.get("EngineVersion", ""),
        managed_master_secret=bool(cluster.get("MasterUserSecret")),
        deletion_protection=bool(cluster.get("DeletionProtection")),
        instances=tuple(Instance(i["DBInstanceIdentifier"], i.get("DBInstanceClass", ""), i.get("DBInstanceStatus", ""),
                                 next((g.get("DBParameterGroupName", "") for g in i.get("DBParameterGroups", [])), ""))
                        for i in instances),
        parameter_group=cluster.get("DBClusterParameterGroup", ""),
        endpoint=cluster.get("Endpoint", ""), reader_endpoint=cluster.get("ReaderEndpoint", ""),
    )


def upgrade_target(rds, engine: str, current: str, target: str) -> dict:
    """The ``ValidUpgradeTarget`` entry for ``target`` from ``current``; a refusal naming the valid ones."""
    from deploy.runbooks.preflight import engine_versions

    if not [v for v in engine_versions(rds, engine, target) if v.get("EngineVersion") == target]:
        raise CommandRefused(f"--engine-version {target}: {engine} {target} is not offered (DescribeDBEngineVersions "
                             f"knows no such version); list them with `aws rds describe-db-engine-versions --engine {engine} "
                             "--query 'DBEngineVersions[].EngineVersion'`")
    targets = [t for v in engine_versions(rds, engine, current) for t in v.get("ValidUpgradeTarget", [])]
    match = [t for t in targets if t.get("EngineVersion") == target]
    if not match:
        shown = ", ".join(t.get("EngineVersion", "") for t in targets) or "none"
        raise CommandRefused(f"--engine-version {target}: not a valid upgrade target from {engine} {current} "
                             f"(valid targets: {shown})")
    return match[0]


def check_offered_in_region(rds, region: str, engine: str, target: str, global_database: bool) -> None:
    from deploy.runbooks.preflight import engine_versions

    offered = [v for v in engine_versions(rds, engine, target) if v.get("EngineVersion") == target]
    if not offered:
        raise CommandRefused(f"--engine-version {target}: {engine} {target} is not offered in {region}, a region of "
                             "the stack; choose a version every member region offers")
    if global_database and not offered[0].get("SupportsGlobalDatabases"):
        raise CommandRefused(f"--engine-version {target}: {engine} {target} does not support Aurora Global Database in "
                             f"{region}; choose a version with SupportsGlobalDatabases in every member region")


def check_orderable(rds, cluster: Cluster, engine: str, target: str) -> None:
    """Every instance class the cluster uses can run ``target`` in its region."""
    for instance_class in sorted({i.instance_class for i in cluster.instances}):
        options = [o for o in paginate(rds, "describe_orderable_db_instance_options", "OrderableDBInstanceOptions",
                                       Engine=engine, EngineVersion=target, DBInstanceClass=instance_class)
                   if o.get("DBInstanceClass") == instance_class]
        if not options:
            users = ", ".join(i.identifier for i in cluster.instances if i.instance_class == instance_class)
            raise CommandRefused(f"--engine-version {target}: instance class {instance_class} ({users}) is not orderable "
                                 f"for {engine} {target} in {cluster.region}; change instanceClass/readerInstanceClass "
                                 "to a class that is, `pulumi up`, then upgrade")


def check_available(clusters: list[Cluster], global_cluster: dict | None = None) -> None:
    problems = [p for c in clusters for p in c.not_available()]
    if global_cluster is not None and global_cluster.get("Status") != AVAILABLE:
        problems.insert(0, f"global cluster {global_cluster.get('GlobalClusterIdentifier')} is "
                           f"{global_cluster.get('Status')!r}")
    if problems:
        raise CommandRefused("not every member is available: " + "; ".join(problems) +
                             ". Wait until they are (or finish what is under way) and run the command again")


def check_recorded_snapshot(rds, cluster: Cluster, name: str, stack: str) -> dict:
    """The ``preUpgradeSnapshot`` a production major upgrade relies on, as RDS reports it: it must
    exist, be ``available`` and be a snapshot of the writer cluster (``DescribeDBClusterSnapshots``;
    ``DBClusterSnapshotNotFoundFault`` is the model's error for an unknown identifier)."""
    from botocore.exceptions import ClientError

    redo = (f"take one with this command's --snapshot (or record a snapshot of {cluster.identifier}: "
            f"pulumi config set preUpgradeSnapshot <id> --stack {stack})")
    try:
        found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)["DBClusterSnapshots"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "DBClusterSnapshotNotFoundFault":
            raise
        found = []
    if not found:
        raise CommandRefused(f"preUpgradeSnapshot {name}: no such DB cluster snapshot in {cluster.region}; {redo}")
    snapshot = found[0]
    if snapshot.get("DBClusterIdentifier") != cluster.identifier:
        raise CommandRefused(f"preUpgradeSnapshot {name} is a snapshot of {snapshot.get('DBClusterIdentifier')!r}, not "
                             f"of the writer cluster {cluster.identifier}; {redo}")
    if snapshot.get("Status") != AVAILABLE:
        raise CommandRefused(f"preUpgradeSnapshot {name} is {snapshot.get('Status')!r}, not 'available': wait until it "
                             f"is (`aws rds describe-db-cluster-snapshots --db-cluster-snapshot-identifier {name} "
                             f"--region {cluster.region}`), or {redo}")
    return snapshot


def target_parameter_groups(plan: Plan, regions: dict[str, dict], settings) -> dict[str, dict[str, str]]:
    """Region -> the program's parameter groups of the target family; a refusal printing the
    settings change that declares them when the stack's outputs show none."""
    found = {region: (regions.get(region) or {}).get("parameterGroups", {}).get(plan.target_family)
             for region in (c.region for c in plan.clusters)}
    missing = sorted(region for region, groups in found.items() if not groups)
    if missing:
        short = short_stack_name(plan.stack)
        raise CommandRefused(
            f"a major upgrade to {plan.target} needs parameter groups of the {plan.target_family} family, and the stack "
            f"declares none in {', '.join(missing)} (its outputs show "
            f"{', '.join(sorted((regions.get(missing[0]) or {}).get('parameterGroups', {}))) or 'no groups'}). "
            "Declare them first, then run this command again:\n"
            f"  pulumi config set engineUpgradeTarget {plan.target} --stack {plan.stack}\n"
            + ("  (production: add a fresh snapshot, e.g. run this command with --snapshot once the groups exist)\n"
               if settings.production else "")
            + f"  python -m deploy up --stack {plan.stack}      # creates the {plan.target_family} groups beside the "
              f"current ones\nand commit Pulumi.{short}.yaml.")
    return found


def stack_clusters(outputs: dict, settings) -> list[tuple[str, str]]:
    """(region, cluster identifier) of every member, writer region first, from the stack's outputs."""
    regions = outputs.get("regions") or {}
    order = [settings.writer_region] + [r for r in settings.regions if r != settings.writer_region]
    found = []
    for region in order:
        identifier = (regions.get(region) or {}).get("clusterIdentifier")
        if not identifier:
            raise CommandRefused(f"the stack's outputs name no cluster in {region} (output regions.{region}."
                                 "clusterIdentifier); run `python -m deploy up` first, or pass --outputs-file")
        found.append((region, identifier))
    return found


# ---------------------------------------------------------------------------------------
# Waiting.
# ---------------------------------------------------------------------------------------

def wait_for_version(rds_for: Callable[[str], Any], clusters: list[Cluster], target: str, *, timeout: float,
                     poll_interval: float, clock: Clock, out: TextIO, how_to_finish: str) -> list[Cluster]:
    """Poll every cluster until each runs ``target`` and it and its instances are available."""
    def read() -> list[Cluster]:
        return [read_cluster(rds_for(c.region), c.region, c.identifier) for c in clusters]

    def done(current: list[Cluster]) -> bool:
        return all(c.engine_version == target and not c.not_available() for c in current)

    def progress(elapsed: float, current: list[Cluster]) -> list[str]:
        return [f"[{elapsed:6.0f}s] {c.region:<14} {c.identifier:<40} {c.status:<12} {c.engine_version}"
                + ("" if not c.not_available() or c.status != AVAILABLE else " (instances: "
                   + ", ".join(f"{i.identifier} {i.status}" for i in c.instances if i.status != AVAILABLE) + ")")
                for c in current]

    def timed_out(current: list[Cluster]) -> str:
        state = "; ".join(f"{c.identifier} is {c.status!r} on {c.engine_version}" for c in current)
        return f"{state}. The upgrade may still be under way. {how_to_finish}"

    return poll_until(read, done, progress, timeout=timeout, poll_interval=poll_interval, clock=clock, out=out,
                      timed_out=timed_out)


# ---------------------------------------------------------------------------------------
# The mutating steps.
# ---------------------------------------------------------------------------------------

def snapshot_identifier(cluster: str, target: str, now: datetime) -> str:
    return f"{cluster}-before-{target.replace('.', '-').replace('_', '-')}-{now:%Y%m%d%H%M}"


# States in which a cluster snapshot never becomes available: the failure acceptors of botocore's
# DBClusterSnapshotAvailable waiter (botocore/data/rds/2014-10-31/waiters-2.json).
SNAPSHOT_FAILED = ("deleted", "deleting", "failed", "incompatible-restore", "incompatible-parameters")


def take_snapshot(rds, cluster: Cluster, target: str, *, now: datetime, out: TextIO, stack: str, timeout: float,
                  poll_interval: float, clock: Clock) -> str:
    """Create a manual snapshot of ``cluster`` and poll it (the command's --poll-interval and
    --timeout) until available; a failure saying how to finish by hand when it fails or times out."""
    identifier = snapshot_identifier(cluster.identifier, target, now)
    print(f"snapshot: CreateDBClusterSnapshot {identifier} of {cluster.identifier}; waiting until available",
          file=out, flush=True)
    rds.create_db_cluster_snapshot(DBClusterSnapshotIdentifier=identifier, DBClusterIdentifier=cluster.identifier,
                                   Tags=[{"Key": "purpose", "Value": f"before upgrade to {target}"}])
    watch = (f"`aws rds describe-db-cluster-snapshots --db-cluster-snapshot-identifier {identifier} --region "
             f"{cluster.region}`")
    finish = (f"Nothing was upgraded. Watch it with {watch}; once it is available, record it with `pulumi config set "
              f"preUpgradeSnapshot {identifier} --stack {stack}` and run this command again without --snapshot")

    def read() -> dict:
        found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)["DBClusterSnapshots"]
        return found[0] if found else {}

    def done(snapshot: dict) -> bool:
        if snapshot.get("Status") in SNAPSHOT_FAILED:
            raise CommandRefused(f"snapshot {identifier} is {snapshot.get('Status')!r}: it will not become available. "
                                 f"Nothing was upgraded; see {watch}, then run this command again", EXIT_FAILED)
        return snapshot.get("Status") == AVAILABLE

    def progress(elapsed: float, snapshot: dict) -> list[str]:
        percent = snapshot.get("PercentProgress")
        return [f"[{elapsed:6.0f}s] snapshot {identifier} {snapshot.get('Status')}"
                + (f" ({percent}%)" if percent is not None else "")]

    poll_until(read, done, progress, timeout=timeout, poll_interval=poll_interval, clock=clock, out=out,
               timed_out=lambda snapshot: f"snapshot {identifier} is {snapshot.get('Status')!r}, not 'available'. "
                                          + finish)
    return identifier


def modify_in_place(rds, plan: Plan, *, apply_immediately: bool) -> dict:
    params: dict[str, Any] = {"DBClusterIdentifier": plan.writer.identifier, "EngineVersion": plan.target,
                              "AllowMajorVersionUpgrade": plan.major, "ApplyImmediately": apply_immediately}
    if plan.major:
        # The instances use a custom group, so RDS needs the new family's one in the same call.
        groups = plan.parameter_groups[plan.writer.region]
        params.update(DBClusterParameterGroupName=groups["cluster"], DBInstanceParameterGroupName=groups["instance"])
    return rds.modify_db_cluster(**params)["DBCluster"]


def attach_parameter_groups(rds_for: Callable[[str], Any], plan: Plan, clusters: list[Cluster], out: TextIO) -> None:
    """After a global major upgrade: the program's groups of the new family on every member and
    instance not on them yet (an interrupted run may have switched the cluster but not all of
    its instances)."""
    for cluster in clusters:
        groups = plan.parameter_groups[cluster.region]
        rds = rds_for(cluster.region)
        changed = []
        if cluster.parameter_group != groups["cluster"]:
            rds.modify_db_cluster(DBClusterIdentifier=cluster.identifier, DBClusterParameterGroupName=groups["cluster"],
                                  ApplyImmediately=True)
            changed.append(f"{cluster.identifier} -> {groups['cluster']}")
        for instance in cluster.instances:
            if instance.parameter_group != groups["instance"]:
                rds.modify_db_instance(DBInstanceIdentifier=instance.identifier, DBParameterGroupName=groups["instance"],
                                       ApplyImmediately=True)
                changed.append(f"{instance.identifier} -> {groups['instance']}")
        if changed:
            print(f"parameter groups: {'; '.join(changed)}", file=out, flush=True)


def blue_green_name(cluster: str, target: str) -> str:
    return f"{cluster}-to-{target.replace('.', '-').replace('_', '-')}"[:60].rstrip("-")


def find_blue_green(rds, name: str) -> dict | None:
    found = paginate(rds, "describe_blue_green_deployments", "BlueGreenDeployments",
                     Filters=[{"Name": "blue-green-deployment-name", "Values": [name]}])
    return found[0] if found else None


def describe_blue_green(rds, identifier: str) -> dict:
    return rds.describe_blue_green_deployments(BlueGreenDeploymentIdentifier=identifier)["BlueGreenDeployments"][0]


def blue_green_by_hand(deployment_id: str, region: str) -> str:
    return (f"Watch it with `aws rds describe-blue-green-deployments --blue-green-deployment-identifier {deployment_id} "
            f"--region {region}`; run this command again to carry on from where it is, or give up with "
            f"`aws rds delete-blue-green-deployment --blue-green-deployment-identifier {deployment_id} --delete-target "
            f"--region {region}` (before a switchover only: the green environment is deleted, blue is untouched)")


def wait_for_blue_green(rds, deployment_id: str, wanted: str, *, timeout: float, poll_interval: float, clock: Clock,
                        out: TextIO, region: str) -> dict:
    def done(deployment: dict) -> bool:
        status = deployment.get("Status")
        if status in BG_FAILED:
            raise CommandRefused(f"Blue/Green deployment {deployment_id} is {status}: {deployment.get('StatusDetails')}. "
                                 + blue_green_by_hand(deployment_id, region), EXIT_FAILED)
        return status == wanted

    def progress(elapsed: float, deployment: dict) -> list[str]:
        tasks = ", ".join(f"{t.get('Name')} {t.get('Status')}" for t in deployment.get("Tasks", []))
        return [f"[{elapsed:6.0f}s] Blue/Green {deployment_id} {deployment.get('Status')}" + (f" ({tasks})" if tasks else "")]

    return poll_until(lambda: describe_blue_green(rds, deployment_id), done, progress, timeout=timeout,
                      poll_interval=poll_interval, clock=clock, out=out,
                      timed_out=lambda d: f"Blue/Green deployment {deployment_id} is {d.get('Status')}, not {wanted}. "
                                          + blue_green_by_hand(deployment_id, region))


def green_cluster(rds, deployment: dict, region: str) -> Cluster:
    target = deployment.get("Target", "")
    return read_cluster(rds, region, target.rsplit(":", 1)[-1])


def delete_old_blue(rds, blue: Cluster, *, now: datetime, out: TextIO) -> None:
    """Delete the renamed old blue cluster (found by its resource id, which a switchover keeps)."""
    found = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-resource-id", "Values": [blue.resource_id]}])
    old = found.get("DBClusters", [])
    if not old:
        print(f"old blue cluster (resource id {blue.resource_id}) not found; nothing deleted", file=out)
        return
    if old[0]["DBClusterIdentifier"] == blue.identifier:  # the green cluster now holds the name: never delete it
        raise CommandRefused(f"the cluster with blue's resource id is still named {blue.identifier}; nothing deleted",
                             EXIT_FAILED)
    old_cluster = read_cluster(rds, blue.region, old[0]["DBClusterIdentifier"])
    if old_cluster.deletion_protection:
        raise CommandRefused(
            f"the upgrade is done, but the old blue cluster {old_cluster.identifier} has deletion protection, so it is "
            f"kept. Delete it by hand when you no longer need it: `aws rds modify-db-cluster --db-cluster-identifier "
            f"{old_cluster.identifier} --no-deletion-protection --apply-immediately --region {blue.region}`, delete its "
            "instances, then `aws rds delete-db-cluster` with a final snapshot", EXIT_FAILED)
    for instance in old_cluster.instances:
        rds.delete_db_instance(DBInstanceIdentifier=instance.identifier)
    final = f"{old_cluster.identifier}-final-{now:%Y%m%d%H%M}"
    rds.delete_db_cluster(DBClusterIdentifier=old_cluster.identifier, FinalDBSnapshotIdentifier=final)
    print(f"deleting the old blue cluster {old_cluster.identifier} and its instances (final snapshot {final})", file=out)


# ---------------------------------------------------------------------------------------
# The settings change.
# ---------------------------------------------------------------------------------------

def settings_change(stack: str, settings, target: str, project: str = PROJECT) -> str:
    short = short_stack_name(stack)
    database = settings.database
    lines = ["Record the new version in the stack settings, so that the next `pulumi up` agrees with the clusters:",
             f"  pulumi config set engineVersion {target} --stack {stack}"]
    cleared = [key for key, value in (("engineUpgradeTarget", database.engine_upgrade_target),
                                      ("preUpgradeSnapshot", database.pre_upgrade_snapshot)) if value]
    lines += [f"  pulumi config rm {key} --stack {stack}" for key in cleared]
    lines += [f"or in Pulumi.{short}.yaml: {project}:engineVersion: \"{target}\""
              + (f" and remove {', '.join(f'{project}:{k}' for k in cleared)}" if cleared else "")]
    from components.settings import parameter_group_family

    old_family, new_family = (parameter_group_family(database.engine, v) for v in (database.engine_version, target))
    if old_family != new_family:
        lines.append(f"The clusters then keep the program's {new_family} parameter groups and the next `pulumi up` "
                     f"deletes the {old_family} ones.")
    lines.append(f"then commit Pulumi.{short}.yaml, run `pulumi refresh --stack {stack} --yes` (the state then records "
                 f"the version the clusters run, so no upgrade is sent again) and `python -m deploy preview --stack {stack}`.")
    return "\n".join(lines)


def apply_settings(stack: str, settings, target: str) -> None:
    from pulumi import automation as auto

    handle = open_stack(stack)
    try:
        handle.set_config("engineVersion", auto.ConfigValue(value=target))
        for key, value in (("engineUpgradeTarget", settings.database.engine_upgrade_target),
                           ("preUpgradeSnapshot", settings.database.pre_upgrade_snapshot)):
            if value:
                handle.remove_config(key)
    except auto.CommandError as error:
        raise CommandRefused(f"the clusters run {target}, but changing the settings failed; change them by hand:\n"
                             f"{settings_change(stack, settings, target)}\n{error_tail(error)}", EXIT_FAILED) from None


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("upgrade", help=HELP, description=HELP)
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--engine-version", required=True, metavar="V",
                        help="target engine version, minor included (e.g. 16.8, 17.4, 8.0.mysql_aurora.3.08.2)")
    parser.add_argument("--blue-green", action="store_true",
                        help="regional stack: upgrade through an RDS Blue/Green deployment instead of in place. "
                             "Not for the clusters this program creates: AWS does not support Blue/Green on a "
                             "cluster whose master password RDS manages in Secrets Manager, and every regional "
                             "cluster here has one, so the command refuses it there; upgrade them in place. It "
                             "works only on a cluster whose master password RDS does not manage")
    parser.add_argument("--switchover", action="store_true",
                        help="with --blue-green: switch over once the green environment is available. Without it "
                             "no run switches over, the first or a later one: each waits for green, prints its "
                             "endpoints and stops; after testing green, run the command again with --switchover")
    blue = parser.add_mutually_exclusive_group()
    blue.add_argument("--keep-blue", dest="delete_blue", action="store_false", default=False,
                      help="with --blue-green: keep the old blue cluster after the switchover (default)")
    blue.add_argument("--delete-blue", dest="delete_blue", action="store_true",
                      help="with --blue-green: delete the old blue cluster after the switchover (final snapshot)")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--apply-immediately", dest="apply_immediately", action="store_true", default=True,
                      help="in place: upgrade now (default)")
    when.add_argument("--in-maintenance-window", dest="apply_immediately", action="store_false",
                      help="in place: let RDS upgrade in the next maintenance window; run the command again afterwards")
    parser.add_argument("--snapshot", action="store_true",
                        help="take a manual cluster snapshot of the writer cluster first (required for a production "
                             "major upgrade unless preUpgradeSnapshot records one)")
    parser.add_argument("--dry-run", action="store_true",
                        help="make the read-only checks and print the calls and waits, without making them")
    parser.add_argument("--apply", action="store_true",
                        help="set engineVersion, and clear engineUpgradeTarget and preUpgradeSnapshot where set, "
                             "through the Automation API afterwards (without it the command prints that change)")
    parser.add_argument("--timeout", type=float, default=7200, metavar="SECONDS",
                        help="give up waiting after SECONDS per wait (default 7200)")
    parser.add_argument("--poll-interval", type=float, default=30, metavar="SECONDS",
                        help="seconds between polls (default 30)")
    parser.add_argument("--outputs-file", metavar="FILE.json",
                        help="stack outputs as JSON instead of reading them through the Automation API")
    parser.add_argument("--endpoint-url", help="RDS endpoint, e.g. a local emulator")
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_refusable(lambda: run_upgrade(args))


def run_upgrade(args, *, client: Callable[[str], Any] | None = None, clock: Clock | None = None,
                now: Callable[[], datetime] = lambda: datetime.now(UTC), out: TextIO | None = None) -> int:
    """The command; ``client(region)`` returns the RDS client of a region (boto3 by default)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    out = out or sys.stdout
    clock = clock or Clock()
    stack = args.stack
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise CommandRefused(f"--timeout {args.timeout:g} / --poll-interval {args.poll_interval:g}: expected positive seconds")
    if not args.blue_green and (args.switchover or args.delete_blue):
        raise CommandRefused("--switchover and --delete-blue belong to a Blue/Green upgrade; add --blue-green or drop them")
    settings = resolve_settings(stack)
    short = short_stack_name(stack)
    engine = settings.database.engine
    target = check_version_argument(engine, args.engine_version)
    if args.blue_green and settings.global_database is not None:
        raise CommandRefused(
            f"--blue-green: stack {short} is an Aurora Global Database, which this command upgrades through its global "
            f"cluster (ModifyGlobalCluster upgrades every member), not through a Blue/Green deployment. Drop "
            f"--blue-green: `python -m deploy upgrade --stack {stack} --engine-version {target}`; to rehearse, upgrade "
            "a cluster restored from a snapshot first, or a regional stack such as dev")
    if args.apply:
        require_pulumi_cli()
    outputs = stack_outputs(stack, args.outputs_file)
    members = stack_clusters(outputs, settings)
    rds_for = functools.cache(client or (lambda region: rds_client(region, args.endpoint_url)))
    try:
        return _upgrade(args, settings, outputs, members, target, rds_for, clock, now, out)
    except NoCredentialsError:
        raise CommandRefused("no AWS credentials: configure them and run the command again") from None
    except ClientError as error:
        raise refused_by_aws(error) from None
    except BotoCoreError as error:
        raise CommandRefused(f"could not reach RDS: {error}", EXIT_FAILED) from None


def _upgrade(args, settings, outputs, members, target, rds_for, clock: Clock, now, out: TextIO) -> int:
    from components.settings import parameter_group_family
    from deploy.runbooks.switchover import describe_global_cluster

    stack, engine = args.stack, settings.database.engine
    is_global = settings.global_database is not None
    writer_region = members[0][0]
    clusters = [read_cluster(rds_for(region), region, identifier) for region, identifier in members]
    current = clusters[0].engine_version
    global_cluster = None
    if is_global:
        gid = outputs.get("globalClusterIdentifier")
        if not gid:
            raise CommandRefused(f"stack {short_stack_name(stack)} exports no globalClusterIdentifier; run "
                                 "`python -m deploy up` first, or pass --outputs-file")
        global_cluster = describe_global_cluster(rds_for(writer_region), gid)
        current = global_cluster.get("EngineVersion") or current
        member_regions = {arn_region(m.get("DBClusterArn", "")) for m in global_cluster.get("GlobalClusterMembers", [])}
        strays = sorted(member_regions - {c.region for c in clusters})
        if strays:
            raise CommandRefused(f"global cluster {gid} has members in {', '.join(strays)}, which stack "
                                 f"{short_stack_name(stack)} does not declare; this command upgrades only what the "
                                 "stack created: add those regions to globalDatabase.secondaryRegions or detach them")
    plan = Plan(stack=stack, engine=engine, current=current, target=target, major=False,
                target_family=parameter_group_family(engine, target), clusters=clusters,
                global_cluster_id=global_cluster.get("GlobalClusterIdentifier") if global_cluster else None)

    if args.blue_green:
        deployment = find_blue_green(rds_for(writer_region), blue_green_name(plan.writer.identifier, target))
        if deployment is not None:
            return _continue_blue_green(args, settings, plan, deployment, rds_for, clock, now, out)

    if current == target:
        if is_global:  # upgraded already, or stopped half-way: wait for the members, then finish
            plan.major = parameter_group_family(engine, settings.database.engine_version) != plan.target_family
            # A member on the target that is still upgrading or modifying must be waited for too:
            # ModifyDBCluster on it (the parameter groups) fails with InvalidDBClusterStateFault.
            behind = [c.identifier for c in clusters if c.engine_version != target or c.not_available()]
            print(f"global cluster {plan.global_cluster_id} already runs {engine} {target}"
                  + (f"; waiting for {', '.join(behind)}" if behind else ""), file=out, flush=True)
            if args.dry_run:
                print("dry run: the command would wait for the members, attach the new parameter groups where "
                      "they are missing and record the version. No call made.", file=out)
                return EXIT_OK
            return _finish_global(args, settings, plan, outputs, rds_for, clock, out, wait=bool(behind))
        print(f"the clusters already run {engine} {target}; nothing to upgrade.", file=out)
        return _record(args, settings, target, out)

    entry = upgrade_target(rds_for(writer_region), engine, current, target)
    plan.major = bool(entry.get("IsMajorVersionUpgrade"))
    for cluster in clusters:
        check_offered_in_region(rds_for(cluster.region), cluster.region, engine, target, is_global)
        check_orderable(rds_for(cluster.region), cluster, engine, target)
    check_available(clusters, global_cluster)
    if args.blue_green and plan.writer.managed_master_secret:
        raise CommandRefused(
            f"--blue-green: RDS does not create Blue/Green deployments of a cluster whose master password it manages in "
            f"Secrets Manager, as {plan.writer.identifier}'s is, like every regional cluster this program creates "
            f"({BG_LIMITATIONS}, {MANAGED_SECRET_LIMITATIONS}). Upgrade in place instead: drop --blue-green "
            f"(`python -m deploy upgrade --stack {plan.stack} --engine-version {plan.target}`, --dry-run first). "
            "Blue/Green works only on a cluster whose master password RDS does not manage")
    if plan.major or args.blue_green:
        plan.parameter_groups = target_parameter_groups(plan, outputs.get("regions") or {}, settings)
    needs_snapshot = plan.major and settings.production and not settings.database.pre_upgrade_snapshot
    if needs_snapshot and not args.snapshot:
        raise CommandRefused(f"a major upgrade of production stack {short_stack_name(stack)} needs a fresh snapshot: pass "
                             "--snapshot (the command takes one of the writer cluster and waits for it), or record one "
                             "in preUpgradeSnapshot")
    recorded = settings.database.pre_upgrade_snapshot
    if plan.major and settings.production and recorded and not args.snapshot:
        snapshot = check_recorded_snapshot(rds_for(writer_region), plan.writer, recorded, stack)
        print(f"preUpgradeSnapshot {recorded}: available, a snapshot of {plan.writer.identifier} taken "
              f"{snapshot.get('SnapshotCreateTime', 'at an unknown time')}", file=out, flush=True)

    plan.steps = _steps(args, plan, settings)
    kind = "major" if plan.major else "minor"
    print(f"upgrade {engine} {current} -> {target} ({kind}) of stack {short_stack_name(stack)}:", file=out)
    print("\n".join(f"  {i}. {step}" for i, step in enumerate(plan.steps, 1)), file=out, flush=True)
    if args.dry_run:
        print("dry run: every check passed; no call above was made.", file=out)
        return EXIT_OK

    if args.snapshot:
        snapshot = take_snapshot(rds_for(writer_region), plan.writer, target, now=now(), out=out, stack=stack,
                                 timeout=args.timeout, poll_interval=args.poll_interval, clock=clock)
        print(f"snapshot {snapshot} is available (record it: pulumi config set preUpgradeSnapshot {snapshot} "
              f"--stack {stack})", file=out, flush=True)
    if is_global:
        return _upgrade_global(args, settings, plan, outputs, rds_for, clock, out)
    if args.blue_green:
        return _start_blue_green(args, settings, plan, rds_for, clock, now, out)
    return _upgrade_in_place(args, settings, plan, rds_for, clock, out)


def _steps(args, plan: Plan, settings) -> list[str]:
    wait = f"wait (poll every {args.poll_interval:g}s, up to {args.timeout:g}s)"
    steps = [f"CreateDBClusterSnapshot of {plan.writer.identifier}, {wait} until available"] if args.snapshot else []
    if plan.global_cluster_id:
        steps.append(f"ModifyGlobalCluster {plan.global_cluster_id} EngineVersion={plan.target} "
                     f"AllowMajorVersionUpgrade={plan.major}")
        steps.append(f"{wait} until every member runs {plan.target} and is available: "
                     + ", ".join(f"{c.identifier} ({c.region})" for c in plan.clusters))
        if plan.major:
            steps.append("ModifyDBCluster / ModifyDBInstance of every member: the program's "
                         f"{plan.target_family} parameter groups")
    elif args.blue_green:
        groups = plan.parameter_groups[plan.writer.region]
        steps.append(f"CreateBlueGreenDeployment {blue_green_name(plan.writer.identifier, plan.target)} from "
                     f"{plan.writer.identifier}: TargetEngineVersion={plan.target}, "
                     f"TargetDBClusterParameterGroupName={groups['cluster']}, TargetDBParameterGroupName={groups['instance']}")
        steps.append(f"{wait} until the deployment is AVAILABLE; print the green endpoints")
        if args.switchover:
            steps.append(f"SwitchoverBlueGreenDeployment, {wait} until SWITCHOVER_COMPLETED")
            steps.append("DeleteBlueGreenDeployment; " + ("delete" if args.delete_blue else "keep")
                         + " the old blue cluster")
        else:
            steps.append("stop: no switchover without --switchover (test green, then run again with it)")
    else:
        extra = ""
        if plan.major:
            groups = plan.parameter_groups[plan.writer.region]
            extra = f" DBClusterParameterGroupName={groups['cluster']} DBInstanceParameterGroupName={groups['instance']}"
        steps.append(f"ModifyDBCluster {plan.writer.identifier} EngineVersion={plan.target} "
                     f"AllowMajorVersionUpgrade={plan.major} ApplyImmediately={args.apply_immediately}{extra}")
        if args.apply_immediately:
            steps.append(f"{wait} until {plan.writer.identifier} runs {plan.target} and is available")
    steps.append("set engineVersion (clear engineUpgradeTarget and preUpgradeSnapshot where set) through the Automation API"
                 if args.apply else "print the settings change")
    return steps


def _record(args, settings, target: str, out: TextIO) -> int:
    short = short_stack_name(args.stack)
    if settings.database.engine_version == target and not settings.database.engine_upgrade_target:
        print(f"Pulumi.{short}.yaml already records engineVersion {target}.", file=out)
    elif args.apply:
        apply_settings(args.stack, settings, target)
        print(f"set engineVersion = {target} on stack {args.stack}; commit Pulumi.{short}.yaml.", file=out)
    else:
        print(settings_change(args.stack, settings, target), file=out)
    return EXIT_OK


def _upgrade_global(args, settings, plan: Plan, outputs: dict, rds_for, clock: Clock, out: TextIO) -> int:
    gid, region = plan.global_cluster_id, plan.writer.region
    rds_for(region).modify_global_cluster(GlobalClusterIdentifier=gid, EngineVersion=plan.target,
                                          AllowMajorVersionUpgrade=plan.major)
    print(f"ModifyGlobalCluster {gid}: upgrading every member to {plan.target}", file=out, flush=True)
    return _finish_global(args, settings, plan, outputs, rds_for, clock, out, wait=True)


def _finish_global(args, settings, plan: Plan, outputs: dict, rds_for, clock: Clock, out: TextIO, *, wait: bool) -> int:
    """Wait until every member runs the target; after a major upgrade put the program's groups of
    the new family on the members RDS left on its default groups; record the version."""
    gid, region = plan.global_cluster_id, plan.writer.region
    final = plan.clusters
    if wait:
        how = (f"Watch it with `aws rds describe-global-clusters --global-cluster-identifier {gid} --region {region}`; "
               "when every member runs the new version, run this command again: it records the settings"
               + (" and attaches the new parameter groups" if plan.major else ""))
        final = wait_for_version(rds_for, plan.clusters, plan.target, timeout=args.timeout,
                                 poll_interval=args.poll_interval, clock=clock, out=out, how_to_finish=how)
    if plan.major:
        regions = outputs.get("regions") or {}
        plan.parameter_groups = {c.region: (regions.get(c.region) or {}).get("parameterGroups", {}).get(plan.target_family)
                                 for c in final}
        missing = [c.identifier for c in final if not plan.parameter_groups[c.region]]
        if missing:
            raise CommandRefused(f"every member runs {plan.target}, but the stack declares no {plan.target_family} "
                                 f"parameter groups for {', '.join(missing)}: set engineVersion {plan.target}, clear "
                                 "engineUpgradeTarget and run `pulumi up`, which creates and attaches them", EXIT_FAILED)
        attach_parameter_groups(rds_for, plan, final, out)
    print(f"upgrade complete: every member of {gid} runs {plan.target}.", file=out)
    return _record(args, settings, plan.target, out)


def _upgrade_in_place(args, settings, plan: Plan, rds_for, clock: Clock, out: TextIO) -> int:
    rds = rds_for(plan.writer.region)
    modified = modify_in_place(rds, plan, apply_immediately=args.apply_immediately)
    if not args.apply_immediately:
        pending = (modified.get("PendingModifiedValues") or {}).get("EngineVersion", plan.target)
        print(f"ModifyDBCluster {plan.writer.identifier}: {pending} is pending until the next maintenance window "
              f"({settings.database.preferred_maintenance_window} UTC). After it, run this command again: it finds the "
              "cluster on the new version and records the settings. Until then leave engineVersion as it is.", file=out)
        return EXIT_OK
    print(f"ModifyDBCluster {plan.writer.identifier}: upgrading to {plan.target}", file=out, flush=True)
    how = (f"Watch it with `aws rds describe-db-clusters --db-cluster-identifier {plan.writer.identifier} --region "
           f"{plan.writer.region}`; once it runs {plan.target}, run this command again to record the settings")
    wait_for_version(rds_for, [plan.writer], plan.target, timeout=args.timeout, poll_interval=args.poll_interval,
                     clock=clock, out=out, how_to_finish=how)
    print(f"upgrade complete: {plan.writer.identifier} runs {plan.target}.", file=out)
    return _record(args, settings, plan.target, out)


def _start_blue_green(args, settings, plan: Plan, rds_for, clock: Clock, now, out: TextIO) -> int:
    rds, region = rds_for(plan.writer.region), plan.writer.region
    groups = plan.parameter_groups[region]
    created = rds.create_blue_green_deployment(
        BlueGreenDeploymentName=blue_green_name(plan.writer.identifier, plan.target), Source=plan.writer.arn,
        TargetEngineVersion=plan.target, TargetDBClusterParameterGroupName=groups["cluster"],
        TargetDBParameterGroupName=groups["instance"],
        Tags=[{"Key": "stack", "Value": short_stack_name(plan.stack)}])["BlueGreenDeployment"]
    print(f"CreateBlueGreenDeployment {created['BlueGreenDeploymentIdentifier']}: green environment on {plan.target}",
          file=out, flush=True)
    return _continue_blue_green(args, settings, plan, created, rds_for, clock, now, out, created=True)


def _continue_blue_green(args, settings, plan: Plan, deployment: dict, rds_for, clock: Clock, now, out: TextIO,
                         *, created: bool = False) -> int:
    """Carry a Blue/Green deployment on from its state: wait until AVAILABLE, print the green
    endpoints, switch over only with --switchover (whichever run it is: a run that finds the
    deployment still provisioning, e.g. after a timeout, must not switch over before the operator
    has seen and tested green), wait until switched, delete the deployment."""
    region = plan.writer.region
    rds = rds_for(region)
    deployment_id = deployment["BlueGreenDeploymentIdentifier"]
    status = deployment.get("Status")
    if args.dry_run:
        steps = ("wait until SWITCHOVER_COMPLETED, delete the deployment" if status not in (BG_PROVISIONING, BG_AVAILABLE)
                 else "wait until AVAILABLE, print the green endpoints, "
                 + ("switch over, delete the deployment" if args.switchover else "stop (switch over with --switchover)"))
        print(f"dry run: Blue/Green deployment {deployment_id} is {status}; the command would carry it on "
              f"({steps}). No call made.", file=out)
        return EXIT_OK
    wait = {"timeout": args.timeout, "poll_interval": args.poll_interval, "clock": clock, "out": out, "region": region}
    blue = plan.writer  # still the blue cluster unless the switchover already happened
    switched_here = False
    if status in (BG_PROVISIONING, BG_AVAILABLE) or created:
        deployment = wait_for_blue_green(rds, deployment_id, BG_AVAILABLE, **wait)
        green = green_cluster(rds, deployment, region)
        print(f"green environment {green.identifier} on {green.engine_version} is available:\n"
              f"  writer endpoint {green.endpoint}\n  reader endpoint {green.reader_endpoint}", file=out, flush=True)
        if not args.switchover:
            print(f"Test the green environment, then switch over: run this command again with --switchover "
                  f"(`python -m deploy upgrade --stack {plan.stack} --engine-version {plan.target} --blue-green "
                  "--switchover`).\n"
                  f"To give up instead: aws rds delete-blue-green-deployment --blue-green-deployment-identifier "
                  f"{deployment_id} --delete-target --region {region}", file=out)
            return EXIT_OK
        rds.switchover_blue_green_deployment(BlueGreenDeploymentIdentifier=deployment_id)
        print(f"SwitchoverBlueGreenDeployment {deployment_id}", file=out, flush=True)
        switched_here = True
    if deployment.get("Status") != BG_SWITCHED:
        wait_for_blue_green(rds, deployment_id, BG_SWITCHED, **wait)
    rds.delete_blue_green_deployment(BlueGreenDeploymentIdentifier=deployment_id)
    print(f"switchover complete: {blue.identifier} now runs {plan.target}; DeleteBlueGreenDeployment {deployment_id}.",
          file=out, flush=True)
    if args.delete_blue and switched_here:
        delete_old_blue(rds, blue, now=now(), out=out)
    else:
        print(f"the old blue cluster (renamed by RDS, e.g. {blue.identifier}-old1) is kept; delete it when it is no "
              "longer needed" + (" (--delete-blue works only in the run that switches over: delete it by hand, "
                                 "with a final snapshot)" if args.delete_blue else
                                 " (run the switchover with --delete-blue, or by hand with a final snapshot)") + ".",
              file=out)
    print("Run `pulumi refresh` before the next `pulumi up`: the cluster and its instances now have new resource ids, "
          "and the IAM policies that name them must follow.", file=out)
    return _record(args, settings, plan.target, out)

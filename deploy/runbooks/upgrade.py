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
- **Regional stack, in place**: ``ModifyDBCluster`` with V (and, for a major upgrade, the
  new family's cluster and instance parameter groups), applied now (default) or in the next
  maintenance window (``--in-maintenance-window``; run the command again afterwards to record
  the version).

RDS Blue/Green deployments are not offered: AWS refuses Blue/Green for a cluster whose master
password RDS manages in Secrets Manager, and every regional cluster this program creates has one.

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

HELP = "upgrade the engine version of the stack's clusters (through the global cluster, or in place)"
NO_BLUE_GREEN = ("RDS Blue/Green deployments are not offered: AWS refuses Blue/Green for a cluster whose master "
                 "password RDS manages in Secrets Manager, and every regional cluster this program creates has one.")
AVAILABLE = "available"


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
    status: str
    engine_version: str
    instances: tuple[Instance, ...]
    parameter_group: str = ""

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
        status=cluster.get("Status", ""), engine_version=cluster.get("EngineVersion", ""),
        instances=tuple(Instance(i["DBInstanceIdentifier"], i.get("DBInstanceClass", ""), i.get("DBInstanceStatus", ""),
                                 next((g.get("DBParameterGroupName", "") for g in i.get("DBParameterGroups", [])), ""))
                        for i in instances),
        parameter_group=cluster.get("DBClusterParameterGroup", ""),
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
    parser = subparsers.add_parser("upgrade", help=HELP, description=f"{HELP}. {NO_BLUE_GREEN}")
    parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--engine-version", required=True, metavar="V",
                        help="target engine version, minor included (e.g. 16.8, 17.4, 8.0.mysql_aurora.3.08.2)")
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
    settings = resolve_settings(stack)
    engine = settings.database.engine
    target = check_version_argument(engine, args.engine_version)
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
    if plan.major:
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


"""`deploy upgrade`: what it reads and checks before its first change, and how it waits. The
clusters as RDS reports them, the validated plan, the version, class, availability and snapshot
checks, and the wait until every cluster runs the target version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from components.naming import short_stack_name
from deploy.args import shown
from deploy.errors import CommandRefused
from deploy.runbooks.base import Wait, described, paginate
from deploy.runbooks.rds import engine_versions

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
    from components.aws_facts import ENGINE_VERSION_HELP, engine_version_pattern

    if not engine_version_pattern(engine).fullmatch(value or ""):  # whole: `$` would let "16.8\n" pass
        raise CommandRefused(f"--engine-version {shown(value)}: not a version of {engine}; expected "
                             f"{ENGINE_VERSION_HELP[engine]}")
    return value


def read_cluster(rds, region: str, identifier: str) -> Cluster:
    """The cluster and its instances as RDS reports them; a refusal when the cluster is missing."""
    found = described(rds.describe_db_clusters, "DBClusters", "DBClusterNotFoundFault", DBClusterIdentifier=identifier)
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
    redo = (f"take one with this command's --snapshot (or record a snapshot of {cluster.identifier}: "
            f"pulumi config set preUpgradeSnapshot <id> --stack {stack})")
    found = described(rds.describe_db_cluster_snapshots, "DBClusterSnapshots", "DBClusterSnapshotNotFoundFault",
                      DBClusterSnapshotIdentifier=name)
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

def wait_for_version(rds_for: Callable[[str], Any], clusters: list[Cluster], target: str, wait: Wait,
                     how_to_finish: str) -> list[Cluster]:
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

    return wait.until(read, done, timed_out, progress)

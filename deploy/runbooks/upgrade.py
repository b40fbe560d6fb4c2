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
``--rehearse`` takes their place: the upgrade tried on a copy-on-write clone of the writer-region
cluster, timed and smoke-checked, then the clone deleted; the stack's clusters are not touched
(deploy/runbooks/upgrade_rehearsal.py). It runs the same validation of V first.

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
from datetime import UTC, datetime
from typing import Any, TextIO

from components.naming import PROJECT, short_stack_name
from deploy.args import add_endpoint_url, add_outputs_file, add_stack, add_waiting, engine_version
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused, after_change
from deploy.runbooks.base import (
    Clients,
    Clock,
    Wait,
    arn_region,
    require_pulumi_cli,
    resolve_settings,
    stack_outputs,
    write_stack_config,
)
from deploy.runbooks.rds import describe_global_cluster
from deploy.runbooks.upgrade_checks import (
    AVAILABLE,
    Cluster,
    Plan,
    check_available,
    check_offered_in_region,
    check_orderable,
    check_recorded_snapshot,
    check_version_argument,
    read_cluster,
    stack_clusters,
    target_parameter_groups,
    upgrade_target,
    wait_for_version,
)

HELP = "upgrade the engine version of the stack's clusters (through the global cluster, or in place)"
NO_BLUE_GREEN = ("RDS Blue/Green deployments are not offered: AWS refuses Blue/Green for a cluster whose master "
                 "password RDS manages in Secrets Manager, and every regional cluster this program creates has one.")


# ---------------------------------------------------------------------------------------
# The mutating steps.
# ---------------------------------------------------------------------------------------

def snapshot_identifier(cluster: str, target: str, now: datetime) -> str:
    return f"{cluster}-before-{target.replace('.', '-').replace('_', '-')}-{now:%Y%m%d%H%M}"


# States in which a cluster snapshot never becomes available: the failure acceptors of botocore's
# DBClusterSnapshotAvailable waiter (botocore/data/rds/2014-10-31/waiters-2.json).
SNAPSHOT_FAILED = ("deleted", "deleting", "failed", "incompatible-restore", "incompatible-parameters")


def take_snapshot(rds, cluster: Cluster, target: str, *, now: datetime, stack: str, wait: Wait) -> str:
    """Create a manual snapshot of ``cluster`` and poll it (the command's --poll-interval and
    --timeout) until available; a failure saying how to finish by hand when it fails or times out."""
    identifier = snapshot_identifier(cluster.identifier, target, now)
    print(f"snapshot: CreateDBClusterSnapshot {identifier} of {cluster.identifier}; waiting until available",
          file=wait.out, flush=True)
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

    wait.until(read, done, lambda snapshot: f"snapshot {identifier} is {snapshot.get('Status')!r}, not 'available'. "
                                            + finish, progress)
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
    from components.aws_facts import parameter_group_family

    old_family, new_family = (parameter_group_family(database.engine, v) for v in (database.engine_version, target))
    if old_family != new_family:
        lines.append(f"The clusters then keep the program's {new_family} parameter groups and the next `pulumi up` "
                     f"deletes the {old_family} ones.")
    lines.append(f"then commit Pulumi.{short}.yaml, run `pulumi refresh --stack {stack} --yes` (the state then records "
                 f"the version the clusters run, so no upgrade is sent again) and `python -m deploy preview --stack {stack}`.")
    return "\n".join(lines)


def apply_settings(stack: str, settings, target: str) -> None:
    cleared = [key for key, value in (("engineUpgradeTarget", settings.database.engine_upgrade_target),
                                      ("preUpgradeSnapshot", settings.database.pre_upgrade_snapshot)) if value]
    write_stack_config(stack, {"engineVersion": target}, remove=cleared,
                       failed=lambda tail: f"the clusters run {target}, but changing the settings failed; change them "
                                           f"by hand:\n{settings_change(stack, settings, target)}\n{tail}")


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("upgrade", help=HELP, description=f"{HELP}. {NO_BLUE_GREEN}")
    add_stack(parser)
    parser.add_argument("--engine-version", required=True, metavar="V", type=engine_version,
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
    parser.add_argument("--rehearse", action="store_true",
                        help="rehearse instead of upgrading: clone the writer-region cluster (copy-on-write), upgrade the "
                             "clone to V, smoke-check it, report the upgrade time and outcome, delete the clone; the "
                             "stack's clusters are not touched (docs/engine-upgrades.md)")
    parser.add_argument("--keep", action="store_true",
                        help="with --rehearse: keep the clone (delete it with `deploy clone --delete`; it expires in a day)")
    parser.add_argument("--json", action="store_true", help="with --rehearse: print the rehearsal's report as JSON")
    parser.add_argument("--apply", action="store_true",
                        help="set engineVersion, and clear engineUpgradeTarget and preUpgradeSnapshot where set, "
                             "through the Automation API afterwards (without it the command prints that change)")
    add_waiting(parser, timeout=7200, poll_interval=30, what="each wait")
    add_outputs_file(parser)
    add_endpoint_url(parser, help="RDS endpoint, e.g. a local emulator")
    parser.set_defaults(func=run_upgrade)


def run_upgrade(args, *, clients: Callable[[str, str], Any] | None = None, clock: Clock | None = None,
                now: Callable[[], datetime] = lambda: datetime.now(UTC), out: TextIO | None = None) -> int:
    """The command; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    out = out or sys.stdout
    wait = Wait(args.timeout, args.poll_interval, clock or Clock(), out)
    stack = args.stack
    check_rehearsal_flags(args)
    settings = resolve_settings(stack)
    engine = settings.database.engine
    target = check_version_argument(engine, args.engine_version)
    if args.apply:
        require_pulumi_cli()
    outputs = stack_outputs(stack, args.outputs_file)
    members = stack_clusters(outputs, settings)
    clients = clients or Clients(args.endpoint_url)
    rds_for = functools.cache(lambda region: clients("rds", region))
    return _upgrade(args, settings, outputs, members, target, rds_for, wait, now, clients=clients)


def check_rehearsal_flags(args) -> None:
    """--keep and --json belong to a rehearsal; a rehearsal changes nothing of the stack, so it takes none of the
    flags of a real upgrade (exit 2 naming them)."""
    if not args.rehearse:
        given = [flag for flag, on in (("--keep", args.keep), ("--json", args.json)) if on]
        if given:
            raise CommandRefused(f"{', '.join(given)}: only with --rehearse")
        return
    given = [flag for flag, on in (("--apply", args.apply), ("--snapshot", args.snapshot),
                                   ("--in-maintenance-window", not args.apply_immediately)) if on]
    if given:
        raise CommandRefused(f"--rehearse upgrades a clone and changes nothing of the stack: {', '.join(given)} do not "
                             "apply to it; run the upgrade itself with them once the rehearsal passed")


def read_plan(args, settings, outputs: dict, members, target: str, rds_for) -> tuple[Plan, dict | None]:
    """The clusters (and the global cluster) as RDS reports them, as a plan not yet validated."""
    from components.aws_facts import parameter_group_family

    stack, engine = args.stack, settings.database.engine
    clusters = [read_cluster(rds_for(region), region, identifier) for region, identifier in members]
    current = clusters[0].engine_version
    global_cluster = None
    if settings.global_database is not None:
        gid = outputs.get("globalClusterIdentifier")
        if not gid:
            raise CommandRefused(f"stack {short_stack_name(stack)} exports no globalClusterIdentifier; run "
                                 "`python -m deploy up` first, or pass --outputs-file")
        global_cluster = describe_global_cluster(rds_for(members[0][0]), gid)
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
    return plan, global_cluster


def validate_target(plan: Plan, global_cluster: dict | None, rds_for) -> None:
    """The target, in each region, on each class in use, with every member available (a rehearsal's checks too)."""
    engine, target = plan.engine, plan.target
    entry = upgrade_target(rds_for(plan.writer.region), engine, plan.current, target)
    plan.major = bool(entry.get("IsMajorVersionUpgrade"))
    for cluster in plan.clusters:
        check_offered_in_region(rds_for(cluster.region), cluster.region, engine, target, global_cluster is not None)
        check_orderable(rds_for(cluster.region), cluster, engine, target)
    check_available(plan.clusters, global_cluster)


def validate_plan(args, settings, outputs: dict, plan: Plan, global_cluster: dict | None, rds_for, out: TextIO) -> None:
    """Every check before the first change: the target, each region, availability, groups, snapshot."""
    stack = plan.stack
    validate_target(plan, global_cluster, rds_for)
    if plan.major:
        plan.parameter_groups = target_parameter_groups(plan, outputs.get("regions") or {}, settings)
    needs_snapshot = plan.major and settings.production and not settings.database.pre_upgrade_snapshot
    if needs_snapshot and not args.snapshot:
        raise CommandRefused(f"a major upgrade of production stack {short_stack_name(stack)} needs a fresh snapshot: pass "
                             "--snapshot (the command takes one of the writer cluster and waits for it), or record one "
                             "in preUpgradeSnapshot")
    recorded = settings.database.pre_upgrade_snapshot
    if plan.major and settings.production and recorded and not args.snapshot:
        snapshot = check_recorded_snapshot(rds_for(plan.writer.region), plan.writer, recorded, stack)
        print(f"preUpgradeSnapshot {recorded}: available, a snapshot of {plan.writer.identifier} taken "
              f"{snapshot.get('SnapshotCreateTime', 'at an unknown time')}", file=out, flush=True)


def _upgrade(args, settings, outputs, members, target, rds_for, wait: Wait, now, *, clients) -> int:
    out = wait.out
    plan, global_cluster = read_plan(args, settings, outputs, members, target, rds_for)
    if args.rehearse:
        if plan.current == target:
            raise CommandRefused(f"--rehearse: the clusters already run {plan.engine} {target}; there is no upgrade to "
                                 "rehearse")
        validate_target(plan, global_cluster, rds_for)
        from deploy.runbooks.upgrade_rehearsal import rehearse

        # With --json the waits' progress goes to stderr, so stdout holds one JSON report.
        progress = Wait(wait.timeout, wait.poll_interval, wait.clock, sys.stderr if args.json else out)
        return rehearse(args, settings, outputs, plan, rds_for, clients, progress, now, out)
    if plan.current == target:
        return _already_on_target(args, settings, plan, outputs, rds_for, wait)
    validate_plan(args, settings, outputs, plan, global_cluster, rds_for, out)
    plan.steps = _steps(args, plan, settings)
    kind = "major" if plan.major else "minor"
    print(f"upgrade {plan.engine} {plan.current} -> {target} ({kind}) of stack {short_stack_name(plan.stack)}:", file=out)
    print("\n".join(f"  {i}. {step}" for i, step in enumerate(plan.steps, 1)), file=out, flush=True)
    if args.dry_run:
        print("dry run: every check passed; no call above was made.", file=out)
        return EXIT_OK
    with after_change(f"the upgrade to {target} may be under way; nothing is rolled back and the settings are unchanged. "
                      f"Watch it with `aws rds describe-db-clusters --db-cluster-identifier {plan.writer.identifier} "
                      f"--region {plan.writer.region}` and run this command again: it carries on from where it is"):
        if args.snapshot:
            snapshot = take_snapshot(rds_for(plan.writer.region), plan.writer, target, now=now(), stack=plan.stack,
                                     wait=wait)
            print(f"snapshot {snapshot} is available (record it: pulumi config set preUpgradeSnapshot {snapshot} "
                  f"--stack {plan.stack})", file=out, flush=True)
        if global_cluster is not None:
            return _upgrade_global(args, settings, plan, outputs, rds_for, wait)
        return _upgrade_in_place(args, settings, plan, rds_for, wait)


def _already_on_target(args, settings, plan: Plan, outputs: dict, rds_for, wait: Wait) -> int:
    """The clusters run the target: a global upgrade stopped half-way is finished, else only recorded."""
    from components.aws_facts import parameter_group_family

    out, target, engine = wait.out, plan.target, plan.engine
    if not plan.global_cluster_id:
        print(f"the clusters already run {engine} {target}; nothing to upgrade.", file=out)
        return _record(args, settings, target, out)
    plan.major = parameter_group_family(engine, settings.database.engine_version) != plan.target_family
    # A member on the target that is still upgrading or modifying must be waited for too:
    # ModifyDBCluster on it (the parameter groups) fails with InvalidDBClusterStateFault.
    behind = [c.identifier for c in plan.clusters if c.engine_version != target or c.not_available()]
    print(f"global cluster {plan.global_cluster_id} already runs {engine} {target}"
          + (f"; waiting for {', '.join(behind)}" if behind else ""), file=out, flush=True)
    if args.dry_run:
        print("dry run: the command would wait for the members, attach the new parameter groups where "
              "they are missing and record the version. No call made.", file=out)
        return EXIT_OK
    return _finish_global(args, settings, plan, outputs, rds_for, wait, behind=bool(behind))


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


def _upgrade_global(args, settings, plan: Plan, outputs: dict, rds_for, wait: Wait) -> int:
    gid, region = plan.global_cluster_id, plan.writer.region
    rds_for(region).modify_global_cluster(GlobalClusterIdentifier=gid, EngineVersion=plan.target,
                                          AllowMajorVersionUpgrade=plan.major)
    print(f"ModifyGlobalCluster {gid}: upgrading every member to {plan.target}", file=wait.out, flush=True)
    return _finish_global(args, settings, plan, outputs, rds_for, wait, behind=True)


def _finish_global(args, settings, plan: Plan, outputs: dict, rds_for, wait: Wait, *, behind: bool) -> int:
    """Wait until every member runs the target; after a major upgrade put the program's groups of
    the new family on the members RDS left on its default groups; record the version."""
    gid, region = plan.global_cluster_id, plan.writer.region
    out, final = wait.out, plan.clusters
    if behind:
        how = (f"Watch it with `aws rds describe-global-clusters --global-cluster-identifier {gid} --region {region}`; "
               "when every member runs the new version, run this command again: it records the settings"
               + (" and attaches the new parameter groups" if plan.major else ""))
        final = wait_for_version(rds_for, plan.clusters, plan.target, wait, how)
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


def _upgrade_in_place(args, settings, plan: Plan, rds_for, wait: Wait) -> int:
    out, rds = wait.out, rds_for(plan.writer.region)
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
    wait_for_version(rds_for, [plan.writer], plan.target, wait, how)
    print(f"upgrade complete: {plan.writer.identifier} runs {plan.target}.", file=out)
    return _record(args, settings, plan.target, out)


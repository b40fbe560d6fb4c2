"""`deploy upgrade --rehearse`: the upgrade tried on a copy-on-write clone of the writer-region cluster.

Called by ``deploy upgrade`` once the target version has passed the upgrade's own validation (a valid
upgrade target of the running version, offered in every member region, orderable for the classes in
use, every member available), and before anything is created:

1. a clone of the writer-region cluster (deploy/runbooks/clones.py: the source's network, key and
   parameter group; one instance; tagged ``clone-purpose=upgrade-rehearsal-V`` and an expiry a day
   ahead, so ``deploy clone --delete-expired`` finds one that was kept or could not be deleted). Its
   class is the source's Serverless v2, else ``db.r6g.large`` where the Data API can run the smoke check
   (not on T classes), else ``db.t4g.medium``; checked orderable for V first;
2. ``ModifyDBCluster`` of the clone: ``EngineVersion`` V, ``AllowMajorVersionUpgrade`` for a major,
   with the new family's cluster and instance parameter groups (the program's, from the stack outputs
   ``regions.<r>.parameterGroups``, when it declares them; else ``default.<family>``), ``ApplyImmediately``;
3. a wait until the clone runs V and is available (``--timeout``, ``--poll-interval``): the measured
   upgrade time;
4. a smoke check: ``EnableHttpEndpoint`` on the clone and ``SELECT version()`` (Aurora MySQL:
   ``SELECT aurora_version()``) over the Data API as the master user, where the engine, V and the class
   have the Data API (components.aws_facts.data_api_supported); otherwise the check is that the clone
   is available and RDS reports V;
5. the clone deleted (instance first, final snapshot skipped) unless ``--keep``; a failure, a timeout or
   Ctrl-C after the clone exists deletes it too, or prints the ``aws rds`` commands that finish it.

For a global stack the clone is a regional cluster: the rehearsal upgrades it with ``ModifyDBCluster``
and says what it does not cover (``ModifyGlobalCluster`` itself, the secondaries).

The caller needs, beyond the upgrade's permissions, ``rds:RestoreDBClusterToPointInTime``,
``rds:CreateDBInstance``, ``rds:AddTagsToResource``, ``rds:EnableHttpEndpoint``, the deletes,
``rds-data:ExecuteStatement`` and read of the master secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from components.naming import global_master_secret_name, short_stack_name
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused, error_line
from deploy.runbooks.base import Wait
from deploy.runbooks.clones import (
    DAY,
    MAX_COPY_ON_WRITE_CLONES,
    CloneRun,
    CloneSpec,
    check_names_free,
    clone_spec,
    default_instance_class,
    live,
    source_cluster,
    stack_clones,
)
from deploy.runbooks.rds import find_cluster
from deploy.runbooks.upgrade_checks import Cluster, Instance, Plan, check_orderable, wait_for_version


@dataclass
class Rehearsal:
    stack: str
    source: str
    clone: str
    instance_class: str
    engine: str
    from_version: str
    to_version: str
    major: bool
    parameter_groups: dict[str, str] | None
    clone_seconds: float | None = None
    upgrade_seconds: float | None = None
    smoke_check: str | None = None
    outcome: str = "not run"
    errors: list[str] = field(default_factory=list)
    deleted: bool = False
    kept: bool = False
    manual_cleanup: list[str] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)


def rehearsal_groups(plan: Plan, outputs: dict) -> dict[str, str] | None:
    """A major upgrade's groups of the new family: the program's when the stack declares them, else AWS's default."""
    if not plan.major:
        return None
    regions = outputs.get("regions") or {}
    declared = ((regions.get(plan.writer.region) or {}).get("parameterGroups") or {}).get(plan.target_family)
    if declared and declared.get("cluster") and declared.get("instance"):
        return {"cluster": declared["cluster"], "instance": declared["instance"], "from": "the program's"}
    default = f"default.{plan.target_family}"
    return {"cluster": default, "instance": default, "from": "AWS's default (the program declares none yet)"}


def not_covered(plan: Plan, groups: dict[str, str] | None) -> list[str]:
    missing = ["the stack's readers and its load: the clone has one instance and no traffic"]
    if plan.global_cluster_id:
        secondaries = ", ".join(f"{c.identifier} ({c.region})" for c in plan.clusters[1:]) or "none"
        missing[:0] = [f"ModifyGlobalCluster itself: the real upgrade of {plan.global_cluster_id} goes through the global "
                       "cluster, every member at once; the clone, a regional cluster, was upgraded with ModifyDBCluster",
                       f"the secondaries ({secondaries}): their upgrade, replication across the upgrade, their groups"]
    if groups and not groups["from"].startswith("the program's"):
        missing.append(f"the program's {plan.target_family} parameter groups (the clone ran on {groups['cluster']})")
    return missing


def _modify_params(spec: CloneSpec, plan: Plan, groups: dict[str, str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"DBClusterIdentifier": spec.identifier, "EngineVersion": plan.target,
                              "AllowMajorVersionUpgrade": plan.major, "ApplyImmediately": True}
    if groups:
        params.update(DBClusterParameterGroupName=groups["cluster"], DBInstanceParameterGroupName=groups["instance"])
    return params


def plan_rehearsal(args, plan: Plan, rds, now) -> tuple[CloneSpec, dict]:
    """The clone to make, after the checks on its source and its class (no change)."""
    from components.aws_facts import data_api_supported

    region = plan.writer.region
    source = source_cluster(rds, plan.writer.identifier, region, args.stack, global_cluster_id=plan.global_cluster_id)
    existing = live(stack_clones(rds, short_stack_name(args.stack)))
    if len(existing) >= MAX_COPY_ON_WRITE_CLONES:  # beyond them AWS makes a full copy: slow, costly, a skewed timing
        raise CommandRefused(f"{len(existing)} live clones of stack {short_stack_name(args.stack)} in {region} already, as many "
                             f"copy-on-write clones as AWS makes ({MAX_COPY_ON_WRITE_CLONES}): delete some first "
                             f"(`python -m deploy clone --stack {short_stack_name(args.stack)} --delete-expired` or --delete NAME)")
    instance_class = default_instance_class(source, needs_data_api=data_api_supported(plan.engine, plan.target))
    spec = clone_spec(source, args.stack, region, now, instance_class=instance_class,
                      purpose=f"upgrade-rehearsal-{plan.target}", ttl_seconds=DAY)
    check_orderable(rds, Cluster(region=region, identifier=spec.identifier, arn="", status="", engine_version="",
                                 instances=(Instance(spec.instance_identifier, instance_class, ""),)), plan.engine, plan.target)
    check_names_free(rds, spec)
    return spec, source


def smoke_check(clients, rds, settings, spec: CloneSpec, source: dict, target: str, wait: Wait) -> str:
    """``SELECT version()`` on the clone over the Data API where it has one; else what RDS reports."""
    from components.aws_facts import data_api_supported

    engine = spec.engine
    if not data_api_supported(engine, target, spec.instance_class):
        return f"available, and the engine reports {target} (no Data API for {engine} {target} on {spec.instance_class})"
    cluster = find_cluster(rds, spec.identifier) or {}
    if not cluster.get("HttpEndpointEnabled"):
        rds.enable_http_endpoint(ResourceArn=cluster["DBClusterArn"])
        cluster = wait.until(lambda: find_cluster(rds, spec.identifier) or {}, lambda c: bool(c.get("HttpEndpointEnabled")),
                             lambda c: f"the Data API of clone {spec.identifier} is not enabled (--timeout)")
    secret = (cluster.get("MasterUserSecret") or source.get("MasterUserSecret") or {}).get("SecretArn")
    if not secret:  # a global database's master secret is the program's own (components: master credentials)
        name = global_master_secret_name(settings.stack)
        secret = clients("secretsmanager", spec.region).describe_secret(SecretId=name)["ARN"]
    postgres = engine == "aurora-postgresql"
    sql = "SELECT version()" if postgres else "SELECT aurora_version()"
    answer = clients("rds-data", spec.region).execute_statement(
        resourceArn=cluster["DBClusterArn"], secretArn=secret, database=settings.database.database_name, sql=sql)
    record = (answer.get("records") or [[{}]])[0]
    reported = str(next(iter(record[0].values()), "")) if record else ""
    expected = f"PostgreSQL {target} " if postgres else target.split("mysql_aurora.")[-1]
    if not (reported.startswith(expected) or reported == expected.strip()):
        raise CommandRefused(f"smoke check: {sql} over the Data API answered {reported!r}, not {target}", EXIT_FAILED)
    return f"{sql} over the Data API: {reported}"


def rehearse(args, settings, outputs: dict, plan: Plan, rds_for, clients, wait: Wait, now, out: TextIO) -> int:
    """The rehearsal; exit 0 when the clone upgraded and passed the smoke check, else a failure (exit 1) with the reason.
    ``wait.out`` takes the waits' progress, ``out`` the steps and the report."""
    rds = rds_for(plan.writer.region)
    spec, source = plan_rehearsal(args, plan, rds, now())
    groups = rehearsal_groups(plan, outputs)
    report = Rehearsal(stack=short_stack_name(args.stack), source=spec.source, clone=spec.identifier,
                       instance_class=spec.instance_class, engine=plan.engine, from_version=plan.current,
                       to_version=plan.target, major=plan.major, parameter_groups=groups,
                       not_covered=not_covered(plan, groups))
    modify = _modify_params(spec, plan, groups)
    if args.dry_run or not args.json:
        _print_steps(spec, plan, modify, wait, out, report.not_covered)
    if args.dry_run:
        print("dry run: every check passed; no call above was made.", file=out)
        return EXIT_OK
    run = CloneRun(spec, rds, wait)
    failure, started = None, None
    try:
        start = wait.clock.now()
        run.create()
        report.clone_seconds = round(wait.clock.now() - start, 1)
        started = wait.clock.now()
        rds.modify_db_cluster(**modify)
        clone = Cluster(region=spec.region, identifier=spec.identifier, arn="", status="", engine_version="", instances=())
        wait_for_version(rds_for, [clone], plan.target, wait, "The rehearsal's clone may still be upgrading.")
        report.upgrade_seconds = round(wait.clock.now() - started, 1)
        report.smoke_check = smoke_check(clients, rds, settings, spec, source, plan.target, wait)
        report.outcome = "upgraded"
    except KeyboardInterrupt:
        failure = "interrupted (Ctrl-C)"
    except CommandRefused as error:
        failure = str(error)
    except Exception as error:  # an AWS error (the upgrade refused), an answer that is not AWS's, a bug: clean up
        failure = error_line(error)
    if failure:
        report.outcome = "failed"
        report.errors.append(failure)
        if started is not None and report.upgrade_seconds is None:
            report.upgrade_seconds = round(wait.clock.now() - started, 1)
    _finish(args, run, report)
    _print_report(report, args.json, out)
    if failure:
        raise CommandRefused(f"rehearsal of {plan.engine} {plan.current} -> {plan.target} failed: {failure}; "
                             + ("the clone is kept (--keep)" if report.kept else "the clone was deleted" if report.deleted
                                else "the clone is NOT deleted: finish with the commands above"), EXIT_FAILED)
    return EXIT_OK


def _finish(args, run: CloneRun, report: Rehearsal) -> None:
    if args.keep:
        report.kept = True
        return
    errors = run.clean_up()
    report.errors += errors
    report.deleted = not errors
    report.manual_cleanup = run.manual_cleanup() if errors else []


def _print_steps(spec: CloneSpec, plan: Plan, modify: dict[str, Any], wait: Wait, out: TextIO, missing: list[str]) -> None:
    how = f"wait (poll every {wait.poll_interval:g}s, up to {wait.timeout:g}s)"
    kind = "major" if plan.major else "minor"
    lines = [f"rehearse the upgrade {plan.engine} {plan.current} -> {plan.target} ({kind}) on a clone of {spec.source} "
             f"in {spec.region}; the stack's clusters are not touched:",
             f"RestoreDBClusterToPointInTime {spec.identifier} from {spec.source} RestoreType=copy-on-write "
             f"UseLatestRestorableTime=True, {how} until available",
             f"CreateDBInstance {spec.instance_identifier} DBInstanceClass={spec.instance_class}, {how} until available",
             "ModifyDBCluster " + " ".join(f"{k}={v}" for k, v in modify.items()),
             f"{how} until {spec.identifier} runs {plan.target} and is available (the measured upgrade time)",
             "smoke check: EnableHttpEndpoint and SELECT version() over the Data API where the clone has it",
             "DeleteDBInstance, DeleteDBCluster (final snapshot skipped), unless --keep"]
    print("\n".join(f"  {i}. {line}" if i else line for i, line in enumerate(lines)), file=out)
    print("\n".join(["what the rehearsal does not cover:", *[f"  - {item}" for item in missing]]), file=out, flush=True)


def _print_report(report: Rehearsal, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2), file=out)
        return
    seconds = f"{report.upgrade_seconds:g} s" if report.upgrade_seconds is not None else "not measured"
    lines = [f"  outcome            {report.outcome}: {report.from_version} -> {report.to_version} on {report.clone}",
             f"  upgrade time       {seconds} (ModifyDBCluster until the clone ran {report.to_version} and was available)"]
    if report.parameter_groups:
        lines.append(f"  parameter groups   {report.parameter_groups['cluster']} / {report.parameter_groups['instance']} "
                     f"({report.parameter_groups['from']})")
    if report.smoke_check:
        lines.append(f"  smoke check        {report.smoke_check}")
    lines += [f"  error              {error}" for error in report.errors]
    if report.kept:
        lines.append(f"  kept               delete it with: python -m deploy clone --stack {report.stack} --delete "
                     f"{report.clone} (it expires in a day: --delete-expired)")
    else:
        lines.append(f"  deleted            {'yes (final snapshot skipped)' if report.deleted else 'NO'}")
    if report.manual_cleanup:
        lines += ["  finish the clean-up by hand:", *[f"    {command}" for command in report.manual_cleanup]]
    lines += ["  not covered:", *[f"    - {item}" for item in report.not_covered]]
    print("\n".join(lines), file=out)

"""`python -m deploy switchover|failover --stack S --to-region R`: move the writer of the
stack's Aurora Global Database to region R.

- ``switchover``: planned, no data loss (``SwitchoverGlobalCluster``); the members
  synchronize before the roles change. For maintenance, region evacuation, DR drills.
- ``failover``: unplanned, for an outage of the writer region (``FailoverGlobalCluster``
  with ``AllowDataLoss=True``): writes not yet replicated to R are lost. It runs only
  with ``--allow-data-loss``; without it the command refuses (exit 2).

Every input is checked before any mutating call, and the command refuses (exit 2) when:
the stack has no global database, R is not a region of the stack or not a member of the
global cluster, R already holds the writer, or the global cluster is not ``available``.
The target cluster is the member whose ARN's region is R. The calls go to the RDS
endpoint of R (healthy during a failover).

Then the command polls ``DescribeGlobalClusters`` every ``--poll-interval`` seconds,
up to ``--timeout`` seconds, until the writer is in R and the global cluster is
available again (exit 1 on timeout: the operation may still be under way), prints the
new topology, and prints the settings change the stack needs so the next ``pulumi up``
keeps the new topology (``globalDatabase.writerRegion``); ``--apply`` sets it through
the Automation API instead (needs the Pulumi CLI, checked before anything moves).

Exit codes: 0 writer moved, 1 AWS refused the operation or timeout, 2 refused input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from components.naming import PROJECT, short_stack_name
from deploy.args import add_endpoint_url, add_outputs_file, add_stack, add_waiting, aws_region, non_empty
from deploy.errors import EXIT_OK, CommandRefused, after_change
from deploy.runbooks.base import (
    Clients,
    Clock,
    Wait,
    arn_region,
    check_region,
    require_pulumi_cli,
    resolve_settings,
    stack_outputs,
    write_stack_config,
)
from deploy.runbooks.rds import describe_global_cluster

KINDS = ("switchover", "failover")
HELP = {
    "switchover": "planned move of the global database writer to another region (no data loss)",
    "failover": "unplanned failover of the global database writer to another region (allows data loss)",
}
SETTING_KEY = "globalDatabase.writerRegion"


@dataclass(frozen=True)
class Member:
    region: str
    arn: str
    is_writer: bool
    status: str

    @property
    def role(self) -> str:
        return "writer" if self.is_writer else "reader"

    @property
    def cluster(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


def members(global_cluster: dict) -> list[Member]:
    status = global_cluster.get("Status", "")
    return [Member(region=arn_region(m.get("DBClusterArn", "")), arn=m.get("DBClusterArn", ""),
                   is_writer=bool(m.get("IsWriter")), status=m.get("SynchronizationStatus") or status)
            for m in global_cluster.get("GlobalClusterMembers", [])]


def writer_region(global_cluster: dict) -> str | None:
    return next((m.region for m in members(global_cluster) if m.is_writer), None)


def target_cluster_arn(kind: str, global_cluster: dict, to_region: str) -> str:
    """The member cluster in ``to_region`` that becomes the writer; a refusal for any bad input."""
    gid = global_cluster.get("GlobalClusterIdentifier", "")
    status = global_cluster.get("Status", "")
    if status != "available":
        failover = global_cluster.get("FailoverState") or {}
        busy = f" (a {failover.get('Status')} operation is under way)" if failover.get("Status") else ""
        raise CommandRefused(f"global cluster {gid} is {status!r}, not 'available'{busy}: "
                             f"no {kind} now; wait until it is available and run the command again")
    current = members(global_cluster)
    target = [m for m in current if m.region == to_region]
    if not target:
        regions = ", ".join(f"{m.region} ({m.role})" for m in current) or "none"
        raise CommandRefused(f"--to-region {to_region}: not a member region of global cluster {gid} "
                             f"(members: {regions})")
    if target[0].is_writer:
        raise CommandRefused(f"--to-region {to_region}: already the writer region of global cluster {gid}; "
                             f"nothing to {kind}")
    return target[0].arn


def start_operation(kind: str, rds, gid: str, target_arn: str) -> None:
    if kind == "switchover":
        rds.switchover_global_cluster(GlobalClusterIdentifier=gid, TargetDbClusterIdentifier=target_arn)
    else:
        rds.failover_global_cluster(GlobalClusterIdentifier=gid, TargetDbClusterIdentifier=target_arn,
                                    AllowDataLoss=True)


def progress_line(elapsed: float, global_cluster: dict) -> str:
    failover = global_cluster.get("FailoverState") or {}
    state = f" operation={failover.get('Status')}" if failover.get("Status") else ""
    return (f"[{elapsed:6.0f}s] global cluster {global_cluster.get('Status')}, "
            f"writer in {writer_region(global_cluster) or 'no region'}{state}")


def wait_for_writer(rds, gid: str, to_region: str, wait: Wait) -> dict:
    """Poll until the writer is in ``to_region`` and the global cluster is available again."""
    def timed_out(current: dict) -> str:
        return (f"global cluster {gid} is {current.get('Status')!r} with the writer in "
                f"{writer_region(current) or 'no region'}. The operation may still be under way; watch it with "
                f"`aws rds describe-global-clusters --global-cluster-identifier {gid} --region {to_region}`")

    return wait.until(lambda: describe_global_cluster(rds, gid),
                      lambda current: writer_region(current) == to_region and current.get("Status") == "available",
                      timed_out, lambda elapsed, current: [progress_line(elapsed, current)])


def topology_lines(global_cluster: dict) -> list[str]:
    lines = [f"global cluster {global_cluster.get('GlobalClusterIdentifier')}: {global_cluster.get('Status')}"]
    for m in sorted(members(global_cluster), key=lambda m: (not m.is_writer, m.region)):
        lines.append(f"  {m.region:<16} {m.role:<7} {m.cluster:<40} {m.status}")
    return lines


def settings_change(stack: str, region: str, project: str = PROJECT) -> str:
    short = short_stack_name(stack)
    return "\n".join([
        "Record the new writer region in the stack settings, so that the next `pulumi up` keeps this topology:",
        f"  pulumi config set --path {SETTING_KEY} {region} --stack {stack}",
        f"or in Pulumi.{short}.yaml:",
        f"  {project}:globalDatabase:",
        f"    writerRegion: {region}",
        f"then commit Pulumi.{short}.yaml and run `python -m deploy preview --stack {stack}`.",
    ])


def apply_settings(stack: str, region: str) -> None:
    write_stack_config(stack, {SETTING_KEY: region}, path=True,
                       failed=lambda tail: f"the writer moved, but setting {SETTING_KEY} failed; set it by hand:\n"
                                           f"{settings_change(stack, region)}\n{tail}")


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    for kind in KINDS:
        parser = subparsers.add_parser(kind, help=HELP[kind], description=HELP[kind])
        add_stack(parser)
        parser.add_argument("--to-region", required=True, type=aws_region, metavar="REGION",
                            help="the member region that becomes the writer")
        if kind == "failover":
            parser.add_argument("--allow-data-loss", action="store_true",
                                help="required: acknowledge that writes not yet replicated to the target are lost")
        add_waiting(parser, timeout=1800, poll_interval=15, what="waiting for the new writer")
        parser.add_argument("--global-cluster-id", type=non_empty,
                            help="global cluster identifier; default: the stack's globalClusterIdentifier output")
        add_outputs_file(parser)
        add_endpoint_url(parser, help="RDS endpoint, e.g. a local emulator")
        parser.add_argument("--apply", action="store_true",
                            help=f"set {SETTING_KEY} through the Automation API after the writer moved")
        parser.set_defaults(func=run_runbook, runbook=kind)


def run_runbook(args, *, clients: Callable[[str, str], Any] | None = None, clock: Clock | None = None,
                out: TextIO | None = None) -> int:
    """The runbook; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    out = out or sys.stdout
    kind, stack, to_region = args.runbook, args.stack, args.to_region
    if kind == "failover" and not args.allow_data_loss:
        raise CommandRefused("failover moves the writer without waiting for replication: writes not yet "
                             f"replicated to {to_region} are lost. Pass --allow-data-loss to proceed, or use "
                             "`switchover` (no data loss) while the writer region is healthy")
    settings = resolve_settings(stack)
    short = short_stack_name(stack)
    if settings.global_database is None:
        raise CommandRefused(f"stack {short} has no global database (aurora-platform:globalDatabase is not set): "
                             f"there is no writer to move")
    check_region("--to-region", [to_region], settings, stack)
    if args.apply:
        require_pulumi_cli()
    gid = args.global_cluster_id
    if not gid:
        gid = stack_outputs(stack, args.outputs_file).get("globalClusterIdentifier")
        if not gid:
            raise CommandRefused(f"stack {short} exports no globalClusterIdentifier; pass --global-cluster-id")
    rds = (clients or Clients(args.endpoint_url))("rds", to_region)
    current = describe_global_cluster(rds, gid)
    target_arn = target_cluster_arn(kind, current, to_region)
    before = writer_region(current)
    if before != settings.writer_region:
        print(f"note: the writer is in {before}, but Pulumi.{short}.yaml records "
              f"{SETTING_KEY}: {settings.writer_region}", file=out)
    print(f"{kind}: global cluster {gid}, writer {before} -> {to_region} ({target_arn})", file=out, flush=True)
    start_operation(kind, rds, gid, target_arn)
    with after_change(f"the {kind} to {to_region} was started: watch it with `aws rds describe-global-clusters "
                      f"--global-cluster-identifier {gid} --region {to_region}`; once the writer is in {to_region}, "
                      f"record it: `pulumi config set --path {SETTING_KEY} {to_region} --stack {stack}`"):
        final = wait_for_writer(rds, gid, to_region, Wait(args.timeout, args.poll_interval, clock or Clock(), out))
    print("\n".join(["", f"{kind} complete: the writer is in {to_region}.", *topology_lines(final), ""]), file=out)
    if settings.writer_region == to_region:
        print(f"Pulumi.{short}.yaml already records {SETTING_KEY}: {to_region}.", file=out)
    elif args.apply:
        apply_settings(stack, to_region)
        print(f"set {SETTING_KEY} = {to_region} on stack {stack}; commit Pulumi.{short}.yaml.", file=out)
    else:
        print(settings_change(stack, to_region), file=out)
    return EXIT_OK


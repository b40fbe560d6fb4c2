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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from components.project import PROJECT
from deploy.cli import EXIT_FAILED, EXIT_OK
from deploy.runbooks.base import (
    Clock,
    CommandRefused,
    arn_region,
    error_tail,
    open_stack,
    poll_until,
    rds_client,
    refused_by_aws,
    require_pulumi_cli,
    resolve_settings,
    run_refusable,
    short_stack_name,
    stack_outputs,
)

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


def describe_global_cluster(rds, gid: str) -> dict:
    from botocore.exceptions import ClientError

    try:
        clusters = rds.describe_global_clusters(GlobalClusterIdentifier=gid)["GlobalClusters"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "GlobalClusterNotFoundFault":
            raise CommandRefused(f"global cluster {gid} does not exist") from None
        raise
    matching = [c for c in clusters if c.get("GlobalClusterIdentifier") == gid]
    if not matching:
        raise CommandRefused(f"global cluster {gid} does not exist")
    return matching[0]


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


def wait_for_writer(rds, gid: str, to_region: str, *, timeout: float, poll_interval: float,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                    out: TextIO | None = None) -> dict:
    """Poll until the writer is in ``to_region`` and the global cluster is available again."""
    def timed_out(current: dict) -> str:
        return (f"global cluster {gid} is {current.get('Status')!r} with the writer in "
                f"{writer_region(current) or 'no region'}. The operation may still be under way; watch it with "
                f"`aws rds describe-global-clusters --global-cluster-identifier {gid} --region {to_region}`")

    return poll_until(lambda: describe_global_cluster(rds, gid),
                      lambda current: writer_region(current) == to_region and current.get("Status") == "available",
                      lambda elapsed, current: [progress_line(elapsed, current)],
                      timeout=timeout, poll_interval=poll_interval, clock=Clock(sleep=sleep, now=clock),
                      out=out or sys.stdout, timed_out=timed_out)


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
    from pulumi import automation as auto

    handle = open_stack(stack)
    try:
        handle.set_config(SETTING_KEY, auto.ConfigValue(value=region), path=True)
    except auto.CommandError as error:
        raise CommandRefused(f"the writer moved, but setting {SETTING_KEY} failed; set it by hand:\n"
                             f"{settings_change(stack, region)}\n{error_tail(error)}", EXIT_FAILED) from None


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    for kind in KINDS:
        parser = subparsers.add_parser(kind, help=HELP[kind], description=HELP[kind])
        parser.add_argument("--stack", required=True, help="stack name (Pulumi.<stack>.yaml)")
        parser.add_argument("--to-region", required=True, help="the member region that becomes the writer")
        if kind == "failover":
            parser.add_argument("--allow-data-loss", action="store_true",
                                help="required: acknowledge that writes not yet replicated to the target are lost")
        parser.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                            help="give up waiting for the new writer after SECONDS (default 1800)")
        parser.add_argument("--poll-interval", type=float, default=15, metavar="SECONDS",
                            help="seconds between polls of the global cluster (default 15)")
        parser.add_argument("--global-cluster-id",
                            help="global cluster identifier; default: the stack's globalClusterIdentifier output")
        parser.add_argument("--outputs-file", metavar="FILE.json",
                            help="stack outputs as JSON instead of reading them through the Automation API")
        parser.add_argument("--endpoint-url", help="RDS endpoint, e.g. a local emulator")
        parser.add_argument("--apply", action="store_true",
                            help=f"set {SETTING_KEY} through the Automation API after the writer moved")
        parser.set_defaults(func=run, runbook=kind)


def run(args) -> int:
    return run_refusable(lambda: run_runbook(args))


def run_runbook(args, *, client: Callable[[str], Any] | None = None, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic, out: TextIO | None = None) -> int:
    """The runbook; ``client(region)`` returns the RDS client of a region (boto3 by default)."""
    out = out or sys.stdout
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    kind, stack, to_region = args.runbook, args.stack, args.to_region
    if kind == "failover" and not args.allow_data_loss:
        raise CommandRefused("failover moves the writer without waiting for replication: writes not yet "
                             f"replicated to {to_region} are lost. Pass --allow-data-loss to proceed, or use "
                             "`switchover` (no data loss) while the writer region is healthy")
    if args.timeout <= 0 or args.poll_interval <= 0:
        raise CommandRefused(f"--timeout {args.timeout:g} / --poll-interval {args.poll_interval:g}: "
                             "expected positive seconds")
    settings = resolve_settings(stack)
    short = short_stack_name(stack)
    if settings.global_database is None:
        raise CommandRefused(f"stack {short} has no global database (aurora-platform:globalDatabase is not set): "
                             f"there is no writer to move")
    if to_region not in settings.regions:
        raise CommandRefused(f"--to-region {to_region}: not a region of stack {short} "
                             f"(regions: {', '.join(settings.regions)})")
    if args.apply:
        require_pulumi_cli()
    gid = args.global_cluster_id
    if not gid:
        gid = stack_outputs(stack, args.outputs_file).get("globalClusterIdentifier")
        if not gid:
            raise CommandRefused(f"stack {short} exports no globalClusterIdentifier; pass --global-cluster-id")
    rds = (client or (lambda region: rds_client(region, args.endpoint_url)))(to_region)
    try:
        current = describe_global_cluster(rds, gid)
        target_arn = target_cluster_arn(kind, current, to_region)
        before = writer_region(current)
        if before != settings.writer_region:
            print(f"note: the writer is in {before}, but Pulumi.{short}.yaml records "
                  f"{SETTING_KEY}: {settings.writer_region}", file=out)
        print(f"{kind}: global cluster {gid}, writer {before} -> {to_region} ({target_arn})", file=out, flush=True)
        start_operation(kind, rds, gid, target_arn)
        final = wait_for_writer(rds, gid, to_region, timeout=args.timeout, poll_interval=args.poll_interval,
                                sleep=sleep, clock=clock, out=out)
    except NoCredentialsError:
        raise CommandRefused("no AWS credentials: configure them and run the command again") from None
    except ClientError as error:
        raise refused_by_aws(error) from None
    except BotoCoreError as error:
        raise CommandRefused(f"could not reach RDS in {to_region}: {error}", EXIT_FAILED) from None
    print("\n".join(["", f"{kind} complete: the writer is in {to_region}.", *topology_lines(final), ""]), file=out)
    if settings.writer_region == to_region:
        print(f"Pulumi.{short}.yaml already records {SETTING_KEY}: {to_region}.", file=out)
    elif args.apply:
        apply_settings(stack, to_region)
        print(f"set {SETTING_KEY} = {to_region} on stack {stack}; commit Pulumi.{short}.yaml.", file=out)
    else:
        print(settings_change(stack, to_region), file=out)
    return EXIT_OK


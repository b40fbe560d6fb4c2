"""`python -m deploy clone --stack S`: a copy-on-write clone of the stack's writer-region cluster, for tests.

``RestoreDBClusterToPointInTime`` with ``RestoreType=copy-on-write`` and ``UseLatestRestorableTime``
of the cluster of ``writerRegion`` (``aurora-platform-S-R``), into the same DB subnet group and VPC
security groups, encrypted with the same KMS key, with the source's cluster parameter group and IAM
authentication; then one instance (``--instance-class``; by default the source's Serverless v2, else
``db.t4g.medium``: deploy/runbooks/clones.py says why). The clone is named
``clone-<stack>-<region>-<UTC time>`` and tagged ``project``/``stack`` (the stack's), ``clone`` (its
own name: the marker that this command created it), ``clone-source``, ``clone-purpose``
(``--purpose``) and ``clone-expires`` (now + ``--ttl``). The command waits until the cluster and its
instance are available (``--timeout``, ``--poll-interval``) and prints the endpoint, the port and how
to connect: an IAM token (``aws rds generate-db-auth-token``) over TLS.

- ``--list``: the stack's clones with their age and expiry.
- ``--delete NAME``: deletes one clone (its instances first, final snapshot skipped); anything
  without the clone marker carrying its own name, or of another stack, is refused.
- ``--delete-expired``: deletes the clones whose expiry has passed, for a scheduled job.
- ``--dry-run``: the read-only checks, then the calls it would make; makes none of them.

Refused before any change (exit 2), naming why: a stack with no deployed cluster in its writer region,
a source that is not the stack's, not available, without an instance, not provisioned/Serverless v2, or
a global database's secondary; ``--engine-version`` other than the source's (a clone runs its source's
version); ``--max-clones`` live clones already (default 3). What AWS documents about cloning, and how
each is handled: deploy/runbooks/clones.py.

A failure, a timeout or Ctrl-C after the cluster exists deletes what the command created; when that
fails too, it prints the ``aws rds`` commands that finish it.

Exit codes: 0 done, 1 AWS refused a call, a wait timed out or the run was interrupted, 2 refused input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from components.naming import cluster_identifier, global_cluster_identifier, short_stack_name
from deploy.args import (
    add_endpoint_url,
    add_stack,
    add_waiting,
    engine_version,
    instance_class,
    lifetime,
    non_empty,
    positive_int,
    tag_value,
)
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused, error_line
from deploy.runbooks.base import Clients, Clock, Wait, check_instance_class, is_stack_resource, iso, resolve_settings, tag_map
from deploy.runbooks.clones import (
    DAY,
    EXPIRES_TAG,
    MAX_COPY_ON_WRITE_CLONES,
    CloneRun,
    CloneSpec,
    check_instance_class_fits,
    check_names_free,
    check_same_version,
    clone_spec,
    default_instance_class,
    delete_clone,
    is_clone,
    live,
    source_cluster,
    stack_clones,
)
from deploy.runbooks.rds import cluster_tags, find_cluster

HELP = "make a copy-on-write clone of the writer cluster for tests (tagged with an expiry); list and delete clones"
MAX_TTL = 30 * DAY


@dataclass
class Report:
    stack: str
    region: str
    source: str
    clone: str
    instance: str
    instance_class: str
    engine: str
    engine_version: str
    purpose: str
    expires: str
    endpoint: str | None = None
    port: int | None = None
    seconds: float | None = None
    status: str = "ok"
    connect: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    deleted: bool = False
    manual_cleanup: list[str] = field(default_factory=list)


def connect_help(settings, cluster: dict, region: str) -> dict[str, str]:
    """How to log in to the clone: an IAM token for an application user, over TLS."""
    from components.aws_facts import ENGINE_PORTS

    database = settings.database
    host, port = cluster.get("Endpoint", "<endpoint>"), cluster.get("Port") or ENGINE_PORTS[database.engine]
    user = next(iter(settings.access.application_users), "<user>")
    token = (f"aws rds generate-db-auth-token --region {region} --hostname {host} --port {port} --username {user}")
    if database.engine == "aurora-postgresql":
        client = (f"PGPASSWORD=$({token}) psql \"host={host} port={port} dbname={database.database_name} user={user} "
                  "sslmode=verify-full sslrootcert=global-bundle.pem\"")
    else:
        client = (f"mariadb -h {host} -P {port} -u {user} --password=\"$({token})\" --enable-cleartext-plugin "
                  "--ssl-ca=global-bundle.pem --ssl-verify-server-cert")
    resource = cluster.get("DbClusterResourceId", "<resource id>")
    return {"token": token, "client": client, "tls": "required (the source's parameter group enforces it); CA bundle: "
            "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
            "iam": f"rds-db:connect on arn:aws:rds-db:{region}:<account>:dbuser:{resource}/{user} (the clone has its own "
                   "resource id: the fleet's role, scoped to the source's, does not reach it)"}


# ---------------------------------------------------------------------------------------
# Create.
# ---------------------------------------------------------------------------------------

def plan_create(args, settings, rds, now: datetime) -> CloneSpec:
    """Every check before the first change; the clone to make."""
    short, region = short_stack_name(args.stack), settings.writer_region
    gid = global_cluster_identifier(short) if settings.global_database else None
    source = source_cluster(rds, cluster_identifier(short, region), region, args.stack, global_cluster_id=gid)
    check_same_version(source, args.engine_version)
    if args.instance_class:
        check_instance_class(args.instance_class, source["Engine"])
        check_instance_class_fits(source, args.instance_class)
    existing = live(stack_clones(rds, short))
    if len(existing) >= args.max_clones:
        raise CommandRefused(f"stack {short} has {len(existing)} live clone(s) in {region} ({', '.join(c.identifier for c in existing)}) "
                             f"and --max-clones is {args.max_clones}: each clone's instance costs money. Delete one "
                             "(--delete NAME), the expired ones (--delete-expired), or raise --max-clones")
    spec = clone_spec(source, args.stack, region, now, instance_class=args.instance_class or default_instance_class(
        source, needs_data_api=False), purpose=args.purpose, ttl_seconds=args.ttl)
    check_names_free(rds, spec)
    return spec


def steps(spec: CloneSpec, wait: Wait) -> list[str]:
    how = f"wait (poll every {wait.poll_interval:g}s, up to {wait.timeout:g}s)"
    restore = spec.restore_params()
    shown = " ".join(f"{k}={v}" for k, v in restore.items() if k != "Tags")
    tags = ", ".join(f"{k}={v}" for k, v in spec.tags)
    return [f"RestoreDBClusterToPointInTime {shown} Tags=[{tags}]",
            f"{how} until cluster {spec.identifier} is available",
            f"CreateDBInstance DBInstanceIdentifier={spec.instance_identifier} DBClusterIdentifier={spec.identifier} "
            f"DBInstanceClass={spec.instance_class} Engine={spec.engine} PubliclyAccessible=False",
            f"{how} until instance {spec.instance_identifier} is available"]


def _create(args, settings, rds, wait: Wait, now: datetime, out: TextIO) -> int:
    try:
        spec = plan_create(args, settings, rds, now)
    except KeyboardInterrupt:
        raise CommandRefused("interrupted (Ctrl-C) before any change: nothing was created", EXIT_FAILED) from None
    expires = dict(spec.tags)[EXPIRES_TAG]
    report = Report(stack=short_stack_name(args.stack), region=spec.region, source=spec.source, clone=spec.identifier,
                    instance=spec.instance_identifier, instance_class=spec.instance_class, engine=spec.engine,
                    engine_version=spec.engine_version, purpose=args.purpose, expires=expires)
    if args.dry_run or not args.json:
        print(f"clone {spec.identifier}: copy-on-write clone of {spec.source} in {spec.region}", file=out)
        print("\n".join(f"  {i}. {step}" for i, step in enumerate(steps(spec, wait), 1)), file=out, flush=True)
    if args.dry_run:
        print("dry run: every check passed; no call above was made.", file=out)
        return EXIT_OK
    run = CloneRun(spec, rds, wait)
    start = wait.clock.now()
    failure = None
    try:
        cluster = run.create()
        report.seconds = round(wait.clock.now() - start, 1)
        report.endpoint, report.port = cluster.get("Endpoint"), cluster.get("Port")
        report.connect = connect_help(settings, cluster, spec.region)
    except KeyboardInterrupt:
        failure = "interrupted (Ctrl-C)"
    except CommandRefused as error:
        failure = str(error)
    except Exception as error:  # an AWS error, an answer that is not AWS's, a bug: clean up
        failure = error_line(error)
    if failure:
        errors = run.clean_up()
        report.status, report.errors = "failed", [failure, *errors]
        report.deleted = not errors
        report.manual_cleanup = run.manual_cleanup() if errors else []
    _print_created(report, args.json, out)
    if failure:
        raise CommandRefused(f"{failure}; " + ("the clone was deleted" if report.deleted else
                                               "the clone is NOT deleted: finish with the commands above"), EXIT_FAILED)
    return EXIT_OK


def _print_created(report: Report, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(asdict(report), indent=2), file=out)
        return
    lines = [f"  clone              {report.clone} ({report.engine} {report.engine_version}, {report.instance_class})"]
    if report.endpoint:
        lines += [f"  endpoint           {report.endpoint}:{report.port}",
                  f"  expires            {report.expires} (purpose: {report.purpose}); delete it earlier with: "
                  f"python -m deploy clone --stack {report.stack} --delete {report.clone}",
                  f"  ready in           {report.seconds:g} s",
                  f"  connect (TLS)      {report.connect['client']}",
                  f"  IAM                {report.connect['iam']}"]
    for error in report.errors:
        lines.append(f"  error              {error}")
    if report.errors:
        lines.append(f"  deleted            {'yes (final snapshot skipped)' if report.deleted else 'NO'}")
    if report.manual_cleanup:
        lines += ["  finish the clean-up by hand:", *[f"    {command}" for command in report.manual_cleanup]]
    print("\n".join(lines), file=out)


# ---------------------------------------------------------------------------------------
# List and delete.
# ---------------------------------------------------------------------------------------

def _list(args, settings, rds, now: datetime, out: TextIO) -> int:
    short, region = short_stack_name(args.stack), settings.writer_region
    clones = stack_clones(rds, short)
    rows = [{"clone": c.identifier, "status": c.status, "source": c.source, "purpose": c.purpose,
             "created": iso(c.created) if c.created else None,
             "age_seconds": round((now - c.created).total_seconds()) if c.created else None,
             "expires": iso(c.expires) if c.expires else None, "expired": c.expired(now), "endpoint": c.endpoint}
            for c in clones]
    if args.json:
        print(json.dumps({"stack": short, "region": region, "clones": rows}, indent=2), file=out)
        return EXIT_OK
    if not rows:
        print(f"stack {short} has no clones in {region}.", file=out)
        return EXIT_OK
    print(f"{'clone':<52} {'status':<10} {'age':>8}  {'expires':<20} purpose", file=out)
    for row in rows:
        age = f"{row['age_seconds'] / 3600:.1f}h" if row["age_seconds"] is not None else "?"
        expires = (row["expires"] or "never") + (" (expired)" if row["expired"] else "")
        print(f"{row['clone']:<52} {row['status']:<10} {age:>8}  {expires:<20} {row['purpose']}", file=out)
    return EXIT_OK


def check_deletable(rds, identifier: str, stack: str, region: str) -> dict:
    """A clone of this stack that this command created; a refusal naming why not otherwise."""
    cluster = find_cluster(rds, identifier)
    if cluster is None:
        raise CommandRefused(f"--delete {identifier}: no such cluster in {region}")
    tags = tag_map(cluster_tags(rds, cluster))
    if not is_clone(identifier, tags):
        raise CommandRefused(f"--delete {identifier}: not created by `deploy clone` (it needs the clone- prefix and the tag "
                             f"clone={identifier}; its tags: {tags or 'none'}); this command deletes only its own clones")
    if not is_stack_resource(tags, stack):
        raise CommandRefused(f"--delete {identifier}: a clone of stack {tags.get('stack')!r}, not of "
                             f"{short_stack_name(stack)}; run the command with --stack {tags.get('stack')}")
    return cluster


def _delete(args, settings, rds, wait: Wait, out: TextIO) -> int:
    region, identifier = settings.writer_region, args.delete
    cluster = check_deletable(rds, identifier, args.stack, region)
    members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
    if args.dry_run:
        print("\n".join([*(f"DeleteDBInstance {m} SkipFinalSnapshot=True, wait until gone" for m in members),
                         f"DeleteDBCluster {identifier} SkipFinalSnapshot=True",
                         "dry run: no call above was made."]), file=out)
        return EXIT_OK
    return _deleted([delete_clone(rds, identifier, region, wait)], args.json, out)


def _deleted(runs: list[CloneRun], as_json: bool, out: TextIO) -> int:
    done = [r.spec.identifier for r in runs if not r.errors]
    failed = [{"clone": r.spec.identifier, "errors": r.errors, "manual_cleanup": r.manual_cleanup()} for r in runs if r.errors]
    if as_json:
        print(json.dumps({"deleted": done, "failed": failed}, indent=2), file=out)
    else:
        for name in done:
            print(f"deleted clone {name} (final snapshot skipped)", file=out)
        for entry in failed:
            print(f"NOT deleted: {entry['clone']}: {'; '.join(entry['errors'])}\n  finish by hand:\n    "
                  + "\n    ".join(entry["manual_cleanup"]), file=out)
    if failed:
        raise CommandRefused(f"could not delete {', '.join(e['clone'] for e in failed)}; the commands above finish it",
                             EXIT_FAILED)
    return EXIT_OK


def _delete_expired(args, settings, rds, wait: Wait, now: datetime, out: TextIO) -> int:
    expired = [c for c in live(stack_clones(rds, short_stack_name(args.stack))) if c.expired(now)]
    if args.dry_run:
        for clone in expired:
            print(f"would delete {clone.identifier} (expired {iso(clone.expires)}): DeleteDBInstance "
                  f"{', '.join(clone.instances) or '-'}, then DeleteDBCluster, final snapshot skipped", file=out)
        print("dry run: no call made.", file=out)
        return EXIT_OK
    if not expired and not args.json:
        print(f"stack {short_stack_name(args.stack)} has no expired clone in {settings.writer_region}.", file=out)
        return EXIT_OK
    runs = []
    try:
        for clone in expired:
            runs.append(delete_clone(rds, clone.identifier, settings.writer_region, wait))
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C); run --delete-expired again to finish", file=out)
    return _deleted(runs, args.json, out)


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser("clone", help=HELP, description=f"{HELP}. A clone is made in the writer region, in the "
                                   "stack's subnets and security group, encrypted with the region's key.")
    add_stack(parser)
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list the stack's clones with their age and expiry")
    action.add_argument("--delete", metavar="NAME", type=non_empty,
                        help="delete the clone NAME (refused for anything this command did not create)")
    action.add_argument("--delete-expired", action="store_true",
                        help="delete the stack's clones whose expiry has passed (for a scheduled job)")
    parser.add_argument("--instance-class", type=instance_class, metavar="CLASS",
                        help="class of the clone's instance, one the engine offers (default: db.serverless for a Serverless "
                             "v2 source, else db.t4g.medium)")
    parser.add_argument("--purpose", type=tag_value, default="test", help="the clone-purpose tag (default: test)")
    parser.add_argument("--ttl", type=lifetime(MAX_TTL), default=DAY, metavar="DURATION",
                        help="expiry after creation, e.g. 8h, 3d, 90m (default 24h, at most 30d); --delete-expired removes "
                             "the clone after it")
    parser.add_argument("--engine-version", type=engine_version, metavar="V",
                        help="expected engine version; refused if it is not the source's (a clone runs its source's "
                             "version: `deploy upgrade --rehearse` tries another)")
    parser.add_argument("--max-clones", type=positive_int(MAX_COPY_ON_WRITE_CLONES), default=3, metavar="N",
                        help=f"refuse when the stack has N live clones (default 3, at most {MAX_COPY_ON_WRITE_CLONES}: AWS "
                             "makes a full copy beyond 15 copy-on-write clones)")
    parser.add_argument("--dry-run", action="store_true", help="make the read-only checks and print the calls, without "
                                                               "making them")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (for CI)")
    add_waiting(parser, timeout=3600, poll_interval=30, what="each wait")
    add_endpoint_url(parser, help="AWS endpoint, e.g. a local emulator")
    parser.set_defaults(func=run_clone)


CREATE_ONLY = (("instance_class", "--instance-class"), ("engine_version", "--engine-version"))


def run_clone(args, *, clients: Callable[[str, str], Any] | None = None, clock: Clock | None = None,
              now: Callable[[], datetime] = lambda: datetime.now(UTC), out: TextIO | None = None) -> int:
    """The command; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    out = out or sys.stdout
    if args.list or args.delete or args.delete_expired:
        given = [flag for name, flag in CREATE_ONLY if getattr(args, name)]
        if given:
            raise CommandRefused(f"{', '.join(given)}: only when making a clone, not with --list, --delete or "
                                 "--delete-expired")
    # With --json the progress of the waits goes to stderr, so stdout holds one JSON document.
    wait = Wait(args.timeout, args.poll_interval, clock or Clock(), sys.stderr if args.json else out)
    settings = resolve_settings(args.stack)
    rds = (clients or Clients(args.endpoint_url))("rds", settings.writer_region)
    if args.list:
        return _list(args, settings, rds, now(), out)
    if args.delete:
        return _delete(args, settings, rds, wait, out)
    if args.delete_expired:
        return _delete_expired(args, settings, rds, wait, now(), out)
    return _create(args, settings, rds, wait, now(), out)

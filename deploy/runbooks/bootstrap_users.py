"""`python -m deploy bootstrap-users --stack S`: create the application database users
(``applicationUsers``) on the writer cluster through the RDS Data API, logged in as the master
user with the master secret. They log in with IAM authentication tokens only:

- Aurora PostgreSQL: ``CREATE ROLE "<user>" LOGIN``, ``GRANT rds_iam TO "<user>"``, then
  ``CONNECT`` on the application database and ``USAGE, CREATE`` on its ``public`` schema
  (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html);
- Aurora MySQL: ``CREATE USER '<user>'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'``
  and ``SELECT, INSERT, UPDATE, DELETE`` on the application database.

With ``auditLogging`` on Aurora PostgreSQL it also creates, when missing, the ``rds_pgaudit`` role that
``pgaudit.role`` names and the ``pgaudit`` extension, last, after the users ("Using pgAudit to log database
activity", https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Appendix.PostgreSQL.CommonDBATasks.pgaudit.html).
The extension needs pgaudit loaded: on a cluster that turned audit logging on while running, reboot its
instances first (docs/audit-logging.md); until then the statement fails and the message lists it as left to run.

Idempotent: it reads which users exist (and, on PostgreSQL, which hold ``rds_iam``) before it
changes anything, creates only what is missing, issues every user's ``GRANT`` statements on every
run (a no-op for a privilege held; so a run stopped half-way is finished by the next) and prints
every statement it ran. Everything is checked
before the first mutating statement, and it refuses (exit 2) when: the stack is unknown, its
engine and version have no Data API or its writer ``instanceClass`` is a T class, on which AWS does
not support the Data API (``components.settings.data_api_supported``), the cluster is missing,
not tagged as this stack's, not ``available`` or without its HTTP endpoint, the master secret is
missing, or there are no AWS credentials. Exit 1 when AWS refuses a call or cannot be reached;
the message then lists the statements still to run by hand.

The caller needs ``rds:DescribeDBClusters``, ``secretsmanager:DescribeSecret``,
``rds-data:ExecuteStatement`` on the cluster and read of the master secret (the break-glass
policy, ``breakGlassPolicyArn``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from components.naming import cluster_identifier, global_master_secret_name, short_stack_name
from deploy.args import add_endpoint_url, add_stack
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused, error_line, refused_by_aws
from deploy.runbooks.base import Clients, resolve_settings, stack_cluster

HELP = "create the IAM-authenticated application database users on the writer through the RDS Data API"


@dataclass
class Plan:
    """What the command will run, per user: the statements and a line saying what they change."""
    statements: list[tuple[str, str]] = field(default_factory=list)  # (sql, what it changes)
    unchanged: list[str] = field(default_factory=list)


def quoted_identifier(engine: str, user: str) -> str:
    """A user name validated by the settings (letters, digits, underscores), quoted for the engine."""
    from components.aws_facts import APPLICATION_USER_RE

    if not APPLICATION_USER_RE.fullmatch(user):  # the settings guarantee it; never build SQL from anything else
        raise CommandRefused(f"applicationUsers: {user!r} is not a plain identifier")
    return f'"{user}"' if engine == "aurora-postgresql" else f"'{user}'@'%'"


def existing_users_sql(engine: str) -> str:
    if engine == "aurora-postgresql":
        return ("SELECT rolname, pg_has_role(rolname, 'rds_iam', 'MEMBER') FROM pg_roles "
                "WHERE rolname = ANY(string_to_array(:names, ','))")
    return "SELECT user, plugin FROM mysql.user WHERE host = '%' AND FIND_IN_SET(user, :names)"


# pgaudit's role and extension, each created only when missing (so issued on every run).
PGAUDIT_STATEMENTS = [
    ("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_pgaudit') THEN CREATE ROLE rds_pgaudit; "
     "END IF; END $$", "role rds_pgaudit (pgaudit.role) in place"),
    ("CREATE EXTENSION IF NOT EXISTS pgaudit", "extension pgaudit in place"),
]


def plan_for(engine: str, database: str, users: list[str], existing: dict[str, bool], audit: bool = False) -> Plan:
    """``existing``: user -> whether it already logs in with IAM (PostgreSQL: holds rds_iam;
    MySQL: uses AWSAuthenticationPlugin). ``audit``: audit logging is on (PostgreSQL: pgaudit's role and extension).

    A user is created only when missing, but its privileges are granted on every run: ``GRANT`` of a
    privilege the user holds already changes nothing on either engine, and a run stopped after the
    ``CREATE`` would otherwise leave a user that logs in but may not reach the database, for good."""
    plan = Plan()
    for user in users:
        name = quoted_identifier(engine, user)
        if engine == "aurora-postgresql":
            grants = [
                (f'GRANT CONNECT ON DATABASE "{database}" TO {name}', f"granted CONNECT on database {database} to {user}"),
                (f"GRANT USAGE, CREATE ON SCHEMA public TO {name}", f"granted USAGE, CREATE on schema public to {user}"),
            ]
            if user not in existing:
                plan.statements += [
                    (f"CREATE ROLE {name} LOGIN", f"created role {user} (LOGIN, no password)"),
                    (f"GRANT rds_iam TO {name}", f"granted rds_iam to {user} (IAM authentication)"),
                    *grants,
                ]
            elif not existing[user]:
                plan.statements += [(f"GRANT rds_iam TO {name}", f"granted rds_iam to existing role {user}"), *grants]
            else:
                plan.unchanged.append(f"role {user} exists and holds rds_iam; its grants are issued again (no change if held)")
                plan.statements += grants
        else:
            grant = (f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO {name}",
                     f"granted SELECT, INSERT, UPDATE, DELETE on {database}.* to {user}@%")
            if user not in existing:
                plan.statements += [
                    (f"CREATE USER {name} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'",
                     f"created user {user}@% (AWSAuthenticationPlugin)"),
                    grant,
                ]
            elif not existing[user]:
                raise CommandRefused(
                    f"user {user}@% exists but logs in with a password plugin, not AWSAuthenticationPlugin; this command "
                    f"does not change an existing user's authentication. Run `ALTER USER {name} IDENTIFIED WITH "
                    "AWSAuthenticationPlugin AS 'RDS'` as the master user if that is intended")
            else:
                plan.unchanged.append(f"user {user}@% exists with AWSAuthenticationPlugin; its grant is issued again "
                                      "(no change if held)")
                plan.statements.append(grant)
    if audit and engine == "aurora-postgresql":
        plan.statements += PGAUDIT_STATEMENTS
    return plan


def _field(value: dict) -> Any:
    """The value of one Data API field ({"stringValue": ...}, {"booleanValue": ...}, {"isNull": true})."""
    return None if value.get("isNull") else next(iter(value.values()), None)


def read_existing(data, cluster_arn: str, secret_arn: str, database: str, engine: str, users: list[str]) -> dict[str, bool]:
    response = data.execute_statement(
        resourceArn=cluster_arn, secretArn=secret_arn, database=database, sql=existing_users_sql(engine),
        parameters=[{"name": "names", "value": {"stringValue": ",".join(users)}}])
    existing: dict[str, bool] = {}
    for record in response.get("records") or []:
        name, second = (_field(value) for value in record[:2])
        existing[str(name)] = second is True if engine == "aurora-postgresql" else second == "AWSAuthenticationPlugin"
    return existing


def check_data_api(cluster: dict, stack: str, identifier: str) -> None:
    if not cluster.get("HttpEndpointEnabled"):
        raise CommandRefused(
            f"cluster {identifier} has no Data API (HttpEndpointEnabled is false): run `python -m deploy up --stack {stack}`, "
            "which enables it on supported engine versions, then run this command again")


def master_secret_arn(cluster: dict, secrets, secret_name: str | None) -> str:
    """The RDS-managed secret of a regional cluster, or the program's secret of a global database."""
    managed = (cluster.get("MasterUserSecret") or {}).get("SecretArn")
    if managed:
        return managed
    if secret_name is None:
        raise CommandRefused(f"cluster {cluster.get('DBClusterIdentifier')} reports no master user secret")
    from botocore.exceptions import ClientError

    try:
        return secrets.describe_secret(SecretId=secret_name)["ARN"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise CommandRefused(f"the master secret {secret_name} does not exist in this region") from None
        raise


def bootstrap(args, *, clients: Callable[[str, str], Any] | None = None, out: TextIO | None = None) -> int:
    """The command; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from components.aws_facts import data_api_supported

    out = out or sys.stdout
    settings = resolve_settings(args.stack)
    stack = short_stack_name(args.stack)
    db = settings.database
    if not data_api_supported(db.engine, db.engine_version):
        raise CommandRefused(
            f"stack {stack}: {db.engine} {db.engine_version} has no RDS Data API, which this command runs the SQL "
            "through (aurora-postgresql 13.11+, 14.8+, 15.3+, 16.1+, 17.4+; aurora-mysql 3.07+). Upgrade "
            "(`python -m deploy upgrade`), or create the users by hand as README: Application users shows")
    if not data_api_supported(db.engine, db.engine_version, db.instance_class):
        raise CommandRefused(
            f"stack {stack}: instanceClass {db.instance_class} is a T (burstable) class, and the RDS Data API, which "
            "this command runs the SQL through, is not supported on T DB instance classes "
            "(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.limitations.html): the program "
            "does not enable it. Create the users by hand as README: Application users shows, or set a non-T "
            "instanceClass (e.g. db.r7g.large) and `pulumi up` first")
    region = settings.writer_region  # the program enables the Data API on every writer-capable member
    identifier = cluster_identifier(stack, region)
    users = list(settings.access.application_users)
    secret_name = global_master_secret_name(stack) if settings.global_database else None
    clients = clients or Clients(getattr(args, "endpoint_url", None))
    rds, secrets, data = (clients(service, region) for service in ("rds", "secretsmanager", "rds-data"))
    cluster = stack_cluster(rds, identifier, stack, f"stack {stack}: cluster {identifier} does not exist in {region}; "
                                                    f"create it with `python -m deploy up --stack {stack}`")
    check_data_api(cluster, stack, identifier)
    try:
        secret_arn = master_secret_arn(cluster, secrets, secret_name)
        existing = read_existing(data, cluster["DBClusterArn"], secret_arn, db.database_name, db.engine, users)
    except NoCredentialsError:
        raise  # the boundary's exit 2
    except (ClientError, BotoCoreError) as error:
        reason = refused_by_aws(error) if isinstance(error, ClientError) else f"could not reach AWS: {error}"
        raise CommandRefused(f"{reason} (Secrets Manager or the RDS Data API); nothing has changed", EXIT_FAILED) from None
    plan = plan_for(db.engine, db.database_name, users, existing, audit=db.audit_logging)
    for line in plan.unchanged:
        print(line, file=out)
    if not plan.statements:
        print(f"{identifier}: every application user is in place; nothing changed", file=out)
        return EXIT_OK
    if args.dry_run:
        for sql, _ in plan.statements:
            print(f"would run on {identifier}/{db.database_name}: {sql}", file=out)
        return EXIT_OK
    for done, (sql, what) in enumerate(plan.statements):
        try:
            data.execute_statement(resourceArn=cluster["DBClusterArn"], secretArn=secret_arn,
                                   database=db.database_name, sql=sql)
        except Exception as error:  # an AWS error, an answer that is not AWS's, a bug: say what is left to run
            left = "\n".join(f"  {statement};" for statement, _ in plan.statements[done:])
            reason = refused_by_aws(error) if isinstance(error, ClientError) else error_line(error)
            raise CommandRefused(
                f"{reason}\nstopped after {done} of {len(plan.statements)} statements; run the command again (it "
                f"creates what is missing and issues every GRANT again), or run the rest as the master user on "
                f"{identifier}:\n{left}", EXIT_FAILED) from error
        print(what, file=out)
    return EXIT_OK


def register(subparsers) -> None:
    parser = subparsers.add_parser("bootstrap-users", help=HELP, description=HELP)
    add_stack(parser)
    parser.add_argument("--dry-run", action="store_true", help="read which users exist and print the SQL, without running it")
    add_endpoint_url(parser, help="send every AWS call to this endpoint (a local emulator such as moto_server)")
    parser.set_defaults(func=bootstrap)

"""`python -m deploy rotate-password --stack S`: rotate the database master password.

- Regional stack (RDS manages the master secret): ``RotateSecret`` on the cluster's managed
  secret (Secrets Manager rotates it on RDS's behalf, no Lambda function), then it waits until
  the secret's ``AWSCURRENT`` version is a new one and the cluster is ``available``. The program's
  schedule (``masterPasswordRotationDays``) keeps rotating it.
- Global database (the program generates the password, RDS cannot manage it on members): a new
  password is generated here and the stack's encrypted config becomes the source of truth for it:
  1. ``masterPassword`` is set as a secret config value of the stack (``pulumi config set --secret``,
     the value on stdin, not in argv), so the
     next ``pulumi up`` writes this password, never the generated one, to the cluster and the secret;
  2. ``ModifyDBCluster`` sets it on the writer cluster (the members follow: one global database);
  3. it waits until RDS has applied it (no ``MasterUserPassword`` left in ``PendingModifiedValues``)
     and the cluster is ``available``;
  4. ``PutSecretValue`` writes the secret with the new password (the rest of its value unchanged)
     and it confirms that the new version is ``AWSCURRENT``; the replicas follow.

Everything is checked before the first change: the stack and its settings, the writer cluster
(exists, tagged as this stack's, ``available``), the master secret (exists, readable), and for a
global database that the stack opens through the Automation API (the Pulumi CLI is needed to
write the config) and that a passphrase secrets provider has its passphrase. Refused input exits
2; AWS refusing a call or a timeout exits 1, and the message says how to finish by hand. Commit
``Pulumi.<stack>.yaml`` afterwards (the value is encrypted by the stack's secrets provider).
"""

from __future__ import annotations

import json
import os
import secrets as random_source
import shutil
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from components.aws_facts import MASTER_PASSWORD_LENGTH, MASTER_PASSWORD_SPECIALS
from components.naming import PROJECT, cluster_identifier, global_master_secret_name, short_stack_name
from deploy.args import add_endpoint_url, add_stack, add_waiting
from deploy.errors import EXIT_FAILED, EXIT_OK, CommandRefused, after_change
from deploy.offline.stack_config import PROJECT_DIR
from deploy.runbooks.base import (
    Clients,
    Clock,
    Wait,
    error_tail,
    open_stack,
    resolve_settings,
    stack_cluster,
    write_stack_config,
)

HELP = "rotate the database master password (RDS-managed secret, or the global database's generated secret)"
CONFIG_KEY = "masterPassword"
SPECIALS = MASTER_PASSWORD_SPECIALS  # the characters the program's generated passwords use too
PASSWORD_LENGTH = MASTER_PASSWORD_LENGTH


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """A random password with a lower, an upper, a digit and a special, from the allowed characters."""
    alphabet = string.ascii_letters + string.digits + SPECIALS
    while True:
        candidate = "".join(random_source.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(c in SPECIALS for c in candidate)):
            return candidate


def current_version(secret: dict) -> str | None:
    return next((version for version, stages in (secret.get("VersionIdsToStages") or {}).items()
                 if "AWSCURRENT" in stages), None)


def describe_cluster(rds, identifier: str) -> dict:
    return rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]


def password_applied(rds, identifier: str, wait: Wait, how: str) -> None:
    """Wait until RDS has applied a new MasterUserPassword, then until the cluster is ``available``.

    Right after ``ModifyDBCluster`` the cluster can still be ``available`` with the password under
    ``PendingModifiedValues`` (ClusterPendingModifiedValues.MasterUserPassword:
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ClusterPendingModifiedValues.html),
    so ``available`` alone does not mean done: the change is applied once it is no longer pending,
    or once the cluster was seen in another status (``resetting-master-credentials``)."""
    seen = {"busy": False}

    def done(cluster: dict) -> bool:
        if cluster.get("Status") != "available":
            seen["busy"] = True
            return False
        return seen["busy"] or "MasterUserPassword" not in (cluster.get("PendingModifiedValues") or {})

    wait.until(lambda: describe_cluster(rds, identifier), done,
               lambda state: f"waiting until cluster {identifier} has applied the new master password and is "
                             f"available; {how}")


SECRETS_HINT = ("is the stack's secrets provider configured? The passphrase provider needs PULUMI_CONFIG_PASSPHRASE "
                "or PULUMI_CONFIG_PASSPHRASE_FILE; a cloud KMS provider (`secretsprovider:` in Pulumi.<stack>.yaml) "
                "needs credentials that may encrypt with its key")


def set_config_secret(stack_name: str, value: str, *, work_dir: Path = PROJECT_DIR) -> None:
    """``masterPassword`` as a secret config value of the stack, the value on stdin (``base.write_stack_config``)."""
    key = f"{PROJECT}:{CONFIG_KEY}"
    write_stack_config(stack_name, {key: value}, secret=True, work_dir=work_dir, failed=lambda tail: (
        f"could not write {key} to the config of stack {stack_name}: {SECRETS_HINT}.\n{tail}\n"
        "Nothing has changed yet: not the config, the cluster or the secret. Run the command again once the "
        "secrets provider can encrypt."))


def uses_passphrase(stack_file: dict, backend_url: Callable[[], str]) -> bool:
    """Whether the stack encrypts with the passphrase provider: ``secretsprovider: passphrase``, or no
    ``secretsprovider`` and either an ``encryptionsalt`` (the passphrase provider's) or a self-managed
    backend (file, S3...), whose default provider is the passphrase one; Pulumi Cloud's is its own service
    (https://www.pulumi.com/docs/concepts/secrets/)."""
    provider = stack_file.get("secretsprovider")
    if provider is not None:
        return provider == "passphrase"
    return "encryptionsalt" in stack_file or not backend_url().startswith(("https://", "http://"))


def check_secrets_provider(stack_name: str, backend_url: Callable[[], str], *, env=os.environ,
                           work_dir: Path = PROJECT_DIR) -> None:
    """Refuse (exit 2) before any change when the stack's passphrase provider has no passphrase."""
    import yaml

    short = short_stack_name(stack_name)
    stack_file = yaml.safe_load((work_dir / f"Pulumi.{short}.yaml").read_text()) or {}
    if uses_passphrase(stack_file, backend_url) and not (env.get("PULUMI_CONFIG_PASSPHRASE")
                                                          or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise CommandRefused(
            f"stack {short} encrypts its secrets with the passphrase provider and neither PULUMI_CONFIG_PASSPHRASE "
            f"nor PULUMI_CONFIG_PASSPHRASE_FILE is set: the new password could not be stored in Pulumi.{short}.yaml. "
            "Set one and run again; nothing has changed")


def uncommitted_changes(stack_name: str, *, work_dir: Path = PROJECT_DIR) -> str:
    """``git status --porcelain`` of ``Pulumi.<stack>.yaml``: empty when it is committed, or when there
    is no git or the project is not a git work tree."""
    git = shutil.which("git")
    if git is None:
        return ""
    inside = subprocess.run([git, "-C", str(work_dir), "rev-parse", "--is-inside-work-tree"],
                            capture_output=True, text=True, check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return ""
    stack_file = f"Pulumi.{short_stack_name(stack_name)}.yaml"
    status = subprocess.run([git, "-C", str(work_dir), "status", "--porcelain", "--", stack_file],
                            capture_output=True, text=True, check=False)
    return status.stdout.strip()


def commit_reminder(stack: str) -> str:
    return (f"COMMIT Pulumi.{stack}.yaml NOW, before any other `pulumi up` or `deploy up` of this stack: "
            f"`git add Pulumi.{stack}.yaml && git commit -m \"Rotate the {stack} master password\"` and push it. A "
            "checkout without it deploys the generated password and resets the cluster and the secret to it. Every "
            "preview, up and refresh of the stack now needs its secrets provider (passphrase or KMS key).")


def check_stack_opens(stack_name: str) -> None:
    """The Pulumi CLI opens the stack, and its secrets provider can encrypt (passphrase set)."""
    from pulumi import automation as auto

    stack = open_stack(stack_name)

    def backend_url() -> str:
        try:
            return stack.workspace.who_am_i().url or ""
        except auto.CommandError as error:
            raise CommandRefused(f"could not ask the Pulumi CLI for the stack's backend (`pulumi whoami -v`):\n"
                                 f"{error_tail(error)}\nNothing has changed.", EXIT_FAILED) from None

    check_secrets_provider(stack_name, backend_url)


def rotate(args, *, clients: Callable[[str, str], Any] | None = None,
           write_config: Callable[[str, str], None] = set_config_secret,
           check_config: Callable[[str], None] = check_stack_opens, clock: Clock | None = None,
           git_changes: Callable[[str], str] | None = None, out: TextIO | None = None) -> int:
    """The command; ``clients(service, region)`` returns an AWS client (``base.Clients`` by default)."""
    out = out or sys.stdout
    waiter = Wait(args.timeout, args.poll_interval, clock or Clock(), out)
    settings = resolve_settings(args.stack)
    stack = short_stack_name(args.stack)
    region = settings.writer_region
    if settings.global_database is not None and region != settings.primary_region:
        # The program writes masterPassword to the member of the creation region (aws:region) only,
        # the primary it created with credentials (components/global_database.py); while another
        # region holds the writer that member is a secondary, which carries no password.
        raise CommandRefused(
            f"stack {stack}: globalDatabase.writerRegion is {region}, not {settings.primary_region} (aws:region, where "
            f"the global database and its master secret were created). The program sets masterPassword on the "
            f"{settings.primary_region} member only, a secondary now, so the next `pulumi up` could not apply a rotated "
            f"password. Switch the writer back to {settings.primary_region} (README: DR runbook) and rotate then")
    identifier = cluster_identifier(stack, region)
    endpoint_url = getattr(args, "endpoint_url", None)
    # A rehearsal against an emulator (--endpoint-url) leaves the real stack's config alone unless asked.
    rehearsal = bool(endpoint_url) and not getattr(args, "write_stack_config", False)
    changes = (git_changes or uncommitted_changes)(args.stack) if settings.global_database and not rehearsal else ""
    if changes:
        # The rotated password must reach every checkout as one committed change of the stack file.
        raise CommandRefused(f"Pulumi.{stack}.yaml has uncommitted changes ({changes}): commit or discard them first, "
                             "so that the rotation is one commit of its own that every checkout gets")
    # ModifyDBCluster goes to the writer cluster; Secrets Manager to the secret's primary region, the
    # creation region: "A replica secret can't be updated independently from its primary secret"
    # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/standalone-secret.html).
    clients = clients or Clients(endpoint_url)
    rds = clients("rds", region)
    secrets = clients("secretsmanager", settings.primary_region if settings.global_database else region)
    cluster = stack_cluster(rds, identifier, stack, f"stack {stack}: cluster {identifier} does not exist; nothing to rotate")
    if settings.global_database is None:
        return _rotate_managed(args, cluster, identifier, secrets, rds, waiter, out)
    return _rotate_global(args, stack, cluster, identifier, rds, secrets, waiter, write_config, check_config,
                          rehearsal, out)


def _rotate_managed(args, cluster: dict, identifier: str, secrets, rds, waiter: Wait, out: TextIO) -> int:
    secret_arn = (cluster.get("MasterUserSecret") or {}).get("SecretArn")
    if not secret_arn:
        raise CommandRefused(f"cluster {identifier} has no RDS-managed master secret (MasterUserSecret); "
                             "a regional cluster of this program always has one: run `pulumi up` first")
    before = current_version(secrets.describe_secret(SecretId=secret_arn))
    if args.dry_run:
        print(f"would RotateSecret {secret_arn} (AWSCURRENT is version {before}) and wait for a new version", file=out)
        return EXIT_OK
    secrets.rotate_secret(SecretId=secret_arn)
    print(f"asked Secrets Manager to rotate {secret_arn}", file=out)
    how = (f"the rotation may still be under way: watch `aws secretsmanager describe-secret --secret-id {secret_arn}` "
           "until AWSCURRENT moves to a new version")
    state: dict[str, Any] = {}

    def rotated() -> bool:
        state["version"] = current_version(secrets.describe_secret(SecretId=secret_arn))
        return state["version"] not in (None, before)

    with after_change(how):
        waiter.until(rotated, bool, lambda state: f"waiting until {secret_arn} has a new AWSCURRENT version; {how}")
        waiter.until(lambda: describe_cluster(rds, identifier), lambda cluster: cluster.get("Status") == "available",
                     lambda state: f"waiting until cluster {identifier} is available; watch `aws rds "
                                   f"describe-db-clusters --db-cluster-identifier {identifier}`")
    print(f"rotated: {secret_arn} AWSCURRENT is version {state['version']} (was {before}); {identifier} is available",
          file=out)
    return EXIT_OK


def _rotate_global(args, stack: str, cluster: dict, identifier: str, rds, secrets, waiter: Wait,
                   write_config, check_config, rehearsal: bool, out: TextIO) -> int:
    secret_name = global_master_secret_name(stack)
    from botocore.exceptions import ClientError

    try:
        current = json.loads(secrets.get_secret_value(SecretId=secret_name)["SecretString"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            region = cluster["DBClusterArn"].split(":")[3]
            raise CommandRefused(f"the master secret {secret_name} does not exist in {region}") from None
        raise
    except (KeyError, ValueError):
        raise CommandRefused(f"the master secret {secret_name} holds no JSON value; restore it with `pulumi up` first") from None
    if not isinstance(current, dict) or "password" not in current:
        raise CommandRefused(f"the master secret {secret_name} holds no password field; restore it with `pulumi up` first")
    if rehearsal:
        write_config = check_config = lambda *unused: None  # noqa: E731
    check_config(args.stack)  # the Pulumi CLI and the stack are there before anything changes
    if args.dry_run:
        print(f"would set {PROJECT}:{CONFIG_KEY} (secret) on stack {stack}, ModifyDBCluster {identifier} "
              f"MasterUserPassword, wait until available, PutSecretValue {secret_name}", file=out)
        return EXIT_OK

    password = new_password()
    write_config(args.stack, password)
    if rehearsal:
        print(f"rehearsal against {args.endpoint_url}: {PROJECT}:{CONFIG_KEY} is NOT written to Pulumi.{stack}.yaml "
              "(--write-stack-config writes it)", file=out)
    else:
        print(f"set {PROJECT}:{CONFIG_KEY} (encrypted) in Pulumi.{stack}.yaml: the next `pulumi up` keeps this password",
              file=out)
    finish = (f"the stack's config holds the new password: `python -m deploy up --stack {stack}` sets it on the "
              f"cluster and the secret and finishes the rotation. {commit_reminder(stack)}")
    if rehearsal:
        finish = f"a rehearsal against {args.endpoint_url}: the stack's config was not written; run it again"
    with after_change(finish):
        rds.modify_db_cluster(DBClusterIdentifier=identifier, MasterUserPassword=password, ApplyImmediately=True)
        print(f"set the new master password on {identifier}", file=out)
        password_applied(rds, identifier, waiter, finish)
        value = json.dumps({**current, "password": password})
        version = secrets.put_secret_value(SecretId=secret_name, SecretString=value)["VersionId"]
        if current_version(secrets.describe_secret(SecretId=secret_name)) != version:
            raise CommandRefused(f"{secret_name}: version {version} is not AWSCURRENT; {finish}", EXIT_FAILED)
    print(f"rotated: {secret_name} AWSCURRENT is version {version} (replicas follow); {identifier} is available", file=out)
    if not rehearsal:
        print(commit_reminder(stack), file=out)
    return EXIT_OK


def register(subparsers) -> None:
    parser = subparsers.add_parser("rotate-password", help=HELP, description=HELP)
    add_stack(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="make the read-only checks and print the changes, without making them")
    add_endpoint_url(parser, help="send every AWS call to this endpoint (a local emulator such as moto_server); "
                                  "a global database's new password is then not written to the stack config")
    parser.add_argument("--write-stack-config", action="store_true",
                        help="with --endpoint-url: write the new masterPassword to the stack config all the same")
    add_waiting(parser, timeout=1800, poll_interval=15)
    parser.set_defaults(func=rotate)

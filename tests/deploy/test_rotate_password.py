"""`deploy rotate-password` on the moto server, with botocore's Stubber where moto lacks an answer.

The global database path runs on moto's RDS (DescribeDBClusters, ModifyDBCluster with a new
MasterUserPassword) and Secrets Manager (GetSecretValue, PutSecretValue, DescribeSecret); in
`rotate` the stack config write is a recording stand-in, and `set_config_secret` runs the real
Pulumi CLI (.tools/bin) on a file backend in a temp dir. The regional path is stubbed: moto
reports a MasterUserSecret for a cluster with ManageMasterUserPassword but creates no such secret
in its Secrets Manager, so RotateSecret on it has nothing to rotate. A refusal by AWS half-way is
stubbed too (moto accepts every password), and so is a password RDS reports pending
(PendingModifiedValues.MasterUserPassword: moto applies a new password at once).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from deploy import cli
from deploy.errors import CommandRefused
from deploy.runbooks import rotate_password
from deploy.runbooks.base import Clock
from deploy.runbooks.rotate_password import SPECIALS, new_password, rotate

PROD_CLUSTER = "aurora-platform-prod-us-east-1"
DEV_CLUSTER = "aurora-platform-dev-us-east-2"
SECRET = "aurora-platform-prod/master"
V0, V1, V2 = ("a" * 32, "b" * 32, "c" * 32)  # Secrets Manager version ids are 32-64 characters
PROD_TAGS = [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "prod"}]


def args(stack="prod", dry_run=False, endpoint_url=None, write_stack_config=False):
    return SimpleNamespace(stack=stack, dry_run=dry_run, endpoint_url=endpoint_url, write_stack_config=write_stack_config,
                           timeout=5, poll_interval=0.01)


uncommitted_changes = rotate_password.uncommitted_changes


@pytest.fixture(autouse=True)
def committed_stack_file(monkeypatch):
    """Pulumi.<stack>.yaml as committed (another engineer's edit in this work tree must not decide a test)."""
    monkeypatch.setattr(rotate_password, "uncommitted_changes", lambda stack: "")


def pick(rds, secrets, asked: list | None = None):
    """A client factory answering with the given clients, each only in its own region."""
    def make(service: str, region: str):
        client = {"rds": rds, "secretsmanager": secrets}[service]
        assert client.meta.region_name == region, f"{service} asked for in {region}, the client is in {client.meta.region_name}"
        if asked is not None:
            asked.append((service, region))
        return client
    return make


def no_wait() -> Clock:
    return Clock(sleep=lambda seconds: None)


class Config:
    """Stands in for the Automation API: records the secret config values written."""

    def __init__(self):
        self.written: list[tuple[str, str]] = []
        self.checked: list[str] = []

    def write(self, stack: str, value: str) -> None:
        self.written.append((stack, value))

    def check(self, stack: str) -> None:
        self.checked.append(stack)


def moto_global(moto: str, tags=PROD_TAGS, secret: bool = True):
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto)
    secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
    rds.create_db_cluster(DBClusterIdentifier=PROD_CLUSTER, Engine="aurora-postgresql", EngineVersion="16.6",
                          MasterUsername="dbadmin", MasterUserPassword="generated-Passw0rd!", Tags=tags)
    value = {"engine": "postgres", "host": "h.cluster-x.us-east-1.rds.amazonaws.com", "username": "dbadmin",
             "password": "generated-Passw0rd!", "dbname": "app", "port": 5432, "dbClusterIdentifier": PROD_CLUSTER}
    if secret:
        secrets.create_secret(Name=SECRET, SecretString=json.dumps(value))
    return rds, secrets, value


def test_global_rotation_sets_config_then_cluster_then_secret(moto):
    rds, secrets, before = moto_global(moto)
    config, out = Config(), io.StringIO()

    code = rotate(args(), clients=pick(rds, secrets), write_config=config.write,
                  check_config=config.check, clock=no_wait(), out=out)

    assert code == 0
    ((stack, password),) = config.written
    assert stack == "prod" and config.checked == ["prod"]
    assert len(password) == 40 and password != before["password"]
    after = json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"])
    assert after == {**before, "password": password}  # only the password changed
    described = secrets.describe_secret(SecretId=SECRET)
    assert len(described["VersionIdsToStages"]) == 2
    assert rds.describe_db_clusters(DBClusterIdentifier=PROD_CLUSTER)["DBClusters"][0]["Status"] == "available"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("set aurora-platform:masterPassword (encrypted) in Pulumi.prod.yaml")
    assert lines[1] == f"set the new master password on {PROD_CLUSTER}"
    assert lines[2].startswith(f"rotated: {SECRET} AWSCURRENT is version ")
    assert lines[3].startswith("COMMIT Pulumi.prod.yaml NOW, before any other `pulumi up`")
    assert password not in out.getvalue()


def test_global_rotation_uses_the_secret_in_the_creation_region_and_the_writer_cluster(moto):
    rds, secrets, _ = moto_global(moto)
    asked: list = []
    assert rotate(args(dry_run=True), clients=pick(rds, secrets, asked), write_config=Config().write,
                  check_config=Config().check, clock=no_wait(), out=io.StringIO()) == 0
    assert asked == [("rds", "us-east-1"), ("secretsmanager", "us-east-1")]


def test_global_rotation_after_a_switchover_is_refused_before_any_call(moto, monkeypatch):
    import dataclasses

    from deploy.runbooks.base import resolve_settings

    settings = resolve_settings("prod")
    moved = dataclasses.replace(settings, global_database=dataclasses.replace(settings.global_database, writer_region="us-west-2"))
    monkeypatch.setattr(rotate_password, "resolve_settings", lambda stack: moved)
    west_rds = boto3.client("rds", region_name="us-west-2", endpoint_url=moto)
    east_secrets = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto)
    config = Config()
    with pytest.raises(CommandRefused) as refused:
        rotate(args(), clients=pick(west_rds, east_secrets), write_config=config.write, check_config=config.check,
               clock=no_wait(), out=io.StringIO())
    assert refused.value.code == 2
    assert "globalDatabase.writerRegion is us-west-2, not us-east-1" in str(refused.value)
    assert config.written == [] and config.checked == []


def test_a_rehearsal_against_an_emulator_leaves_the_stack_config_alone(moto):
    rds, secrets, before = moto_global(moto)
    config, out = Config(), io.StringIO()
    assert rotate(args(endpoint_url=moto), clients=pick(rds, secrets), write_config=config.write,
                  check_config=config.check, clock=no_wait(), out=out) == 0
    assert config.written == [] and config.checked == []
    assert f"rehearsal against {moto}: aurora-platform:masterPassword is NOT written" in out.getvalue()
    assert json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"])["password"] != before["password"]


def test_a_rehearsal_writes_the_stack_config_only_when_asked(moto):
    rds, secrets, _ = moto_global(moto)
    config = Config()
    assert rotate(args(endpoint_url=moto, write_stack_config=True), clients=pick(rds, secrets),
                  write_config=config.write, check_config=config.check, clock=no_wait(), out=io.StringIO()) == 0
    assert len(config.written) == 1 and config.checked == ["prod"]


def test_global_rotation_with_uncommitted_changes_in_the_stack_file_is_refused_before_any_call(moto):
    config = Config()
    with pytest.raises(CommandRefused) as refused:
        rotate(args(), clients=lambda *a: pytest.fail("called AWS"), write_config=config.write,
               check_config=config.check, clock=no_wait(), git_changes=lambda stack: "M Pulumi.prod.yaml", out=io.StringIO())
    assert refused.value.code == 2 and "Pulumi.prod.yaml has uncommitted changes (M Pulumi.prod.yaml)" in str(refused.value)
    assert config.written == [] and config.checked == []


def test_uncommitted_changes_reads_git_status_of_the_stack_file(tmp_path):
    git = lambda *argv: subprocess.run(["git", "-C", str(tmp_path), *argv], check=True, capture_output=True)  # noqa: E731
    assert uncommitted_changes("prod", work_dir=tmp_path) == ""  # not a git work tree
    git("init", "-q")
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {}\n")
    assert uncommitted_changes("prod", work_dir=tmp_path) == "?? Pulumi.prod.yaml"
    git("add", "Pulumi.prod.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "stack")
    assert uncommitted_changes("org/prod", work_dir=tmp_path) == ""
    (tmp_path / "Pulumi.prod.yaml").write_text("config: {a: b}\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")  # another stack's file does not count
    assert uncommitted_changes("prod", work_dir=tmp_path) == "M Pulumi.prod.yaml"


def test_global_dry_run_changes_nothing(moto):
    rds, secrets, before = moto_global(moto)
    config, out = Config(), io.StringIO()
    assert rotate(args(dry_run=True), clients=pick(rds, secrets), write_config=config.write,
                  check_config=config.check, clock=no_wait(), out=out) == 0
    assert config.written == [] and config.checked == ["prod"]
    assert json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"]) == before
    assert "would set aurora-platform:masterPassword" in out.getvalue()


def test_global_cluster_refusing_the_password_says_how_to_finish(moto):
    _, secrets, before = moto_global(moto)
    rds = boto3.client("rds", region_name="us-east-1")
    config = Config()
    with Stubber(rds) as stub:
        stub.add_response("describe_db_clusters", {"DBClusters": [{
            "DBClusterIdentifier": PROD_CLUSTER, "DBClusterArn": f"arn:aws:rds:us-east-1:123456789012:cluster:{PROD_CLUSTER}",
            "Status": "available", "TagList": PROD_TAGS}]}, {"DBClusterIdentifier": PROD_CLUSTER})
        stub.add_client_error("modify_db_cluster", "InvalidDBClusterStateFault", "cluster is busy", 400)
        with pytest.raises(CommandRefused) as refused:
            rotate(args(), clients=pick(rds, secrets), write_config=config.write,
                   check_config=config.check, clock=no_wait(), out=io.StringIO())
    assert refused.value.code == 1
    assert "InvalidDBClusterStateFault" in str(refused.value)
    assert "`python -m deploy up --stack prod` sets it on the cluster and the secret" in str(refused.value)
    assert len(config.written) == 1  # the config was written first: the next up finishes the rotation
    assert json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"]) == before


def test_global_rotation_waits_until_rds_has_applied_the_pending_password(moto):
    """Stubber for RDS: moto applies a new password at once and never reports it pending."""
    _, secrets, before = moto_global(moto)
    rds = boto3.client("rds", region_name="us-east-1")
    cluster = {"DBClusterIdentifier": PROD_CLUSTER, "DBClusterArn": f"arn:aws:rds:us-east-1:123456789012:cluster:{PROD_CLUSTER}",
               "Status": "available", "TagList": PROD_TAGS}
    pending = {**cluster, "PendingModifiedValues": {"MasterUserPassword": "****"}}
    config, out = Config(), io.StringIO()
    with Stubber(rds) as stub:
        stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": PROD_CLUSTER})
        stub.add_response("modify_db_cluster", {"DBCluster": pending})
        for _ in range(2):  # still available, the password not applied yet: not done
            stub.add_response("describe_db_clusters", {"DBClusters": [pending]}, {"DBClusterIdentifier": PROD_CLUSTER})
        stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": PROD_CLUSTER})
        assert rotate(args(), clients=pick(rds, secrets), write_config=config.write, check_config=config.check,
                      clock=no_wait(), out=out) == 0
        stub.assert_no_pending_responses()
    ((_, password),) = config.written
    assert json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"])["password"] == password


def test_global_rotation_that_rds_never_applies_times_out_before_the_secret(moto):
    _, secrets, before = moto_global(moto)
    rds = boto3.client("rds", region_name="us-east-1")
    cluster = {"DBClusterIdentifier": PROD_CLUSTER, "DBClusterArn": f"arn:aws:rds:us-east-1:123456789012:cluster:{PROD_CLUSTER}",
               "Status": "available", "TagList": PROD_TAGS, "PendingModifiedValues": {"MasterUserPassword": "****"}}
    ticks = iter(range(100))
    with Stubber(rds) as stub:
        stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": PROD_CLUSTER})
        stub.add_response("modify_db_cluster", {"DBCluster": cluster})
        for _ in range(2):
            stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": PROD_CLUSTER})
        with pytest.raises(CommandRefused) as refused:
            rotate(SimpleNamespace(**{**vars(args()), "timeout": 2}), clients=pick(rds, secrets),
                   write_config=Config().write, check_config=Config().check,
                   clock=Clock(sleep=lambda s: None, now=lambda: next(ticks)), out=io.StringIO())
    assert refused.value.code == 1 and "has applied the new master password" in str(refused.value)
    assert json.loads(secrets.get_secret_value(SecretId=SECRET)["SecretString"]) == before


def test_regional_rotation_rotates_the_managed_secret_and_waits_for_the_new_version():
    secret_arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:rds!cluster-1234-AbCdEf"
    rds, secrets = boto3.client("rds", region_name="us-east-2"), boto3.client("secretsmanager", region_name="us-east-2")
    cluster = {"DBClusterIdentifier": DEV_CLUSTER, "Status": "available", "MasterUserSecret": {"SecretArn": secret_arn},
               "TagList": [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}]}
    versions = lambda current: {"ARN": secret_arn, "VersionIdsToStages": {current: ["AWSCURRENT"], V0: ["AWSPREVIOUS"]}}  # noqa: E731
    out = io.StringIO()
    with Stubber(rds) as rds_stub, Stubber(secrets) as secrets_stub:
        rds_stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": DEV_CLUSTER})
        secrets_stub.add_response("describe_secret", versions(V1), {"SecretId": secret_arn})
        secrets_stub.add_response("rotate_secret", {"ARN": secret_arn, "VersionId": V2}, {"SecretId": secret_arn})
        secrets_stub.add_response("describe_secret", versions(V1), {"SecretId": secret_arn})  # still rotating
        secrets_stub.add_response("describe_secret", versions(V2), {"SecretId": secret_arn})
        rds_stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": DEV_CLUSTER})
        code = rotate(args("dev"), clients=pick(rds, secrets), clock=no_wait(), out=out)
        secrets_stub.assert_no_pending_responses()
    assert code == 0
    assert out.getvalue().splitlines()[-1] == (
        f"rotated: {secret_arn} AWSCURRENT is version {V2} (was {V1}); {DEV_CLUSTER} is available")


def test_regional_rotation_that_does_not_finish_times_out_with_how_to_watch():
    secret_arn = "arn:aws:secretsmanager:us-east-2:123456789012:secret:rds!cluster-1234-AbCdEf"
    rds, secrets = boto3.client("rds", region_name="us-east-2"), boto3.client("secretsmanager", region_name="us-east-2")
    cluster = {"DBClusterIdentifier": DEV_CLUSTER, "Status": "available", "MasterUserSecret": {"SecretArn": secret_arn},
               "TagList": [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}]}
    ticks = iter(range(100))
    clock = Clock(sleep=lambda s: None, now=lambda: next(ticks))
    with Stubber(rds) as rds_stub, Stubber(secrets) as secrets_stub:
        rds_stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": DEV_CLUSTER})
        secrets_stub.add_response("describe_secret", {"VersionIdsToStages": {V1: ["AWSCURRENT"]}}, {"SecretId": secret_arn})
        secrets_stub.add_response("rotate_secret", {"ARN": secret_arn}, {"SecretId": secret_arn})
        for _ in range(2):
            secrets_stub.add_response("describe_secret", {"VersionIdsToStages": {V1: ["AWSCURRENT"]}}, {"SecretId": secret_arn})
        with pytest.raises(CommandRefused) as refused:
            rotate(SimpleNamespace(**{**vars(args("dev")), "timeout": 2}), clients=pick(rds, secrets), clock=clock,
                   out=io.StringIO())
        secrets_stub.assert_no_pending_responses()
    assert refused.value.code == 1 and "aws secretsmanager describe-secret" in str(refused.value)


def refused(capsys, *argv: str) -> str:
    assert cli.main(["rotate-password", *argv]) == 2
    return capsys.readouterr().err


def test_unknown_stack_is_refused(capsys):
    assert "--stack staging" in refused(capsys, "--stack", "staging")


def test_missing_cluster_is_refused(moto, capsys):
    assert f"cluster {PROD_CLUSTER} does not exist" in refused(capsys, "--stack", "prod", "--endpoint-url", moto)


def test_cluster_of_another_owner_is_refused(moto, capsys):
    moto_global(moto, tags=[])
    assert "is not tagged project=aurora-platform, stack=prod" in refused(capsys, "--stack", "prod", "--endpoint-url", moto)


def test_missing_global_secret_is_refused_before_any_change(moto, monkeypatch, capsys):
    moto_global(moto, secret=False)
    monkeypatch.setattr(rotate_password, "check_stack_opens", lambda stack: pytest.fail("checked the stack too early"))
    assert f"the master secret {SECRET} does not exist" in refused(capsys, "--stack", "prod", "--endpoint-url", moto)


def test_no_credentials_is_refused(moto, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "no AWS credentials" in refused(capsys, "--stack", "prod", "--endpoint-url", moto)


@pytest.mark.parametrize("flag, value", [("--timeout", "0"), ("--timeout", "nan"), ("--poll-interval", "1e999")])
def test_bad_timeouts_are_refused_when_the_command_line_is_read(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["rotate-password", "--stack", "prod", flag, value])
    assert exit_.value.code == 2 and f"argument {flag}: {value!r}" in capsys.readouterr().err


def test_generated_passwords_hold_every_class_and_only_allowed_characters():
    for _ in range(50):
        password = new_password()
        assert len(password) == 40 and not set(password) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + SPECIALS)
        assert any(c.islower() for c in password) and any(c.isupper() for c in password)
        assert any(c.isdigit() for c in password) and any(c in SPECIALS for c in password)


PULUMI_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"


@pytest.fixture
def pulumi_project(tmp_path, monkeypatch):
    """A project of this name on a file backend with a stack `rehearsal` (passphrase provider)."""
    monkeypatch.setenv("PATH", f"{PULUMI_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PULUMI_BACKEND_URL", (tmp_path / "state").as_uri())
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "rehearsal passphrase")
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "1")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    (tmp_path / "state").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: aurora-platform\nruntime: python\n")
    subprocess.run(["pulumi", "stack", "init", "rehearsal", "--non-interactive"], cwd=project, check=True, capture_output=True)
    return project


def test_config_write_passes_the_password_on_stdin_not_in_argv(pulumi_project, monkeypatch):
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv, **kwargs):
        calls.append(list(argv))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(rotate_password.subprocess, "run", recording_run)
    password = new_password()
    rotate_password.set_config_secret("rehearsal", password, work_dir=pulumi_project)
    ((argv),) = calls
    assert password not in " ".join(argv) and argv[-1] == "aurora-platform:masterPassword"
    assert "secure:" in (pulumi_project / "Pulumi.rehearsal.yaml").read_text()
    assert password not in (pulumi_project / "Pulumi.rehearsal.yaml").read_text()
    stored = real_run(["pulumi", "config", "get", "--stack", "rehearsal", "aurora-platform:masterPassword"],
                      cwd=pulumi_project, capture_output=True, text=True, check=True).stdout.strip()
    assert stored == password


def test_config_write_the_secrets_provider_refuses_is_a_failure_with_a_hint(pulumi_project, monkeypatch):
    rotate_password.set_config_secret("rehearsal", new_password(), work_dir=pulumi_project)  # the salt is there now
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    with pytest.raises(CommandRefused) as refused:
        rotate_password.set_config_secret("rehearsal", new_password(), work_dir=pulumi_project)
    assert refused.value.code == 1
    assert "is the stack's secrets provider configured?" in str(refused.value)
    assert "PULUMI_CONFIG_PASSPHRASE" in str(refused.value) and "Nothing has changed yet" in str(refused.value)


@pytest.mark.parametrize(("stack_file", "backend", "env", "refused"), [
    ("encryptionsalt: v1:abc\nconfig: {}\n", "https://api.pulumi.com", {}, True),
    ("encryptionsalt: v1:abc\nconfig: {}\n", "https://api.pulumi.com", {"PULUMI_CONFIG_PASSPHRASE": "p"}, False),
    ("encryptionsalt: v1:abc\n", "file:///state", {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/p"}, False),
    ("secretsprovider: passphrase\n", "https://api.pulumi.com", {}, True),
    ("config: {}\n", "file:///state", {}, True),  # a self-managed backend defaults to the passphrase provider
    ("config: {}\n", "s3://bucket", {}, True),
    ("config: {}\n", "https://api.pulumi.com", {}, False),  # Pulumi Cloud encrypts
    ("secretsprovider: awskms://alias/pulumi\nencryptedkey: abc\n", "s3://bucket", {}, False),
])
def test_a_passphrase_provider_without_a_passphrase_is_refused_before_any_change(tmp_path, stack_file, backend, env, refused):
    (tmp_path / "Pulumi.rehearsal.yaml").write_text(stack_file)
    check = lambda: rotate_password.check_secrets_provider("rehearsal", lambda: backend, env=env, work_dir=tmp_path)  # noqa: E731
    if not refused:
        check()
        return
    with pytest.raises(CommandRefused) as caught:
        check()
    assert caught.value.code == 2 and "PULUMI_CONFIG_PASSPHRASE" in str(caught.value)


def test_a_backend_the_cli_cannot_ask_is_a_failure_not_a_traceback(tmp_path, monkeypatch):
    from pulumi import automation as auto

    def who_am_i():
        raise auto.CommandError(auto.CommandResult(stdout="", stderr="error: could not reach the backend", code=255))

    stack = SimpleNamespace(workspace=SimpleNamespace(who_am_i=who_am_i))
    monkeypatch.setattr(rotate_password, "open_stack", lambda name: stack)
    with pytest.raises(CommandRefused) as refused:
        rotate_password.check_stack_opens("prod")  # Pulumi.prod.yaml names no secretsprovider: the backend decides
    assert refused.value.code == 1 and "could not reach the backend" in str(refused.value)

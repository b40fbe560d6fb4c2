"""`deploy restore-drill` against the moto server.

moto implements what the point-in-time drill calls (RestoreDBClusterToPointInTime, CreateDBInstance,
the describes behind boto3's waiters, AddTagsToResource, the deletes). For AWS Backup moto has
DescribeBackupVault but neither ListRecoveryPointsByBackupVault, GetRecoveryPointRestoreMetadata,
StartRestoreJob nor DescribeRestoreJob, so the vault drills run their backup client through
botocore's Stubber (with the answers AWS's API reference describes), and the restore job's cluster
is created in moto when the stubbed StartRestoreJob is called, as AWS Backup would. A cluster
that never becomes available is not something moto can produce (its clusters are available on
the second read), so the timeout test stubs RDS too. Failures and Ctrl-C are injected by a thin
wrapper around the moto client that raises on one call.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from components.naming import vault_name
from deploy import cli
from deploy.errors import run_guarded
from deploy.runbooks.base import Clock
from deploy.runbooks.restore_drill import run_drill
from deploy.runbooks.restore_drill_plan import DRILL_TAG, drill_identifier
from tests.deploy.aws_deployment import build
from tests.test_settings import settings_of


class Start:
    """The drill's start (the ``now`` the drill is given), set by ``drill_start`` for each test."""

    at = datetime.min.replace(tzinfo=UTC)


START = Start()


@pytest.fixture(autouse=True)
def drill_start(monkeypatch):
    """The drill starts a minute after the test does, so that moto's latest restorable time (its clock
    at the describe) lies before it, as AWS's does. Taken per test, not when the module loads: in a
    long run moto's clock would pass a module-wide time and the RPO clamp to 0."""
    monkeypatch.setattr(START, "at", datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1))


def args_of(*argv: str):
    return cli.build_parser().parse_args(["restore-drill", *argv, "--poll-interval", "1"])


def deployed(moto, stack: str) -> dict:
    """The stack built in moto, its clusters tagged as the program's provider default tags do."""
    settings = settings_of(stack)
    outputs = build(moto, settings)
    for region, member in outputs["regions"].items():
        client(moto, "rds", region).add_tags_to_resource(ResourceName=member["clusterArn"], Tags=[
            {"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": stack}])
    return outputs


def client(moto, service: str, region: str):
    return boto3.client(service, region_name=region, endpoint_url=moto)


class Failing:
    """The moto client, except that ``operation`` raises ``error``."""

    def __init__(self, inner, operation: str, error: BaseException):
        self.inner, self.operation, self.error = inner, operation, error

    def __getattr__(self, name):
        if name == self.operation:
            def fail(**_params):
                raise self.error
            return fail
        return getattr(self.inner, name)


def refused(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "InsufficientDBInstanceCapacity", "Message": "no capacity"}}, operation)


def drill(args, clients, out: io.StringIO) -> int:
    return run_guarded(lambda: run_drill(args, clients=clients, now=lambda: START.at, clock=Clock(sleep=lambda _s: None), out=out))


def cluster_ids(moto, region: str) -> set[str]:
    return {c["DBClusterIdentifier"] for c in client(moto, "rds", region).describe_db_clusters()["DBClusters"]}


# --- point-in-time ------------------------------------------------------------------------------


def test_point_in_time_drill_restores_beside_the_writer_reports_and_deletes(moto, capsys):
    deployed(moto, "dev")
    out = io.StringIO()

    code = drill(args_of("--stack", "dev", "--json"), lambda s, r: client(moto, s, r), out)

    report = json.loads(out.getvalue())
    assert code == 0, report["errors"]
    identifier = drill_identifier("dev", "us-east-2", START.at)
    assert report["restored_cluster"] == identifier and report["mode"] == "point-in-time"
    assert report["source_cluster"] == "aurora-platform-dev-us-east-2"
    assert report["rto_seconds"] >= 0 and report["deleted"] is True and report["errors"] == []
    restored_to = datetime.fromisoformat(report["restored_to"].replace("Z", "+00:00"))
    # restored_to is printed to the second, the RPO from the exact time: they differ by up to a second.
    assert 0 < report["rpo_seconds"] <= 60 and abs(report["rpo_seconds"] - (START.at - restored_to).total_seconds()) <= 1
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}  # the drill's cluster is gone
    print(out.getvalue())


def test_kept_drill_cluster_has_the_writers_network_and_key_and_the_drill_tags(moto):
    outputs = deployed(moto, "dev")
    rds = client(moto, "rds", "us-east-2")
    source = rds.describe_db_clusters(DBClusterIdentifier="aurora-platform-dev-us-east-2")["DBClusters"][0]
    out = io.StringIO()

    code = drill(args_of("--stack", "dev", "--keep"), lambda s, r: client(moto, s, r), out)

    assert code == 0, out.getvalue()
    identifier = drill_identifier("dev", "us-east-2", START.at)
    restored = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    assert [g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]] == [outputs["dbSecurityGroupId"]]
    assert restored["KmsKeyId"] == source["KmsKeyId"] and restored["DeletionProtection"] is False
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=restored["DBClusterArn"])["TagList"]}
    assert tags[DRILL_TAG] == identifier and tags["restore-drill-source"] == "aurora-platform-dev-us-east-2"
    assert [m["DBInstanceIdentifier"] for m in restored["DBClusterMembers"]] == [f"{identifier}-1"]
    assert f"--delete {identifier} --region us-east-2" in out.getvalue()

    again = io.StringIO()
    assert drill(args_of("--stack", "dev", "--delete", identifier), lambda s, r: client(moto, s, r), again) == 0
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_delete_refuses_a_cluster_the_drill_did_not_create(moto, capsys):
    deployed(moto, "dev")

    code = drill(args_of("--stack", "dev", "--delete", "aurora-platform-dev-us-east-2"), lambda s, r: client(moto, s, r),
                 io.StringIO())

    assert code == 2
    assert "not created by a restore drill" in capsys.readouterr().err
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_a_failure_after_the_restore_deletes_the_drill_cluster(moto):
    deployed(moto, "dev")
    out = io.StringIO()

    def clients(service, region):
        inner = client(moto, service, region)
        return Failing(inner, "create_db_instance", refused("CreateDBInstance")) if service == "rds" else inner

    code = drill(args_of("--stack", "dev"), clients, out)

    assert code == 1
    assert "AWS refused CreateDBInstance: InsufficientDBInstanceCapacity" in out.getvalue()
    assert "deleted            yes" in out.getvalue()
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_ctrl_c_deletes_the_drill_cluster(moto):
    deployed(moto, "dev")
    out = io.StringIO()

    def clients(service, region):
        inner = client(moto, service, region)
        return Failing(inner, "create_db_instance", KeyboardInterrupt()) if service == "rds" else inner

    assert drill(args_of("--stack", "dev"), clients, out) == 1
    assert "interrupted (Ctrl-C)" in out.getvalue()
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_a_failed_clean_up_prints_the_commands_to_finish_it(moto):
    deployed(moto, "dev")
    out = io.StringIO()

    class Refusing(Failing):
        def __getattr__(self, name):
            if name == "create_db_instance":
                raise_ = refused("CreateDBInstance")

                def fail(**_params):
                    raise raise_
                return fail
            return super().__getattr__(name)

    def clients(service, region):
        inner = client(moto, service, region)
        return Refusing(inner, "delete_db_cluster", refused("DeleteDBCluster")) if service == "rds" else inner

    assert drill(args_of("--stack", "dev"), clients, out) == 1
    identifier = drill_identifier("dev", "us-east-2", START.at)
    text = out.getvalue()
    assert "deleted            NO" in text
    assert f"aws rds delete-db-cluster --region us-east-2 --db-cluster-identifier {identifier} --skip-final-snapshot" in text
    assert identifier in cluster_ids(moto, "us-east-2")  # left for the operator, named


def test_a_name_already_taken_is_refused_before_any_change(moto, capsys):
    deployed(moto, "dev")
    identifier = drill_identifier("dev", "us-east-2", START.at)
    client(moto, "rds", "us-east-2").create_db_cluster(DBClusterIdentifier=identifier, Engine="aurora-postgresql",
                                                       MasterUsername="someone", MasterUserPassword="a-password-0")

    assert drill(args_of("--stack", "dev"), lambda s, r: client(moto, s, r), io.StringIO()) == 2
    assert "already exists" in capsys.readouterr().err
    assert identifier in cluster_ids(moto, "us-east-2")  # not touched


@pytest.mark.parametrize("to_time,says", [
    ("2020-01-01T00:00:00Z", "--to-time 2020-01-01T00:00:00Z: outside the restorable window"),
    ("2026-12-01 20:00", "argument --to-time: '2026-12-01 20:00': no zone"),
    ("yesterday", "argument --to-time: 'yesterday': not an ISO 8601 time"),
])
def test_to_time_outside_the_window_or_malformed_is_refused(moto, capsys, to_time, says):
    deployed(moto, "dev")

    try:  # a malformed time is refused when the command line is read, the window once the cluster is read
        code = drill(args_of("--stack", "dev", "--to-time", to_time), lambda s, r: client(moto, s, r), io.StringIO())
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert says in capsys.readouterr().err
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_a_cluster_without_the_stacks_tags_is_not_restored(moto, capsys):
    build(moto, settings_of("dev"))  # no project/stack tags

    assert drill(args_of("--stack", "dev"), lambda s, r: client(moto, s, r), io.StringIO()) == 2
    assert "is not tagged project=aurora-platform, stack=dev" in capsys.readouterr().err


@pytest.mark.parametrize("statuses,says", [
    (["creating", "creating"], "not available within 2 s (--timeout)"),  # --timeout 2, one poll a second
    (["incompatible-restore"], "Waiter encountered a terminal failure state"),
])
def test_a_restore_that_does_not_become_available_fails_and_is_deleted(statuses, says):
    """Stubber: moto's clusters are available on their second read, so a timeout or a failed restore
    needs stubbed answers."""
    identifier = drill_identifier("dev", "us-east-2", START.at)
    rds = boto3.client("rds", region_name="us-east-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(rds)
    not_found = {"service_error_code": "DBClusterNotFoundFault", "http_status_code": 404}
    source = {"DBClusterIdentifier": "aurora-platform-dev-us-east-2", "Engine": "aurora-postgresql",
              "DBClusterArn": "arn:aws:rds:us-east-2:123456789012:cluster:aurora-platform-dev-us-east-2",
              "DBSubnetGroup": "db", "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0"}],
              "KmsKeyId": "arn:aws:kms:us-east-2:123456789012:key/k", "DBClusterParameterGroup": "tls",
              "LatestRestorableTime": START.at - timedelta(minutes=5), "EarliestRestorableTime": START.at - timedelta(days=3),
              "TagList": [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}]}
    drill_cluster = {"DBClusterIdentifier": identifier, "Status": "creating",
                     "DBClusterArn": f"arn:aws:rds:us-east-2:123456789012:cluster:{identifier}",
                     "TagList": [{"Key": DRILL_TAG, "Value": identifier}]}
    stub.add_client_error("describe_db_clusters", **not_found)
    stub.add_client_error("describe_db_instances", service_error_code="DBInstanceNotFound", http_status_code=404)
    stub.add_response("describe_db_clusters", {"DBClusters": [source]})
    stub.add_response("restore_db_cluster_to_point_in_time", {"DBCluster": drill_cluster},
                      {"DBClusterIdentifier": identifier, "SourceDBClusterIdentifier": source["DBClusterIdentifier"],
                       "DBSubnetGroupName": "db", "VpcSecurityGroupIds": ["sg-0123456789abcdef0"],
                       "KmsKeyId": source["KmsKeyId"], "DBClusterParameterGroupName": "tls",
                       "DeletionProtection": False, "CopyTagsToSnapshot": False, "Tags": ANY,
                       "UseLatestRestorableTime": True})
    for status in statuses:
        stub.add_response("describe_db_clusters", {"DBClusters": [{**drill_cluster, "Status": status}]})
    stub.add_response("describe_db_clusters", {"DBClusters": [drill_cluster]})  # clean-up checks the drill tag
    stub.add_response("delete_db_cluster", {"DBCluster": drill_cluster},
                      {"DBClusterIdentifier": identifier, "SkipFinalSnapshot": True})
    stub.add_client_error("describe_db_clusters", **not_found)  # db_cluster_deleted
    out = io.StringIO()

    with stub:
        code = drill(args_of("--stack", "dev", "--timeout", "2"), lambda s, r: rds, out)
        stub.assert_no_pending_responses()

    assert code == 1
    assert f"restored cluster {identifier}" in out.getvalue() and says in out.getvalue()
    assert "deleted            yes" in out.getvalue()


# --- from a vault -----------------------------------------------------------------------------------


def vault_stub(moto, region: str, *, points: list[dict] | None = None, extra_points: tuple[dict, ...] = (),
               missing_vault: bool = False,
               job_statuses: tuple[str, ...] = ("RUNNING", "COMPLETED"), creates_cluster: bool = True):
    """The backup client of ``region`` with Stubber answers; StartRestoreJob creates the cluster in moto
    (unless not ``creates_cluster``: a job still running has created nothing yet), and DescribeRestoreJob
    answers ``job_statuses`` in turn."""
    backup = boto3.client("backup", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(backup)
    vault = vault_name("prod", region)
    vault_arn = f"arn:aws:backup:{region}:123456789012:backup-vault:{vault}"
    key = f"arn:aws:kms:{region}:123456789012:key/vault-key"
    if missing_vault:
        stub.add_client_error("describe_backup_vault", service_error_code="ResourceNotFoundException",
                              http_status_code=404, expected_params={"BackupVaultName": vault})
        return backup, stub
    stub.add_response("describe_backup_vault", {"BackupVaultName": vault, "BackupVaultArn": vault_arn,
                                                "EncryptionKeyArn": key}, {"BackupVaultName": vault})
    role = "arn:aws:iam::123456789012:role/backup-aurora-platform-prod-role-0a1b2c3"
    if points is None:
        points = [
            {"RecoveryPointArn": f"arn:aws:rds:{region}:123456789012:cluster-snapshot:awsbackup:job-{n}",
             "BackupVaultName": vault, "ResourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:aurora-platform-prod-us-east-1",
             "ResourceType": "Aurora", "IamRoleArn": role, "Status": status, "CreationDate": START.at - timedelta(hours=hours)}
            for n, status, hours in ((1, "COMPLETED", 30), (2, "COMPLETED", 6), (3, "PARTIAL", 1))
        ]
    points = [*points, *extra_points]
    stub.add_response("list_recovery_points_by_backup_vault", {"RecoveryPoints": points},
                      {"BackupVaultName": vault, "ByResourceType": "Aurora"})
    if not any(p["Status"] == "COMPLETED" for p in points):
        return backup, stub
    newest = f"arn:aws:rds:{region}:123456789012:cluster-snapshot:awsbackup:job-2"
    identifier = drill_identifier("prod", region, START.at)
    stub.add_response("describe_backup_vault", {"BackupVaultName": vault, "BackupVaultArn": vault_arn,
                                                "EncryptionKeyArn": key}, {"BackupVaultName": vault})
    stub.add_response("get_recovery_point_restore_metadata", {
        "RecoveryPointArn": newest, "RestoreMetadata": {"engine": "aurora-postgresql", "dbclusteridentifier": "aurora-platform-prod-us-east-1",
                                                        "vpcsecuritygroupids": '["sg-source"]'}},
        {"BackupVaultName": vault, "RecoveryPointArn": newest})
    stub.add_response("start_restore_job", {"RestoreJobId": "restore-1"},
                      {"RecoveryPointArn": newest, "IamRoleArn": role, "ResourceType": "Aurora", "Metadata": ANY})
    for status in job_statuses:
        created = {"CreatedResourceArn": f"arn:aws:rds:{region}:123456789012:cluster:{identifier}"} if status == "COMPLETED" else {}
        stub.add_response("describe_restore_job", {"RestoreJobId": "restore-1", "Status": status, **created},
                          {"RestoreJobId": "restore-1"})
    started: dict = {}

    def restore_job_creates_the_cluster(params, **_kwargs):
        metadata = params["Metadata"]
        started.update(metadata)
        if not creates_cluster:
            return
        client(moto, "rds", region).create_db_cluster(
            DBClusterIdentifier=metadata["DBClusterIdentifier"], Engine="aurora-postgresql",
            DBSubnetGroupName=metadata["DBSubnetGroupName"], VpcSecurityGroupIds=json.loads(metadata["VpcSecurityGroupIds"]),
            KmsKeyId=metadata["KmsKeyId"], StorageEncrypted=True, MasterUsername="restored", MasterUserPassword="a-password-0")

    backup.meta.events.register("provide-client-params.backup.StartRestoreJob", restore_job_creates_the_cluster)
    backup.started = started
    return backup, stub


def test_vault_drill_restores_the_newest_completed_recovery_point_into_that_regions_network(moto):
    outputs = deployed(moto, "prod")
    backup, stub = vault_stub(moto, "us-west-2")
    out = io.StringIO()

    with stub:
        code = drill(args_of("--stack", "prod", "--from-vault", "us-west-2", "--json"),
                     lambda s, r: backup if s == "backup" else client(moto, s, r), out)
        stub.assert_no_pending_responses()

    report = json.loads(out.getvalue())
    assert code == 0, report["errors"]
    assert report["mode"] == "vault" and report["region"] == "us-west-2"
    assert report["recovery_point"].endswith("job-2")  # the newest COMPLETED one
    assert report["rpo_seconds"] == 6 * 3600 and report["deleted"] is True
    metadata = backup.started
    west = outputs["regions"]["us-west-2"]
    assert json.loads(metadata["VpcSecurityGroupIds"]) == [west["dbSecurityGroupId"]]
    assert "vpcsecuritygroupids" not in metadata  # the source's network is replaced, not doubled
    assert metadata["KmsKeyId"] == "arn:aws:kms:us-west-2:123456789012:key/vault-key"
    assert metadata["DeletionProtection"] == "false"
    assert cluster_ids(moto, "us-west-2") == {"aurora-platform-prod-us-west-2"}


class FakeClock:
    """Monotonic seconds that advance only when the drill sleeps."""

    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


def vault_drill(moto, backup, out: io.StringIO, *argv: str, sleep=None) -> int:
    clock = FakeClock()
    return run_guarded(lambda: run_drill(
        args_of("--stack", "prod", "--from-vault", "us-west-2", *argv),
        clients=lambda s, r: backup if s == "backup" else client(moto, s, r), now=lambda: START.at,
        clock=Clock(sleep=sleep or clock.sleep, now=clock), out=out))


def interrupt(_seconds: float) -> None:
    raise KeyboardInterrupt


def test_a_restore_job_still_running_at_the_timeout_is_reported_not_deleted_with_the_commands(moto):
    """Stubber for AWS Backup (moto has no restore jobs): the job runs past --timeout and has created no
    cluster yet; AWS Backup creates it later, untagged. Clean-up must not call that deleted."""
    deployed(moto, "prod")
    backup, stub = vault_stub(moto, "us-west-2", job_statuses=("RUNNING",) * 4, creates_cluster=False)
    identifier = drill_identifier("prod", "us-west-2", START.at)
    out = io.StringIO()

    with stub:
        code = vault_drill(moto, backup, out, "--timeout", "2")  # reads at 0, 1, 2 s, then clean-up's read
        stub.assert_no_pending_responses()

    text = out.getvalue()
    assert code == 1
    assert "timed out after 2s: restore job restore-1 still RUNNING (--timeout)" in text
    assert "deleted            NO" in text and "restore job restore-1 is still RUNNING" in text
    assert "aws backup describe-restore-job --region us-west-2 --restore-job-id restore-1" in text
    assert (f"aws rds add-tags-to-resource --region us-west-2 --resource-name "
            f"arn:aws:rds:us-west-2:123456789012:cluster:{identifier} --tags Key={DRILL_TAG},Value={identifier}") in text
    assert f"aws rds delete-db-cluster --region us-west-2 --db-cluster-identifier {identifier} --skip-final-snapshot" in text
    assert (f"python -m deploy restore-drill --stack prod --delete {identifier} --region us-west-2 "
            "--restore-job-id restore-1") in text


def test_ctrl_c_during_the_restore_job_tags_and_deletes_the_cluster_the_job_completed(moto):
    """Stubber for AWS Backup: Ctrl-C while the job runs; when clean-up asks, the job has COMPLETED and
    created the cluster (in moto, without the drill's tags): our job's CreatedResourceArn, so the drill
    tags it and deletes it."""
    deployed(moto, "prod")
    backup, stub = vault_stub(moto, "us-west-2", job_statuses=("RUNNING", "COMPLETED"))
    identifier = drill_identifier("prod", "us-west-2", START.at)
    out = io.StringIO()

    with stub:
        code = vault_drill(moto, backup, out, sleep=interrupt)
        stub.assert_no_pending_responses()

    assert code == 1
    assert "interrupted (Ctrl-C)" in out.getvalue() and "deleted            yes" in out.getvalue()
    assert identifier not in cluster_ids(moto, "us-west-2")


def test_ctrl_c_during_start_restore_job_is_not_reported_deleted(moto):
    """Stubber for AWS Backup; Ctrl-C raised by StartRestoreJob itself: the job may have started."""
    deployed(moto, "prod")
    backup, stub = vault_stub(moto, "us-west-2", job_statuses=())
    out = io.StringIO()

    with stub:
        code = vault_drill(moto, Failing(backup, "start_restore_job", KeyboardInterrupt()), out)

    text = out.getvalue()
    assert code == 1
    assert "deleted            NO" in text and "aws backup list-restore-jobs --region us-west-2" in text
    assert "RestoreJobs[?RecoveryPointArn==`arn:aws:rds:us-west-2:123456789012:cluster-snapshot:awsbackup:job-2`]" in text


@pytest.mark.parametrize("created_by_the_job", [True, False])
def test_delete_accepts_an_untagged_drill_cluster_only_with_the_restore_job_that_created_it(moto, capsys,
                                                                                              created_by_the_job):
    """Stubber for DescribeRestoreJob (moto has none); the cluster, untagged as a job leaves it, in moto."""
    deployed(moto, "prod")
    identifier = drill_identifier("prod", "us-west-2", START.at)
    rds = client(moto, "rds", "us-west-2")
    arn = rds.create_db_cluster(DBClusterIdentifier=identifier, Engine="aurora-postgresql", MasterUsername="restored",
                                MasterUserPassword="a-password-0")["DBCluster"]["DBClusterArn"]
    backup = boto3.client("backup", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(backup)
    created = arn if created_by_the_job else arn.replace(identifier, "aurora-platform-prod-us-west-2")
    stub.add_response("describe_restore_job", {"RestoreJobId": "restore-1", "Status": "COMPLETED",
                                               "CreatedResourceArn": created}, {"RestoreJobId": "restore-1"})

    with stub:
        code = drill(args_of("--stack", "prod", "--delete", identifier, "--region", "us-west-2",
                             "--restore-job-id", "restore-1"),
                     lambda s, r: backup if s == "backup" else client(moto, s, r), io.StringIO())
        stub.assert_no_pending_responses()

    if created_by_the_job:
        assert code == 0 and identifier not in cluster_ids(moto, "us-west-2")
    else:
        assert code == 2 and "not this drill cluster" in capsys.readouterr().err
        assert identifier in cluster_ids(moto, "us-west-2")


def test_vault_drill_skips_the_continuous_recovery_point(moto):
    """Stubber for AWS Backup: the continuous point (an AWS Backup ARN, CreationDate when its chain
    began, here more recent than the snapshots) is not the one restored."""
    deployed(moto, "prod")
    continuous = {
        "RecoveryPointArn": "arn:aws:backup:us-west-2:123456789012:recovery-point:continuous:cluster-abc-1a2b3c4d",
        "BackupVaultName": vault_name("prod", "us-west-2"),
        "ResourceArn": "arn:aws:rds:us-west-2:123456789012:cluster:aurora-platform-prod-us-west-2",
        "ResourceType": "Aurora", "IamRoleArn": "arn:aws:iam::123456789012:role/backup", "Status": "COMPLETED",
        "CreationDate": START.at - timedelta(minutes=30)}
    backup, stub = vault_stub(moto, "us-west-2", extra_points=(continuous,))
    out = io.StringIO()

    with stub:
        code = vault_drill(moto, backup, out, "--json")
        stub.assert_no_pending_responses()

    report = json.loads(out.getvalue())
    assert code == 0, report["errors"]
    assert report["recovery_point"].endswith("job-2") and report["rpo_seconds"] == 6 * 3600


def test_a_missing_vault_is_refused_before_any_change(moto, capsys):
    deployed(moto, "prod")
    backup, stub = vault_stub(moto, "us-west-2", missing_vault=True)

    with stub:
        code = drill(args_of("--stack", "prod", "--from-vault", "us-west-2"),
                     lambda s, r: backup if s == "backup" else client(moto, s, r), io.StringIO())

    assert code == 2
    assert "backup vault aurora-platform-prod-us-west-2 does not exist in us-west-2" in capsys.readouterr().err
    assert cluster_ids(moto, "us-west-2") == {"aurora-platform-prod-us-west-2"}


def test_a_vault_without_a_completed_recovery_point_fails_before_any_change(moto, capsys):
    deployed(moto, "prod")
    partial = [{"RecoveryPointArn": "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:awsbackup:job-9",
                "ResourceArn": "arn:aws:rds:us-east-1:123456789012:cluster:aurora-platform-prod-us-east-1",
                "Status": "PARTIAL", "CreationDate": START.at}]
    backup, stub = vault_stub(moto, "us-west-2", points=partial)

    with stub:
        code = drill(args_of("--stack", "prod", "--from-vault", "us-west-2"),
                     lambda s, r: backup if s == "backup" else client(moto, s, r), io.StringIO())

    assert code == 1
    assert "holds no completed recovery point of stack prod's clusters" in capsys.readouterr().err
    assert cluster_ids(moto, "us-west-2") == {"aurora-platform-prod-us-west-2"}


@pytest.mark.parametrize("argv,says", [
    (["--stack", "prod", "--from-vault", "eu-west-1"], "not a region of stack prod's backup vaults; allowed: us-east-1, us-west-2"),
    (["--stack", "prod", "--from-vault", "us-west-2", "--to-time", "2026-12-01T20:00:00Z"], "--to-time is for the point-in-time drill"),
    (["--stack", "nope"], "unknown stack 'nope'"),
    (["--stack", "dev", "--delete", "drill-dev-x", "--keep"], "--keep do not apply to it"),
    (["--stack", "prod", "--delete", "drill-prod-x", "--from-vault", "us-west-2", "--json"],
     "--from-vault, --json do not apply to it"),
    (["--stack", "dev", "--region", "us-east-2"], "--region: only with --delete"),
    (["--stack", "dev", "--restore-job-id", "restore-1"], "--restore-job-id: only with --delete"),
])
def test_refused_input_exits_2_without_aws(argv, says, capsys):
    def no_aws(service, region):
        raise AssertionError(f"no AWS call expected ({service} {region})")

    assert drill(args_of(*argv), no_aws, io.StringIO()) == 2
    assert says in capsys.readouterr().err


def test_ctrl_c_before_any_change_exits_1_with_one_line_and_changes_nothing(moto, capsys):
    deployed(moto, "dev")

    def clients(service, region):
        inner = client(moto, service, region)
        return Failing(inner, "describe_db_instances", KeyboardInterrupt()) if service == "rds" else inner

    assert drill(args_of("--stack", "dev"), clients, io.StringIO()) == 1
    assert capsys.readouterr().err == "error: interrupted (Ctrl-C) before any change: nothing was created or deleted\n"
    assert cluster_ids(moto, "us-east-2") == {"aurora-platform-dev-us-east-2"}


def test_ctrl_c_during_delete_exits_1_with_the_commands_to_finish(moto, capsys):
    deployed(moto, "dev")
    identifier = drill_identifier("dev", "us-east-2", START.at)
    client(moto, "rds", "us-east-2").create_db_cluster(
        DBClusterIdentifier=identifier, Engine="aurora-postgresql", MasterUsername="restored",
        MasterUserPassword="a-password-0", Tags=[{"Key": DRILL_TAG, "Value": identifier}])

    def clients(service, region):
        inner = client(moto, service, region)
        return Failing(inner, "delete_db_cluster", KeyboardInterrupt()) if service == "rds" else inner

    assert drill(args_of("--stack", "dev", "--delete", identifier), clients, io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C) while deleting" in err
    assert f"aws rds delete-db-cluster --region us-east-2 --db-cluster-identifier {identifier} --skip-final-snapshot" in err


def test_the_command_is_registered_with_the_driver():
    args = cli.build_parser().parse_args(["restore-drill", "--stack", "prod", "--from-vault", "us-west-2", "--keep", "--json"])
    assert (args.from_vault, args.keep, args.json, args.timeout) == ("us-west-2", True, True, 7200)

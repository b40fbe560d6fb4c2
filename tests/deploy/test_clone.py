"""`deploy clone`: against the moto server, and botocore's Stubber where moto cannot answer.

moto (5.2.5) implements what a clone calls: RestoreDBClusterToPointInTime with
``RestoreType=copy-on-write`` (moto/rds/models.py restore_db_cluster_to_point_in_time takes
``restore_type`` and refuses ``RestoreToTime`` with copy-on-write, as AWS does), CreateDBInstance,
DescribeDBClusters/Instances, ListTagsForResource, DescribeGlobalClusters and the deletes. So the happy
path, the refusals, --list, --delete, --delete-expired, --dry-run and Ctrl-C run against the moto
server (each test says so). Failures and Ctrl-C are injected by a thin wrapper around the moto client
that raises on one call. A cluster that never becomes available is not something moto produces (its
clusters are available on the second read), so the timeout test uses the Stubber.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from deploy import cli
from deploy.errors import run_guarded
from deploy.runbooks.base import Clock
from deploy.runbooks.clone import run_clone
from deploy.runbooks.clones import CLONE_TAG, EXPIRES_TAG, clone_identifier
from tests.deploy import test_hostile_input as hostile
from tests.deploy.test_restore_drill import Failing, client, deployed, refused

NOW = datetime(2026, 12, 6, 7, 0, 0, tzinfo=UTC)
DEV = "aurora-platform-dev-us-east-2"
MUTATING = ("restore_db_cluster_to_point_in_time", "create_db_instance", "delete_db_instance", "delete_db_cluster",
            "add_tags_to_resource", "modify_db_cluster")


class Recording:
    """The moto client, recording the name of every call made through it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if callable(attribute) and not name.startswith(("get_", "can_")) and name != "exceptions":
            def call(*args, **kwargs):
                self.calls.append(name)
                return attribute(*args, **kwargs)
            return call
        return attribute


def args_of(*argv: str):
    return cli.build_parser().parse_args(["clone", *argv, "--poll-interval", "1"])


def run(argv: list[str], clients, out: io.StringIO | None = None, now: datetime = NOW) -> tuple[int, str]:
    out = out or io.StringIO()
    code = run_guarded(lambda: run_clone(args_of(*argv), clients=clients, now=lambda: now,
                                         clock=Clock(sleep=lambda _s: None), out=out))
    return code, out.getvalue()


def cluster_ids(moto, region: str = "us-east-2") -> set[str]:
    return {c["DBClusterIdentifier"] for c in client(moto, "rds", region).describe_db_clusters()["DBClusters"]}


def tags_of(moto, identifier: str, region: str = "us-east-2") -> dict[str, str]:
    rds = client(moto, "rds", region)
    arn = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]["DBClusterArn"]
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]}


def moto_clients(moto):
    return lambda service, region: client(moto, service, region)


# --- create (moto server) -----------------------------------------------------------------------


def test_clone_happy_path_is_a_tagged_copy_on_write_clone_in_the_writers_network_and_key(moto):
    """moto server: the clone is made, waited for, tagged, and its endpoint and connection printed."""
    outputs = deployed(moto, "dev")
    rds = client(moto, "rds", "us-east-2")
    source = rds.describe_db_clusters(DBClusterIdentifier=DEV)["DBClusters"][0]

    code, out = run(["--stack", "dev", "--json", "--purpose", "load-test", "--ttl", "8h"], moto_clients(moto))

    report = json.loads(out)
    assert code == 0, out
    identifier = clone_identifier("dev", "us-east-2", NOW)
    assert report["clone"] == identifier == "clone-dev-us-east-2-20261206070000"
    assert report["source"] == DEV and report["instance_class"] == "db.t4g.medium" and report["status"] == "ok"
    clone = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    assert [g["VpcSecurityGroupId"] for g in clone["VpcSecurityGroups"]] == [outputs["dbSecurityGroupId"]]
    assert clone["KmsKeyId"] == source["KmsKeyId"] and clone["DeletionProtection"] is False
    assert clone["EngineVersion"] == source["EngineVersion"]
    assert [m["DBInstanceIdentifier"] for m in clone["DBClusterMembers"]] == [f"{identifier}-1"]
    tags = tags_of(moto, identifier)
    assert tags[CLONE_TAG] == identifier and tags["clone-source"] == DEV and tags["clone-purpose"] == "load-test"
    assert tags[EXPIRES_TAG] == "2026-12-06T15:00:00Z" and tags["stack"] == "dev" and tags["project"] == "aurora-platform"
    assert report["endpoint"] == clone["Endpoint"] and report["port"] == clone["Port"]
    assert "aws rds generate-db-auth-token --region us-east-2 --hostname " + clone["Endpoint"] in report["connect"]["token"]
    assert "sslmode=verify-full" in report["connect"]["client"]


def test_the_restore_call_asks_for_copy_on_write_from_the_latest_restorable_time(moto):
    """moto server, with the calls recorded: the exact RestoreDBClusterToPointInTime parameters."""
    deployed(moto, "dev")
    seen = {}

    class Spying(Recording):
        def __getattr__(self, name):
            if name == "restore_db_cluster_to_point_in_time":
                def restore(**params):
                    seen.update(params)
                    return self.inner.restore_db_cluster_to_point_in_time(**params)
                return restore
            return super().__getattr__(name)

    code, out = run(["--stack", "dev"], lambda s, r: Spying(client(moto, s, r)))

    assert code == 0, out
    assert seen["RestoreType"] == "copy-on-write" and seen["UseLatestRestorableTime"] is True
    assert seen["SourceDBClusterIdentifier"] == DEV and "RestoreToTime" not in seen
    assert seen["EnableIAMDatabaseAuthentication"] is True and seen["CopyTagsToSnapshot"] is False
    assert "connect (TLS)      PGPASSWORD=$(aws rds generate-db-auth-token" in out


def test_a_serverless_v2_source_gives_a_serverless_clone_with_its_capacity_range(moto):
    """moto server: Serverless v2 follows the provisioned cloning rules; the clone takes the source's range."""
    deployed(moto, "dev")
    rds = client(moto, "rds", "us-east-2")
    rds.modify_db_cluster(DBClusterIdentifier=DEV, ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 4},
                          ApplyImmediately=True)

    code, out = run(["--stack", "dev", "--json"], moto_clients(moto))

    assert code == 0, out
    report = json.loads(out)
    assert report["instance_class"] == "db.serverless"
    clone = rds.describe_db_clusters(DBClusterIdentifier=report["clone"])["DBClusters"][0]
    assert clone["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}


# --- refusals (moto server) ----------------------------------------------------------------------


def test_a_stack_without_a_deployed_cluster_is_refused(moto, capsys):
    """moto server, empty: no cluster in the writer region."""
    code, out = run(["--stack", "dev"], moto_clients(moto))
    assert code == 2 and out == ""
    assert f"stack dev has no deployed cluster in us-east-2: {DEV} does not exist" in capsys.readouterr().err


def test_a_clone_on_another_engine_version_is_refused(moto, capsys):
    """moto server: a clone runs its source's version."""
    deployed(moto, "dev")
    code, _ = run(["--stack", "dev", "--engine-version", "17.4"], moto_clients(moto))
    err = capsys.readouterr().err
    assert code == 2 and "--engine-version 17.4: a clone runs its source's engine version (aurora-postgresql 16.6)" in err
    assert "Aurora.Managing.Clone.html" in err and "--rehearse" in err
    assert cluster_ids(moto) == {DEV}


def test_a_source_without_an_instance_is_refused_citing_aws(moto, capsys):
    """moto server: AWS cannot clone a cluster that has no DB instance."""
    deployed(moto, "dev")
    rds = client(moto, "rds", "us-east-2")
    for member in rds.describe_db_clusters(DBClusterIdentifier=DEV)["DBClusters"][0]["DBClusterMembers"]:
        rds.delete_db_instance(DBInstanceIdentifier=member["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    code, _ = run(["--stack", "dev"], moto_clients(moto))
    assert code == 2 and "has no DB instance, and AWS cannot clone such a cluster" in capsys.readouterr().err


def test_serverless_class_without_a_capacity_range_is_refused(moto, capsys):
    """moto server: Serverless v2 follows the provisioned rules; the clone needs the source's capacity range."""
    deployed(moto, "dev")
    code, _ = run(["--stack", "dev", "--instance-class", "db.serverless"], moto_clients(moto))
    assert code == 2 and "has no Serverless v2 capacity range for the clone to take" in capsys.readouterr().err


def test_a_global_secondary_is_refused_as_the_source(moto, capsys, monkeypatch):
    """moto server: prod's settings say the writer is in us-west-2 (a failover not recorded the other way round),
    while us-east-1 is the global cluster's writer."""
    from tests.test_settings import settings_of

    deployed(moto, "prod")
    monkeypatch.setattr(type(settings_of("prod")), "writer_region", property(lambda self: "us-west-2"))

    code, _ = run(["--stack", "prod"], moto_clients(moto))

    err = capsys.readouterr().err
    assert code == 2
    assert "cluster aurora-platform-prod-us-west-2 is a secondary of global database aurora-platform-prod" in err
    assert "the writer is aurora-platform-prod-us-east-1 in us-east-1" in err
    assert cluster_ids(moto, "us-west-2") == {"aurora-platform-prod-us-west-2"}


def test_the_writer_member_of_a_global_stack_is_cloned(moto):
    """moto server: prod's writer-region member (us-east-1) is the source."""
    deployed(moto, "prod")
    code, out = run(["--stack", "prod", "--json"], moto_clients(moto))
    assert code == 0, out
    assert json.loads(out)["source"] == "aurora-platform-prod-us-east-1"


def test_more_than_max_clones_is_refused(moto, capsys):
    """moto server: two clones exist; --max-clones 2 refuses a third and names them."""
    deployed(moto, "dev")
    first, second = NOW, NOW + timedelta(seconds=1)
    assert run(["--stack", "dev"], moto_clients(moto), now=first)[0] == 0
    assert run(["--stack", "dev"], moto_clients(moto), now=second)[0] == 0
    capsys.readouterr()

    code, _ = run(["--stack", "dev", "--max-clones", "2"], moto_clients(moto), now=NOW + timedelta(seconds=2))

    err = capsys.readouterr().err
    assert code == 2 and "stack dev has 2 live clone(s) in us-east-2" in err and "--max-clones is 2" in err
    assert len(cluster_ids(moto)) == 3


@pytest.mark.parametrize("argv, flag", [(["--ttl", "0h"], "--ttl"), (["--ttl", "31d"], "--ttl"), (["--ttl", "1e999"], "--ttl"),
                                        (["--max-clones", "16"], "--max-clones"), (["--purpose", "a\nb"], "--purpose"),
                                        (["--list", "--delete", "x"], "--delete"),
                                        (["--timeout", "nan"], "--timeout")])
def test_malformed_flags_are_refused_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["clone", "--stack", "dev", *argv])
    assert exited.value.code == 2 and flag in capsys.readouterr().err


def test_create_only_flags_are_refused_with_list(moto, capsys):
    code, _ = run(["--stack", "dev", "--list", "--instance-class", "db.r7g.large"], moto_clients(moto))
    assert code == 2 and "--instance-class: only when making a clone" in capsys.readouterr().err


# --- dry run, list, delete (moto server) ---------------------------------------------------------


def test_dry_run_prints_the_calls_and_makes_none(moto):
    """moto server, every call recorded: only describes and list-tags."""
    deployed(moto, "dev")
    recording = {}

    def clients(service, region):
        recording.setdefault(region, Recording(client(moto, service, region)))
        return recording[region]

    code, out = run(["--stack", "dev", "--dry-run"], clients)

    assert code == 0, out
    assert "RestoreDBClusterToPointInTime DBClusterIdentifier=clone-dev-us-east-2-20261206070000" in out
    assert "RestoreType=copy-on-write UseLatestRestorableTime=True" in out
    assert "dry run: every check passed; no call above was made." in out
    calls = recording["us-east-2"].calls
    assert calls and not set(calls) & set(MUTATING), calls
    assert cluster_ids(moto) == {DEV}


def test_list_shows_the_clones_with_age_and_expiry(moto):
    """moto server."""
    deployed(moto, "dev")
    assert run(["--stack", "dev", "--ttl", "1h"], moto_clients(moto))[0] == 0
    code, out = run(["--stack", "dev", "--list", "--json"], moto_clients(moto), now=NOW + timedelta(hours=2))
    listed = json.loads(out)
    assert code == 0 and [c["clone"] for c in listed["clones"]] == ["clone-dev-us-east-2-20261206070000"]
    entry = listed["clones"][0]
    assert entry["expires"] == "2026-12-06T08:00:00Z" and entry["expired"] is True and entry["purpose"] == "test"
    assert entry["age_seconds"] is not None
    code, text = run(["--stack", "dev", "--list"], moto_clients(moto), now=NOW + timedelta(hours=2))
    assert code == 0 and "clone-dev-us-east-2-20261206070000" in text and "(expired)" in text


def test_delete_of_a_cluster_it_did_not_create_is_refused(moto, capsys):
    """moto server: the stack's own cluster, and a clone-named cluster without the marker."""
    deployed(moto, "dev")
    code, _ = run(["--stack", "dev", "--delete", DEV], moto_clients(moto))
    assert code == 2 and f"--delete {DEV}: not created by `deploy clone`" in capsys.readouterr().err
    rds = client(moto, "rds", "us-east-2")
    rds.create_db_cluster(DBClusterIdentifier="clone-dev-by-hand", Engine="aurora-postgresql", EngineVersion="16.6",
                          MasterUsername="dbadmin", MasterUserPassword="not-a-real-password-0",
                          Tags=[{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}])
    code, _ = run(["--stack", "dev", "--delete", "clone-dev-by-hand"], moto_clients(moto))
    assert code == 2 and "clone=clone-dev-by-hand" in capsys.readouterr().err
    assert cluster_ids(moto) == {DEV, "clone-dev-by-hand"}


def test_delete_removes_a_clone_instance_first(moto):
    """moto server."""
    deployed(moto, "dev")
    assert run(["--stack", "dev"], moto_clients(moto))[0] == 0
    identifier = clone_identifier("dev", "us-east-2", NOW)
    code, out = run(["--stack", "dev", "--delete", identifier], moto_clients(moto))
    assert code == 0 and f"deleted clone {identifier}" in out
    assert cluster_ids(moto) == {DEV}


def test_delete_expired_deletes_only_expired_own_clones(moto):
    """moto server: one expired clone, one live clone, and the stack's cluster."""
    deployed(moto, "dev")
    assert run(["--stack", "dev", "--ttl", "1h"], moto_clients(moto), now=NOW)[0] == 0
    later = NOW + timedelta(minutes=1)
    assert run(["--stack", "dev", "--ttl", "1d"], moto_clients(moto), now=later)[0] == 0
    old, young = clone_identifier("dev", "us-east-2", NOW), clone_identifier("dev", "us-east-2", later)

    dry_code, dry = run(["--stack", "dev", "--delete-expired", "--dry-run"], moto_clients(moto), now=NOW + timedelta(hours=3))
    assert dry_code == 0 and f"would delete {old}" in dry and young not in dry
    assert cluster_ids(moto) == {DEV, old, young}

    code, out = run(["--stack", "dev", "--delete-expired", "--json"], moto_clients(moto), now=NOW + timedelta(hours=3))

    assert code == 0, out
    assert json.loads(out) == {"deleted": [old], "failed": []}
    assert cluster_ids(moto) == {DEV, young}


# --- stopping half-way ---------------------------------------------------------------------------


def test_ctrl_c_after_the_clone_exists_deletes_it(moto, capsys):
    """moto server: Ctrl-C while the instance is being created."""
    deployed(moto, "dev")

    def clients(service, region):
        return Failing(client(moto, service, region), "create_db_instance", KeyboardInterrupt())

    code, out = run(["--stack", "dev"], clients)

    assert code == 1
    assert "error              interrupted (Ctrl-C)" in out and "deleted            yes" in out
    assert "interrupted (Ctrl-C); the clone was deleted" in capsys.readouterr().err
    assert cluster_ids(moto) == {DEV}


def test_a_failure_whose_clean_up_fails_prints_the_commands(moto, capsys):
    """moto server: CreateDBInstance refused, then DeleteDBCluster refused."""
    deployed(moto, "dev")

    class Refusing(Failing):
        def __getattr__(self, name):
            if name == "create_db_instance":
                def fail(**_params):
                    raise refused("CreateDBInstance")
                return fail
            return super().__getattr__(name)

    code, out = run(["--stack", "dev"], lambda s, r: Refusing(client(moto, s, r), "delete_db_cluster",
                                                              refused("DeleteDBCluster")))

    identifier = clone_identifier("dev", "us-east-2", NOW)
    assert code == 1
    assert "AWS refused CreateDBInstance: InsufficientDBInstanceCapacity" in out
    assert f"aws rds delete-db-cluster --region us-east-2 --db-cluster-identifier {identifier} --skip-final-snapshot" in out
    assert "the clone is NOT deleted" in capsys.readouterr().err
    assert identifier in cluster_ids(moto)


def test_a_timeout_after_the_clone_exists_deletes_it(capsys):
    """Stubber: a cluster that stays 'creating' (moto's are available on the second read)."""
    import boto3

    rds = boto3.client("rds", region_name="us-east-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(rds)
    arn = f"arn:aws:rds:us-east-2:123456789012:cluster:{DEV}"
    identifier = clone_identifier("dev", "us-east-2", NOW)
    source = {"DBClusterIdentifier": DEV, "DBClusterArn": arn, "Status": "available", "Engine": "aurora-postgresql",
              "EngineVersion": "16.6", "EngineMode": "provisioned", "DBSubnetGroup": "db", "KmsKeyId": "key",
              "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
              "DBClusterMembers": [{"DBInstanceIdentifier": f"{DEV}-1", "IsClusterWriter": True}],
              "IAMDatabaseAuthenticationEnabled": True,
              "TagList": [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}]}
    creating = {"DBClusterIdentifier": identifier, "DBClusterArn": arn.replace(DEV, identifier), "Status": "creating",
                "TagList": [{"Key": CLONE_TAG, "Value": identifier}]}
    not_found = ("DBClusterNotFoundFault", "no such cluster")
    stub.add_response("describe_db_clusters", {"DBClusters": [source]}, {"DBClusterIdentifier": DEV})
    stub.add_response("describe_db_clusters", {"DBClusters": [source]}, {})
    stub.add_client_error("describe_db_clusters", *not_found)
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "no such instance")
    stub.add_response("restore_db_cluster_to_point_in_time", {"DBCluster": creating})
    for _ in range(3):  # polls at 0, 1 and 2 s of a 2 s timeout
        stub.add_response("describe_db_clusters", {"DBClusters": [creating]}, {"DBClusterIdentifier": identifier})
    stub.add_response("describe_db_clusters", {"DBClusters": [creating]}, {"DBClusterIdentifier": identifier})
    stub.add_response("delete_db_cluster", {"DBCluster": creating},
                      {"DBClusterIdentifier": identifier, "SkipFinalSnapshot": True})
    stub.activate()
    ticks = {"now": 0.0}

    def sleep(seconds):
        ticks["now"] += seconds

    out = io.StringIO()
    code = run_guarded(lambda: run_clone(args_of("--stack", "dev", "--timeout", "2"), clients=lambda s, r: rds,
                                         now=lambda: NOW, clock=Clock(sleep=sleep, now=lambda: ticks["now"]), out=out))

    stub.assert_no_pending_responses()
    assert code == 1
    assert f"timed out after 2s: cluster {identifier} is 'creating', not 'available' (--timeout)" in out.getvalue()
    assert "deleted            yes" in out.getvalue()
    assert "the clone was deleted" in capsys.readouterr().err


def test_help_lists_the_flags():
    text = cli.build_parser()._subparsers._group_actions[0].choices["clone"].format_help()
    for flag in ("--ttl", "--list", "--delete", "--delete-expired", "--dry-run", "--json", "--max-clones", "--purpose"):
        assert flag in text


# --- the driver's contract under hostile input (the hostile-input classes, for the clone command) ---------

aws_calls = hostile.aws_calls  # every AWS call recorded and failing: a refusal must come before any
html_endpoint = hostile.html_endpoint  # python -m http.server on loopback: answers HTML, not AWS


@pytest.mark.parametrize("argv, flag", [
    (["clone", "--stack", "dev", "--timeout", "nan"], "--timeout"),
    (["clone", "--stack", "dev", "--poll-interval", "1e999"], "--poll-interval"),
    (["clone", "--stack", "dev", "--endpoint-url", "127.0.0.1:5000"], "--endpoint-url"),
    (["clone", "--stack", "dev", "--delete", ""], "--delete"),
    (["clone", "--stack", "dev", "--instance-class", "db.r7g.large\n"], "--instance-class"),
    (["upgrade", "--stack", "dev", "--engine-version", "16.8", "--rehearse", "--timeout", "inf"], "--timeout"),
])
def test_hostile_flags_exit_2_naming_the_flag_before_any_aws_call(argv, flag, aws_calls, capsys):
    code, out, err = hostile.run_cli(capsys, argv)
    hostile.assert_refused(code, out, err, flag)
    assert aws_calls == []


@pytest.mark.parametrize("argv", [["clone", "--stack", "dev"], ["clone", "--stack", "dev", "--list"],
                                  ["clone", "--stack", "dev", "--delete-expired"]])
def test_an_endpoint_answering_html_exits_1_with_one_line(argv, aws_env, html_endpoint, capsys):
    code, out, err = hostile.run_cli(capsys, [*argv, "--endpoint-url", html_endpoint])
    assert code == 1 and "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(err.strip().splitlines()) == 1, err
    assert html_endpoint in errors[0] and "rds" in errors[0], err


def test_a_name_another_run_holds_is_never_cleaned_up():
    """Two runs in the same second pick the same name: the second's restore fails with
    DBClusterAlreadyExistsFault, and its clean-up must not delete the first run's clone."""
    from types import SimpleNamespace

    from botocore.exceptions import ClientError

    from deploy.runbooks.clones import CloneRun

    calls = []

    class Rds:
        def restore_db_cluster_to_point_in_time(self, **params):
            calls.append("restore")
            raise ClientError({"Error": {"Code": "DBClusterAlreadyExistsFault", "Message": "exists"}},
                              "RestoreDBClusterToPointInTime")

        def __getattr__(self, operation):  # any other call (a describe or a delete) is recorded
            return lambda **params: calls.append(operation) or {}

    spec = SimpleNamespace(identifier="clone-dev-us-east-2-20261206071900", instance_identifier="x-1",
                           restore_params=lambda: {})
    run = CloneRun(spec=spec, rds=Rds(), wait=None)
    with pytest.raises(ClientError):
        run.create()
    assert run.clean_up() == [] and calls == ["restore"]

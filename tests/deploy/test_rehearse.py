"""`deploy upgrade --rehearse` with botocore's Stubber.

The rehearsal first runs the upgrade's validation, whose DescribeDBEngineVersions moto (5.2.5) does not
implement, and moto's clusters reach a new version at once, so an upgrade that is still running or that
never finishes cannot happen there; moto has no EnableHttpEndpoint for provisioned clusters either (its
HTTP endpoint is Serverless v1 only) and its Data API answers no SQL. These tests therefore stub the RDS,
RDS Data API and Secrets Manager clients: each expected call with its parameters, in order; a call
nobody stubbed fails the command, and ``assert_no_pending_responses`` (the ``rds`` fixture) proves every
stubbed call ran. The clone's own calls against moto (RestoreType=copy-on-write and the rest) are
covered in tests/deploy/test_clone.py.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from deploy import cli
from deploy.errors import run_guarded
from deploy.runbooks import upgrade
from deploy.runbooks.clones import CLONE_TAG, clone_identifier
from tests.deploy import test_upgrade
from tests.deploy.test_upgrade import (
    ACCOUNT,
    DEV,
    EAST,
    ENGINE,
    GID,
    NOW,
    FakeTime,
    Regions,
    arn,
    expect_dev_state,
    expect_offered,
    expect_prod_state,
    expect_versions,
    groups,
    outputs_file,
)

CLONE = clone_identifier("dev", "us-east-2", NOW)
INSTANCE = f"{CLONE}-1"
rds = test_upgrade.rds  # the fixture: one stubbed RDS client per region, every stubbed call checked as used
SECRET = f"arn:aws:secretsmanager:us-east-2:{ACCOUNT}:secret:rds!cluster"


class Others:
    """Stubbed RDS Data API and Secrets Manager clients."""

    def __init__(self, region: str = "us-east-2"):
        self.data = boto3.client("rds-data", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        self.secrets = boto3.client("secretsmanager", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
        self.data_stub, self.secrets_stub = Stubber(self.data), Stubber(self.secrets)
        self.data_stub.activate()
        self.secrets_stub.activate()

    def close(self):
        for stub in (self.data_stub, self.secrets_stub):
            stub.deactivate()
            stub.assert_no_pending_responses()


@pytest.fixture
def others():
    found = Others()
    yield found
    found.close()


def run(argv: list[str], rds: Regions, others: Others, capsys, time: FakeTime | None = None) -> tuple[int, str, str]:
    try:
        args = cli.build_parser().parse_args(["upgrade", *argv])
    except SystemExit as exit_:
        return exit_.code, "", capsys.readouterr().err

    def clients(service, region):
        return {"rds": rds.clients[region], "rds-data": others.data, "secretsmanager": others.secrets}[service]

    out = io.StringIO()
    time = time or FakeTime()
    code = run_guarded(lambda: upgrade.run_upgrade(args, clients=clients, clock=time.clock(), now=lambda: NOW, out=out))
    return code, out.getvalue(), capsys.readouterr().err


# --- canned answers ------------------------------------------------------------------------------

def source(region: str = "us-east-2", identifier: str = DEV, *, managed_secret: bool = True) -> dict:
    cluster = {"DBClusterIdentifier": identifier, "DBClusterArn": arn(region, identifier), "Status": "available",
               "Engine": ENGINE, "EngineVersion": "16.6", "EngineMode": "provisioned", "DBSubnetGroup": "db-subnets",
               "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
               "KmsKeyId": f"arn:aws:kms:{region}:{ACCOUNT}:key/k", "DBClusterParameterGroup": "aurora-pg16",
               "IAMDatabaseAuthenticationEnabled": True,
               "DBClusterMembers": [{"DBInstanceIdentifier": f"{identifier}-1", "IsClusterWriter": True}],
               "TagList": [{"Key": "project", "Value": "aurora-platform"},
                           {"Key": "stack", "Value": "dev" if region == "us-east-2" else "prod"}]}
    if managed_secret:
        cluster["MasterUserSecret"] = {"SecretArn": SECRET}
    return cluster


def clone(status: str = "available", version: str = "16.6", *, http: bool = False, region: str = "us-east-2",
          identifier: str = CLONE) -> dict:
    return {"DBClusterIdentifier": identifier, "DBClusterArn": arn(region, identifier), "Status": status,
            "Engine": ENGINE, "EngineVersion": version, "HttpEndpointEnabled": http,
            "DBClusterMembers": [{"DBInstanceIdentifier": f"{identifier}-1", "IsClusterWriter": True}],
            "TagList": [{"Key": CLONE_TAG, "Value": identifier}, {"Key": "stack", "Value": "dev"}]}


def instance(status: str = "available", identifier: str = INSTANCE, cluster: str = CLONE) -> dict:
    return {"DBInstanceIdentifier": identifier, "DBClusterIdentifier": cluster, "DBInstanceStatus": status,
            "DBInstanceClass": "db.r6g.large"}


def expect_clone_planned(stub: Stubber, target: str, src: dict, identifier: str = CLONE) -> None:
    stub.add_response("describe_db_clusters", {"DBClusters": [src]}, {"DBClusterIdentifier": src["DBClusterIdentifier"]})
    if src["DBClusterIdentifier"] == EAST:
        stub.add_response("describe_global_clusters", {"GlobalClusters": [{
            "GlobalClusterIdentifier": GID, "GlobalClusterMembers": [
                {"DBClusterArn": arn("us-east-1", EAST), "IsWriter": True}]}]}, {"GlobalClusterIdentifier": GID})
    stub.add_response("describe_db_clusters", {"DBClusters": [src]}, {})  # the stack's live clones: none
    stub.add_response("describe_orderable_db_instance_options",
                      {"OrderableDBInstanceOptions": [{"Engine": ENGINE, "EngineVersion": target,
                                                       "DBInstanceClass": "db.r6g.large"}]},
                      {"Engine": ENGINE, "EngineVersion": target, "DBInstanceClass": "db.r6g.large"})
    stub.add_client_error("describe_db_clusters", "DBClusterNotFoundFault", "none", 404,
                          expected_params={"DBClusterIdentifier": identifier})
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "none", 404,
                          expected_params={"DBInstanceIdentifier": f"{identifier}-1"})


def expect_clone_created(stub: Stubber) -> None:
    stub.add_response("restore_db_cluster_to_point_in_time", {"DBCluster": clone("creating")}, {
        "DBClusterIdentifier": CLONE, "SourceDBClusterIdentifier": DEV, "RestoreType": "copy-on-write",
        "UseLatestRestorableTime": True, "DBSubnetGroupName": "db-subnets", "VpcSecurityGroupIds": ["sg-0123456789abcdef0"],
        "EnableIAMDatabaseAuthentication": True, "DeletionProtection": False, "CopyTagsToSnapshot": False, "Tags": ANY,
        "KmsKeyId": f"arn:aws:kms:us-east-2:{ACCOUNT}:key/k", "DBClusterParameterGroupName": "aurora-pg16"})
    stub.add_response("describe_db_clusters", {"DBClusters": [clone()]}, {"DBClusterIdentifier": CLONE})
    stub.add_response("create_db_instance", {"DBInstance": instance("creating")}, {
        "DBInstanceIdentifier": INSTANCE, "DBClusterIdentifier": CLONE, "DBInstanceClass": "db.r6g.large",
        "Engine": ENGINE, "PubliclyAccessible": False, "Tags": ANY})
    stub.add_response("describe_db_instances", {"DBInstances": [instance()]}, {"DBInstanceIdentifier": INSTANCE})
    stub.add_response("describe_db_clusters", {"DBClusters": [clone()]}, {"DBClusterIdentifier": CLONE})


def expect_poll(stub: Stubber, status: str, version: str) -> None:
    stub.add_response("describe_db_clusters", {"DBClusters": [clone(status, version)]}, {"DBClusterIdentifier": CLONE})
    stub.add_response("describe_db_instances", {"DBInstances": [instance()]},
                      {"Filters": [{"Name": "db-cluster-id", "Values": [CLONE]}]})


def expect_clone_deleted(stub: Stubber) -> None:
    stub.add_response("describe_db_instances", {"DBInstances": [instance()]}, {"DBInstanceIdentifier": INSTANCE})
    stub.add_response("delete_db_instance", {"DBInstance": instance("deleting")},
                      {"DBInstanceIdentifier": INSTANCE, "SkipFinalSnapshot": True, "DeleteAutomatedBackups": True})
    stub.add_client_error("describe_db_instances", "DBInstanceNotFound", "gone", 404,
                          expected_params={"DBInstanceIdentifier": INSTANCE})
    stub.add_response("describe_db_clusters", {"DBClusters": [clone()]}, {"DBClusterIdentifier": CLONE})
    stub.add_response("delete_db_cluster", {"DBCluster": clone("deleting")},
                      {"DBClusterIdentifier": CLONE, "SkipFinalSnapshot": True})


def expect_validated(rds: Regions, target: str, major: bool) -> Stubber:
    stub = rds["us-east-2"]
    expect_dev_state(rds)
    expect_versions(stub, "16.6", target, [(target, major)])
    expect_offered(stub, target, "db.t4g.medium")
    return stub


# --- the cases -----------------------------------------------------------------------------------

def test_a_rehearsal_that_succeeds_upgrades_a_clone_smoke_checks_it_and_deletes_it(rds, others, capsys, tmp_path):
    """Stubber: a major upgrade 16.6 -> 17.4 of dev's clone with the program's 17 groups, measured, then deleted."""
    stub = expect_validated(rds, "17.4", major=True)
    expect_clone_planned(stub, "17.4", source())
    expect_clone_created(stub)
    names = groups("aurora-postgresql17")["aurora-postgresql17"]
    stub.add_response("modify_db_cluster", {"DBCluster": clone("upgrading")}, {
        "DBClusterIdentifier": CLONE, "EngineVersion": "17.4", "AllowMajorVersionUpgrade": True, "ApplyImmediately": True,
        "DBClusterParameterGroupName": names["cluster"], "DBInstanceParameterGroupName": names["instance"]})
    expect_poll(stub, "upgrading", "16.6")
    expect_poll(stub, "upgrading", "17.4")
    expect_poll(stub, "available", "17.4")
    stub.add_response("describe_db_clusters", {"DBClusters": [clone(version="17.4")]}, {"DBClusterIdentifier": CLONE})
    stub.add_response("enable_http_endpoint", {"ResourceArn": arn("us-east-2", CLONE), "HttpEndpointEnabled": True},
                      {"ResourceArn": arn("us-east-2", CLONE)})
    stub.add_response("describe_db_clusters", {"DBClusters": [clone(version="17.4", http=True)]},
                      {"DBClusterIdentifier": CLONE})
    others.data_stub.add_response("execute_statement", {"records": [[{"stringValue": "PostgreSQL 17.4 on aarch64"}]]}, {
        "resourceArn": arn("us-east-2", CLONE), "secretArn": SECRET, "database": "app", "sql": "SELECT version()"})
    expect_clone_deleted(stub)
    time = FakeTime()

    code, out, err = run(["--stack", "dev", "--engine-version", "17.4", "--rehearse", "--poll-interval", "60", "--outputs-file",
                          outputs_file(tmp_path, "dev", ("aurora-postgresql16", "aurora-postgresql17"))], rds, others,
                         capsys, time)

    assert (code, err) == (0, "")
    assert time.sleeps == [60, 60]
    assert "rehearse the upgrade aurora-postgresql 16.6 -> 17.4 (major) on a clone of " + DEV in out
    assert f"outcome            upgraded: 16.6 -> 17.4 on {CLONE}" in out
    assert "upgrade time       120 s" in out
    assert "smoke check        SELECT version() over the Data API: PostgreSQL 17.4 on aarch64" in out
    assert f"{names['cluster']} / {names['instance']} (the program's)" in out
    assert "deleted            yes (final snapshot skipped)" in out
    assert "pulumi config set" not in out  # a rehearsal records nothing


def test_a_rehearsal_whose_upgrade_fails_deletes_the_clone_and_exits_1_with_the_reason(rds, others, capsys, tmp_path):
    """Stubber: AWS refuses ModifyDBCluster on the clone."""
    stub = expect_validated(rds, "16.8", major=False)
    expect_clone_planned(stub, "16.8", source())
    expect_clone_created(stub)
    stub.add_client_error("modify_db_cluster", "InvalidParameterCombination", "cannot upgrade aurora-postgresql", 400)
    expect_clone_deleted(stub)

    code, out, err = run(["--stack", "dev", "--engine-version", "16.8", "--rehearse", "--json", "--outputs-file",
                          outputs_file(tmp_path, "dev")], rds, others, capsys)

    report = json.loads(out)
    assert code == 1
    assert report["outcome"] == "failed" and report["deleted"] is True
    assert report["errors"] == ["AWS refused ModifyDBCluster: InvalidParameterCombination: cannot upgrade aurora-postgresql "
                                "(rds at https://rds.us-east-2.amazonaws.com)"]
    assert ("error: rehearsal of aurora-postgresql 16.6 -> 16.8 failed: AWS refused ModifyDBCluster: "
            "InvalidParameterCombination") in err and "the clone was deleted" in err


def test_a_rehearsal_that_times_out_deletes_the_clone_and_exits_1(rds, others, capsys, tmp_path):
    """Stubber: the clone stays 'upgrading' past --timeout."""
    stub = expect_validated(rds, "16.8", major=False)
    expect_clone_planned(stub, "16.8", source())
    expect_clone_created(stub)
    stub.add_response("modify_db_cluster", {"DBCluster": clone("upgrading")}, {
        "DBClusterIdentifier": CLONE, "EngineVersion": "16.8", "AllowMajorVersionUpgrade": False, "ApplyImmediately": True})
    for _ in range(3):  # polls at 0, 30 and 60 s of a 60 s timeout
        expect_poll(stub, "upgrading", "16.6")
    expect_clone_deleted(stub)

    code, out, err = run(["--stack", "dev", "--engine-version", "16.8", "--rehearse", "--timeout", "60", "--poll-interval",
                          "30", "--outputs-file", outputs_file(tmp_path, "dev")], rds, others, capsys)

    assert code == 1
    assert f"timed out after 60s: {CLONE} is 'upgrading' on 16.6" in out
    assert "upgrade time       60 s" in out and "deleted            yes" in out
    assert "error: rehearsal of aurora-postgresql 16.6 -> 16.8 failed: timed out after 60s" in err
    assert "the clone was deleted" in err


def test_an_invalid_target_is_refused_before_any_clone_is_made(rds, others, capsys, tmp_path):
    """Stubber: the upgrade's validation of V runs first; no clone call is stubbed, so none may be made."""
    expect_dev_state(rds)
    expect_versions(rds["us-east-2"], "16.6", "15.8", [("16.8", False)])
    code, out, err = run(["--stack", "dev", "--engine-version", "15.8", "--rehearse", "--outputs-file",
                          outputs_file(tmp_path, "dev")], rds, others, capsys)
    assert (code, out) == (2, "")
    assert "--engine-version 15.8: not a valid upgrade target from aurora-postgresql 16.6" in err


def test_a_global_rehearsal_clones_the_writer_member_and_says_what_it_does_not_cover(rds, others, capsys, tmp_path):
    """Stubber, --dry-run: prod's writer-region member as a regional clone; major to 17.4 with AWS's default 17 groups
    (the outputs declare no 17 groups); no mutating call is stubbed."""
    east = rds["us-east-1"]
    expect_prod_state(rds)
    expect_versions(east, "16.6", "17.4", [("17.4", True)])
    expect_offered(east, "17.4", "db.r7g.xlarge")
    expect_offered(rds["us-west-2"], "17.4", "db.r7g.xlarge")
    identifier = clone_identifier("prod", "us-east-1", NOW)
    expect_clone_planned(east, "17.4", source("us-east-1", EAST, managed_secret=False), identifier=identifier)

    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--rehearse", "--dry-run", "--outputs-file",
                          outputs_file(tmp_path, "prod")], rds, others, capsys)

    assert (code, err) == (0, "")
    assert f"on a clone of {EAST} in us-east-1; the stack's clusters are not touched" in out
    assert (f"ModifyDBCluster DBClusterIdentifier={identifier} EngineVersion=17.4 AllowMajorVersionUpgrade=True "
            "ApplyImmediately=True DBClusterParameterGroupName=default.aurora-postgresql17 "
            "DBInstanceParameterGroupName=default.aurora-postgresql17") in out
    assert "ModifyGlobalCluster itself: the real upgrade of aurora-platform-prod goes through the global cluster" in out
    assert "the secondaries (aurora-platform-prod-us-west-2 (us-west-2))" in out
    assert "the program's aurora-postgresql17 parameter groups (the clone ran on default.aurora-postgresql17)" in out
    assert "dry run: every check passed; no call above was made." in out


@pytest.mark.parametrize("argv, says", [
    (["--rehearse", "--apply"], "--rehearse upgrades a clone and changes nothing of the stack: --apply"),
    (["--rehearse", "--snapshot"], "--snapshot do not apply"),
    (["--rehearse", "--in-maintenance-window"], "--in-maintenance-window do not apply"),
    (["--keep"], "--keep: only with --rehearse"),
])
def test_flags_of_a_real_upgrade_are_refused_with_rehearse(argv, says, rds, others, capsys, tmp_path):
    code, out, err = run(["--stack", "dev", "--engine-version", "16.8", *argv, "--outputs-file",
                          outputs_file(tmp_path, "dev")], rds, others, capsys)
    assert (code, out) == (2, "") and says in err


def test_help_lists_rehearse_and_no_blue_green():
    text = cli.build_parser()._subparsers._group_actions[0].choices["upgrade"].format_help()
    assert "--rehearse" in text and "--keep" in text and "--blue-green" not in text


def test_ctrl_c_during_a_rehearsal_deletes_the_clone(rds, others, capsys, tmp_path):
    """Stubber, with Ctrl-C injected where ModifyDBCluster would be called (a thin wrapper around the stubbed client)."""
    from tests.deploy.test_restore_drill import Failing

    stub = expect_validated(rds, "16.8", major=False)
    expect_clone_planned(stub, "16.8", source())
    expect_clone_created(stub)
    expect_clone_deleted(stub)
    rds.clients["us-east-2"] = Failing(rds.clients["us-east-2"], "modify_db_cluster", KeyboardInterrupt())

    code, out, err = run(["--stack", "dev", "--engine-version", "16.8", "--rehearse", "--outputs-file",
                          outputs_file(tmp_path, "dev")], rds, others, capsys)

    assert code == 1
    assert "error              interrupted (Ctrl-C)" in out and "deleted            yes" in out
    assert "failed: interrupted (Ctrl-C); the clone was deleted" in err


def test_a_rehearsal_is_refused_when_the_stack_has_as_many_clones_as_aws_copies_on_write(rds, others, capsys, tmp_path):
    """Stubber: a 16th clone would be a full copy (slow, costly, a skewed timing): refused before any change."""
    from deploy.runbooks.clones import CLONE_TAG, MAX_COPY_ON_WRITE_CLONES

    stub = expect_validated(rds, "16.8", major=False)
    src = source()
    tags = [{"Key": "project", "Value": "aurora-platform"}, {"Key": "stack", "Value": "dev"}]
    clones = [{**clone(), "DBClusterIdentifier": f"clone-dev-us-east-2-{i}",
               "TagList": [*tags, {"Key": CLONE_TAG, "Value": f"clone-dev-us-east-2-{i}"}]}
              for i in range(MAX_COPY_ON_WRITE_CLONES)]
    stub.add_response("describe_db_clusters", {"DBClusters": [src]}, {"DBClusterIdentifier": src["DBClusterIdentifier"]})
    stub.add_response("describe_db_clusters", {"DBClusters": [src, *clones]}, {})
    code, out, err = run(["--stack", "dev", "--engine-version", "16.8", "--rehearse", "--outputs-file",
                          outputs_file(tmp_path, "dev")], rds, others, capsys)
    assert (code, out) == (2, "")
    assert f"as many copy-on-write clones as AWS makes ({MAX_COPY_ON_WRITE_CLONES})" in err

"""`deploy upgrade` with botocore's Stubber.

moto 5.2.5 implements neither DescribeDBEngineVersions nor ModifyGlobalCluster (neither
appears in moto/rds/responses.py), and its clusters reach a new version at once, so the
waits cannot happen there. These tests stub the RDS client of each region
instead: each expected call with its exact parameters, in order. A call nobody stubbed
fails the command (exit 1, and the refusal tests expect 2): so a refusal or a dry run that
reached a mutating call would fail its test. ``assert_no_pending_responses`` proves every
stubbed call ran. The calls moto does implement (DescribeDBClusters, DescribeDBInstances,
DescribeOrderableDBInstanceOptions, ModifyDBCluster) are also run against the moto server
at the end.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from deploy import cli
from deploy.errors import run_guarded
from deploy.runbooks import base, upgrade

ACCOUNT = "123456789012"
ENGINE = "aurora-postgresql"
DEV = "aurora-platform-dev-us-east-2"
EAST = "aurora-platform-prod-us-east-1"
WEST = "aurora-platform-prod-us-west-2"
GID = "aurora-platform-prod"
NOW = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


def arn(region: str, identifier: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{identifier}"


def groups(*families: str, prefix: str = "aurora-us-east-2") -> dict:
    return {f: {"cluster": f"{prefix}-cluster-{f}-1234567", "instance": f"{prefix}-instance-{f}-1234567"}
            for f in families}


def outputs_file(tmp_path, stack: str, families=("aurora-postgresql16",)) -> str:
    if stack == "dev":
        regions = {"us-east-2": {"clusterIdentifier": DEV, "parameterGroups": groups(*families)}}
        data = {"regions": regions}
    else:
        regions = {region: {"clusterIdentifier": ident, "parameterGroups": groups(*families, prefix=f"aurora-{region}")}
                   for region, ident in (("us-east-1", EAST), ("us-west-2", WEST))}
        data = {"regions": regions, "globalClusterIdentifier": GID}
    path = tmp_path / f"{stack}-outputs.json"
    path.write_text(json.dumps(data))
    return str(path)


class Regions:
    """One stubbed RDS client per region."""

    def __init__(self):
        self.clients, self.stubs = {}, {}
        for region in ("us-east-1", "us-east-2", "us-west-2"):
            client = boto3.client("rds", region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
            self.clients[region], self.stubs[region] = client, Stubber(client)
            self.stubs[region].activate()

    def __getitem__(self, region: str) -> Stubber:
        return self.stubs[region]

    def close(self):
        for stub in self.stubs.values():
            stub.deactivate()
            stub.assert_no_pending_responses()


@pytest.fixture
def rds():
    regions = Regions()
    yield regions
    regions.close()


class FakeTime:
    def __init__(self):
        self.elapsed, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def clock(self) -> upgrade.Clock:
        return upgrade.Clock(sleep=self.sleep, now=lambda: self.elapsed)


def run(argv: list[str], rds: Regions, capsys, time: FakeTime | None = None) -> tuple[int, str, str]:
    try:
        args = cli.build_parser().parse_args(["upgrade", *argv])
    except SystemExit as exit_:  # refused when the command line is read
        return exit_.code, "", capsys.readouterr().err
    time = time or FakeTime()
    out = io.StringIO()
    code = run_guarded(lambda: upgrade.run_upgrade(args, clients=lambda service, region: rds.clients[region],
                                                     clock=time.clock(), now=lambda: NOW, out=out))
    return code, out.getvalue(), capsys.readouterr().err


# --- canned answers --------------------------------------------------------------------

def db_cluster(region: str, identifier: str, version: str = "16.6", status: str = "available", *,
               managed_secret: bool = False, deletion_protection: bool = False, resource_id: str = "cluster-BLUE") -> dict:
    cluster = {"DBClusterIdentifier": identifier, "DBClusterArn": arn(region, identifier), "Status": status,
               "EngineVersion": version, "Engine": ENGINE, "DbClusterResourceId": resource_id,
               "Endpoint": f"{identifier}.cluster-c0ffee.{region}.rds.amazonaws.com",
               "ReaderEndpoint": f"{identifier}.cluster-ro-c0ffee.{region}.rds.amazonaws.com",
               "DeletionProtection": deletion_protection}
    if managed_secret:
        cluster["MasterUserSecret"] = {"SecretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!cluster"}
    return cluster


def db_instances(identifier: str, instance_class: str, count: int = 2, statuses: tuple[str, ...] = (),
                 parameter_groups: tuple[str, ...] = ()) -> dict:
    instances = [{"DBInstanceIdentifier": f"{identifier}-{i}", "DBInstanceClass": instance_class,
                  "DBInstanceStatus": statuses[i - 1] if i <= len(statuses) else "available"}
                 for i in range(1, count + 1)]
    for instance, group in zip(instances, parameter_groups, strict=False):
        instance["DBParameterGroups"] = [{"DBParameterGroupName": group, "ParameterApplyStatus": "in-sync"}]
    return {"DBInstances": instances}


def expect_cluster(stub: Stubber, region: str, identifier: str, instance_class: str, **kwargs) -> None:
    statuses = kwargs.pop("instance_statuses", ())
    cluster = db_cluster(region, identifier, **kwargs)
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": identifier})
    stub.add_response("describe_db_instances", db_instances(identifier, instance_class, statuses=statuses),
                      {"Filters": [{"Name": "db-cluster-id", "Values": [identifier]}]})


def expect_versions(stub: Stubber, current: str, target: str, targets: list[tuple[str, bool]],
                    global_support: bool = True) -> None:
    stub.add_response("describe_db_engine_versions",
                      {"DBEngineVersions": [{"Engine": ENGINE, "EngineVersion": target,
                                             "SupportsGlobalDatabases": global_support}]},
                      {"Engine": ENGINE, "EngineVersion": target})
    stub.add_response("describe_db_engine_versions",
                      {"DBEngineVersions": [{"Engine": ENGINE, "EngineVersion": current, "ValidUpgradeTarget": [
                          {"Engine": ENGINE, "EngineVersion": v, "IsMajorVersionUpgrade": major,
                           "SupportsGlobalDatabases": global_support} for v, major in targets]}]},
                      {"Engine": ENGINE, "EngineVersion": current})


def expect_offered(stub: Stubber, target: str, instance_class: str, global_support: bool = True) -> None:
    stub.add_response("describe_db_engine_versions",
                      {"DBEngineVersions": [{"Engine": ENGINE, "EngineVersion": target,
                                             "SupportsGlobalDatabases": global_support}]},
                      {"Engine": ENGINE, "EngineVersion": target})
    stub.add_response("describe_orderable_db_instance_options",
                      {"OrderableDBInstanceOptions": [{"Engine": ENGINE, "EngineVersion": target,
                                                       "DBInstanceClass": instance_class}]},
                      {"Engine": ENGINE, "EngineVersion": target, "DBInstanceClass": instance_class})


def global_cluster(version: str = "16.6", status: str = "available") -> dict:
    return {"GlobalClusters": [{
        "GlobalClusterIdentifier": GID, "Status": status, "Engine": ENGINE, "EngineVersion": version,
        "GlobalClusterMembers": [{"DBClusterArn": arn("us-east-1", EAST), "IsWriter": True},
                                 {"DBClusterArn": arn("us-west-2", WEST), "IsWriter": False}]}]}


def expect_prod_state(rds: Regions, *, west_status: str = "available", west_instances: tuple[str, ...] = ()) -> None:
    expect_cluster(rds["us-east-1"], "us-east-1", EAST, "db.r7g.xlarge", deletion_protection=True)
    expect_cluster(rds["us-west-2"], "us-west-2", WEST, "db.r7g.xlarge", deletion_protection=True,
                   status=west_status, instance_statuses=west_instances)
    rds["us-east-1"].add_response("describe_global_clusters", global_cluster(), {"GlobalClusterIdentifier": GID})


def expect_prod_checks(rds: Regions, target: str, major: bool) -> None:
    expect_versions(rds["us-east-1"], "16.6", target, [("16.8", False), ("17.4", True)])
    expect_offered(rds["us-east-1"], target, "db.r7g.xlarge")
    expect_offered(rds["us-west-2"], target, "db.r7g.xlarge")


def poll_prod(rds: Regions, east: tuple[str, str], west: tuple[str, str]) -> None:
    for region, ident, (status, version) in (("us-east-1", EAST, east), ("us-west-2", WEST, west)):
        expect_cluster(rds[region], region, ident, "db.r7g.xlarge", status=status, version=version,
                       deletion_protection=True)


# ---------------------------------------------------------------------------------------
# Global stack.
# ---------------------------------------------------------------------------------------

def test_minor_upgrade_of_a_global_stack_goes_through_the_global_cluster(rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_prod_checks(rds, "16.8", major=False)
    rds["us-east-1"].add_response("modify_global_cluster", {"GlobalCluster": global_cluster()["GlobalClusters"][0]},
                                  {"GlobalClusterIdentifier": GID, "EngineVersion": "16.8",
                                   "AllowMajorVersionUpgrade": False})
    poll_prod(rds, ("upgrading", "16.6"), ("upgrading", "16.6"))
    poll_prod(rds, ("available", "16.8"), ("upgrading", "16.6"))
    poll_prod(rds, ("available", "16.8"), ("available", "16.8"))
    time = FakeTime()
    code, out, err = run(["--stack", "prod", "--engine-version", "16.8", "--outputs-file", outputs_file(tmp_path, "prod"),
                          "--poll-interval", "60"], rds, capsys, time)
    assert (code, err) == (0, "")
    assert time.sleeps == [60, 60]
    assert "upgrade aurora-postgresql 16.6 -> 16.8 (minor) of stack prod:" in out
    assert f"[     0s] us-east-1      {EAST:<40} upgrading    16.6" in out
    assert f"[    60s] us-west-2      {WEST:<40} upgrading    16.6" in out
    assert f"[   120s] us-west-2      {WEST:<40} available    16.8" in out
    assert "upgrade complete: every member of aurora-platform-prod runs 16.8." in out
    assert "pulumi config set engineVersion 16.8 --stack prod" in out
    assert "parameter groups" not in out  # a minor upgrade keeps the family


def test_major_upgrade_of_a_global_stack_with_a_snapshot_attaches_the_new_family(rds, capsys, tmp_path):
    east, west = rds["us-east-1"], rds["us-west-2"]
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    snapshot = f"{EAST}-before-17-4-202612012100"
    east.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": {"DBClusterSnapshotIdentifier": snapshot}},
                      {"DBClusterSnapshotIdentifier": snapshot, "DBClusterIdentifier": EAST, "Tags": ANY})
    east.add_response("describe_db_cluster_snapshots",
                      {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": snapshot, "Status": "available"}]},
                      {"DBClusterSnapshotIdentifier": snapshot})
    east.add_response("modify_global_cluster", {"GlobalCluster": global_cluster()["GlobalClusters"][0]},
                      {"GlobalClusterIdentifier": GID, "EngineVersion": "17.4", "AllowMajorVersionUpgrade": True})
    poll_prod(rds, ("available", "17.4"), ("available", "17.4"))
    for stub, region, ident in ((east, "us-east-1", EAST), (west, "us-west-2", WEST)):
        names = groups("aurora-postgresql17", prefix=f"aurora-{region}")["aurora-postgresql17"]
        stub.add_response("modify_db_cluster", {"DBCluster": {}},
                          {"DBClusterIdentifier": ident, "DBClusterParameterGroupName": names["cluster"],
                           "ApplyImmediately": True})
        for i in (1, 2):
            stub.add_response("modify_db_instance", {"DBInstance": {}},
                              {"DBInstanceIdentifier": f"{ident}-{i}", "DBParameterGroupName": names["instance"],
                               "ApplyImmediately": True})
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--snapshot", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"snapshot {snapshot} is available (record it: pulumi config set preUpgradeSnapshot {snapshot}" in out
    assert "(major)" in out
    assert f"{WEST} -> aurora-us-west-2-cluster-aurora-postgresql17-1234567" in out
    assert "the next `pulumi up` deletes the aurora-postgresql16 ones" in out


def ours(region: str) -> dict[str, str]:
    return groups("aurora-postgresql17", prefix=f"aurora-{region}")["aurora-postgresql17"]


def member(stub, region, ident, status, version, group, instance_groups=(), instance_statuses=()):
    cluster = {**db_cluster(region, ident, version, status, deletion_protection=True), "DBClusterParameterGroup": group}
    stub.add_response("describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": ident})
    stub.add_response("describe_db_instances",
                      db_instances(ident, "db.r7g.xlarge", statuses=instance_statuses, parameter_groups=instance_groups),
                      {"Filters": [{"Name": "db-cluster-id", "Values": [ident]}]})


def test_a_global_major_upgrade_stopped_half_way_is_finished_by_running_the_command_again(rds, capsys, tmp_path):
    """The first run timed out: the global cluster is on 17.4, us-west-2 still upgrading, and
    us-east-1 on RDS's default group. The second run waits, attaches what is missing, records."""
    east, west = rds["us-east-1"], rds["us-west-2"]
    west_groups = (ours("us-west-2")["instance"],) * 2
    member(east, "us-east-1", EAST, "available", "17.4", "default.aurora-postgresql17")
    member(west, "us-west-2", WEST, "upgrading", "16.6", ours("us-west-2")["cluster"], west_groups)
    east.add_response("describe_global_clusters", global_cluster(version="17.4"), {"GlobalClusterIdentifier": GID})
    member(east, "us-east-1", EAST, "available", "17.4", "default.aurora-postgresql17")
    member(west, "us-west-2", WEST, "available", "17.4", ours("us-west-2")["cluster"], west_groups)
    east.add_response("modify_db_cluster", {"DBCluster": {}}, {"DBClusterIdentifier": EAST, "ApplyImmediately": True,
                                                               "DBClusterParameterGroupName": ours("us-east-1")["cluster"]})
    for i in (1, 2):
        east.add_response("modify_db_instance", {"DBInstance": {}},
                          {"DBInstanceIdentifier": f"{EAST}-{i}", "DBParameterGroupName": ours("us-east-1")["instance"],
                           "ApplyImmediately": True})
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"global cluster aurora-platform-prod already runs aurora-postgresql 17.4; waiting for {WEST}" in out
    assert f"parameter groups: {EAST} -> " in out and f"parameter groups: {WEST}" not in out
    assert "pulumi config set engineVersion 17.4 --stack prod" in out


def test_finishing_a_global_upgrade_waits_for_members_on_the_target_that_are_not_available(rds, capsys, tmp_path):
    """Every member already reports 17.4, but us-west-2 is still 'upgrading': ModifyDBCluster on
    it would fail (InvalidDBClusterStateFault), so the command polls until it is available first."""
    east, west = rds["us-east-1"], rds["us-west-2"]
    east_groups, west_groups = (ours("us-east-1")["instance"],) * 2, (ours("us-west-2")["instance"],) * 2
    member(east, "us-east-1", EAST, "available", "17.4", ours("us-east-1")["cluster"], east_groups)
    member(west, "us-west-2", WEST, "upgrading", "17.4", "default.aurora-postgresql17", west_groups)
    east.add_response("describe_global_clusters", global_cluster(version="17.4"), {"GlobalClusterIdentifier": GID})
    member(east, "us-east-1", EAST, "available", "17.4", ours("us-east-1")["cluster"], east_groups)
    member(west, "us-west-2", WEST, "upgrading", "17.4", "default.aurora-postgresql17", west_groups)
    member(east, "us-east-1", EAST, "available", "17.4", ours("us-east-1")["cluster"], east_groups)
    member(west, "us-west-2", WEST, "available", "17.4", "default.aurora-postgresql17", west_groups)
    west.add_response("modify_db_cluster", {"DBCluster": {}}, {"DBClusterIdentifier": WEST, "ApplyImmediately": True,
                                                               "DBClusterParameterGroupName": ours("us-west-2")["cluster"]})
    time = FakeTime()
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--poll-interval", "60", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys, time)
    assert (code, err) == (0, "")
    assert time.sleeps == [60]
    assert f"already runs aurora-postgresql 17.4; waiting for {WEST}" in out
    assert out.index(f"[    60s] us-west-2      {WEST:<40} available") < out.index(f"parameter groups: {WEST} -> ")


def test_finishing_a_global_upgrade_moves_instances_left_on_the_default_group(rds, capsys, tmp_path):
    """An interrupted run switched the clusters' groups but not every instance's: the instances
    still on RDS's default group get the program's, and nothing else is modified."""
    east, west = rds["us-east-1"], rds["us-west-2"]
    east_groups = (ours("us-east-1")["instance"], "default.aurora-postgresql17")
    west_groups = (ours("us-west-2")["instance"],) * 2
    member(east, "us-east-1", EAST, "available", "17.4", ours("us-east-1")["cluster"], east_groups)
    member(west, "us-west-2", WEST, "available", "17.4", ours("us-west-2")["cluster"], west_groups)
    east.add_response("describe_global_clusters", global_cluster(version="17.4"), {"GlobalClusterIdentifier": GID})
    east.add_response("modify_db_instance", {"DBInstance": {}},
                      {"DBInstanceIdentifier": f"{EAST}-2", "DBParameterGroupName": ours("us-east-1")["instance"],
                       "ApplyImmediately": True})
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"parameter groups: {EAST}-2 -> {ours('us-east-1')['instance']}" in out
    assert f"parameter groups: {WEST}" not in out and f"{EAST} -> " not in out
    assert "pulumi config set engineVersion 17.4 --stack prod" in out


def expect_snapshot_taken(east: Stubber, snapshot: str, statuses: tuple[str, ...]) -> None:
    east.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": {"DBClusterSnapshotIdentifier": snapshot}},
                      {"DBClusterSnapshotIdentifier": snapshot, "DBClusterIdentifier": EAST, "Tags": ANY})
    for status in statuses:
        east.add_response("describe_db_cluster_snapshots",
                          {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": snapshot, "Status": status,
                                                   "PercentProgress": 40}]},
                          {"DBClusterSnapshotIdentifier": snapshot})


def test_the_snapshot_wait_follows_timeout_and_poll_interval_and_says_how_to_finish(rds, capsys, tmp_path):
    """--snapshot polls with the command's --poll-interval up to --timeout (not a fixed 30 s x 120);
    a snapshot still creating then is a timeout (exit 1) before any upgrade call, saying how to go on."""
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    snapshot = f"{EAST}-before-17-4-202612012100"
    expect_snapshot_taken(rds["us-east-1"], snapshot, ("creating",) * 3)  # polls at 0, 40 and 50 seconds
    time = FakeTime()
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--snapshot", "--timeout", "50",
                          "--poll-interval", "40", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys, time)
    assert code == 1
    assert time.sleeps == [40, 10]
    assert f"[    40s] snapshot {snapshot} creating (40%)" in out
    assert f"timed out after 50s: snapshot {snapshot} is 'creating', not 'available'. Nothing was upgraded." in err
    assert f"aws rds describe-db-cluster-snapshots --db-cluster-snapshot-identifier {snapshot} --region us-east-1" in err
    assert f"pulumi config set preUpgradeSnapshot {snapshot} --stack prod` and run this command again without --snapshot" in err
    assert "could not reach RDS" not in err and "ModifyGlobalCluster aurora-platform-prod: upgrading" not in out


def test_a_snapshot_that_fails_stops_the_upgrade(rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    snapshot = f"{EAST}-before-17-4-202612012100"
    expect_snapshot_taken(rds["us-east-1"], snapshot, ("creating", "failed"))
    code, _, err = run(["--stack", "prod", "--engine-version", "17.4", "--snapshot", "--outputs-file",
                        outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert code == 1
    assert f"snapshot {snapshot} is 'failed': it will not become available. Nothing was upgraded" in err


def test_production_major_upgrade_without_a_snapshot_is_refused(rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, out) == (2, "")
    assert "a major upgrade of production stack prod needs a fresh snapshot: pass --snapshot" in err


@pytest.fixture
def recorded_snapshot(monkeypatch):
    """Prod's settings with preUpgradeSnapshot set, as Pulumi.prod.yaml would record it."""
    from components.settings import parse_settings
    from deploy.offline.stack_config import load_stack_config

    def settings(stack):
        raw = {**load_stack_config("prod"), "aurora-platform:preUpgradeSnapshot": SNAPSHOT}
        return parse_settings(raw, "prod")

    monkeypatch.setattr(upgrade, "resolve_settings", settings)


SNAPSHOT = f"{EAST}-before-17-4"


@pytest.mark.parametrize("answer, message", [
    (None, f"preUpgradeSnapshot {SNAPSHOT}: no such DB cluster snapshot in us-east-1"),
    ({"DBClusterIdentifier": "some-other-cluster", "Status": "available"},
     f"preUpgradeSnapshot {SNAPSHOT} is a snapshot of 'some-other-cluster', not of the writer cluster {EAST}"),
    ({"DBClusterIdentifier": EAST, "Status": "creating"}, f"preUpgradeSnapshot {SNAPSHOT} is 'creating', not 'available'"),
], ids=["missing", "of another cluster", "not available"])
def test_a_recorded_pre_upgrade_snapshot_is_checked_against_rds_before_any_change(answer, message, recorded_snapshot,
                                                                                  rds, capsys, tmp_path):
    east = rds["us-east-1"]
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    if answer is None:
        east.add_client_error("describe_db_cluster_snapshots", "DBClusterSnapshotNotFoundFault", "not found", 404,
                              expected_params={"DBClusterSnapshotIdentifier": SNAPSHOT})
    else:
        east.add_response("describe_db_cluster_snapshots",
                          {"DBClusterSnapshots": [{"DBClusterSnapshotIdentifier": SNAPSHOT, **answer}]},
                          {"DBClusterSnapshotIdentifier": SNAPSHOT})
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, out) == (2, "")
    assert message in err
    assert "--snapshot" in err


def test_a_recorded_pre_upgrade_snapshot_of_the_writer_lets_the_upgrade_go_on(recorded_snapshot, rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    rds["us-east-1"].add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": [
        {"DBClusterSnapshotIdentifier": SNAPSHOT, "DBClusterIdentifier": EAST, "Status": "available",
         "SnapshotCreateTime": datetime(2026, 12, 1, 20, 0, tzinfo=UTC)}]}, {"DBClusterSnapshotIdentifier": SNAPSHOT})
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--dry-run", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"preUpgradeSnapshot {SNAPSHOT}: available, a snapshot of {EAST} taken 2026-12-01 20:00:00+00:00" in out
    assert "dry run: every check passed" in out


@pytest.mark.parametrize("west_status, west_instances, message", [
    ("modifying", (), f"cluster {WEST} (us-west-2) is 'modifying'"),
    ("available", ("available", "rebooting"), f"instance {WEST}-2 (us-west-2) is 'rebooting'"),
], ids=["member cluster modifying", "member instance rebooting"])
def test_a_member_that_is_not_available_is_refused_before_any_change(west_status, west_instances, message, rds,
                                                                     capsys, tmp_path):
    expect_prod_state(rds, west_status=west_status, west_instances=west_instances)
    expect_prod_checks(rds, "16.8", major=False)
    code, out, err = run(["--stack", "prod", "--engine-version", "16.8", "--outputs-file",
                          outputs_file(tmp_path, "prod")], rds, capsys)
    assert (code, out) == (2, "")
    assert "not every member is available: " + message in err
    assert "run the command again" in err


def test_target_without_global_support_in_a_member_region_is_refused(rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_versions(rds["us-east-1"], "16.6", "16.8", [("16.8", False)])
    expect_offered(rds["us-east-1"], "16.8", "db.r7g.xlarge")
    rds["us-west-2"].add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": ENGINE, "EngineVersion": "16.8", "SupportsGlobalDatabases": False}]},
        {"Engine": ENGINE, "EngineVersion": "16.8"})
    code, _, err = run(["--stack", "prod", "--engine-version", "16.8", "--outputs-file",
                        outputs_file(tmp_path, "prod")], rds, capsys)
    assert code == 2
    assert "does not support Aurora Global Database in us-west-2" in err


def test_dry_run_checks_everything_and_makes_no_mutating_call(rds, capsys, tmp_path):
    expect_prod_state(rds)
    expect_prod_checks(rds, "17.4", major=True)
    code, out, err = run(["--stack", "prod", "--engine-version", "17.4", "--snapshot", "--dry-run", "--outputs-file",
                          outputs_file(tmp_path, "prod", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"1. CreateDBClusterSnapshot of {EAST}, wait (poll every 30s, up to 7200s) until available" in out
    assert "2. ModifyGlobalCluster aurora-platform-prod EngineVersion=17.4 AllowMajorVersionUpgrade=True" in out
    assert f"until every member runs 17.4 and is available: {EAST} (us-east-1), {WEST} (us-west-2)" in out
    assert "4. ModifyDBCluster / ModifyDBInstance of every member: the program's aurora-postgresql17 parameter groups" in out
    assert "dry run: every check passed; no call above was made." in out
    assert "pulumi config set" not in out


# ---------------------------------------------------------------------------------------
# Refused targets (regional stack dev, 16.6).
# ---------------------------------------------------------------------------------------

def expect_dev_state(rds: Regions, version: str = "16.6", **kwargs) -> None:
    expect_cluster(rds["us-east-2"], "us-east-2", DEV, "db.t4g.medium", version=version, **kwargs)


@pytest.mark.parametrize("value", ["17", "16.6.1", "8.0.mysql_aurora.3.08.2", "latest"])
def test_malformed_version_is_refused_before_any_call(value, rds, capsys, tmp_path):
    code, out, err = run(["--stack", "dev", "--engine-version", value, "--outputs-file", outputs_file(tmp_path, "dev")],
                         rds, capsys)
    assert (code, out) == (2, "")
    says = ("argument --engine-version: 'latest': not an engine version" if value == "latest"  # no version's shape
            else f"--engine-version {value!r}: not a version of aurora-postgresql; expected MAJOR.MINOR")
    assert says in err


def test_invalid_upgrade_target_is_refused_naming_the_valid_ones(rds, capsys, tmp_path):
    expect_dev_state(rds)
    expect_versions(rds["us-east-2"], "16.6", "15.8", [("16.8", False), ("17.4", True)])
    code, out, err = run(["--stack", "dev", "--engine-version", "15.8", "--outputs-file", outputs_file(tmp_path, "dev")],
                         rds, capsys)
    assert (code, out) == (2, "")
    assert "--engine-version 15.8: not a valid upgrade target from aurora-postgresql 16.6 (valid targets: 16.8, 17.4)" in err


def test_unknown_version_is_refused_naming_it(rds, capsys, tmp_path):
    expect_dev_state(rds)
    rds["us-east-2"].add_response("describe_db_engine_versions", {"DBEngineVersions": []},
                                  {"Engine": ENGINE, "EngineVersion": "16.99"})
    code, _, err = run(["--stack", "dev", "--engine-version", "16.99", "--outputs-file", outputs_file(tmp_path, "dev")],
                       rds, capsys)
    assert code == 2
    assert "--engine-version 16.99: aurora-postgresql 16.99 is not offered" in err


def test_major_upgrade_is_blocked_until_the_program_declares_the_new_family(rds, capsys, tmp_path):
    expect_dev_state(rds, managed_secret=True)
    expect_versions(rds["us-east-2"], "16.6", "17.4", [("16.8", False), ("17.4", True)])
    expect_offered(rds["us-east-2"], "17.4", "db.t4g.medium")
    code, out, err = run(["--stack", "dev", "--engine-version", "17.4", "--outputs-file", outputs_file(tmp_path, "dev")],
                         rds, capsys)
    assert (code, out) == (2, "")
    assert "needs parameter groups of the aurora-postgresql17 family, and the stack declares none in us-east-2" in err
    assert "(its outputs show aurora-postgresql16)" in err
    assert "pulumi config set engineUpgradeTarget 17.4 --stack dev" in err
    assert "python -m deploy up --stack dev" in err


def test_instance_class_that_cannot_run_the_target_is_refused(rds, capsys, tmp_path):
    expect_dev_state(rds)
    expect_versions(rds["us-east-2"], "16.6", "16.8", [("16.8", False)])
    rds["us-east-2"].add_response("describe_db_engine_versions", {"DBEngineVersions": [
        {"Engine": ENGINE, "EngineVersion": "16.8"}]}, {"Engine": ENGINE, "EngineVersion": "16.8"})
    rds["us-east-2"].add_response("describe_orderable_db_instance_options", {"OrderableDBInstanceOptions": []},
                                  {"Engine": ENGINE, "EngineVersion": "16.8", "DBInstanceClass": "db.t4g.medium"})
    code, _, err = run(["--stack", "dev", "--engine-version", "16.8", "--outputs-file", outputs_file(tmp_path, "dev")],
                       rds, capsys)
    assert code == 2
    assert f"instance class db.t4g.medium ({DEV}-1, {DEV}-2) is not orderable for aurora-postgresql 16.8" in err


# ---------------------------------------------------------------------------------------
# Regional stack in place.
# ---------------------------------------------------------------------------------------

def test_major_upgrade_in_place_sends_the_new_family_groups(rds, capsys, tmp_path):
    stub = rds["us-east-2"]
    expect_dev_state(rds, managed_secret=True)
    expect_versions(stub, "16.6", "17.4", [("17.4", True)])
    expect_offered(stub, "17.4", "db.t4g.medium")
    names = groups("aurora-postgresql17")["aurora-postgresql17"]
    stub.add_response("modify_db_cluster", {"DBCluster": db_cluster("us-east-2", DEV, status="upgrading")},
                      {"DBClusterIdentifier": DEV, "EngineVersion": "17.4", "AllowMajorVersionUpgrade": True,
                       "ApplyImmediately": True, "DBClusterParameterGroupName": names["cluster"],
                       "DBInstanceParameterGroupName": names["instance"]})
    expect_dev_state(rds, version="17.4", status="upgrading")
    expect_dev_state(rds, version="17.4")
    code, out, err = run(["--stack", "dev", "--engine-version", "17.4", "--poll-interval", "30", "--outputs-file",
                          outputs_file(tmp_path, "dev", ("aurora-postgresql16", "aurora-postgresql17"))], rds, capsys)
    assert (code, err) == (0, "")
    assert f"upgrade complete: {DEV} runs 17.4." in out
    assert "pulumi config set engineVersion 17.4 --stack dev" in out


def test_in_the_maintenance_window_the_settings_wait_for_the_next_run(rds, capsys, tmp_path):
    stub = rds["us-east-2"]
    expect_dev_state(rds, managed_secret=True)
    expect_versions(stub, "16.6", "16.8", [("16.8", False)])
    expect_offered(stub, "16.8", "db.t4g.medium")
    stub.add_response("modify_db_cluster", {"DBCluster": {**db_cluster("us-east-2", DEV),
                                                          "PendingModifiedValues": {"EngineVersion": "16.8"}}},
                      {"DBClusterIdentifier": DEV, "EngineVersion": "16.8", "AllowMajorVersionUpgrade": False,
                       "ApplyImmediately": False})
    code, out, _ = run(["--stack", "dev", "--engine-version", "16.8", "--in-maintenance-window", "--outputs-file",
                        outputs_file(tmp_path, "dev")], rds, capsys)
    assert code == 0
    assert "16.8 is pending until the next maintenance window (sun:05:00-sun:06:00 UTC)" in out
    assert "pulumi config set" not in out


def test_a_cluster_already_on_the_version_only_records_it(rds, capsys, tmp_path):
    """AWS upgraded a minor at its end of support: the command records what runs, nothing else."""
    expect_dev_state(rds, version="16.8")
    code, out, _ = run(["--stack", "dev", "--engine-version", "16.8", "--outputs-file", outputs_file(tmp_path, "dev")],
                       rds, capsys)
    assert code == 0
    assert "the clusters already run aurora-postgresql 16.8; nothing to upgrade." in out
    assert "pulumi config set engineVersion 16.8 --stack dev" in out


def test_apply_sets_engine_version_through_the_automation_api(rds, capsys, tmp_path, monkeypatch):
    calls = []

    class FakeStack:
        def set_config(self, key, value, *, path=False):
            calls.append(("set", key, value.value))

        def remove_config(self, key, *, path=False):
            calls.append(("rm", key))

    monkeypatch.setattr(upgrade, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(base, "open_stack", lambda stack: FakeStack())
    expect_dev_state(rds, version="16.8")
    code, out, _ = run(["--stack", "dev", "--engine-version", "16.8", "--apply", "--outputs-file",
                        outputs_file(tmp_path, "dev")], rds, capsys)
    assert code == 0
    assert calls == [("set", "engineVersion", "16.8")]
    assert "set engineVersion = 16.8 on stack dev" in out


def test_apply_also_clears_the_upgrade_target_and_the_recorded_snapshot(rds, capsys, tmp_path, monkeypatch):
    from components.settings import parse_settings
    from deploy.offline.stack_config import load_stack_config

    calls = []

    class FakeStack:
        def set_config(self, key, value, *, path=False):
            calls.append(("set", key, value.value))

        def remove_config(self, key, *, path=False):
            calls.append(("rm", key))

    raw = {**load_stack_config("dev"), "aurora-platform:engineUpgradeTarget": "16.8",
           "aurora-platform:preUpgradeSnapshot": f"{DEV}-before-16-8"}
    monkeypatch.setattr(upgrade, "resolve_settings", lambda stack: parse_settings(raw, "dev"))
    monkeypatch.setattr(upgrade, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(base, "open_stack", lambda stack: FakeStack())
    expect_dev_state(rds, version="16.8")
    code, _, _ = run(["--stack", "dev", "--engine-version", "16.8", "--apply", "--outputs-file",
                      outputs_file(tmp_path, "dev")], rds, capsys)
    assert code == 0
    assert calls == [("set", "engineVersion", "16.8"), ("rm", "engineUpgradeTarget"), ("rm", "preUpgradeSnapshot")]


def test_aws_refusing_the_modify_is_a_failure(rds, capsys, tmp_path):
    stub = rds["us-east-2"]
    expect_dev_state(rds)
    expect_versions(stub, "16.6", "16.8", [("16.8", False)])
    expect_offered(stub, "16.8", "db.t4g.medium")
    stub.add_client_error("modify_db_cluster", "InvalidDBClusterStateFault", "cluster is being modified", 400)
    code, _, err = run(["--stack", "dev", "--engine-version", "16.8", "--outputs-file", outputs_file(tmp_path, "dev")],
                       rds, capsys)
    assert code == 1
    assert "AWS refused ModifyDBCluster: InvalidDBClusterStateFault: cluster is being modified" in err


# ---------------------------------------------------------------------------------------
# No Blue/Green.
# ---------------------------------------------------------------------------------------

def test_help_offers_no_blue_green_and_says_why(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["upgrade", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--blue-green" not in text and "--switchover" not in text and "--delete-blue" not in text
    assert "Blue/Green deployments are not offered" in text and "master password RDS manages in Secrets Manager" in text
    assert "set engineVersion, and clear engineUpgradeTarget and preUpgradeSnapshot where set" in text


def test_blue_green_flag_is_refused_as_unknown(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["upgrade", "--stack", "dev", "--engine-version", "16.8", "--blue-green"])
    assert exited.value.code == 2 and "unrecognized arguments: --blue-green" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Against the moto server: the calls moto implements.
# ---------------------------------------------------------------------------------------

def test_in_place_upgrade_steps_against_moto(moto):
    """moto answers DescribeDBClusters/Instances, DescribeOrderableDBInstanceOptions (Aurora
    PostgreSQL up to 15.2 in its data) and ModifyDBCluster, whose change it applies at once."""
    rds = boto3.client("rds", region_name="us-east-1", endpoint_url=moto)
    rds.create_db_cluster(DBClusterIdentifier="orders", Engine=ENGINE, EngineVersion="14.6", MasterUsername="dbadmin",
                          MasterUserPassword="correct-horse-battery", StorageEncrypted=True)
    rds.create_db_instance(DBInstanceIdentifier="orders-1", DBClusterIdentifier="orders", Engine=ENGINE,
                           DBInstanceClass="db.r6g.large")
    cluster = upgrade.read_cluster(rds, "us-east-1", "orders")
    assert (cluster.engine_version, [i.instance_class for i in cluster.instances]) == ("14.6", ["db.r6g.large"])
    upgrade.check_orderable(rds, cluster, ENGINE, "15.2")
    with pytest.raises(upgrade.CommandRefused, match="instance class db.r6g.large .* is not orderable for aurora-postgresql 9.6"):
        upgrade.check_orderable(rds, cluster, ENGINE, "9.6")
    plan = upgrade.Plan(stack="dev", engine=ENGINE, current="14.6", target="15.2", major=True,
                        target_family="aurora-postgresql15", clusters=[cluster],
                        parameter_groups={"us-east-1": {"cluster": "orders-15", "instance": "orders-15-instance"}})
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="orders-15", DBParameterGroupFamily="aurora-postgresql15",
                                          Description="orders")
    rds.create_db_parameter_group(DBParameterGroupName="orders-15-instance", DBParameterGroupFamily="aurora-postgresql15",
                                  Description="orders")
    upgrade.modify_in_place(rds, plan, apply_immediately=True)
    out = io.StringIO()
    wait = upgrade.Wait(60, 1, upgrade.Clock(sleep=lambda s: None), out)
    final = upgrade.wait_for_version(lambda region: rds, [cluster], "15.2", wait, "")
    assert final[0].engine_version == "15.2" and final[0].status == "available"
    assert rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["DBClusterParameterGroup"] == "orders-15"

"""`deploy switchover` / `deploy failover` with botocore's Stubber.

moto does not implement SwitchoverGlobalCluster or FailoverGlobalCluster (its server
answers both with an internal error) and cannot move a global cluster's writer, so
these tests stub the RDS client: each expected call with its exact parameters, in
order. A call nobody stubbed fails the test (the runbook turns it into exit 1, and the
refusal tests expect 2); ``assert_no_pending_responses`` proves every stubbed call ran.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from deploy import cli
from deploy.errors import run_guarded
from deploy.runbooks import base, switchover
from deploy.runbooks.base import Clock

GID = "aurora-platform-prod"
EAST = "arn:aws:rds:us-east-1:123456789012:cluster:aurora-platform-prod-us-east-1"
WEST = "arn:aws:rds:us-west-2:123456789012:cluster:aurora-platform-prod-us-west-2"


def global_cluster(writer: str = EAST, status: str = "available", operation: str | None = None) -> dict:
    cluster = {
        "GlobalClusterIdentifier": GID, "Status": status, "Engine": "aurora-postgresql",
        "GlobalClusterMembers": [
            {"DBClusterArn": arn, "IsWriter": arn == writer, "Readers": [],
             "SynchronizationStatus": "connected"} for arn in (EAST, WEST)],
    }
    if operation:
        cluster["FailoverState"] = {"Status": operation, "FromDbClusterArn": EAST, "ToDbClusterArn": WEST,
                                    "IsDataLossAllowed": False}
    return cluster


def described(*clusters: dict) -> dict:
    return {"GlobalClusters": list(clusters)}


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def rds():
    client = boto3.client("rds", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def run(argv: list[str], client, capsys, time: FakeTime | None = None) -> tuple[int, str, str]:
    try:
        args = cli.build_parser().parse_args(argv)
    except SystemExit as exit_:  # refused when the command line is read
        return exit_.code, "", capsys.readouterr().err
    time = time or FakeTime()
    out = io.StringIO()
    regions: list[str] = []

    def client_for(region: str):
        regions.append(region)
        return client

    code = run_guarded(lambda: switchover.run_runbook(args, clients=lambda service, region: client_for(region),
                                                      clock=Clock(sleep=time.sleep, now=time.clock), out=out))
    assert set(regions) <= {"us-west-2"}  # the target region's endpoint, healthy in a failover
    return code, out.getvalue(), capsys.readouterr().err


SWITCHOVER = ["switchover", "--stack", "prod", "--to-region", "us-west-2", "--global-cluster-id", GID,
              "--timeout", "60", "--poll-interval", "10"]


def test_switchover_waits_until_the_writer_is_in_the_target_region(rds, capsys):
    client, stub = rds
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_response("switchover_global_cluster", {"GlobalCluster": global_cluster(status="switching-over")},
                      {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": WEST})
    stub.add_response("describe_global_clusters",
                      described(global_cluster(status="switching-over", operation="switching-over")))
    stub.add_response("describe_global_clusters", described(global_cluster(writer=WEST, status="switching-over")))
    stub.add_response("describe_global_clusters", described(global_cluster(writer=WEST)))
    time = FakeTime()
    code, out, err = run(SWITCHOVER, client, capsys, time)
    assert (code, err) == (0, "")
    assert time.sleeps == [10, 10]
    assert "[     0s] global cluster switching-over, writer in us-east-1 operation=switching-over" in out
    assert "[    20s] global cluster available, writer in us-west-2" in out
    topology = out[out.index("switchover complete"):]
    assert topology.index("us-west-2        writer") < topology.index("us-east-1        reader")
    assert "pulumi config set --path globalDatabase.writerRegion us-west-2 --stack prod" in out
    assert "  aurora-platform:globalDatabase:\n    writerRegion: us-west-2" in out


def test_failover_with_allow_data_loss(rds, capsys):
    client, stub = rds
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_response("failover_global_cluster", {"GlobalCluster": global_cluster(status="failing-over")},
                      {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": WEST, "AllowDataLoss": True})
    stub.add_response("describe_global_clusters", described(global_cluster(writer=WEST)))
    code, out, _ = run(["failover", "--stack", "prod", "--to-region", "us-west-2", "--allow-data-loss",
                        "--global-cluster-id", GID, "--poll-interval", "1"], client, capsys)
    assert code == 0
    assert "failover complete: the writer is in us-west-2." in out


def test_global_cluster_id_from_the_outputs_file(rds, capsys, tmp_path):
    client, stub = rds
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"globalClusterIdentifier": GID, "writerRegion": "us-east-1"}))
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_response("switchover_global_cluster", {"GlobalCluster": global_cluster()},
                      {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": WEST})
    stub.add_response("describe_global_clusters", described(global_cluster(writer=WEST)))
    code, _, _ = run(["switchover", "--stack", "prod", "--to-region", "us-west-2", "--outputs-file", str(path)],
                     client, capsys)
    assert code == 0


def test_timeout_while_the_writer_has_not_moved(rds, capsys):
    client, stub = rds
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_response("switchover_global_cluster", {"GlobalCluster": global_cluster(status="switching-over")},
                      {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": WEST})
    for _ in range(4):  # polls at 0, 25, 50 and 60 seconds
        stub.add_response("describe_global_clusters",
                          described(global_cluster(status="switching-over", operation="switching-over")))
    time = FakeTime()
    code, out, err = run(SWITCHOVER[:-4] + ["--timeout", "60", "--poll-interval", "25"], client, capsys, time)
    assert code == 1
    assert time.sleeps == [25, 25, 10]
    assert "timed out after 60s" in err and "'switching-over' with the writer in us-east-1" in err
    assert "describe-global-clusters --global-cluster-identifier aurora-platform-prod" in err
    assert "pulumi config set" not in out


def test_aws_refusing_the_switchover_is_a_failure(rds, capsys):
    client, stub = rds
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_client_error("switchover_global_cluster", "InvalidGlobalClusterStateFault", "members not in sync", 400)
    code, _, err = run(SWITCHOVER, client, capsys)
    assert code == 1
    assert "AWS refused SwitchoverGlobalCluster: InvalidGlobalClusterStateFault: members not in sync" in err


# ---------------------------------------------------------------------------------------
# Refused input: exit 2 before any mutating call.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["failover", "--stack", "prod", "--to-region", "us-west-2", "--global-cluster-id", GID],
     "Pass --allow-data-loss to proceed"),
    (["switchover", "--stack", "dev", "--to-region", "us-west-2", "--global-cluster-id", GID],
     "stack dev has no global database"),
    (["switchover", "--stack", "prod", "--to-region", "eu-west-1", "--global-cluster-id", GID],
     "--to-region eu-west-1: not a region of stack prod (regions: us-east-1, us-west-2)"),
    (["switchover", "--stack", "nope", "--to-region", "us-west-2", "--global-cluster-id", GID],
     "unknown stack 'nope'"),
    (SWITCHOVER[:-4] + ["--timeout", "0"], "argument --timeout: '0': out of range"),
], ids=["failover without --allow-data-loss", "no global database", "region not in the stack", "unknown stack",
        "bad timeout"])
def test_refused_without_any_call(argv, message, rds, capsys):
    client, _ = rds  # nothing stubbed: any call would fail the command with exit 1
    code, out, err = run(argv, client, capsys)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("live, message", [
    (global_cluster(writer=WEST), "--to-region us-west-2: already the writer region of global cluster"),
    (global_cluster(status="failing-over", operation="failing-over"),
     "is 'failing-over', not 'available' (a failing-over operation is under way)"),
    ({**global_cluster(), "GlobalClusterMembers": [{"DBClusterArn": EAST, "IsWriter": True}]},
     "--to-region us-west-2: not a member region of global cluster aurora-platform-prod (members: us-east-1 (writer))"),
], ids=["already the writer", "not available", "not a member"])
def test_refused_after_reading_the_global_cluster(live, message, rds, capsys):
    client, stub = rds
    stub.add_response("describe_global_clusters", described(live), {"GlobalClusterIdentifier": GID})
    code, _, err = run(SWITCHOVER, client, capsys)
    assert code == 2
    assert message in err


def test_unknown_global_cluster_is_refused(rds, capsys):
    client, stub = rds
    stub.add_client_error("describe_global_clusters", "GlobalClusterNotFoundFault", "no such global cluster", 404,
                          expected_params={"GlobalClusterIdentifier": GID})
    code, _, err = run(SWITCHOVER, client, capsys)
    assert code == 2 and "global cluster aurora-platform-prod does not exist" in err


def test_apply_without_pulumi_cli_is_refused_before_any_call(rds, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    client, _ = rds
    code, _, err = run(SWITCHOVER + ["--apply"], client, capsys)
    assert code == 2 and "https://www.pulumi.com/docs/install/" in err


def test_apply_sets_the_writer_region_through_the_automation_api(rds, capsys, monkeypatch):
    calls = []

    class FakeStack:
        def set_config(self, key, value, *, path=False):
            calls.append((key, value.value, value.secret, path))

    monkeypatch.setattr(switchover, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(base, "open_stack", lambda stack: FakeStack())
    client, stub = rds
    stub.add_response("describe_global_clusters", described(global_cluster()), {"GlobalClusterIdentifier": GID})
    stub.add_response("switchover_global_cluster", {"GlobalCluster": global_cluster()},
                      {"GlobalClusterIdentifier": GID, "TargetDbClusterIdentifier": WEST})
    stub.add_response("describe_global_clusters", described(global_cluster(writer=WEST)))
    code, out, _ = run(SWITCHOVER + ["--apply"], client, capsys)
    assert code == 0
    assert calls == [("globalDatabase.writerRegion", "us-west-2", False, True)]
    assert "set globalDatabase.writerRegion = us-west-2 on stack prod" in out


def test_target_is_matched_by_the_arn_region():
    live = {**global_cluster(), "GlobalClusterMembers": [
        {"DBClusterArn": EAST, "IsWriter": True},
        {"DBClusterArn": "arn:aws:rds:eu-west-1:123456789012:cluster:us-west-2-named", "IsWriter": False},
        {"DBClusterArn": WEST, "IsWriter": False}]}
    assert switchover.target_cluster_arn("switchover", live, "us-west-2") == WEST
    assert switchover.target_cluster_arn("switchover", live, "eu-west-1").startswith("arn:aws:rds:eu-west-1:")

"""Runs ``deploy switchover --apply`` in the project copy of an end-to-end test, with the
RDS calls stubbed by botocore's Stubber (moto implements neither SwitchoverGlobalCluster
nor a writer that moves) and the rest real: the settings, the stack outputs read through
the Automation API, and ``--apply`` setting ``globalDatabase.writerRegion`` through it.

Usage (cwd: the project copy): python stubbed_switchover.py GLOBAL_CLUSTER_ID FROM_ARN TO_ARN TO_REGION
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.getcwd())  # the copy's deploy package, so --apply writes the copy's stack file

import boto3  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from deploy import cli  # noqa: E402
from deploy.errors import run_guarded  # noqa: E402
from deploy.runbooks import switchover  # noqa: E402
from deploy.runbooks.base import Clock  # noqa: E402


def global_cluster(gid: str, members: list[str], writer: str) -> dict:
    return {"GlobalClusters": [{
        "GlobalClusterIdentifier": gid, "Status": "available", "Engine": "aurora-postgresql",
        "GlobalClusterMembers": [{"DBClusterArn": arn, "IsWriter": arn == writer, "Readers": [],
                                  "SynchronizationStatus": "connected"} for arn in members],
    }]}


def main(gid: str, from_arn: str, to_arn: str, to_region: str) -> int:
    rds = boto3.client("rds", region_name=to_region, aws_access_key_id="x", aws_secret_access_key="x")
    members = [from_arn, to_arn]
    with Stubber(rds) as stub:
        stub.add_response("describe_global_clusters", global_cluster(gid, members, from_arn),
                          {"GlobalClusterIdentifier": gid})
        stub.add_response("switchover_global_cluster", {},
                          {"GlobalClusterIdentifier": gid, "TargetDbClusterIdentifier": to_arn})
        stub.add_response("describe_global_clusters", global_cluster(gid, members, to_arn),
                          {"GlobalClusterIdentifier": gid})
        args = cli.build_parser().parse_args(["switchover", "--stack", "prod", "--to-region", to_region,
                                              "--poll-interval", "1", "--timeout", "60", "--apply"])
        code = run_guarded(lambda: switchover.run_runbook(args, clients=lambda service, region: rds,
                                                          clock=Clock(sleep=lambda s: None)))
        stub.assert_no_pending_responses()
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

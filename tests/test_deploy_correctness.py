"""Deploy-time correctness (issue 11): defects the offline tests could not see before, each pinned on
the committed stack files or on a `--set` variant of them through the mock-engine capture."""

from __future__ import annotations

import json
import subprocess
import sys

from deploy.capture import run_program
from deploy.stack_config import PROJECT_DIR

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


# --- Defect 1: switching storageType back to aurora must reach the provider -------------------

def test_storage_type_aurora_is_sent():
    """`storageType` is optional+computed in the provider: leaving it out for `aurora` keeps a cluster
    that is on aurora-iopt1 (prod) on I/O-Optimized. The value is always sent."""
    capture = run_program("prod", "update", overrides={"aurora-platform:storageType": "aurora"})
    clusters = capture.by_type(CLUSTER)
    assert len(clusters) == 2
    assert {c.name: c.inputs.get("storageType") for c in clusters} == {
        "aurora-us-east-1": "aurora", "aurora-us-west-2": "aurora"}


def test_storage_type_default_is_sent_on_dev(dev):
    (cluster,) = dev.by_type(CLUSTER)
    assert cluster.inputs["storageType"] == "aurora"


def test_storage_type_io_optimized_on_prod(prod):
    assert {c.inputs["storageType"] for c in prod.by_type(CLUSTER)} == {"aurora-iopt1"}


def test_check_json_shows_storage_type_aurora_on_every_cluster():
    result = subprocess.run([sys.executable, "-m", "deploy", "check", "--stack", "prod", "--set", "storageType=aurora",
                             "--json"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    clusters = [r for r in report["resources"] if r["type"] == CLUSTER]
    assert len(clusters) == 2
    assert all(c["inputs"]["storageType"] == "aurora" for c in clusters), clusters

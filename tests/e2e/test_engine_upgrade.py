"""A major engine version change after an `up`, previewed by the real Pulumi engine with the
provider doubles (realengine.py): the cluster is updated in place, the parameter
groups of the new family are created before it and the old ones deleted after it."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DEPLOYED_DEV
from tests.e2e.realengine import preview_args

pytestmark = pytest.mark.e2e

STATEFUL = ("aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance", "aws:kms/key:Key",
            "aws:secretsmanager/secret:Secret")


@pytest.mark.xdist_group(DEPLOYED_DEV)
def test_next_major_after_an_up_previews_an_update_of_the_cluster_not_a_replacement(deployed_dev, tmp_path):
    engine = deployed_dev  # dev after a driver `up` (checked once per session), this test's own copy
    engine.pulumi("config", "set", "engineVersion", "17.4", "--stack", "dev", check=True)

    log = tmp_path / "preview.jsonl"
    preview = engine.pulumi(*preview_args("dev", log))
    assert preview.returncode == 0, preview.stdout + preview.stderr
    steps = [json.loads(line)["resourcePreEvent"]["metadata"] for line in log.read_text().splitlines()
             if "resourcePreEvent" in line]
    order = [(s["op"], s["type"], s["urn"].rsplit("::", 1)[-1]) for s in steps if s["op"] != "same"]

    assert [o for o in order if o[1] in STATEFUL and o[0] not in ("update",)] == []
    cluster = next(s for s in steps if s["urn"].endswith("aws:rds/cluster:Cluster::aurora-us-east-2"))
    assert cluster["op"] == "update"
    assert {"engineVersion", "dbClusterParameterGroupName", "dbInstanceParameterGroupName"} <= set(cluster["diffs"])
    assert cluster["new"]["inputs"]["allowMajorVersionUpgrade"] is True

    update = order.index(("update", "aws:rds/cluster:Cluster", "aurora-us-east-2"))
    for kind in ("cluster", "instance"):
        type_ = ("aws:rds/clusterParameterGroup:ClusterParameterGroup" if kind == "cluster"
                 else "aws:rds/parameterGroup:ParameterGroup")
        assert order.index(("create", type_, f"aurora-us-east-2-{kind}-aurora-postgresql17")) < update
        assert order.index(("delete", type_, f"aurora-us-east-2-{kind}-aurora-postgresql16")) > update

"""The example stacks of examples/: found like committed stacks, documented, and they build what they say.

That every example checks clean against the policy pack is in test_check.py (every stack file on disk)."""

from __future__ import annotations

import shutil

import pytest

from deploy.offline.stack_config import PROJECT_DIR, UnknownStackError, available_stacks, load_stack_config, stack_file
from tests.conftest import captured

EXAMPLES = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (PROJECT_DIR / "examples").glob("Pulumi.*.yaml"))


def test_the_scenarios_users_ask_about_are_examples():
    assert {"regional-mysql", "serverless-v2", "regional-copy"} <= set(EXAMPLES)


def test_available_stacks_lists_the_committed_stacks_then_the_examples():
    assert available_stacks() == ["dev", "prod", *EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_example_says_what_it_shows_and_how_to_deploy_it(example):
    header = stack_file(example).read_text().split("\nconfig:", 1)[0]
    assert header.startswith("# Example stack: ") and "Shows:" in header
    assert f"python -m deploy check --stack {example}" in header and "docs/real-use.md" in header


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_is_in_the_readme(example):
    assert f"examples/Pulumi.{example}.yaml" in (PROJECT_DIR / "README.md").read_text()


def test_a_stack_file_in_the_root_wins_over_an_example_of_the_same_name(tmp_path):
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path)
    (tmp_path / "examples").mkdir()
    shutil.copy(PROJECT_DIR / "examples" / "Pulumi.regional-mysql.yaml", tmp_path / "examples")
    assert load_stack_config("regional-mysql", tmp_path)["aurora-platform:engine"] == "aurora-mysql"
    (tmp_path / "Pulumi.regional-mysql.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    assert stack_file("regional-mysql", tmp_path) == tmp_path / "Pulumi.regional-mysql.yaml"
    assert load_stack_config("regional-mysql", tmp_path)["aurora-platform:engine"] == "aurora-postgresql"
    assert available_stacks(tmp_path) == ["regional-mysql"]


def test_an_unknown_stack_names_the_stacks_and_marks_the_examples():
    with pytest.raises(UnknownStackError) as caught:
        load_stack_config("staging")
    assert str(caught.value).startswith("unknown stack 'staging': there is no Pulumi.staging.yaml (stacks: dev, prod, ")
    assert "regional-mysql (example)" in str(caught.value)


def test_regional_mysql_is_one_aurora_mysql_cluster_on_the_mysql_port():
    capture = captured("regional-mysql")
    (cluster,) = capture.by_type("aws:rds/cluster:Cluster")
    assert (cluster.inputs["engine"], cluster.inputs["engineVersion"]) == ("aurora-mysql", "8.0.mysql_aurora.3.08.2")
    assert capture.outputs["port"] == 3306 and not capture.by_type("aws:rds/globalCluster:GlobalCluster")


def test_serverless_v2_instances_scale_in_acus():
    capture = captured("serverless-v2")
    (cluster,) = capture.by_type("aws:rds/cluster:Cluster")
    assert cluster.inputs["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 16.0}
    instances = capture.by_type("aws:rds/clusterInstance:ClusterInstance")
    assert len(instances) == 2 and {i.inputs["instanceClass"] for i in instances} == {"db.serverless"}

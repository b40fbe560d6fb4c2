"""`python -m deploy` through the Automation API on the real engine and the provider doubles."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DEPLOYED_DEV, new_engine
from tests.e2e.realengine import assert_ok

pytestmark = pytest.mark.e2e

STUBBED_SWITCHOVER = Path(__file__).resolve().parent / "stubbed_switchover.py"


def stored_state_of(engine, type_: str, name: str) -> Path:
    for path in engine.cloud.glob("*.json"):
        record = json.loads(path.read_text())
        if record["urn"].endswith(f"{type_}::{name}"):
            return path
    raise AssertionError(f"no {type_} named {name} in the doubles' cloud")


@pytest.mark.xdist_group(DEPLOYED_DEV)
def test_dev_preview_up_refresh_drift_and_destroy(deployed_dev):
    # deployed_dev: the driver's preview (policy pack, nothing created) and up (one cluster), checked once per session.
    engine = deployed_dev
    # The program does not fight its own deployment: a preview right after the up changes nothing.
    assert_ok(engine.pulumi("preview", "--stack", "dev", "--expect-no-changes"))
    refresh = assert_ok(engine.deploy("refresh", "--stack", "dev"))
    assert "no drift" in refresh.stdout

    # Someone shortens the backup retention in the console.
    path = stored_state_of(engine, "aws:rds/cluster:Cluster", "aurora-us-east-2")
    record = json.loads(path.read_text())
    record["state"]["backupRetentionPeriod"] = 1
    path.write_text(json.dumps(record))
    drift = assert_ok(engine.deploy("refresh", "--stack", "dev"), code=3)
    assert "aurora-us-east-2" in drift.stdout

    assert_ok(engine.deploy("destroy", "--stack", "dev"))
    assert engine.custom_resources("dev") == []
    assert not any(engine.cloud.glob("*.json"))


# The tests on the deployed prod run on one pytest-xdist worker, in this order (the last one changes the stack).
DEPLOYED_PROD = pytest.mark.xdist_group("e2e-deployed-prod")


@pytest.fixture(scope="module")
def prod_engine(pulumi_cli, tmp_path_factory):
    """prod, deployed once for the tests of this module (a first `up` of prod is the slow part)."""
    engine = new_engine(tmp_path_factory.mktemp("prod"))
    assert_ok(engine.deploy("up", "--stack", "prod"))
    return engine


@DEPLOYED_PROD
def test_prod_preview_after_up_changes_nothing(prod_engine):
    assert_ok(prod_engine.pulumi("preview", "--stack", "prod", "--expect-no-changes"))


@DEPLOYED_PROD
def test_prod_up_then_destroy_is_refused_for_protected_resources(prod_engine):
    before = prod_engine.custom_resources("prod")
    protected = [r for r in before if r.get("protect")]
    assert {r["type"] for r in protected} >= {"aws:rds/cluster:Cluster", "aws:rds/globalCluster:GlobalCluster",
                                              "aws:kms/key:Key", "aws:secretsmanager/secret:Secret"}
    destroy = assert_ok(prod_engine.deploy("destroy", "--stack", "prod", "--force"), code=1)
    assert "protect" in destroy.stderr
    assert len(prod_engine.custom_resources("prod")) == len(before)


@DEPLOYED_PROD
def test_switchover_apply_records_the_writer_and_the_next_preview_replaces_nothing_stateful(prod_engine):
    outputs = json.loads(prod_engine.pulumi("stack", "output", "--stack", "prod", "--json", check=True).stdout)
    regions = outputs["regions"]
    result = prod_engine.python(str(STUBBED_SWITCHOVER), outputs["globalClusterIdentifier"],
                                regions["us-east-1"]["clusterArn"], regions["us-west-2"]["clusterArn"], "us-west-2")
    assert_ok(result)
    stack_file = yaml.safe_load((prod_engine.project / "Pulumi.prod.yaml").read_text())
    assert stack_file["config"]["aurora-platform:globalDatabase"]["writerRegion"] == "us-west-2"

    log = prod_engine.project.parent / "after-switchover.jsonl"
    preview = prod_engine.pulumi("preview", "--stack", "prod", "--policy-pack", "policies",
                                 "--policy-pack-config", "policies/config/prod.json", "--event-log", str(log))
    assert preview.returncode == 0, preview.stdout + preview.stderr
    steps = [json.loads(line)["resourcePreEvent"]["metadata"] for line in log.read_text().splitlines()
             if "resourcePreEvent" in line]
    stateful = ("aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance", "aws:kms/key:Key",
                "aws:secretsmanager/secret:Secret", "aws:rds/globalCluster:GlobalCluster")
    replaced = [s["urn"] for s in steps if s["op"] in ("replace", "create-replacement", "delete-replaced")
                and s["type"] in stateful]
    assert replaced == []
    moved = {s["type"] for s in steps if s["op"] == "update"}
    assert "aws:autoscaling/group:Group" in moved  # the fleet follows the writer


def test_secret_config_is_encrypted_in_the_stack_file_and_reaches_the_program(engine):
    engine.init_stack("dev")
    assert_ok(engine.pulumi("config", "set", "--secret", "--stack", "dev", "alarmEmail", "oncall@example.com"))
    stack_file = yaml.safe_load((engine.project / "Pulumi.dev.yaml").read_text())
    stored = stack_file["config"]["aurora-platform:alarmEmail"]
    assert set(stored) == {"secure"} and "oncall@example.com" not in (engine.project / "Pulumi.dev.yaml").read_text()

    log = engine.project.parent / "events.jsonl"
    assert_ok(engine.pulumi("preview", "--stack", "dev", "--event-log", str(log)))
    subscriptions = [json.loads(line)["resourcePreEvent"]["metadata"] for line in log.read_text().splitlines()
                     if "aws:sns/topicSubscription:TopicSubscription" in line and "resourcePreEvent" in line]
    assert len(subscriptions) == 1
    assert subscriptions[0]["new"]["inputs"]["protocol"] == "email"


def test_a_stack_value_of_the_wrong_type_is_refused_with_the_key_named(engine):
    stack_file = engine.project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("aurora-platform:readerCount: 1",
                                                         "aurora-platform:readerCount: one"))
    engine.init_stack("dev")
    preview = engine.pulumi("preview", "--stack", "dev")
    assert preview.returncode != 0
    output = preview.stdout + preview.stderr
    assert "readerCount" in output and "integer" in output
    assert "Traceback" not in output


def test_cli_reports_the_pinned_version(pulumi_cli):
    go_mod = (Path(__file__).resolve().parents[2] / "scripts" / "pulumi-cli" / "go.mod").read_text()
    (pinned,) = re.findall(r"^\s*github\.com/pulumi/pulumi/pkg/v3 (v\S+)", go_mod, re.M)
    reported = subprocess.run([str(pulumi_cli), "version"], text=True, capture_output=True, check=True).stdout.strip()
    assert reported == pinned

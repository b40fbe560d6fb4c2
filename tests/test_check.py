"""`python -m deploy check`: the plan and the real policy pack on the committed stacks."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys

import pytest

from deploy import cli
from deploy.offline import check as check_module
from deploy.offline.capture import Capture
from deploy.offline.stack_config import PROJECT_DIR, available_stacks
from tests.conftest import captured


@functools.cache
def checked(stack: str, mode: str) -> check_module.CheckResult:
    return check_module.run_check(stack, mode)


@pytest.mark.parametrize("mode", ["preview", "update"])
@pytest.mark.parametrize("stack", available_stacks())  # every Pulumi.<stack>.yaml of the root and of examples/
def test_committed_stacks_and_examples_have_no_mandatory_violation(stack, mode):
    result = checked(stack, mode)
    mandatory = [v for v in result.violations if v.level == "mandatory"]
    assert mandatory == [], "\n".join(f"{v.policy}: {v.message}" for v in mandatory)
    assert len(result.policies.policies) >= 30


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_never_downgrades_a_policy(stack):
    for violation in checked(stack, "preview").violations:
        assert "during preview" not in violation.message and "can't run" not in violation.message, violation


def test_prod_is_clean_and_dev_only_advisory():
    assert checked("prod", "preview").violations == []
    dev_levels = {v.level for v in checked("dev", "preview").violations}
    assert dev_levels == {"advisory"}
    assert {v.policy for v in checked("dev", "preview").violations} >= {
        "rds-cluster-deletion-protection", "rds-cluster-final-snapshot", "stateful-resources-protected"}


def test_json_output(capsys):
    assert cli.main(["check", "--stack", "dev", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["stack"] == "dev" and report["mode"] == "preview"
    assert {"type", "name", "urn", "parent"} <= set(report["resources"][0])
    assert report["violations"] and set(report["violations"][0]) == {"policy", "level", "urn", "message"}
    assert report["summary"]["violations"] == {"mandatory": 0, "advisory": len(report["violations"])}
    assert report["summary"]["resources"] == len(report["resources"])
    assert report["summary"]["byType"]["aws:rds/cluster:Cluster"] == 1


@pytest.mark.parametrize("settings,policy", [
    # (with continuous backup the cluster's retention is the continuous rule's: both change)
    (["backupRetentionDays=7", "backupContinuousRetentionDays=7"], "rds-cluster-backup-retention"),
    (["monitoringInterval=0"], "rds-enhanced-monitoring"),
    (["performanceInsights=false"], "rds-performance-insights-enabled"),
    (["readerCount=0", "readerAutoScaling=false"], "rds-cluster-multi-az"),
])
def test_insecure_prod_variant_exits_1_and_names_the_policy(settings, policy, capsys):
    assert cli.main(["check", "--stack", "prod", *(arg for s in settings for arg in ("--set", s))]) == 1
    out = capsys.readouterr().out
    assert f"[mandatory] {policy}" in out and "FAILED: mandatory policy violations" in out


def test_mutated_capture_exits_1_naming_the_policy(monkeypatch, capsys):
    def unencrypted(stack, mode, config=None, **kwargs) -> Capture:
        capture = copy.deepcopy(captured(stack, mode))
        cluster = next(r for r in capture.resources if r.type == "aws:rds/cluster:Cluster")
        cluster.inputs["storageEncrypted"] = False
        cluster.outputs["storageEncrypted"] = False
        return capture

    monkeypatch.setattr(check_module, "run_program", unencrypted)
    assert cli.main(["check", "--stack", "dev", "--mode", "update", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    hits = [v for v in report["violations"] if v["policy"] == "rds-cluster-storage-encrypted"]
    assert hits and hits[0]["level"] == "mandatory" and hits[0]["urn"].endswith("::aurora-us-east-2")
    assert "storageEncrypted" in hits[0]["message"]


def test_markdown_report(capsys):
    assert cli.main(["check", "--stack", "prod", "--set", "backupRetentionDays=7", "--set", "backupContinuousRetentionDays=7",
                     "--markdown"]) == 1
    report = capsys.readouterr().out
    assert report.startswith("### aurora-platform check: stack `prod` (preview mode)")
    assert "| mandatory violations | 2 |" in report, "both members of the global database"
    assert "| mandatory | `rds-cluster-backup-retention` | `aurora-us-east-1 (aws:rds/cluster:Cluster)` |" in report


def test_sarif_report(tmp_path, capsys):
    sarif_file = tmp_path / "check.sarif"
    assert cli.main(["check", "--stack", "dev", "--sarif", str(sarif_file), "--json"]) == 0
    sarif = json.loads(sarif_file.read_text())
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert len(rules) == len(checked("dev", "preview").policies.policies)
    assert rules["rds-cluster-storage-encrypted"]["defaultConfiguration"]["level"] == "error"
    assert rules["rds-cluster-deletion-protection"]["defaultConfiguration"]["level"] == "warning"
    assert run["results"]
    for result in run["results"]:
        assert result["ruleId"] in rules and run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "warning"
        assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].startswith("urn:pulumi:dev::")
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.dev.yaml"
    assert json.loads(capsys.readouterr().out)["stack"] == "dev"


def test_plan_text_shows_the_tree_and_counts(capsys):
    assert cli.main(["check", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert "aurora-platform:database:GlobalDatabase  global-aurora-platform-prod" in out
    assert "aws:rds/cluster:Cluster  aurora-us-west-2  [protect, ignore_changes]" in out
    policies = len(checked("prod", "preview").policies.policies)
    assert f"Policies: {policies} checked with policies/config/prod.json; 0 mandatory, 0 advisory violations" in out


def test_check_end_to_end_as_a_new_user_runs_it():
    result = subprocess.run([sys.executable, "-m", "deploy", "check", "--stack", "dev"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "OK: no mandatory policy violation" in result.stdout and "Traceback" not in result.stderr

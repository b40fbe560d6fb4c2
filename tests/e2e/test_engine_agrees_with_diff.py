"""The real engine plans what `deploy diff` says (DESIGN section 8: day-2 safety).

Each stack is deployed once with the provider doubles (realengine.py). For each setting change the
engine previews it, from the stack's config with the change in a file of its own (``--config-file``:
the deployed stack's config stays as it is), and its planned steps per URN (create, update, replace
with whether the delete comes first, delete) must equal the changes of ``deploy diff --json`` run on
the same project, whose base is the deployed commit. Where the engine refuses the change (a protected
resource it would replace), ``deploy diff`` must refuse it too, naming the same resources.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import new_engine
from tests.e2e.realengine import Engine

pytestmark = pytest.mark.e2e

PROJECT = "aurora-platform"
# (stack, settings changed, as `deploy diff --set` takes them: values read as YAML)
CHANGES = [
    ("dev", {"azCount": "3"}),
    ("dev", {"availabilityZones": "[us-east-2b, us-east-2a]"}),  # the same zones, reordered
    # The plan agrees, and is what the real provider plans too (a DB subnet group's subnetIds update in
    # place in terraform-provider-aws), but AWS refuses the update: "The new Subnets are not in the same
    # Vpc as the existing subnet group" (terraform-provider-aws issues #16419, #27459): deploy diff
    # refuses it (an error finding); the doubles do not model the refusal.
    ("dev", {"vpcCidr": "10.20.0.0/16"}),
    ("dev", {"engine": "aurora-mysql", "engineVersion": "8.0.mysql_aurora.3.08.0"}),
    ("dev", {"readerCount": "2"}),
    ("dev", {"instanceClass": "db.r7g.large"}),
    ("dev", {"engineVersion": '"17.4"'}),  # a regional major upgrade, 16.x -> 17.x
    ("dev", {"alarmEmail": "oncall@example.com"}),
    ("dev", {"proxyEnabled": "true"}),
    ("prod", {"azCount": "2"}),
    ("prod", {"backupVaultLockMinRetentionDays": "14"}),
    ("prod", {"proxyEnabled": "false"}),
]
REPLACE_STEPS = ("create-replacement", "replace", "delete-replaced")
PROTECTED = re.compile(r'unable to (?:replace|delete) resource "([^"]+)"\s+as it is currently marked for protection')


@pytest.fixture(scope="module")
def deployed(pulumi_cli, tmp_path_factory):
    """stack -> an Engine whose project copy has that stack deployed (one `up` per stack, on first use) and
    committed to a git repository of its own, so that `deploy diff`'s default base is what is deployed."""
    engines: dict[str, Engine] = {}

    def get(stack: str) -> Engine:
        if stack not in engines:
            engine = new_engine(tmp_path_factory.mktemp(f"agree-{stack}"))
            engine.init_stack(stack)
            engine.pulumi("up", "--stack", stack, "--yes", "--skip-preview", check=True)
            commit_all(engine.project)
            engines[stack] = engine
        return engines[stack]

    return get


def commit_all(project: Path) -> None:
    for argv in (["init", "--quiet"], ["add", "--all"],
                 ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "-c", "commit.gpgsign=false",
                  "commit", "--quiet", "--no-verify", "-m", "deployed"]):
        subprocess.run(["git", *argv], cwd=project, check=True, capture_output=True)


def preview_config(engine: Engine, stack: str, settings: dict[str, str], path: Path) -> Path:
    """The stack's config file with ``settings`` laid over it, written to ``path``."""
    stack_file = yaml.safe_load((engine.project / f"Pulumi.{stack}.yaml").read_text())
    stack_file["config"].update({f"{PROJECT}:{key}": yaml.safe_load(value) for key, value in settings.items()})
    path.write_text(yaml.safe_dump(stack_file))
    return path


def engine_plan(event_log: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """URN -> {action, deleteBeforeReplace, replaceReasons} of the steps the engine planned, and its errors.

    A replacement is three steps (create-replacement, replace, delete-replaced); the delete comes first
    when delete-replaced is planned before create-replacement. A resource deleted first for a dependency's
    replacement and not declared again has only delete-replaced: a deletion."""
    events = [json.loads(line) for line in event_log.read_text().splitlines() if line.strip()]
    ops: dict[str, list[str]] = defaultdict(list)
    keys: dict[str, list[str]] = {}
    for event in events:
        step = event.get("resourcePreEvent", {}).get("metadata")
        if step is None or step["op"] == "same":
            continue
        ops[step["urn"]].append(step["op"])
        if step["op"] in ("create-replacement", "replace") and step.get("keys"):
            keys[step["urn"]] = sorted(step["keys"])
    plan = {}
    for urn, seq in ops.items():
        if seq == ["delete-replaced"]:
            plan[urn] = {"action": "delete"}
        elif set(seq) & set(REPLACE_STEPS):
            first = seq.index("delete-replaced") < seq.index("create-replacement") if "delete-replaced" in seq else False
            plan[urn] = {"action": "replace", "deleteBeforeReplace": first, "replaceReasons": keys.get(urn, [])}
        else:
            plan[urn] = {"action": "+".join(dict.fromkeys(seq))}
    errors = [e["diagnosticEvent"] for e in events if e.get("diagnosticEvent", {}).get("severity") == "error"]
    return plan, errors


def diff_plan(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    plan = {}
    for change in report["changes"]:
        entry: dict[str, Any] = {"action": change["action"]}
        if change["action"] == "replace":
            entry.update(deleteBeforeReplace=change["deleteBeforeReplace"], replaceReasons=sorted(change["replaceReasons"]))
        plan[change["urn"]] = entry
    return plan


def disagreements(engine: dict[str, dict], diff: dict[str, dict]) -> list[str]:
    """Where the plans differ. The engine's reasons for a replacement must be among diff's: of a resource
    it deletes first for a dependency's replacement, the engine names only the inputs that dependency
    feeds, diff also the resource's own changes (a proxy endpoint's subnets as well as its proxy)."""
    def agree(ours: dict | None, theirs: dict | None) -> bool:
        if ours is None or theirs is None or ours.get("action") != "replace":
            return ours == theirs
        return (ours["deleteBeforeReplace"] == theirs.get("deleteBeforeReplace")
                and set(ours["replaceReasons"]) <= set(theirs.get("replaceReasons", [])))

    return [f"{urn.rsplit('::', 2)[-2].rsplit('$', 1)[-1]} {urn.rsplit('::', 1)[-1]}: engine {engine.get(urn)}, "
            f"diff {diff.get(urn)}" for urn in sorted(set(engine) | set(diff)) if not agree(engine.get(urn), diff.get(urn))]


# A stack's cases run on one pytest-xdist worker (``xdist_group``), so each stack is deployed once, not once per worker.
@pytest.mark.parametrize(("stack", "settings"), [
    pytest.param(stack, settings, id=f"{stack}-" + ",".join(f"{k}={v}" for k, v in settings.items()),
                 marks=pytest.mark.xdist_group(f"e2e-agree-{stack}"))
    for stack, settings in CHANGES])
def test_the_engine_plans_the_steps_deploy_diff_reports(deployed, tmp_path, stack, settings):
    engine = deployed(stack)
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    # `deploy diff` runs beside the preview: it needs no engine.
    diff_run = subprocess.Popen([engine.env["AURORA_E2E_PYTHON"], "-m", "deploy", "diff", "--stack", stack, "--json", *sets],
                                cwd=engine.project, env=engine.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        log = tmp_path / "preview.jsonl"
        preview = engine.pulumi("preview", "--stack", stack, "--event-log", str(log),
                                "--config-file", str(preview_config(engine, stack, settings, tmp_path / "Pulumi.yaml")))
        stdout, stderr = diff_run.communicate(timeout=600)
    finally:
        if diff_run.poll() is None:
            diff_run.kill()
    assert diff_run.returncode in (0, 1), f"deploy diff exited {diff_run.returncode}:\n{stderr}"
    report = json.loads(stdout)
    planned, errors = engine_plan(log)

    refused = {urn for error in errors for urn in PROTECTED.findall(error["message"])}
    if preview.returncode != 0:
        # The only refusal the engine may make here is a protected resource's replacement or deletion.
        assert refused, f"the preview failed:\n{preview.stdout[-3000:]}\n{preview.stderr[-3000:]}"
        diff_errors = {f["urn"] for f in report["findings"] if f["level"] == "error"}
        assert refused <= diff_errors, f"deploy diff does not refuse {sorted(refused - diff_errors)}"
    assert disagreements(planned, diff_plan(report)) == []
    assert (diff_run.returncode == 1) == any(f["level"] == "error" for f in report["findings"])

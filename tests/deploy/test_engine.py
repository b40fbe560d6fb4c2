"""The engine commands' deciding code, fed with recorded engine event sequences built from
the real ``pulumi.automation.events`` classes (``EngineEvent.from_json`` on the engine's
JSON event form, as the Automation API builds them, and the constructors).

The thin call into the Automation API runs in ``test_engine_automation.py`` where a
``pulumi`` binary is on PATH.
"""

from __future__ import annotations

import inspect
import json

import pytest
from pulumi.automation import Stack
from pulumi.automation.events import (
    DiagnosticEvent,
    EngineEvent,
    OpType,
    PolicyEvent,
    ResOutputsEvent,
    StepEventMetadata,
    SummaryEvent,
)

from deploy import cli, engine
from deploy.runbooks.base import CommandRefused

STACK_URN = "urn:pulumi:prod::aurora-platform::pulumi:pulumi:Stack::aurora-platform-prod"
CLUSTER_URN = ("urn:pulumi:prod::aurora-platform::aurora-platform:database:AuroraCluster$aws:rds/cluster:Cluster"
               "::aurora-platform-prod-us-east-1")
KEY_URN = "urn:pulumi:prod::aurora-platform::aurora-platform:security:RegionKey$aws:kms/key:Key::key-us-east-1"
RULE_URN = "urn:pulumi:prod::aurora-platform::aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::db-from-fleet"


def step(op: str, urn: str, rtype: str, **extra) -> dict:
    return {"op": op, "urn": urn, "type": rtype, "provider": "", **extra}


def pre(seq: int, metadata: dict, planning: bool = True) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 1700000000 + seq,
                                  "resourcePreEvent": {"metadata": metadata, "planning": planning}})


def done(seq: int, metadata: dict) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 1700000000 + seq, "resOutputsEvent": {"metadata": metadata}})


def policy(seq: int, name: str, level: str, urn: str | None, message: str) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 1700000000 + seq, "policyEvent": {
        "message": message, "color": "never", "policyName": name, "policyPackName": "aurora-platform-policies",
        "policyPackVersion": "0.1.0", "policyPackVersionTag": "0.1.0", "enforcementLevel": level,
        "resourceUrn": urn}})


def diagnostic(seq: int, severity: str, message: str, urn: str | None = None, ephemeral: bool = False) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 1700000000 + seq, "diagnosticEvent": {
        "message": message, "color": "never", "severity": severity, "urn": urn, "ephemeral": ephemeral}})


def summary(seq: int, changes: dict, duration: int = 42) -> EngineEvent:
    return EngineEvent.from_json({"sequence": seq, "timestamp": 1700000000 + seq, "summaryEvent": {
        "maybeCorrupt": False, "durationSeconds": duration, "resourceChanges": changes,
        "PolicyPacks": {"aurora-platform-policies": "v0.1.0"}}})


CLUSTER_UPDATE = step("update", CLUSTER_URN, "aws:rds/cluster:Cluster", diffs=["backupRetentionPeriod"],
                      detailedDiff={"backupRetentionPeriod": {"diffKind": "update", "inputDiff": True}})

# `pulumi preview` of prod: a key to create, the cluster to update, two violations, one mandatory.
PREVIEW_WITH_VIOLATION = [
    EngineEvent.from_json({"sequence": 0, "timestamp": 1700000000, "preludeEvent": {"config": {"aws:region": "us-east-1"}}}),
    pre(1, step("same", STACK_URN, "pulumi:pulumi:Stack")),
    pre(2, step("create", KEY_URN, "aws:kms/key:Key")),
    pre(3, CLUSTER_UPDATE),
    policy(4, "rds-cluster-storage-encrypted", "mandatory", CLUSTER_URN,
           "Cluster storage is not encrypted.\nSet storageEncrypted: true."),
    policy(5, "rds-cluster-copy-tags-to-snapshot", "advisory", CLUSTER_URN, "copyTagsToSnapshot is false."),
    done(6, step("create", KEY_URN, "aws:kms/key:Key")),
    done(7, CLUSTER_UPDATE),
    diagnostic(8, "info", "program output", ephemeral=True),
    diagnostic(9, "error", "preview failed: 1 mandatory policy violation"),
    summary(10, {"same": 1, "create": 1, "update": 1}),
    EngineEvent.from_json({"sequence": 11, "timestamp": 1700000011, "cancelEvent": {}}),
]


def test_preview_events_become_one_line_per_resource_and_a_summary():
    report = engine.RunReport(command="preview", stack="prod")
    lines = engine.replay(report, PREVIEW_WITH_VIOLATION)
    assert lines == [
        "[   1]    same               pulumi:pulumi:Stack  aurora-platform-prod",
        "[   2]  + create             aws:kms/key:Key  key-us-east-1",
        "[   3]  ~ update             aws:rds/cluster:Cluster  aurora-platform-prod-us-east-1",
        "       ! mandatory rds-cluster-storage-encrypted (aurora-platform-prod-us-east-1): Cluster storage is not encrypted.",
        "       ! advisory rds-cluster-copy-tags-to-snapshot (aurora-platform-prod-us-east-1): copyTagsToSnapshot is false.",
        "       error: preview failed: 1 mandatory policy violation",
    ]
    assert report.changes_by_kind() == {"create": 1, "same": 1, "update": 1}
    assert report.violations_by_level() == {"advisory": 1, "mandatory": 1}
    assert report.duration_seconds == 42 and report.policy_packs == {"aurora-platform-policies": "v0.1.0"}
    assert engine.exit_code(report, failed=True) == 1
    assert engine.exit_code(report, failed=False) == 1  # a mandatory violation fails even if the CLI did not


def test_diff_flag_adds_the_changed_properties():
    report = engine.RunReport(command="preview", stack="prod")
    lines = engine.replay(report, PREVIEW_WITH_VIOLATION[:4], show_diff=True)
    assert lines[-1].endswith("aurora-platform-prod-us-east-1\n              backupRetentionPeriod (update)")


def test_advisory_violations_alone_pass():
    report = engine.RunReport(command="preview", stack="dev")
    engine.replay(report, [pre(1, step("create", KEY_URN, "aws:kms/key:Key")),
                           policy(2, "rds-cluster-multi-az", "advisory", None, "one AZ"),
                           summary(3, {"create": 1})])
    assert engine.exit_code(report, failed=False) == 0
    assert "policy violations: 1 advisory" in engine.summary_text(report, 0)


def test_up_counts_resources_as_they_finish():
    events = [
        pre(1, step("create", KEY_URN, "aws:kms/key:Key"), planning=False),
        pre(2, CLUSTER_UPDATE, planning=False),
        done(3, CLUSTER_UPDATE),
        done(4, step("create", KEY_URN, "aws:kms/key:Key")),
        done(5, step("same", STACK_URN, "pulumi:pulumi:Stack")),
        summary(6, {"create": 1, "update": 1, "same": 1}),
    ]
    report = engine.RunReport(command="up", stack="prod")
    lines = engine.replay(report, events)
    assert [line[:7] for line in lines] == ["[   1] ", "[   2] ", "[   3] "]
    assert "aurora-platform-prod-us-east-1" in lines[0] and "key-us-east-1" in lines[1]
    assert engine.exit_code(report, failed=False) == 0
    assert engine.outcome(report, 0) == "succeeded"


def test_failed_resource_operation():
    failed = EngineEvent.from_json({"sequence": 2, "timestamp": 1, "resOpFailedEvent": {
        "metadata": step("create", CLUSTER_URN, "aws:rds/cluster:Cluster"), "status": 1, "steps": 1}})
    events = [diagnostic(1, "error", "creating RDS Cluster: InvalidParameterCombination: ...", CLUSTER_URN), failed,
              summary(3, {"create": 0})]
    report = engine.RunReport(command="up", stack="prod")
    lines = engine.replay(report, events)
    assert lines[-1].endswith("aurora-platform-prod-us-east-1  FAILED")
    assert engine.exit_code(report, failed=True) == 1
    text = engine.summary_text(report, 1)
    assert "failed resources: aws:rds/cluster:Cluster aurora-platform-prod-us-east-1" in text
    assert "error: creating RDS Cluster: InvalidParameterCombination" in text


# A refresh preview: the outputs event of each resource carries the refresh's outcome.
REFRESH_WITH_DRIFT = [
    pre(1, step("refresh", CLUSTER_URN, "aws:rds/cluster:Cluster")),
    pre(2, step("refresh", RULE_URN, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")),
    pre(3, step("refresh", KEY_URN, "aws:kms/key:Key")),
    done(4, step("update", CLUSTER_URN, "aws:rds/cluster:Cluster", diffs=["deletionProtection"],
                 detailedDiff={"deletionProtection": {"diffKind": "update", "inputDiff": False}})),
    done(5, step("delete", RULE_URN, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")),
    done(6, step("same", KEY_URN, "aws:kms/key:Key")),
    summary(7, {"update": 1, "delete": 1, "same": 1}),
]


def test_refresh_drift_is_reported_and_exits_3():
    report = engine.RunReport(command="refresh", stack="prod")
    lines = engine.replay(report, REFRESH_WITH_DRIFT)
    assert len(lines) == 3  # one per resource, when its refresh finished
    assert [(s.op, s.name) for s in report.drifted()] == [("update", "aurora-platform-prod-us-east-1"),
                                                          ("delete", "db-from-fleet")]
    assert report.drifted()[0].properties == ("deletionProtection (update)",)
    assert engine.exit_code(report, failed=False) == 3
    text = engine.summary_text(report, 3)
    assert "refresh on stack prod: drift: 2 resource(s) differ from the state" in text
    assert "update aws:rds/cluster:Cluster aurora-platform-prod-us-east-1 (deletionProtection (update))" in text


def test_refresh_without_drift_exits_0():
    events = [pre(1, step("refresh", KEY_URN, "aws:kms/key:Key")), done(2, step("same", KEY_URN, "aws:kms/key:Key")),
              summary(3, {"same": 1})]
    report = engine.RunReport(command="refresh", stack="prod")
    engine.replay(report, events)
    assert (engine.exit_code(report, failed=False), report.drifted()) == (0, [])
    assert engine.outcome(report, 0) == "no drift"


def test_refresh_drift_counted_only_by_the_summary_still_exits_3():
    report = engine.RunReport(command="refresh", stack="prod")
    engine.replay(report, [summary(1, {"same": 40, "update": 2})])
    assert report.has_drift() and engine.exit_code(report, failed=False) == 3


def test_refresh_failure_is_1_not_drift():
    report = engine.RunReport(command="refresh", stack="prod")
    engine.replay(report, REFRESH_WITH_DRIFT)
    assert engine.exit_code(report, failed=True) == 1


def test_events_from_constructors_and_optype_keys():
    """Events may carry OpType members (constructors) or strings (JSON); both count the same."""
    metadata = StepEventMetadata(op=OpType.UPDATE, urn=CLUSTER_URN, type="aws:rds/cluster:Cluster", provider="")
    events = [
        EngineEvent(sequence=1, timestamp=1, res_outputs_event=ResOutputsEvent(metadata=metadata)),
        EngineEvent(sequence=2, timestamp=2, policy_event=PolicyEvent(
            message="open to the internet", color="never", policy_name="security-group-no-public-ingress",
            policy_pack_name="p", policy_pack_version="1", policy_pack_version_tag="1", enforcement_level="mandatory")),
        EngineEvent(sequence=3, timestamp=3, diagnostic_event=DiagnosticEvent(message="careful", color="", severity="warning")),
        EngineEvent(sequence=4, timestamp=4, summary_event=SummaryEvent(
            maybe_corrupt=False, duration_seconds=1, resource_changes={OpType.UPDATE: 1}, policy_packs={})),
    ]
    report = engine.RunReport(command="refresh", stack="prod")
    engine.replay(report, events)
    assert report.changes_by_kind() == {"update": 1}
    assert report.warnings == ["careful"]
    assert engine.exit_code(report, failed=False) == 1  # the mandatory violation wins over drift


def test_markdown_summary_and_github_step_summary(tmp_path):
    report = engine.RunReport(command="preview", stack="prod")
    engine.replay(report, PREVIEW_WITH_VIOLATION)
    markdown = engine.summary_markdown(report, 1)
    assert markdown.startswith("### ❌ `preview` on stack `prod`: failed: 1 mandatory policy violation\n")
    assert "| update | 1 |" in markdown and "| create | 1 |" in markdown
    assert "**Policy violations:** 1 advisory, 1 mandatory" in markdown
    assert ("| mandatory | `rds-cluster-storage-encrypted` | aurora-platform-prod-us-east-1 | "
            "Cluster storage is not encrypted. |") in markdown
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert engine.append_step_summary(markdown, {"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n" + markdown + "\n"
    assert not engine.append_step_summary(markdown, {})


def test_drift_markdown_lists_resources():
    report = engine.RunReport(command="refresh", stack="prod")
    engine.replay(report, REFRESH_WITH_DRIFT)
    markdown = engine.summary_markdown(report, 3)
    assert markdown.startswith("### ⚠️ `refresh` on stack `prod`: drift")
    assert "| delete | `aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule` | db-from-fleet |  |" in markdown


# ---------------------------------------------------------------------------------------
# Which Automation API call, with which arguments: against the installed signatures.
# ---------------------------------------------------------------------------------------

@pytest.fixture
def policy_dir(tmp_path):
    (tmp_path / "policies" / "config").mkdir(parents=True)
    (tmp_path / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "policies" / "config" / "prod.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("command", engine.COMMANDS)
def test_arguments_bind_to_the_installed_automation_api(command, policy_dir):
    method_name, create = engine.STACK_METHODS[command]
    method = getattr(Stack, method_name)
    policies = engine.policy_files("prod", policy_dir)
    kwargs = engine.operation_kwargs(command, engine.accepted_parameters(method), policies=policies, diff=True,
                                     on_event=print)
    inspect.signature(method).bind(object(), **kwargs)  # raises if the installed method rejects one
    assert kwargs["on_event"] is print and kwargs["diff"] is True
    if command in ("preview", "up"):
        assert kwargs["policy_packs"] == [str(policy_dir / "policies")]
        assert kwargs["policy_pack_configs"] == [str(policy_dir / "policies" / "config" / "prod.json")]
        assert create
    else:
        # The installed API takes no policy pack for refresh or destroy.
        assert "policy_packs" not in engine.accepted_parameters(method)
        assert not create
    assert (command, method_name) != ("refresh", "refresh")  # the drift check never writes the state


def test_preview_refused_when_the_api_cannot_take_the_policy_pack(policy_dir):
    def preview(self, on_event=None, diff=None):  # an API without policy packs
        pass

    with pytest.raises(CommandRefused) as refused:
        engine.operation_kwargs("preview", engine.accepted_parameters(preview),
                                policies=engine.policy_files("prod", policy_dir), diff=False, on_event=print)
    assert refused.value.code == 1 and "policy_packs" in str(refused.value)


def test_missing_policy_config_is_named(policy_dir):
    with pytest.raises(CommandRefused) as refused:
        engine.policy_files("dev", policy_dir)
    assert refused.value.code == 2 and "policies/config/dev.json" in str(refused.value)


def test_protected_resources_from_a_state_export():
    deployment = {"manifest": {}, "resources": [
        {"urn": STACK_URN, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": CLUSTER_URN, "type": "aws:rds/cluster:Cluster", "custom": True, "protect": True, "id": "c"},
        {"urn": KEY_URN, "type": "aws:kms/key:Key", "custom": True, "protect": False},
    ]}
    assert engine.protected_resources(deployment) == [(CLUSTER_URN, "aws:rds/cluster:Cluster")]
    assert engine.protected_resources({"resources": None}) == []
    message = engine.destroy_refusal("prod", engine.protected_resources(deployment))
    assert CLUSTER_URN in message and "`--force` does not override `protect`" in message
    assert "pulumi state unprotect --stack prod" in message


# ---------------------------------------------------------------------------------------
# The command line, up to the Automation API.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", engine.COMMANDS)
def test_no_pulumi_cli_exits_2_with_the_install_hint(command, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    argv = [command, "--stack", "dev"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "https://www.pulumi.com/docs/install/" in err and "Traceback" not in err


def test_unknown_stack_exits_2(capsys):
    assert cli.main(["preview", "--stack", "staging"]) == 2
    assert "unknown stack 'staging': there is no Pulumi.staging.yaml" in capsys.readouterr().err


def test_invalid_settings_exit_2_with_the_settings_message(monkeypatch, capsys):
    from deploy.offline.stack_config import load_stack_config
    from deploy.runbooks import base

    raw = {**load_stack_config("dev"), "aurora-platform:backupRetentionDays": "40"}
    monkeypatch.setattr(base, "load_stack_config", lambda stack: raw)
    assert cli.main(["up", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "stack dev (Pulumi.dev.yaml): invalid stack settings (1 problem)" in err
    assert "aurora-platform:backupRetentionDays = 40: allowed: 1 to 35" in err and "Traceback" not in err


def test_destroy_of_a_production_stack_needs_force(capsys):
    assert cli.main(["destroy", "--stack", "prod"]) == 2
    assert "pass --force to confirm destroying it" in capsys.readouterr().err


class FakeStack:
    """Stands in for ``pulumi.automation.Stack``; its methods keep the installed signatures
    and replay a recorded event sequence into ``on_event``."""

    def __init__(self, events, deployment=None, error=None):
        self.events, self.deployment, self.error, self.calls = events, deployment, error, []

    def _replay(self, name, kwargs):
        self.calls.append((name, kwargs))
        for event in self.events:
            kwargs["on_event"](event)
        if self.error:
            raise self.error

    def export_stack(self):
        from pulumi.automation import Deployment

        return Deployment(version=3, deployment=self.deployment or {"resources": []})


for _name in ("preview", "up", "preview_refresh", "destroy"):
    def _method(self, *args, __name=_name, **kwargs):
        return self._replay(__name, kwargs)
    _method.__wrapped__ = getattr(Stack, _name)  # inspect.signature follows it: the installed parameters
    setattr(FakeStack, _name, _method)


@pytest.fixture
def fake_engine(monkeypatch, policy_dir, tmp_path):
    opened = []

    def install(stack: FakeStack):
        monkeypatch.setattr(engine, "require_pulumi_cli", lambda: "/usr/local/bin/pulumi")
        monkeypatch.setattr(engine, "PROJECT_DIR", policy_dir)
        monkeypatch.setattr(engine, "open_stack", lambda name, create=False: opened.append((name, create)) or stack)
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
        return opened

    return install


def test_preview_through_a_fake_stack(fake_engine, capsys, tmp_path):
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import CommandError

    stack = FakeStack(PREVIEW_WITH_VIOLATION, error=CommandError(CommandResult(
        stdout="", stderr="error: preview failed: 1 mandatory policy violation", code=255)))
    opened = fake_engine(stack)
    assert cli.main(["preview", "--stack", "prod", "--diff"]) == 1
    captured = capsys.readouterr()
    assert opened == [("prod", True)]
    (name, kwargs), = stack.calls
    assert name == "preview" and kwargs["diff"] is True and kwargs["policy_packs"][0].endswith("policies")
    assert "[   3]  ~ update" in captured.out and "backupRetentionPeriod (update)" in captured.out
    assert "preview on stack prod: failed: 1 mandatory policy violation" in captured.out
    assert "pulumi preview failed:\nerror: preview failed: 1 mandatory policy violation" in captured.err
    assert (tmp_path / "step-summary.md").read_text().startswith("### ❌ `preview` on stack `prod`")


def test_refresh_through_a_fake_stack_is_a_drift_check(fake_engine, capsys):
    stack = FakeStack(REFRESH_WITH_DRIFT)
    opened = fake_engine(stack)
    assert cli.main(["refresh", "--stack", "prod"]) == 3
    assert opened == [("prod", False)]
    assert [name for name, _ in stack.calls] == ["preview_refresh"]
    assert "drifted resources: 2" in capsys.readouterr().out


def test_destroy_refuses_protected_resources_even_with_force(fake_engine, capsys):
    stack = FakeStack([], deployment={"resources": [
        {"urn": CLUSTER_URN, "type": "aws:rds/cluster:Cluster", "protect": True}]})
    fake_engine(stack)
    assert cli.main(["destroy", "--stack", "prod", "--force"]) == 1
    assert stack.calls == []  # destroy never started
    err = capsys.readouterr().err
    assert CLUSTER_URN in err and "pulumi state unprotect" in err


def test_destroy_of_an_unprotected_stack(fake_engine, capsys):
    events = [done(1, step("delete", KEY_URN, "aws:kms/key:Key")), summary(2, {"delete": 1})]
    stack = FakeStack(events, deployment={"resources": [{"urn": KEY_URN, "type": "aws:kms/key:Key"}]})
    fake_engine(stack)
    assert cli.main(["destroy", "--stack", "dev"]) == 0
    assert [name for name, _ in stack.calls] == ["destroy"]
    assert "changes: -1 delete" in capsys.readouterr().out


def test_recorded_events_round_trip_through_json():
    """The sequences above are the engine's JSON form: the same text the event log carries."""
    raw = json.dumps({"sequence": 1, "timestamp": 2, "resOutputsEvent": {"metadata": CLUSTER_UPDATE}})
    event = EngineEvent.from_json(json.loads(raw))
    assert event.res_outputs_event.metadata.op is OpType.UPDATE
    assert event.res_outputs_event.metadata.detailed_diff["backupRetentionPeriod"].diff_kind.value == "update"


# Readers that auto scaling adds (application-autoscaling-*) are not in the stack
# and block deleting their cluster; destroy says so and how to remove them, before it starts.
PROVIDER_URN = "urn:pulumi:dev::aurora-platform::pulumi:providers:aws::aws-us-east-2"
TARGET_URN = ("urn:pulumi:dev::aurora-platform::aurora-platform:database:AuroraCluster$"
              "aws:appautoscaling/target:Target::aurora-us-east-2-readers")
SCALED_DEPLOYMENT = {"resources": [
    {"urn": PROVIDER_URN, "type": "pulumi:providers:aws", "inputs": {"region": "us-east-2"}, "id": "p"},
    {"urn": TARGET_URN, "type": "aws:appautoscaling/target:Target", "provider": f"{PROVIDER_URN}::p",
     "outputs": {"serviceNamespace": "rds", "resourceId": "cluster:aurora-platform-dev-us-east-2",
                 "scalableDimension": "rds:cluster:ReadReplicaCount"}},
    {"urn": KEY_URN, "type": "aws:kms/key:Key"},
]}


def test_reader_scaling_targets_from_a_state_export():
    assert engine.reader_scaling_targets(SCALED_DEPLOYMENT) == [("aurora-platform-dev-us-east-2", "us-east-2")]
    assert engine.reader_scaling_targets({"resources": [{"urn": KEY_URN, "type": "aws:kms/key:Key"}]}) == []
    assert engine.reader_scaling_targets(None) == []


def test_destroy_with_reader_auto_scaling_says_to_remove_autoscaled_readers_first(fake_engine, capsys):
    stack = FakeStack([], deployment=SCALED_DEPLOYMENT)
    fake_engine(stack)
    assert cli.main(["destroy", "--stack", "dev"]) == 1
    assert stack.calls == []  # destroy never started: it would fail half-way at the cluster
    err = capsys.readouterr().err
    assert "reader auto scaling is on" in err and "application-autoscaling-" in err
    assert "aurora-platform:readerAutoScaling false" in err and "python -m deploy up" in err
    assert "aws rds delete-db-instance --region us-east-2" in err
    assert "Values=aurora-platform-dev-us-east-2" in err

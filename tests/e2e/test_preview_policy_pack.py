"""`pulumi preview --policy-pack` on the real engine: the engine runs the pack itself.

The committed stacks preview cleanly, and the violations the engine reports agree with
`deploy check`'s (same policies, same counts); an insecure program is blocked with every
mandatory policy named, and nothing is created.
"""

from __future__ import annotations

import collections
import json
import subprocess
import textwrap

import pytest

from tests.conftest import deploy_check
from tests.e2e.conftest import new_engine
from tests.e2e.realengine import cli_path, policy_events, preview_args

pytestmark = pytest.mark.e2e


def check_violations(stack: str) -> collections.Counter:
    result = deploy_check("--stack", stack, "--json", "--mode", "preview")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return collections.Counter(v["policy"] for v in report["violations"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_of_a_committed_stack_agrees_with_deploy_check(engine, stack, tmp_path):
    engine.init_stack(stack)
    log = tmp_path / "events.jsonl"
    preview = engine.pulumi(*preview_args(stack, log))
    assert preview.returncode == 0, preview.stdout + preview.stderr
    engine_counts = collections.Counter(e["policyName"] for e in policy_events(log))
    assert engine_counts == check_violations(stack)
    mandatory = [e for e in policy_events(log) if e["enforcementLevel"] == "mandatory"]
    assert mandatory == []
    # The plan is the whole program: every resource is a create.
    steps = [json.loads(line)["resourcePreEvent"]["metadata"] for line in log.read_text().splitlines()
             if "resourcePreEvent" in line]
    assert steps and {s["op"] for s in steps} == {"create"}


INSECURE_PROGRAM = '''\
"""Insecure on purpose: the policy pack must block every resource here."""
import pulumi_aws as aws

cluster = aws.rds.Cluster("open", engine="aurora-postgresql", engine_version="16.6", master_username="dbadmin",
                          master_password="not-a-real-password-1", storage_encrypted=False, skip_final_snapshot=True)
aws.rds.ClusterInstance("public", cluster_identifier=cluster.id, engine="aurora-postgresql",
                        instance_class="db.r7g.large", publicly_accessible=True)
aws.ec2.SecurityGroup("open", description="open to the world", ingress=[aws.ec2.SecurityGroupIngressArgs(
    protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=["0.0.0.0/0"])])
'''


def test_an_insecure_program_is_blocked_by_the_engine_and_nothing_is_created(pulumi_cli, tmp_path):
    engine = new_engine(tmp_path)
    program = engine.project / "insecure"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(textwrap.dedent("""\
        name: insecure-fixture
        runtime: python
        """))
    (program / "__main__.py").write_text(INSECURE_PROGRAM)
    (program / "Pulumi.test.yaml").write_text("config:\n  aws:region: us-east-1\n")
    pack = ["--policy-pack", str(engine.project / "policies"),
            "--policy-pack-config", str(engine.project / "policies" / "config" / "prod.json")]

    def pulumi(*argv):
        return subprocess.run([str(cli_path()), "--non-interactive", "--color", "never", *argv], cwd=program,
                              env=engine.env, text=True, capture_output=True, timeout=600)

    assert pulumi("stack", "init", "test").returncode == 0
    log = tmp_path / "events.jsonl"
    preview = pulumi("preview", "--stack", "test", *pack, "--event-log", str(log))
    assert preview.returncode != 0
    blocked = {e["policyName"] for e in policy_events(log) if e["enforcementLevel"] == "mandatory"}
    expected = {"rds-cluster-storage-encrypted", "rds-instance-not-public", "security-group-no-public-ingress",
                "rds-cluster-customer-managed-key"}
    assert expected <= blocked
    for name in expected:
        assert name in preview.stdout + preview.stderr

    up = pulumi("up", "--yes", "--stack", "test", *pack)
    assert up.returncode != 0
    exported = json.loads(pulumi("stack", "export", "--stack", "test").stdout)
    created = [r for r in exported["deployment"].get("resources") or []
               if r.get("custom") and not r["type"].startswith("pulumi:providers:")]
    assert created == []
    assert not any(engine.cloud.glob("*.json"))  # and the doubles' "cloud" holds nothing

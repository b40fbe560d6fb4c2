"""The engine commands through the real Automation API and the Pulumi CLI built by
scripts/build-pulumi-cli (a missing build fails these tests: the README's test command and
.ci/run build it first).

Needs no cloud account: a copy of the project uses a local file state backend in a temp
directory, and the operations run on stacks without cloud resources (a refresh and a
destroy of an empty stack; a destroy refused for a protected resource imported into the
state). The full driver on deployed stacks is in tests/e2e/test_driver.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.realengine import BUILD_HINT, cli_path, copy_project, engine_environment

pytestmark = [pytest.mark.automation, pytest.mark.e2e]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project with its own file backend; returns (project dir, environment)."""
    if not cli_path().is_file():
        pytest.fail(f"no Pulumi CLI at {cli_path()}: {BUILD_HINT}", pytrace=False)
    copy = copy_project(Path(__file__).resolve().parents[2], tmp_path / "project")
    env = engine_environment(tmp_path)
    # The Automation API in this process finds the CLI and the backend through the environment,
    # and nothing of the caller's own Pulumi or AWS setup (a Cloud token, a profile) leaks in.
    for key in list(os.environ):
        if key.startswith(("PULUMI_", "AWS_")) and key not in env:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return copy, env


def deploy(project_dir: Path, env: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deploy", *argv], cwd=project_dir, env=env, text=True,
                          capture_output=True, timeout=300)


def test_refresh_and_destroy_of_an_empty_stack(project):
    from pulumi import automation as auto

    project_dir, env = project
    auto.create_or_select_stack("dev", work_dir=str(project_dir))
    refresh = deploy(project_dir, env, "refresh", "--stack", "dev")
    assert refresh.returncode == 0, refresh.stdout + refresh.stderr
    assert "refresh on stack dev: no drift" in refresh.stdout
    destroy = deploy(project_dir, env, "destroy", "--stack", "dev")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr


def test_destroy_refuses_a_protected_resource_in_the_real_state(project):
    from pulumi import automation as auto

    project_dir, env = project
    stack = auto.create_or_select_stack("dev", work_dir=str(project_dir))
    exported = stack.export_stack()
    deployment = dict(exported.deployment or {})
    root = "urn:pulumi:dev::aurora-platform::pulumi:pulumi:Stack::aurora-platform-dev"
    guarded = "urn:pulumi:dev::aurora-platform::aurora-platform:test:Guarded::guarded"
    deployment["resources"] = [
        {"urn": root, "type": "pulumi:pulumi:Stack", "custom": False},
        {"urn": guarded, "type": "aurora-platform:test:Guarded", "custom": False, "parent": root, "protect": True},
    ]
    deployment.setdefault("manifest", {"time": "2024-01-01T00:00:00Z", "magic": "", "version": ""})
    stack.import_stack(auto.Deployment(version=exported.version or 3, deployment=deployment))
    result = deploy(project_dir, env, "destroy", "--stack", "dev")
    assert result.returncode == 1
    assert guarded in result.stderr and "pulumi state unprotect --stack dev" in result.stderr

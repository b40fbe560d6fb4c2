"""The engine commands through the real Automation API and Pulumi CLI.

Runs only where a ``pulumi`` binary is on PATH (skipped otherwise, with the reason in the
test summary). Needs no cloud account: a copy of the project uses a local file state
backend in a temp directory, and the operations run on stacks without cloud resources
(a refresh and a destroy of an empty stack; a destroy refused for a protected resource
imported into the state).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.stack_config import PROJECT_DIR

pytestmark = [
    pytest.mark.automation,
    pytest.mark.skipif(shutil.which("pulumi") is None,
                       reason="no `pulumi` binary on PATH: the Automation API drives the Pulumi CLI "
                              "(install: https://www.pulumi.com/docs/install/)"),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project with its own file backend; returns (project dir, environment)."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(p.name for p in PROJECT_DIR.glob("Pulumi.*.yaml"))):
        shutil.copy2(PROJECT_DIR / name, copy / name)
    for name in ("components", "deploy", "policies"):
        if (PROJECT_DIR / name).is_dir():
            shutil.copytree(PROJECT_DIR / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / ".venv").symlink_to(PROJECT_DIR / ".venv")
    env = {**os.environ, "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "PULUMI_CONFIG_PASSPHRASE": "test",
           "PULUMI_SKIP_UPDATE_CHECK": "true"}
    (tmp_path / "state").mkdir()
    for key in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK"):
        monkeypatch.setenv(key, env[key])
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

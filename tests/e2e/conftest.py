"""Fixtures of the real-engine tier (marker ``e2e``): see realengine.py."""

from __future__ import annotations

import pytest

from tests.e2e.realengine import (
    BUILD_HINT,
    PROJECT_DIR,
    Engine,
    attach_policy_pack,
    cli_path,
    copy_project,
    engine_environment,
)


@pytest.fixture(scope="session")
def pulumi_cli():
    # A missing CLI is an error, not a skip: the README's test command and .ci/run build it first.
    if not cli_path().is_file():
        pytest.fail(f"no Pulumi CLI at {cli_path()}: {BUILD_HINT}", pytrace=False)
    return cli_path()


def new_engine(root, source=PROJECT_DIR) -> Engine:
    project = copy_project(source, root / "project")
    return Engine(project=project, env=attach_policy_pack(engine_environment(root), project / "policies"))


@pytest.fixture
def engine(pulumi_cli, tmp_path) -> Engine:
    """A fresh copy of the project on its own backend and its own doubles' cloud."""
    return new_engine(tmp_path)

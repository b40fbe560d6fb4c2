"""Fixtures of the real-engine tier (marker ``e2e``): see realengine.py.

A deployment is the slow part of this tier, so dev is deployed once per session
(``deployed_dev_once``) and each test that starts from a deployed dev gets its own copy of
it (``deployed_dev``): the project, the state backend and the doubles' cloud, all in the
test's temp directory. The tests that use it carry ``xdist_group(DEPLOYED_DEV)`` so that,
with pytest-xdist, they run on the worker that deployed it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.realengine import (
    BUILD_HINT,
    PROJECT_DIR,
    Engine,
    assert_ok,
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


DEPLOYED_DEV = "e2e-deployed-dev"


def new_engine(root, source=PROJECT_DIR) -> Engine:
    copy_project(source, root / "project")
    return engine_at(root)


def engine_at(root: Path) -> Engine:
    """The engine of a test directory laid out by ``new_engine`` (project, state, cloud, Pulumi home)."""
    project = root / "project"
    return Engine(project=project, env=attach_policy_pack(engine_environment(root), project / "policies"))


@pytest.fixture(scope="session")
def deployed_dev_once(pulumi_cli, tmp_path_factory) -> Path:
    """dev previewed and deployed by the driver once per session; the directory it lives in.

    The preview creates nothing and runs the policy pack; the deployment creates one cluster.
    """
    root = tmp_path_factory.mktemp("deployed-dev")
    engine = new_engine(root)
    preview = assert_ok(engine.deploy("preview", "--stack", "dev"))
    assert "with policy pack" in preview.stdout
    assert engine.custom_resources("dev") == []  # a preview creates nothing
    assert_ok(engine.deploy("up", "--stack", "dev"))
    clusters = [r for r in engine.custom_resources("dev") if r["type"] == "aws:rds/cluster:Cluster"]
    assert len(clusters) == 1 and clusters[0]["outputs"]["endpoint"].endswith(".rds.amazonaws.com")
    return root


@pytest.fixture
def deployed_dev(deployed_dev_once, tmp_path) -> Engine:
    """This test's own copy of the deployed dev: it may change, refresh or destroy it."""
    root = tmp_path / "deployed-dev"
    shutil.copytree(deployed_dev_once, root, symlinks=True)
    return engine_at(root)


@pytest.fixture
def engine(pulumi_cli, tmp_path) -> Engine:
    """A fresh copy of the project on its own backend and its own doubles' cloud."""
    return new_engine(tmp_path)

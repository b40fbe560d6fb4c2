"""Shared fixtures: the program captured on the mock engine for the committed stacks."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from deploy.offline.capture import Capture, run_program  # noqa: E402


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Keep ``--dist loadgroup`` grouping (pyproject.toml): a test marked ``xdist_group(name)`` runs
    on the same worker as the others of its group, which share a session fixture (an e2e deployment).

    pytest-xdist 3.8 tells its scheduler a test's group by appending ``@name`` to the node id in the
    worker, through an attribute pytest 9.2 no longer reads (pytest-dev/pytest-xdist#1386), so the
    groups were silently spread over the workers. This appends it to the id pytest 9.2 reads; a test
    whose id already ends with its group (an xdist that does it itself) is left alone.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(item.nodeid + suffix)


def captured(stack: str, mode: str = "update", overrides: Mapping[str, str] | None = None) -> Capture:
    """The stack's program on the mock engine, with ``overrides`` (the engine's string form) laid over
    its stack file, as ``run_program`` runs it. Cached per process (per pytest-xdist worker): the
    program is deterministic, so the tests that ask for the same stack, mode and overrides share one
    run. The capture is shared: read it, or deep-copy it to change it."""
    return _captured(stack, mode, tuple(sorted((overrides or {}).items())))


@functools.cache
def _captured(stack: str, mode: str, overrides: tuple[tuple[str, str], ...]) -> Capture:
    return run_program(stack, mode, overrides=dict(overrides))


@pytest.fixture(scope="session")
def dev() -> Capture:
    return captured("dev", "update")


@pytest.fixture(scope="session")
def prod() -> Capture:
    return captured("prod", "update")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_capture(request) -> Capture:
    return captured(request.param, "update")

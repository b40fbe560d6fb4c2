"""Shared fixtures: the program captured on the mock engine for the committed stacks."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from deploy.offline.capture import Capture, run_program  # noqa: E402

T = TypeVar("T")


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
    its stack file, as ``run_program`` runs it. The program is deterministic, so the tests that ask for
    the same stack, mode and overrides share one run per test session: cached in the process, and
    between pytest-xdist workers through a file (see ``_captures_shared_by_the_workers``). The capture
    is shared: read it, or deep-copy it to change it."""
    return _captured(stack, mode, tuple(sorted((overrides or {}).items())))


_SHARED_CAPTURES: list[Path] = []  # the directory the workers of this run keep captures and reports in


@pytest.fixture(scope="session", autouse=True)
def _captures_shared_by_the_workers(tmp_path_factory) -> None:
    """With pytest-xdist, a worker's temp root is a directory of the run's own (``popen-gw<n>``):
    the workers share captures in their common parent, so a stack runs once per run, not per worker."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "captures"
        shared.mkdir(exist_ok=True)
        _SHARED_CAPTURES[:] = [shared]


@functools.cache
def _captured(stack: str, mode: str, overrides: tuple[tuple[str, str], ...]) -> Capture:
    return _once_per_run(("capture", stack, mode, overrides), lambda: run_program(stack, mode, overrides=dict(overrides)))


@functools.cache
def deploy_check(*argv: str) -> subprocess.CompletedProcess:
    """``python -m deploy check ARGV`` as a user runs it, from the project directory; run once per test
    session for the same arguments (the report is deterministic) and shared like ``captured``."""
    return _once_per_run(("deploy check", *argv), lambda: subprocess.run(
        [sys.executable, "-m", "deploy", "check", *argv], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300))


def _once_per_run(key: tuple, compute: Callable[[], T]) -> T:
    if not _SHARED_CAPTURES:
        return compute()
    path = _SHARED_CAPTURES[0] / hashlib.sha256(repr(key).encode()).hexdigest()
    # One worker computes; a worker asking for the same key meanwhile waits for its file.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.with_suffix(".partial").write_bytes(pickle.dumps(value))
        path.with_suffix(".partial").rename(path)
        return value


@pytest.fixture(scope="session")
def dev() -> Capture:
    return captured("dev", "update")


@pytest.fixture(scope="session")
def prod() -> Capture:
    return captured("prod", "update")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_capture(request) -> Capture:
    return captured(request.param, "update")

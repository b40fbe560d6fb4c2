"""Shared fixtures: the program captured on the mock engine for the committed stacks."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from deploy.offline.capture import Capture, run_program  # noqa: E402


@functools.cache
def captured(stack: str, mode: str = "update") -> Capture:
    """The committed stack's program on the mock engine (cached: the program is deterministic)."""
    if mode == "update":  # the change matrix's base: one capture per process for both
        from deploy.offline.change_matrix import base_capture

        return base_capture(stack)
    return run_program(stack, mode)


@pytest.fixture(scope="session")
def dev() -> Capture:
    return captured("dev", "update")


@pytest.fixture(scope="session")
def prod() -> Capture:
    return captured("prod", "update")


@pytest.fixture(scope="session", params=["dev", "prod"])
def stack_capture(request) -> Capture:
    return captured(request.param, "update")

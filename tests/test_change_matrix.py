"""The change matrix: every setting's example change on every committed stack does what its declaration
says, nothing replaces or deletes a stateful resource or clashes on a name unless the change is refused
with the declared reason, and docs/changing-settings.md is the matrix as it is now.

One test per (stack, setting), so that pytest-xdist spreads them; each process captures a stack's base
once (deploy/offline/change_matrix.py caches it) and each head once. Under xdist the workers leave each
outcome in the run's shared temporary directory, and the document's test reuses them.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest

from deploy.offline import change_matrix, diff_rules
from deploy.offline.change_matrix import STACKS, Outcome

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOCUMENT = PROJECT_DIR / "docs" / "changing-settings.md"

CASES = [(stack, setting.key) for stack in STACKS for setting in change_matrix.example_settings()]


def _shared_dir(tmp_path_factory) -> Path | None:
    """Under pytest-xdist: a directory all workers of this run share (None without xdist)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    shared = tmp_path_factory.getbasetemp().parent / "change-matrix"
    shared.mkdir(exist_ok=True)
    return shared


def _outcome(stack: str, key: str, shared: Path | None) -> Outcome:
    path = shared / f"{stack}-{key}.json" if shared else None
    if path is not None and path.is_file():
        return Outcome.from_json(json.loads(path.read_text()))
    result = change_matrix.outcome(stack, key)
    if path is not None:
        scratch = path.with_suffix(f".{os.getpid()}")
        scratch.write_text(json.dumps(result.to_json()))
        scratch.replace(path)  # whole or absent for the other workers
    return result


@pytest.mark.parametrize("stack,key", [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in CASES])
def test_an_example_change_does_what_its_declaration_says(stack, key, tmp_path_factory):
    result = _outcome(stack, key, _shared_dir(tmp_path_factory))
    assert change_matrix.problems(result) == []


def test_a_refused_declaration_gives_its_reason_and_every_class_is_known():
    for setting in change_matrix.example_settings():
        for declared in [setting.change, *(setting.change_on or {}).values()]:
            kind, _, reason = declared.partition(":")
            assert kind in change_matrix.CLASSES, (setting.key, declared)
            assert (kind == "refused") == bool(reason.strip()), (setting.key, declared)
        assert set(setting.change_on or {}) <= set(STACKS), setting.key


def test_the_clash_wording_is_deploy_diffs():
    """Clashes are told apart from other errors by diff_rules' wording: a rewording must not hide them."""
    assert change_matrix.CLASH in inspect.getsource(diff_rules._clash_message)


def test_a_stateful_replacement_fails_the_matrix_unless_refused_with_its_reason():
    refused = Outcome("dev", "engine", '"a"', '"b"', False, "refused: fixed at creation", kind="refused",
                      refused_by="deploy diff", messages=["x (Cluster) ... are fixed at creation: a new stack"],
                      stateful=["x (Cluster)"])
    assert change_matrix.problems(refused) == []
    assert change_matrix.problems(Outcome(**{**refused.to_json(), "expected": "in-place"}))
    assert change_matrix.problems(Outcome(**{**refused.to_json(), "expected": "refused: the wrong reason"}))
    assert change_matrix.problems(Outcome(**{**refused.to_json(), "clashes": ["x-ro (ProxyEndpoint)"]}))


def test_the_document_is_the_matrix(tmp_path_factory):
    """docs/changing-settings.md is generated: `scripts/change-matrix` rewrites it."""
    shared = _shared_dir(tmp_path_factory)
    outcomes = [_outcome(stack, key, shared) for stack, key in CASES]
    assert DOCUMENT.read_text() == change_matrix.render(outcomes), "stale: run scripts/change-matrix"

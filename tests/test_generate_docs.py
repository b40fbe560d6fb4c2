"""scripts/generate-docs: Pulumi.yaml's config block and the README's settings, policy and outputs
tables are generated from their sources, and `--check` fails when a document drifts from them."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import subprocess
import types

import pytest

from deploy.offline.stack_config import PROJECT_DIR, available_stacks
from tests.conftest import captured

SCRIPT = PROJECT_DIR / "scripts" / "generate-docs"


def _load_script():
    loader = importlib.machinery.SourceFileLoader("generate_docs", str(SCRIPT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("generate_docs", loader))
    loader.exec_module(module)
    return module


generate_docs = _load_script()


def committed():
    return [captured(stack, "update") for stack in available_stacks()]


@pytest.fixture
def copy(tmp_path):
    for name in ("Pulumi.yaml", "README.md"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    return tmp_path


def test_check_passes_on_the_committed_documents():
    result = subprocess.run([str(SCRIPT), "--check"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


# (document, generated text, hand edit)
HAND_EDITS = [
    ("README.md", "| `readerCount` | integer | `2` |", "| `readerCount` | integer | `3` |"),
    ("README.md", "| `rds-cluster-final-snapshot` | resource |", "| `rds-cluster-final-snapshot` | stack |"),
    ("README.md", "| `kmsKeyArn` | the primary region's key |", "| `kmsKeyArn` | the key |"),
    ("README.md", "| `regions.<region>.parameterGroups` |", "| `regions.<region>.parameterGroup` |"),
    ("README.md", "| `secondaryRegions[].instances` | integer | `1` | 0 to 16 |", "| `secondaryRegions[].instances` | integer | `1` | 0 to 15 |"),
    ("Pulumi.yaml", "  readerCount:\n    type: integer\n    default: 2\n", "  readerCount:\n    type: integer\n    default: 3\n"),
]


@pytest.mark.parametrize("name,generated,edited", HAND_EDITS, ids=[e[2][:40] for e in HAND_EDITS])
def test_a_hand_edit_of_a_generated_text_fails_the_check(copy, capsys, name, generated, edited):
    text = (copy / name).read_text()
    assert generated in text
    (copy / name).write_text(text.replace(generated, edited, 1))
    assert generate_docs.main(["--check", "--root", str(copy)], captures=committed()) == 1
    assert f"{name} is stale: run scripts/generate-docs" in capsys.readouterr().err
    # Generating again restores the document.
    assert generate_docs.main(["--root", str(copy)], captures=committed()) == 0
    assert (copy / name).read_text() == text


def test_missing_markers_are_named(copy, capsys):
    readme = copy / "README.md"
    readme.write_text(readme.read_text().replace("<!-- end of generated policies -->", ""))
    assert generate_docs.main(["--check", "--root", str(copy)], captures=committed()) == 1
    assert "markers of the generated policies table are missing" in capsys.readouterr().err


def test_an_export_without_a_description_fails():
    fake = types.SimpleNamespace(outputs={"newOutput": "x", "regions": {"us-east-1": {"newField": 1}}})
    problems = generate_docs.output_problems([*committed(), fake])
    assert problems == [
        "the program exports the output 'newOutput', which components/outputs.py does not describe",
        "the program exports the regions field 'newField', which components/outputs.py does not describe",
    ]


def test_a_description_of_nothing_exported_fails():
    only_dev = [captured("dev", "update")]
    problems = generate_docs.output_problems(only_dev)
    assert "components/outputs.py describes the output 'globalClusterIdentifier', which no committed stack exports" in problems


def test_policy_table_lists_every_policy_with_its_external_ids():
    import aurora_policies

    table = generate_docs.policy_table()
    for policy in aurora_policies.ALL_POLICIES:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{policy.name}` |"))
        _, _, ids = policy.description.partition(" External controls: ")
        assert all(i.strip() in row for i in ids.rstrip(".").split(",") if i.strip()), policy.name

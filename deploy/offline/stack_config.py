"""Read a stack's committed configuration the way the Pulumi engine hands it to the program."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
# libyaml's loader where PyYAML was built with it: the same documents, parsed about seven times faster
# (Pulumi.yaml's generated config block is read on every run of the program).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


EXAMPLES = "examples"


class UnknownStackError(Exception):
    """No ``Pulumi.<stack>.yaml`` in the project or in its examples."""


def _stacks_in(directory: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def available_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The project's stacks, then the example stacks of ``examples/`` that no project stack shadows."""
    stacks = _stacks_in(project_dir)
    return stacks + [name for name in _stacks_in(project_dir / EXAMPLES) if name not in stacks]


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """``Pulumi.<stack>.yaml`` of the project root, else of ``examples/``; UnknownStackError when neither has it."""
    for directory in (project_dir, project_dir / EXAMPLES):
        path = directory / f"Pulumi.{stack}.yaml"
        if path.is_file():
            return path
    stacks = _stacks_in(project_dir)
    examples = [f"{name} (example)" for name in _stacks_in(project_dir / EXAMPLES) if name not in stacks]
    known = ", ".join(stacks + examples) or "none"
    raise UnknownStackError(f"unknown stack {stack!r}: there is no Pulumi.{stack}.yaml (stacks: {known})")


def engine_form(value: Any) -> str:
    """The engine passes every config value to the program as a string; objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def read_yaml(path: Path) -> Any:
    """A YAML file as ``yaml.safe_load`` reads it."""
    return yaml.load(path.read_text(), Loader=_YAML_LOADER)


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    return read_yaml(project_dir / "Pulumi.yaml")["name"]


def load_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """Pulumi.yaml defaults overlaid with Pulumi.<stack>.yaml (root or examples/), keys fully qualified, values strings."""
    path = stack_file(stack, project_dir)
    project = read_yaml(project_dir / "Pulumi.yaml")
    name = project["name"]
    config: dict[str, str] = {}
    for key, declaration in (project.get("config") or {}).items():
        full_key = key if ":" in key else f"{name}:{key}"
        default = declaration.get("default") if isinstance(declaration, dict) else declaration
        if default is not None:
            config[full_key] = engine_form(default)
    for key, value in ((read_yaml(path) or {}).get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue  # encrypted values need the stack's secrets provider; the program sees them unset here
        config[key] = engine_form(value)
    return config

"""The real Pulumi engine for the tests: the CLI built by scripts/build-pulumi-cli, the
provider doubles on PATH, a local file backend and the passphrase secrets provider.

Each project runs from a copy in a temporary directory, because the CLI writes into the
stack files (the passphrase provider's salt, ``pulumi config set``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
TOOLS_BIN = PROJECT_DIR / ".tools" / "bin"
PROVIDER_DOUBLES = Path(__file__).resolve().parent / "providers"
BUILD_HINT = "run scripts/build-pulumi-cli (it builds the Pulumi CLI from Go module source into .tools/bin)"


def cli_path() -> Path:
    return TOOLS_BIN / "pulumi"


def engine_environment(home: Path) -> dict[str, str]:
    """The environment of every CLI, Automation API and driver call of a test."""
    state, cloud = home / "state", home / "cloud"
    state.mkdir(parents=True, exist_ok=True)
    python_bin = Path(sys.executable).parent
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))},
        "PATH": os.pathsep.join([str(TOOLS_BIN), str(PROVIDER_DOUBLES), str(python_bin), os.environ.get("PATH", "")]),
        "PULUMI_HOME": str(home / ".pulumi"),
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e-tests-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The tests read a stack's state after a command, never during one: the engine writes the final
        # checkpoint only, not one after every step (each of which rewrites the whole state file; 40% of a prod `up`).
        "PULUMI_SKIP_CHECKPOINTS": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The CLI takes --event-log (the engine's event stream, as the Automation API reads it)
        # only with debug commands on; the tests' own `pulumi preview` calls use it.
        "PULUMI_DEBUG_COMMANDS": "true",
        # The language host built here runs the interpreter named here (see the script for why a wrapper).
        "PULUMI_PYTHON_CMD": str(Path(__file__).resolve().parent / "python-for-language-host"),
        "AURORA_E2E_PYTHON": sys.executable,
        "AURORA_DOUBLE_STATE_DIR": str(cloud),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def attach_policy_pack(env: dict[str, str], pack: Path) -> dict[str, str]:
    return {**env, "AURORA_POLICY_PACK_DIR": str(pack)}


def copy_project(source: Path, destination: Path) -> Path:
    """The program, its stack files, the driver and the policy pack, without caches or virtualenvs."""
    ignore = shutil.ignore_patterns("__pycache__", "venv", ".venv", ".tools", ".git", "*.pyc")
    shutil.copytree(source, destination, ignore=ignore, dirs_exist_ok=True)
    return destination


@dataclass
class Engine:
    """One test's engine: a project copy and the environment around it."""

    project: Path
    env: dict[str, str]

    @property
    def cloud(self) -> Path:
        return Path(self.env["AURORA_DOUBLE_STATE_DIR"])

    def pulumi(self, *argv: str, check: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
        result = subprocess.run([str(cli_path()), "--non-interactive", "--color", "never", *argv], cwd=self.project,
                                env=self.env, text=True, capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def deploy(self, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return self.python("-m", "deploy", *argv, timeout=timeout)

    def python(self, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *argv], cwd=self.project, env=self.env, text=True,
                              capture_output=True, timeout=timeout)

    def init_stack(self, stack: str) -> None:
        self.pulumi("stack", "init", stack, check=True)

    def resources(self, stack: str) -> list[dict[str, Any]]:
        exported = json.loads(self.pulumi("stack", "export", "--stack", stack, check=True).stdout)
        return exported.get("deployment", {}).get("resources") or []

    def custom_resources(self, stack: str) -> list[dict[str, Any]]:
        return [r for r in self.resources(stack) if r.get("custom") and not r["type"].startswith("pulumi:providers:")]


def assert_ok(result: subprocess.CompletedProcess, code: int = 0) -> subprocess.CompletedProcess:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def policy_events(event_log: Path) -> list[dict[str, Any]]:
    """The policy violations of an engine event log (``--event-log``), one per violation."""
    events = [json.loads(line) for line in event_log.read_text().splitlines() if line.strip()]
    return [e["policyEvent"] for e in events if "policyEvent" in e]


def preview_args(stack: str, event_log: Path) -> list[str]:
    """``pulumi preview`` as engineers run it: the pack and the stack's policy config attached."""
    return ["preview", "--stack", stack, "--policy-pack", "policies",
            "--policy-pack-config", f"policies/config/{stack}.json", "--event-log", str(event_log)]

"""Builders for fixture resources and a view of the real pack configured for one stack at a time."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[2]
POLICY_CONFIG_DIR = PROJECT_DIR / "policies" / "config"
for path in (PROJECT_DIR, PROJECT_DIR / "policies"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from deploy.offline.analyzer import UNKNOWN, PolicyAnalyzer, Violation  # noqa: E402
from deploy.offline.capture import CapturedResource  # noqa: E402

# The resilience (and audit logging) rules that dev relaxes to advisory; everything else is mandatory in every stack.
DEV_ADVISORY = frozenset(
    {
        "rds-cluster-deletion-protection",
        "rds-cluster-backup-retention",
        "rds-cluster-final-snapshot",
        "rds-cluster-multi-az",
        "rds-performance-insights-enabled",
        "rds-enhanced-monitoring",
        "stateful-resources-protected",
        "rds-instance-class-allowed",
        "rds-cluster-backup-plan",
        "backup-vault-locked",
        "rds-cluster-audit-logging",
    }
)

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1f2e3d4c-0000-4000-8000-000000000001"
WEST_KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/1f2e3d4c-0000-4000-8000-000000000002"
ROLE_ARN = "arn:aws:iam::123456789012:role/rds-monitoring"


def expected_level(stack: str, policy: str) -> str:
    return "advisory" if stack == "dev" and policy in DEV_ADVISORY else "mandatory"


@dataclass
class Resource:
    """A captured resource, in the shape of ``deploy.offline.capture.CapturedResource``."""

    type: str
    name: str
    urn: str
    custom: bool = True
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    provider: str | None = None
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    outputs: dict[str, Any] | None = None,
    deps: dict[str, list[Resource]] | None = None,
    protect: bool = False,
    provider: Resource | None = None,
) -> Resource:
    """A fixture resource; ``deps`` maps a property to the resources its value came from."""
    property_dependencies = {key: [dep.urn for dep in values] for key, values in (deps or {}).items()}
    return Resource(
        type=type_,
        name=name,
        urn=f"urn:pulumi:test::aurora-platform::{type_}::{name}",
        custom=not type_.startswith("aurora-platform:"),
        inputs=dict(inputs or {}),
        outputs=dict(outputs or {}),
        protect=protect,
        provider=f"{provider.urn}::{name}-provider-id" if provider is not None else None,
        dependencies=sorted({urn for urns in property_dependencies.values() for urn in urns}),
        property_dependencies=property_dependencies,
    )


def aws_provider(name: str, region: str) -> Resource:
    return resource("pulumi:providers:aws", name, {"region": region}, outputs={"region": region})


def of(violations: list[Violation], policy: str) -> list[Violation]:
    return [violation for violation in violations if violation.policy == policy]


class StackPack:
    """The pack configured with one stack's policy config at a time."""

    def __init__(self, analyzer: PolicyAnalyzer):
        self.analyzer = analyzer
        self.stack: str | None = None

    def use(self, stack: str) -> None:
        if stack != self.stack:
            self.analyzer.configure(POLICY_CONFIG_DIR / f"{stack}.json")
            self.stack = stack

    def analyze(self, stack: str, *resources: CapturedResource) -> list[Violation]:
        self.use(stack)
        return _without_downgrades(self.analyzer.analyze(list(resources)))

    def analyze_stack(self, stack: str, *resources: CapturedResource) -> list[Violation]:
        self.use(stack)
        return _without_downgrades(self.analyzer.analyze_stack(list(resources)))

    def use_only(self, stack: str, policy: str) -> None:
        """The stack's policy config with every other stack policy disabled: ``policy`` keeps its level
        and properties. The pack runs each enabled stack policy over every resource, so a question for
        one policy costs a tenth of the whole pack's answer."""
        key = f"{stack}:{policy}"
        if key == self.stack:
            return
        config = json.loads((POLICY_CONFIG_DIR / f"{stack}.json").read_text())
        for other in self.analyzer.get_analyzer_info().policies:
            if other.policy_type == "stack" and other.name != policy:
                entry = config.get(other.name)
                config[other.name] = {**(entry if isinstance(entry, dict) else {}), "enforcementLevel": "disabled"}
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
            json.dump(config, file)
            file.flush()
            self.analyzer.configure(file.name)
        self.stack = key

    def analyze_stack_for(self, stack: str, policy: str, *resources: CapturedResource) -> list[Violation]:
        """AnalyzeStack with only ``policy`` of the stack policies enabled (see ``use_only``)."""
        self.use_only(stack, policy)
        return _without_downgrades(self.analyzer.analyze_stack(list(resources)))


def _without_downgrades(violations: list[Violation]) -> list[Violation]:
    """Every answer of the pack is checked for pulumi_policy's "can't run during preview" notice."""
    downgraded = [v for v in violations if "can't run policy" in v.message or "during preview:" in v.message]
    assert not downgraded, f"policies were downgraded to an advisory preview notice: {downgraded}"
    return violations


__all__ = [
    "DEV_ADVISORY",
    "KEY_ARN",
    "ROLE_ARN",
    "UNKNOWN",
    "WEST_KEY_ARN",
    "PolicyAnalyzer",
    "Resource",
    "StackPack",
    "Violation",
    "aws_provider",
    "expected_level",
    "of",
    "resource",
]

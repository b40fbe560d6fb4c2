"""How a rule becomes a CrossGuard policy: one small check function per control.

A resource check receives a ``ResourceView`` (plain properties, never the unknown
proxy) and the policy's configuration with schema defaults filled in, and yields one
message per violation. A stack check receives a ``StackView`` and yields
``(message, urn)`` pairs. Each rule module declares its policies as a table of
``Rule`` rows; ``resource_policies`` and ``stack_policies_of`` turn a table into
policies and add what every policy carries: a description naming the resource types
and the external control ids, the resource type filter and the configuration defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._views import ResourceView, StackView, view_of_args

ResourceCheck = Callable[[ResourceView, Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[StackView, Mapping[str, Any]], Iterable[tuple[str, str]]]

HIGH, MEDIUM, LOW = Severity.HIGH, Severity.MEDIUM, Severity.LOW


@dataclass(frozen=True)
class Rule:
    """One row of a policy table: Rule(name, resource types, severity, tags, summary, external ids, check).

    ``resource_types`` are the types the policy checks, ``summary`` is what must hold,
    ``external_ids`` are the Checkov / AWS Config controls it stands for, ``check`` finds
    the violations and ``config`` is the policy's configuration schema, if it has one.
    """

    name: str
    resource_types: Sequence[str]
    severity: Severity
    tags: Sequence[str]
    summary: str
    external_ids: Sequence[str]
    check: ResourceCheck | StackCheck
    config: PolicyConfigSchema | None = None

    @property
    def description(self) -> str:
        return describe(self.summary, self.resource_types, self.external_ids)

    def with_defaults(self, config: Mapping[str, Any] | None) -> dict[str, Any]:
        return config_with_defaults(config, self.config)


def describe(summary: str, resource_types: Sequence[str], external_ids: Sequence[str]) -> str:
    text = f"{summary} Checks {', '.join(resource_types)}."
    if external_ids:
        text += f" External controls: {', '.join(external_ids)}."
    return text


def config_with_defaults(config: Mapping[str, Any] | None, schema: PolicyConfigSchema | None) -> dict[str, Any]:
    """The policy's configuration with the schema's defaults for anything not configured.

    The engine fills in defaults before it calls Configure; repeating it here keeps a
    policy's behaviour the same when the pack runs without any configuration.
    """
    result: dict[str, Any] = {}
    if schema is not None:
        for key, spec in schema.properties.items():
            if "default" in spec:
                result[key] = spec["default"]
    result.update(config or {})
    return result


def settings(**properties: Mapping[str, Any]) -> PolicyConfigSchema:
    """A policy's configuration schema: one JSON schema per configurable key."""
    return PolicyConfigSchema(properties=properties)


def integer(minimum: int, maximum: int, default: int, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default}
    if description is not None:
        schema["description"] = description
    return schema


def strings(default: list[str], description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


def _policy(kind: type, rule: Rule, validate: Callable[..., None]) -> Any:
    return kind(
        name=rule.name,
        description=rule.description,
        validate=validate,
        config_schema=rule.config,
        severity=rule.severity,
        tags=list(rule.tags),
    )


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    types = frozenset(rule.resource_types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        for message in rule.check(view_of_args(args), rule.with_defaults(args.get_config())):
            report_violation(message, args.urn)

    return _policy(ResourceValidationPolicy, rule, validate)


def stack_policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in rule.check(StackView.of_args(args), rule.with_defaults(args.get_config())):
            report_violation(message, urn)

    return _policy(StackValidationPolicy, rule, validate)


def resource_policies(*rules: Rule) -> list[ResourceValidationPolicy]:
    return [resource_policy(rule) for rule in rules]


def stack_policies_of(*rules: Rule) -> list[StackValidationPolicy]:
    return [stack_policy(rule) for rule in rules]

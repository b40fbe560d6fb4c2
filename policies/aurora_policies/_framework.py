"""How a rule becomes a CrossGuard policy: one small check function per control.

A resource check receives a ``ResourceView`` (plain properties, never the unknown
proxy) and the policy's configuration with schema defaults filled in, and yields one
message per violation. A stack check receives a ``StackView`` and yields
``(message, urn)`` pairs. The factories add what every policy carries: a description
naming the resource types and the external control ids, the resource type filter and
the configuration defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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


def resource_policy(
    *,
    name: str,
    summary: str,
    resource_types: Sequence[str],
    check: ResourceCheck,
    external_ids: Sequence[str] = (),
    severity: Severity = Severity.HIGH,
    tags: Sequence[str] = (),
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    types = frozenset(resource_types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        config = config_with_defaults(args.get_config(), config_schema)
        for message in check(view_of_args(args), config):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(
        name=name,
        description=describe(summary, resource_types, external_ids),
        validate=validate,
        config_schema=config_schema,
        severity=severity,
        tags=list(tags),
    )


def stack_policy(
    *,
    name: str,
    summary: str,
    resource_types: Sequence[str],
    check: StackCheck,
    external_ids: Sequence[str] = (),
    severity: Severity = Severity.HIGH,
    tags: Sequence[str] = (),
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = config_with_defaults(args.get_config(), config_schema)
        for message, urn in check(StackView.of_args(args), config):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name,
        description=describe(summary, resource_types, external_ids),
        validate=validate,
        config_schema=config_schema,
        severity=severity,
        tags=list(tags),
    )

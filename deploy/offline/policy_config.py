"""Policy pack config, as the Pulumi engine reads it (``--policy-pack-config``) and reconciles it
with what the pack declares: enforcement levels and properties checked against each policy's schema."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploy.offline.analyzer import AnalyzerInfo

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")


@dataclass(frozen=True)
class PolicyConfig:
    enforcement_level: str  # "" when a config entry names no level
    properties: Mapping[str, Any] = field(default_factory=dict)


class PolicyConfigError(ValueError):
    """A policy config file the engine would refuse; the message says which entry and why."""



# --- policy config, as the engine reads and reconciles it ----------------------------------


def load_policy_config(path: str | os.PathLike[str]) -> dict[str, PolicyConfig]:
    """Parse a ``--policy-pack-config`` file the way the engine does (LoadPolicyPackConfigFromFile).

    Each value is an enforcement level string or an object with an optional
    ``enforcementLevel`` and the policy's properties; entries with neither are dropped.
    """
    text = Path(path).read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path}: must be a JSON object keyed by policy name")
    result: dict[str, PolicyConfig] = {}
    for key, value in document.items():
        if isinstance(value, str):
            result[key] = PolicyConfig(_valid_level(path, key, value))
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", "")
            if not isinstance(level, str):
                raise PolicyConfigError(f"{path}: {key}: enforcementLevel {level!r} must be a string")
            if level:
                _valid_level(path, key, level)
            if level or properties:
                result[key] = PolicyConfig(level, properties)
        else:
            raise PolicyConfigError(f"{path}: {key}: {value!r} is not a valid value; must be a string or object")
    return result


def _valid_level(path: str | os.PathLike[str], key: str, level: str) -> str:
    if level not in ENFORCEMENT_LEVELS:
        raise PolicyConfigError(
            f"{path}: {key}: {level!r} is not a valid enforcement level (one of {', '.join(ENFORCEMENT_LEVELS)})"
        )
    return level


def reconcile_policy_config(info: AnalyzerInfo, config: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    """The configuration the engine sends to Configure (ReconcilePolicyPackConfig).

    Every policy starts from its own enforcement level and its schema defaults; the
    pack's initial config and then the file are applied on top, each time first "all"
    (levels only) and then the entries by name. Names that are no policy, "all"
    included, are passed on as the engine passes them. Raises PolicyConfigError for
    properties that do not match a policy's schema, as the engine refuses to run then.
    """
    result: dict[str, PolicyConfig] = {}
    for policy in info.policies:
        defaults = {
            key: spec["default"]
            for key, spec in policy.config_schema.get("properties", {}).items()
            if isinstance(spec, Mapping) and "default" in spec
        }
        result[policy.name] = PolicyConfig(policy.enforcement_level, defaults)
    for layer in (info.initial_config, config):
        everything = layer.get("all")
        if everything is not None and everything.enforcement_level:
            result = {name: PolicyConfig(everything.enforcement_level, entry.properties) for name, entry in result.items()}
        for name, given in layer.items():
            current = result.get(name, PolicyConfig(""))
            result[name] = PolicyConfig(
                given.enforcement_level or current.enforcement_level,
                {**current.properties, **given.properties},
            )
    errors = [
        f"{policy.name}: {message}"
        for policy in info.policies
        for message in _schema_errors(result[policy.name].properties, policy.config_schema)
    ]
    errors += [f"{name}: no enforcement level" for name, entry in result.items() if not entry.enforcement_level]
    if errors:
        raise PolicyConfigError("invalid policy config: " + "; ".join(sorted(errors)))
    return result


def _schema_errors(properties: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The JSON schema checks the policies' config schemas use: required, type, enum, bounds, items."""
    specs = schema.get("properties", {})
    errors = [f"{name} is required" for name in schema.get("required", []) if name not in properties]
    for name, value in properties.items():
        if name in specs:
            errors += _value_errors(name, value, specs[name])
    return errors


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int, float),
    "array": (list,),
    "object": (dict,),
}


def _value_errors(path: str, value: Any, spec: Mapping[str, Any]) -> list[str]:
    expected = spec.get("type")
    if isinstance(expected, str):
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        matches = (
            is_number and (expected == "number" or float(value).is_integer())
            if expected in ("number", "integer")
            else isinstance(value, _JSON_TYPES.get(expected, (object,)))
        )
        if not matches:
            return [f"{path}: invalid type, expected {expected}, given {json.dumps(value)}"]
    errors = []
    if "enum" in spec and value not in spec["enum"]:
        errors.append(f"{path}: must be one of {spec['enum']}")
    if "minimum" in spec and isinstance(value, (int, float)) and value < spec["minimum"]:
        errors.append(f"{path}: must be greater than or equal to {spec['minimum']}")
    if "maximum" in spec and isinstance(value, (int, float)) and value > spec["maximum"]:
        errors.append(f"{path}: must be less than or equal to {spec['maximum']}")
    if isinstance(value, list) and isinstance(spec.get("items"), Mapping):
        for index, item in enumerate(value):
            errors += _value_errors(f"{path}.{index}", item, spec["items"])
    return errors

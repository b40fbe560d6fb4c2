"""The rules of the database features declared after ``components/setting_rules.py`` (custom endpoints,
audit logging's pgaudit classes), each a small named function run after that module's ``RULES`` (the global
database's writer region is known by then). ``CustomEndpoint`` is the typed value of ``customEndpoints``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.aws_facts import (
    CUSTOM_ENDPOINT_NAME_RE,
    CUSTOM_ENDPOINT_TYPES,
    MAX_CUSTOM_ENDPOINTS,
    PGAUDIT_LOG_CLASSES,
)
from components.naming import custom_endpoint_identifier
from components.setting_rules import Found, qualified

_KEY = "customEndpoints"
_FIELDS = ("name", "type", "instances", "excludeInstances")
_NAME_RULES = ("1-63 letters, digits or hyphens, starting with a letter, with no two hyphens in a row and no hyphen at "
               "the end (the DB identifier rules of "
               "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Endpoints.Custom.html)")


@dataclass(frozen=True)
class CustomEndpoint:
    """A custom endpoint of the writer region's cluster. Instance numbers are the program's (1 is the first
    instance, the writer as created): ``instances`` are its static members; or, with ``exclude_instances``
    (not None), every eligible instance but those joins, readers added by auto scaling included."""

    name: str
    type: str  # READER (readers only) | ANY
    instances: tuple[int, ...] = ()
    exclude_instances: tuple[int, ...] | None = None

    @property
    def static(self) -> bool:
        return self.exclude_instances is None


def writer_instance_count(found: Found) -> int:
    """Instances of the writer region's cluster: the primary's writer and readers, or the secondary's."""
    writer = found.writer_region
    return next((s["instance_count"] for s in found.secondary_regions if s["region"] == writer), 1 + found["readerCount"])


def custom_endpoints(found: Found) -> None:
    """Each endpoint: a known field set, a name AWS accepts and no other endpoint uses, READER or ANY,
    instance numbers of the writer region's cluster, never the writer in a READER endpoint, never empty."""
    entries = found[_KEY]
    if len(entries) > MAX_CUSTOM_ENDPOINTS:
        found.fail(_KEY, [e.get("name") if isinstance(e, dict) else e for e in entries],
                   f"{len(entries)} endpoints; allowed: at most {MAX_CUSTOM_ENDPOINTS} custom endpoints per Aurora cluster")
    writer = found.writer_region
    prefix, count, names = custom_endpoint_identifier(found.stack, writer, ""), writer_instance_count(found), set()
    endpoints = (_endpoint(found, f"{_KEY}[{i}]", entry, names, prefix, count) for i, entry in enumerate(entries))
    found.values[_KEY] = tuple(endpoint for endpoint in endpoints if endpoint is not None)


def _endpoint(found: Found, at: str, entry: Any, names: set[str], prefix: str, count: int) -> CustomEndpoint | None:
    """One entry of ``customEndpoints`` as a ``CustomEndpoint``, or None after reporting what is wrong."""
    if not isinstance(entry, dict):
        found.fail(at, entry, "expected an object {name, type, instances} or {name, type, excludeInstances}")
        return None
    unknown = sorted(set(entry) - set(_FIELDS))
    for field in unknown:
        found.fail(f"{at}.{field}", entry[field], f"unknown field; allowed: {', '.join(_FIELDS)}")
    name, kind = _endpoint_name(found, at, entry.get("name"), names, prefix), entry.get("type")
    if kind not in CUSTOM_ENDPOINT_TYPES:
        found.fail(f"{at}.type", kind, f"allowed: {', '.join(CUSTOM_ENDPOINT_TYPES)}")
    members = _members(found, at, entry, kind, count)
    if unknown or not name or kind not in CUSTOM_ENDPOINT_TYPES or members is None:
        return None
    static = "instances" in entry
    return CustomEndpoint(name, kind, members if static else (), None if static else members)


def _endpoint_name(found: Found, at: str, name: Any, names: set[str], prefix: str) -> str:
    """The name, unique in the stack (AWS stores it lowercase), and short enough with the stack's prefix."""
    if not isinstance(name, str) or not CUSTOM_ENDPOINT_NAME_RE.fullmatch(name):
        found.fail(f"{at}.name", name, _NAME_RULES)
    elif name.lower() in names:
        found.fail(f"{at}.name", name, "names another endpoint already; each custom endpoint name appears once")
    elif len(prefix + name) > 63:
        found.fail(f"{at}.name", name, f"the endpoint identifier {prefix + name.lower()!r} is longer than AWS's 63 "
                                       f"characters; allowed: at most {63 - len(prefix)} characters here")
    else:
        names.add(name.lower())
        return name
    return ""


def _members(found: Found, at: str, entry: dict, kind: Any, count: int) -> tuple[int, ...] | None:
    """The instance numbers of ``instances`` (static members) or ``excludeInstances``; None when refused."""
    if ("instances" in entry) == ("excludeInstances" in entry):
        found.fail(at, entry, "give exactly one of instances (the members) or excludeInstances (every eligible "
                              "instance but these)")
        return None
    field = "instances" if "instances" in entry else "excludeInstances"
    numbers = entry[field]
    if not isinstance(numbers, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        found.fail(f"{at}.{field}", numbers, "expected a list of instance numbers such as [2, 3]")
        return None
    unknown = [n for n in numbers if not 1 <= n <= count]
    eligible = set(range(2 if kind == "READER" else 1, count + 1))
    if unknown:
        found.fail(f"{at}.{field}", numbers, f"no instance {', '.join(map(str, unknown))} in the writer region's cluster; "
                                             f"allowed: 1 (the writer) to {count}")
    elif len(set(numbers)) != len(numbers):
        found.fail(f"{at}.{field}", numbers, "each instance at most once")
    elif field == "instances" and kind == "READER" and 1 in numbers:
        found.fail(f"{at}.instances", numbers, "instance 1 is the writer, which a READER endpoint never routes to; "
                                               f"allowed: readers 2 to {count}, or type ANY")
    elif field == "instances" and not numbers:
        found.fail(f"{at}.instances", numbers, "an empty endpoint routes nowhere; list at least one instance")
    elif field == "excludeInstances" and not eligible - set(numbers):
        found.fail(f"{at}.excludeInstances", numbers, f"excludes every instance a {kind} endpoint may route to, so it "
                                                      "would be empty; leave at least one out")
    else:
        return tuple(numbers)
    return None


def pgaudit_log(found: Found) -> None:
    """``pgauditLog``: a comma-separated list of pgaudit's classes, each optionally subtracted with ``-``."""
    value = found["pgauditLog"]
    classes = [part.strip().lower() for part in value.split(",")]
    bad = [c for c in classes if c.removeprefix("-") not in PGAUDIT_LOG_CLASSES]
    if bad or not value.strip():
        found.fail("pgauditLog", value, f"expected pgaudit classes separated by commas, each optionally subtracted with "
                                        f"'-' (e.g. ddl,role or all,-misc); allowed classes: {', '.join(PGAUDIT_LOG_CLASSES)}")


RULES = (custom_endpoints, pgaudit_log)


def readers_scale_after_the_connections_alarm(found: Found) -> list[str]:
    """Reader auto scaling on connections whose target the connections alarm's threshold does not exceed."""
    target, alarm = found["readerAutoScalingConnectionsTarget"], found["alarmMaxConnections"]
    if found["readerAutoScaling"] and found["readerAutoScalingMetric"] == "connections" and target >= alarm:
        return [f"{qualified('readerAutoScalingConnectionsTarget')} = {target} is at or above "
                f"{qualified('alarmMaxConnections')} ({alarm}): readers are added only after the connections alarm fires"]
    return []


WARNINGS = (readers_scale_after_the_connections_alarm,)

"""Reading resource properties exactly as the engine sent them.

pulumi_policy hands every policy its properties wrapped in a proxy that raises
``UnknownValueError`` as soon as a value the engine does not know yet (a preview of
a resource created in the same run) is read. The servicer catches that error and
replaces the policy's verdict with an *advisory* "can't run policy ... during
preview" notice, whatever the policy's configured enforcement level. A mandatory
rule must never be downgraded like that, so the rules here never read through the
proxy: ``plain`` copies the proxied values out with the unknown sentinels left in
place, and each rule decides what an unknown means for it:

* a single unknown value computed by another resource (a key ARN, a subnet id, a VPC
  CIDR) means "something is being set" and is judged by what that can be;
* a flag or a whole collection that is unknown could hide exactly what the rule looks
  for, so the rule fails closed and says so in its message.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import _DictProxy, _ListProxy

# The sentinels the engine and pulumi_policy use for values not known during preview
# (pulumi_policy/proxy.py). The engine itself only ever sends the string one.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN,
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)

PREVIEW_NOTE = "it is computed from another resource and unknown until that resource exists"


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _UNKNOWN_SENTINELS


def plain(value: Any) -> Any:
    """``value`` with every pulumi_policy proxy replaced by plain dicts and lists.

    Reading ``"__target"`` is the proxy's own escape hatch: it returns the wrapped
    container without checking for unknowns.
    """
    if isinstance(value, (_DictProxy, _ListProxy)):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(item) for item in value]
    return value


class Flag(enum.Enum):
    TRUE = "true"
    FALSE = "false"
    ABSENT = "absent"
    UNKNOWN = "unknown"


def flag(value: Any) -> Flag:
    """A boolean input as sent on the wire; launch templates carry them as "true"/"false"."""
    if value is None:
        return Flag.ABSENT
    if is_unknown(value):
        return Flag.UNKNOWN
    if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
        return Flag.TRUE
    return Flag.FALSE


def is_set(value: Any) -> bool:
    """True for any value other than null or the empty string; an unknown value is being set."""
    return value is not None and value != ""


def python_name(prop: str) -> str:
    """The Python SDK's argument for a property: "deletionProtection" -> "deletion_protection"."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", prop).lower()


def number(value: Any) -> float | None:
    """A numeric input (the wire carries every number as a float); None when absent or not a number."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_list(value: Any) -> list[Any]:
    """A list input; null means an empty list. Callers check ``is_unknown`` first."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def shown(value: Any) -> str:
    """A property value as it appears in a message."""
    if value is None:
        return "not set"
    if is_unknown(value):
        return "unknown during preview"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def is_world_cidr(value: Any) -> bool:
    """True for 0.0.0.0/0, ::/0 and their spellings (any network with prefix length 0)."""
    if not isinstance(value, str) or is_unknown(value):
        return False
    try:
        return ipaddress.ip_network(value.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def aws_managed_key_alias(key_id: Any) -> bool:
    """True when a key reference names an AWS managed key (alias/aws/...), not a customer managed key."""
    return isinstance(key_id, str) and not is_unknown(key_id) and "alias/aws/" in key_id


def arn_region(value: Any) -> str | None:
    """The region field of an ARN literal (arn:partition:service:region:account:...)."""
    if not isinstance(value, str) or not value.startswith("arn:"):
        return None
    parts = value.split(":")
    if len(parts) < 6 or not parts[3]:
        return None  # not an ARN, or a global one (IAM, global clusters)
    return parts[3]

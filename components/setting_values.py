"""Reading one setting declaration from the raw config map: its type, its bounds, its choices.

``read(found, setting)`` returns the typed value of ``setting`` (``components/settings.py`` declares it), or
its default after reporting the bad value with ``found.fail`` (key, value, what is allowed)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from components import setting_rules as rules

if TYPE_CHECKING:
    from components.settings import Setting


def read(found: rules.Found, setting: Setting) -> Any:
    value = found.given(setting.key)
    if value is None:
        value = setting.default
    if setting.type == "boolean":
        return _boolean(found, setting, value)
    if setting.type == "integer":
        return _integer(found, setting, value)
    if setting.type == "array":
        return _string_list(found, setting, value)
    if setting.type in ("object", "list"):
        return _structured(found, setting, value)
    if setting.step is not None:
        return _decimal(found, setting, value)
    return _string(found, setting, value)


def _string(found: rules.Found, setting: Setting, value: Any) -> str:
    if not isinstance(value, str):
        if setting.secret:  # the value is a secret: the message never shows it
            found.problems.append(f"{rules.qualified(setting.key)}: expected a string (set it with "
                                  "`python -m deploy rotate-password`)")
        else:
            found.fail(setting.key, value, "expected a string")
        return setting.default
    if setting.choices is not None and value not in setting.choices:
        found.fail(setting.key, value, f"allowed: {setting.allowed}")
    return value


def _integer(found: rules.Found, setting: Setting, value: Any) -> int:
    try:
        number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        found.fail(setting.key, value, f"expected a whole number; allowed: {setting.allowed}")
        return setting.default
    if setting.choices is not None and number not in setting.choices:
        found.fail(setting.key, number, f"allowed: {setting.allowed}")
    elif setting.low is not None and not setting.low <= number <= setting.high:
        found.fail(setting.key, number, f"allowed: {setting.allowed}")
    else:
        return number
    return setting.default  # keeps later rules from repeating this problem


def _boolean(found: rules.Found, setting: Setting, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    found.fail(setting.key, value, "allowed: true, false")
    return setting.default


def _string_list(found: rules.Found, setting: Setting, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError:
            found.fail(setting.key, value, "expected a list of strings")
            return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        found.fail(setting.key, value, "expected a list of strings")
        return ()
    for item in value if setting.choices is not None else ():
        if item not in setting.choices:
            found.fail(setting.key, item, f"allowed items: {setting.allowed}")
    if len(set(value)) != len(value):
        found.fail(setting.key, value, "items must not repeat")
        return ()
    return tuple(value)


def _decimal(found: rules.Found, setting: Setting, value: Any) -> float:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    step = Decimal(str(setting.step))
    if (number is None or not number.is_finite() or not Decimal(str(setting.low)) <= number <= Decimal(str(setting.high))
            or number % step != 0):
        found.fail(setting.key, value, f"allowed: {setting.allowed}")
        return setting.value_default
    return float(number)


def _structured(found: rules.Found, setting: Setting, value: Any) -> dict | list | None:
    """An object (``dict`` or None) or a list of objects, as YAML gives it or as JSON text; its rules check the rest."""
    expected, shape = (list, "a list") if setting.type == "list" else (dict, "an object")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            found.fail(setting.key, value, f"expected {shape}")
            return setting.default
    if value is not None and not isinstance(value, expected):
        found.fail(setting.key, value, f"expected {shape}")
        return setting.default
    return value

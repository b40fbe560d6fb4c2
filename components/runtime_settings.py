"""The running Pulumi program's settings: the engine's config map, validated by
``components.settings.parse_settings``. The one place the settings meet the Pulumi SDK."""

from __future__ import annotations

from typing import Any

import pulumi

from components.settings import Settings, SettingsError, parse_settings


class InvalidStackSettings(SettingsError, pulumi.RunError):
    """``SettingsError`` as Pulumi's ``RunError``: the engine prints the message without a traceback."""


def raw_config_from_runtime() -> dict[str, Any]:
    """The config map the engine gave this program run (stack file plus Pulumi.yaml defaults)."""
    from pulumi.runtime import config as runtime_config

    raw = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    return raw


def load_settings() -> Settings:
    """Settings of the running Pulumi program; raises ``InvalidStackSettings`` before any resource exists."""
    try:
        return parse_settings(raw_config_from_runtime(), pulumi.get_stack())
    except SettingsError as error:
        raise InvalidStackSettings(error.problems) from None

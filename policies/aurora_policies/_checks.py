"""Check factories shared by the rule modules: one boolean input that must (not) be true."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._props import PREVIEW_NOTE, Flag, flag, shown
from ._views import ResourceView


def must_be_true(prop: str, argument: str, consequence: str):
    """A check that a boolean input is true; an unknown value could be false, so it fails closed."""

    def check(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
        value = resource.get(prop)
        state = flag(value)
        if state is Flag.TRUE:
            return
        if state is Flag.UNKNOWN:
            yield (
                f"{resource.label}: {prop} is unknown during preview ({PREVIEW_NOTE}) and could be false; "
                f"set {argument}=True as a literal."
            )
            return
        yield f"{resource.label}: {prop} is {shown(value)}, {consequence}. Set {argument}=True."

    return check


def must_not_be_true(prop: str, argument: str, consequence: str, fix: str | None = None):
    """A check that a boolean input is not true; an unknown value could be true, so it fails closed.
    ``fix`` replaces the default advice "Set <argument>=False (or leave it unset)."."""

    def check(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
        value = resource.get(prop)
        if flag(value) is Flag.TRUE:
            advice = fix or f"Set {argument}=False (or leave it unset)."
            yield f"{resource.label}: {prop} is {shown(value)}, {consequence}. {advice}"
        elif flag(value) is Flag.UNKNOWN:
            yield (
                f"{resource.label}: {prop} is unknown during preview ({PREVIEW_NOTE}) and could be true; "
                f"set {argument}=False as a literal."
            )

    return check

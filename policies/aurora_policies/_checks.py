"""Check factories shared by the rule modules: one boolean input that must (not) be true, and one key
reference that must name a customer managed KMS key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._props import PREVIEW_NOTE, Flag, aws_managed_key_alias, flag, is_set, shown
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


def key_findings(where: str, key_id: Any, aws_managed: str, unset: str) -> Iterator[str]:
    """What is wrong with a key reference that must name a customer managed key: ``where`` is
    "<resource>: <property>", ``aws_managed`` and ``unset`` say what follows from an AWS managed
    key and from no key. An unknown key id is the ARN of a key created in the same run."""
    if aws_managed_key_alias(key_id):
        yield f"{where} is {shown(key_id)}, {aws_managed}"
    elif not is_set(key_id):
        yield f"{where} is not set, so {unset}"


def customer_managed_key(prop: str, aws_managed: str, unset: str):
    """A check that the key input ``prop`` names a customer managed key (see ``key_findings``)."""

    def check(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
        yield from key_findings(f"{resource.label}: {prop}", resource.get(prop), aws_managed, unset)

    return check

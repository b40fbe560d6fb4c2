"""Checks shared by the rule modules: a boolean input that must (not) be true, a key reference that
must name a customer managed KMS key, and the entries of a list input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ._props import PREVIEW_NOTE, Flag, as_list, aws_managed_key_alias, flag, is_set, is_unknown, python_name, shown
from ._views import ResourceView


def flag_findings(resource: ResourceView, prop: str, required: bool, unknown: str, otherwise: str) -> Iterator[str]:
    """A boolean input that must be true (``required``) or must not be (then unset is fine). An
    unknown value could be either, so it fails closed: "<resource>: <prop> is unknown during preview
    (...)" followed by ``unknown``; a wrong value: "<resource>: <prop> is <value>" followed by ``otherwise``."""
    value = resource.get(prop)
    state = flag(value)
    if state is Flag.UNKNOWN:
        yield f"{resource.label}: {prop} is unknown during preview ({PREVIEW_NOTE}){unknown}"
    elif (state is Flag.TRUE) is not required:
        yield f"{resource.label}: {prop} is {shown(value)}{otherwise}"


def _flag_check(prop: str, required: bool, consequence: str, advice: str):
    argument = python_name(prop)
    unknown = f" and could be {str(not required).lower()}; set {argument}={required} as a literal."

    def check(resource: ResourceView, _config: Mapping[str, Any]) -> Iterator[str]:
        yield from flag_findings(resource, prop, required, unknown, f", {consequence}. {advice}")

    return check


def must_be_true(prop: str, consequence: str):
    """A check that a boolean input is true; its Python argument is named like it."""
    return _flag_check(prop, True, consequence, f"Set {python_name(prop)}=True.")


def must_not_be_true(prop: str, consequence: str, fix: str | None = None):
    """A check that a boolean input is not true. ``fix`` replaces the default advice
    "Set <argument>=False (or leave it unset)."."""
    return _flag_check(prop, False, consequence, fix or f"Set {python_name(prop)}=False (or leave it unset).")


def each_entry(
    resource: ResourceView, prop: str, unknown: str, findings: Callable[[ResourceView, int, Any], Iterable[str]]
) -> Iterator[str]:
    """``findings(resource, index, entry)`` for each entry of the list input ``prop``. A whole list
    unknown during preview could hold anything, so it fails closed: "<resource>: <prop> is unknown
    during preview" followed by ``unknown``."""
    entries = resource.get(prop)
    if is_unknown(entries):
        yield f"{resource.label}: {prop} is unknown during preview{unknown}"
        return
    for index, entry in enumerate(as_list(entries)):
        yield from findings(resource, index, entry)


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

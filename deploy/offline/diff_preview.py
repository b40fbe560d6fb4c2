"""What the engine's preview of a change cannot know yet, and what follows from it (for `deploy diff`).

`deploy diff` compares two captures in which every value is known. The engine, previewing the same
change on the deployed stack, knows less: what the provider computes for a resource it is about to
create (ids, ARNs, endpoints) is unknown until it exists, and an input read from such a value counts as
changed. And before it deletes a resource first, it deletes first whatever the deployed stack feeds
from it into an input that forces a replacement. ``propagate`` adds both to the changes, as the real
engine plans them (tests/e2e/test_engine_agrees_with_diff.py compares the two).
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deploy.offline import aws_model
from deploy.offline.diff_rules import REPLACE_WITH, plain
from deploy.offline.diff_rules import provider_urn as _urn_of

if TYPE_CHECKING:
    from deploy.offline.capture import Capture, CapturedResource
    from deploy.offline.diff import Change

# A string shorter than this is too common to tell where a value came from ("default", a region).
_TRACEABLE = 12


def propagate(base: Capture, head: Capture, changes: dict[str, Change], matched: dict[str, str],
              new_change: Callable[..., Change]) -> None:
    """What the engine does on preview, to a fixed point:

    - A created or replaced resource's computed outputs (its id, ARN, endpoint: what the provider
      answers, not what the program set) are unknown, so an input that derives from one counts as
      changed (a replacement when the input forces one). Its outputs that echo the program's inputs
      (a proxy's ``name``) stay known, and an input read from them does not change. An unknown input
      makes the resource's output of that name unknown in turn.
    - A provider's replacement replaces what it manages, and a resource's replacement replaces every
      resource that names it in ``replace_with``.
    - A replacement that deletes first deletes first, before it, whatever the deployed stack feeds
      from it into an input that forces a replacement (see _delete_first_dependents).

    ``changes`` (head URN -> change) grows in place; ``new_change(resource, action, old)`` makes a change.
    """
    by_urn = head.by_urn()
    unknown = {urn: _computed_outputs(by_urn[urn]) for urn, c in changes.items() if c.action in ("create", "replace")}
    ignored = {r.urn: {p for p in r.ignore_changes if "." not in p and "[" not in p} for r in head.resources}
    cascaded: set[str] = set()
    grew = True
    while grew:
        grew = False
        for resource in head.resources:
            causes = _unknown_inputs(resource, unknown, by_urn, ignored[resource.urn])
            provider = _urn_of(resource.provider)
            if provider in unknown and changes[provider].action == "replace":
                causes["provider"] = provider
            replaced_with = [u for u in resource.replace_with if u in changes and changes[u].action == "replace"]
            if replaced_with:
                causes[REPLACE_WITH] = replaced_with[0]
            change = changes.get(resource.urn)
            new = {p: d for p, d in causes.items() if change is None or p not in change.via}
            if not new:
                continue
            if change is None:
                change = changes[resource.urn] = new_change(resource, "update")
                change.base_urn = matched.get(resource.urn, resource.urn)  # unchanged so far (creates are in already)
            _follow(change, resource, new, unknown)
            grew = True
        for change in list(changes.values()):
            if change.action == "replace" and change.urn not in cascaded and _deletes_first(change, by_urn[change.urn]):
                cascaded.add(change.urn)
                grew |= _delete_first_dependents(change, base, changes, matched, by_urn, unknown, new_change)
    for change in changes.values():
        if change.action == "replace":
            change.delete_before_replace = _deletes_first(change, by_urn[change.urn])


def _unknown_inputs(resource: CapturedResource, unknown: dict[str, list[Any]], by_urn: dict[str, CapturedResource],
                    ignored: set[str]) -> dict[str, str]:
    """Input -> the created or replaced resource that makes it unknown on preview."""
    inputs = plain(resource.inputs)
    causes = {}
    for prop, deps in resource.property_dependencies.items():
        dep = next((d for d in deps if d in unknown and d != resource.urn
                    and _derives(inputs.get(prop), unknown[d], by_urn.get(d))), None)
        if dep is not None and prop not in ignored:
            causes[prop] = dep
    return causes


def _follow(change: Change, resource: CapturedResource, new: dict[str, str], unknown: dict[str, list[Any]]) -> None:
    """``change`` with the inputs ``new`` unknown: an update of them, or a replacement if one forces it."""
    change.via.update(new)
    echoed = plain(resource.outputs)
    unknown.setdefault(resource.urn, []).extend(_leaves([echoed[p] for p in new if p in echoed]))
    if change.action == "create":
        return
    replacing = aws_model.REPLACING_PROPERTIES.get(resource.type, frozenset()) | {"provider", REPLACE_WITH}
    change.properties = sorted(set(change.properties) | set(new))
    change.replace_reasons = sorted(set(change.replace_reasons) | (set(new) & replacing))
    if change.replace_reasons and change.action != "replace":
        change.action = "replace"
        unknown[resource.urn].extend(_computed_outputs(resource))


def _deletes_first(change: Change, resource: CapturedResource) -> bool:
    return change.delete_before_replace or resource.delete_before_replace or aws_model.delete_before_replace(
        resource.type, resource.name, change.replace_reasons, plain(resource.inputs))


def _delete_first_dependents(root: Change, base: Capture, changes: dict[str, Change], matched: dict[str, str],
                             by_urn: dict[str, CapturedResource], unknown: dict[str, list[Any]],
                             new_change: Callable[..., Change]) -> bool:
    """The engine's dependent replacements (``calculateDependentReplacements`` in pulumi's step
    generator): before a resource is deleted first, each resource that depends on it in the deployed
    stack (transitively, in the base's order) is asked, with every input fed by one of the condemned
    made unknown, whether its provider must replace it; if so it is deleted first too, before the
    root, and created again afterwards (a replacement that deletes first, whatever its own provider
    would choose). Whether the value would in fact change does not count here. Returns whether any
    change grew."""
    head_of = {old: new for new, old in matched.items()}
    condemned = {root.base_urn or root.urn}
    grew = False
    for old in base.resources:
        if not old.custom or old.type.startswith("pulumi:providers:") or old.urn in condemned:
            continue
        inputs = plain(old.inputs)
        fed = {p: next(d for d in deps if d in condemned) for p, deps in old.property_dependencies.items()
               if p in inputs and any(d in condemned for d in deps)}
        reasons = set(fed) & aws_model.REPLACING_PROPERTIES.get(old.type, frozenset())
        if _urn_of(old.provider) in condemned:
            reasons.add("provider")
            fed["provider"] = _urn_of(old.provider) or ""
        if not reasons:
            continue
        condemned.add(old.urn)
        urn = head_of.get(old.urn)
        if urn is None:
            continue  # gone from the head: deleted anyway
        change = changes.get(urn)
        if change is None:
            change = changes[urn] = new_change(by_urn[urn], "update", old)
        if change.action == "create" or (change.action == "replace" and change.delete_before_replace
                                         and reasons <= set(change.replace_reasons)):
            continue
        change.via.update({p: head_of.get(fed[p], fed[p]) for p in reasons if p not in change.via})
        change.properties = sorted(set(change.properties) | reasons)
        change.replace_reasons = sorted(set(change.replace_reasons) | reasons)
        if change.action != "replace":
            change.action = "replace"
            unknown.setdefault(urn, []).extend(_computed_outputs(by_urn[urn]))
        change.delete_before_replace = True
        grew = True
    return grew


def _computed_outputs(resource: CapturedResource) -> list[Any]:
    """The values a resource's provider computes (its id and outputs beyond its inputs), as leaves,
    and the distinctive parts of its ARNs (the program cuts a proxy's resource id out of its ARN):
    unknown on preview while the resource is to be created. A value that equals one of its inputs is
    left out (an ARN ends in the name the program gave; a cluster's master secret names its key)."""
    inputs, outputs = plain(resource.inputs), plain(resource.outputs)
    given = {v for v in _leaves(list(inputs.values())) if isinstance(v, str | int | float | bool)}
    computed = _leaves([resource.id] + [v for k, v in outputs.items() if k not in inputs])
    parts = [p for v in computed if isinstance(v, str) and v.startswith("arn:") and v.count(":") >= 5
             for p in re.split(r"[:/]", v.split(":", 5)[5]) if len(p) >= _TRACEABLE]
    return [v for v in dict.fromkeys(computed + parts) if v not in given and v not in ("", None)]


def _leaves(values: list[Any]) -> list[Any]:
    """The scalars inside ``values`` (lists and maps walked)."""
    found: list[Any] = []
    for value in values:
        if isinstance(value, dict):
            found += _leaves(list(value.values()))
        elif isinstance(value, list):
            found += _leaves(value)
        else:
            found.append(value)
    return found


def _derives(value: Any, unknowns: list[Any], source: CapturedResource | None) -> bool:
    """Whether an input ``value`` that the program computed from ``source`` is unknown on preview,
    given the values of ``source`` that are (``unknowns``, see _computed_outputs).

    The program's value holds one of them (as it is, or inside a longer string such as a policy
    document or base64-encoded user data): unknown. It holds none of them but other values of
    ``source`` (a name the program set): known. It shows no trace of ``source`` at all (derived
    in a way that cannot be followed): unknown, as the safe answer."""
    leaves = _leaves([value])
    texts = [t for leaf in leaves for t in _texts(leaf)]
    for item in unknowns:
        if any(type(leaf) is type(item) and leaf == item for leaf in leaves):
            return True
        if isinstance(item, str) and len(item) >= 8 and any(item in text for text in texts):
            return True
    if source is None:
        return True
    known = [v for v in _leaves([source.id, *plain(source.outputs).values()]) if isinstance(v, str)
             and len(v) >= _TRACEABLE]
    return not any(v in text for v in known for text in texts)


def _texts(leaf: Any) -> list[str]:
    """A string leaf, and its base64 decoding when it is one (user data)."""
    if not isinstance(leaf, str):
        return [str(leaf)] if leaf is not None else []
    texts = [leaf]
    if len(leaf) >= 16 and len(leaf) % 4 == 0:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            texts.append(base64.b64decode(leaf, validate=True).decode())
    return texts
